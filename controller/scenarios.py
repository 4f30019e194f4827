"""Scenario files (scenarios/*.toml): one per Annex 4 paragraph, plus the shared texts.

A library is loaded whole or not at all: every problem in every file is collected
and reported as `file: key.path: reason`, and nothing is half-loaded.

Message templates use `{name}` for a parameter value and `{name:one|few|many}` for a
word that agrees with that number by the language's CLDR plural rule (Babel), so
phrases keep numbers in the nominative ("Қауіпсіз қашықтық — кемінде 100 метр",
"Безопасное расстояние — не меньше чем 100 метров").

Spoken texts are checked for what no voice can say (abbreviations, digits the
normaliser cannot speak, symbols): `Library.speech_problems`, which `dabyl check`
reports as errors naming file and key. They do not stop a site from loading: a
mispronounced word is better than no alarm.

A covert scenario (hostage) never speaks in plain words: only a code phrase the site
agreed with its staff (`[code_phrases.<id>]` in config.toml) is spoken in staff zones,
and without one nothing is spoken at all.
"""

from __future__ import annotations

import re
import string
from dataclasses import dataclass, field
from pathlib import Path
from typing import Annotated, ClassVar, Literal

from pydantic import Field, ValidationError, model_validator

from audio.text import choose_form, speech_problems
from controller.config import Config, Strict, format_pydantic, read_toml
from controller.errors import ConfigurationError

STANDARD_IDS = (
    "suspicious_object",
    "phone_threat",
    "written_threat",
    "armed_attack",
    "hostage",
    "shooting",
    "explosion",
    "terrorist_attack",
    "fire",
    "collapse",
)
LANGUAGES = ("kk", "ru")
Name = Annotated[str, Field(pattern=r"^[a-z][a-z0-9_]*$", max_length=64)]
Audience = Literal["public", "staff"]


class Texts(Strict):
    kk: str = Field(min_length=1)
    ru: str = Field(min_length=1)

    def __getitem__(self, language: str) -> str:
        return getattr(self, language)


class TextLists(Strict):
    kk: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)
    ru: list[Annotated[str, Field(min_length=1)]] = Field(min_length=1)

    @model_validator(mode="after")
    def _same_length(self) -> TextLists:
        if len(self.kk) != len(self.ru):
            raise ValueError(
                f"kk has {len(self.kk)} items and ru has {len(self.ru)}; they must match"
            )
        return self

    def __getitem__(self, language: str) -> list[str]:
        return getattr(self, language)


Value = int | float | str


class Choice(Strict):
    id: Name
    title: Texts
    values: dict[Name, Value] = Field(default_factory=dict)


class Parameter(Strict):
    name: Name
    title: Texts
    default: Name
    choices: list[Choice] = Field(min_length=1)
    # A floor no choice may go below (item 10: visitors stay at least 100 m away).
    minimum: dict[Name, int | float] = Field(default_factory=dict)
    # How the console names each value ("Зона оцепления, м").
    value_titles: dict[Name, Texts] = Field(default_factory=dict)

    @model_validator(mode="after")
    def _default_is_a_choice(self) -> Parameter:
        ids = [c.id for c in self.choices]
        if len(set(ids)) != len(ids):
            raise ValueError("choice ids must be unique")
        if self.default not in ids:
            raise ValueError(f"default {self.default!r} is not one of the choices {ids}")
        keys = [set(c.values) for c in self.choices]
        if any(k != keys[0] for k in keys):
            raise ValueError(f"every choice of parameter {self.name!r} must set the same values")
        for name, floor in self.minimum.items():
            for c in self.choices:
                value = c.values.get(name)
                if not isinstance(value, int | float) or value < floor:
                    raise ValueError(
                        f"choice {c.id!r}: {name} is {value!r}, below the minimum {floor}")
        for name in self.value_titles:
            if any(name not in c.values for c in self.choices):
                raise ValueError(f"value_titles names {name!r}, which the choices do not set")
        return self

    def choice(self, choice_id: str) -> Choice:
        for c in self.choices:
            if c.id == choice_id:
                return c
        raise KeyError(choice_id)


class Attention(Strict):
    signal: Literal["chime", "evacuation", "alert", "none"] = "chime"


class Repeat(Strict):
    # 0 repeats until an operator silences or clears the alarm.
    count: int = Field(default=0, ge=0, le=1000)
    pause: float = Field(default=5.0, ge=0, le=600)
    # Drills end by themselves after this many repetitions.
    drill_count: int = Field(default=2, ge=1, le=100)


class Messages(Strict):
    public: Texts | None = None
    staff: Texts | None = None


class Checklist(Strict):
    leader: TextLists
    staff: TextLists


class InfoBlock(Strict):
    title: Texts
    items: TextLists


class FormField(Strict):
    id: Name
    title: Texts
    choices: TextLists | None = None
    # What the journal keeps of a choice: its id, in whatever language it was picked.
    # Without ids a choice is known by its number (1, 2, ...).
    choice_ids: list[Name] | None = None

    @model_validator(mode="after")
    def _ids_match_choices(self) -> FormField:
        if self.choice_ids is not None:
            if self.choices is None:
                raise ValueError("choice_ids without choices")
            if len(self.choice_ids) != len(self.choices.ru):
                raise ValueError(f"{len(self.choice_ids)} choice_ids for "
                                 f"{len(self.choices.ru)} choices")
            if len(set(self.choice_ids)) != len(self.choice_ids):
                raise ValueError("choice ids must be unique")
        return self

    def ids(self) -> list[str]:
        if self.choices is None:
            return []
        return self.choice_ids or [str(n) for n in range(1, len(self.choices.ru) + 1)]

    def choice(self, answer: str) -> str | None:
        """The id of the choice an answer names (its id, or its words in either
        language); None if it names none."""
        wanted = answer.strip().casefold()
        for n, choice_id in enumerate(self.ids()):
            assert self.choices is not None
            if wanted in (choice_id.casefold(), self.choices.kk[n].casefold(),
                          self.choices.ru[n].casefold()):
                return choice_id
        return None

    def shown(self, answer: str, language: str) -> str:
        """An answer in the reader's language (a choice's words; free text as given)."""
        chosen = self.choice(answer) if self.choices is not None else None
        if chosen is None or self.choices is None:
            return answer
        return self.choices[language][self.ids().index(chosen)]


class Scenario(Strict):
    id: Name
    annex: str = Field(min_length=1)
    title: Texts
    priority: int = Field(ge=0, le=255)
    kind: Literal["evacuate", "shelter", "staff_alert"]
    audience: Literal["public+staff", "staff"]
    # Never spoken in plain words; staff zones hear the site's code phrase, if any.
    covert: bool = False
    zones: Literal["all", "staff", "public"] | list[Name] = "all"
    outputs: list[Name] = Field(default_factory=list)
    attention: Attention = Attention()
    repeat: Repeat = Repeat()
    message: Messages
    parameters: list[Parameter] = Field(default_factory=list)
    checklist: Checklist
    calls: list[Annotated[str, Field(pattern=r"^[0-9]{2,5}$")]] = Field(min_length=1)
    training_topics: list[Annotated[int, Field(ge=1, le=10)]] = Field(default_factory=list)
    info: list[InfoBlock] = Field(default_factory=list)
    form: list[FormField] = Field(default_factory=list)

    @model_validator(mode="after")
    def _audience_rules(self) -> Scenario:
        if self.audience == "staff":
            if self.message.public is not None:
                raise ValueError("a staff-only scenario must not have a public message")
            if self.zones in ("all", "public"):
                raise ValueError("a staff-only scenario's zones must be 'staff' or staff zones")
        else:
            if self.message.public is None:
                raise ValueError("a public scenario needs message.public")
            if self.message.staff is None:
                raise ValueError("a public scenario needs message.staff for the staff zones")
        if self.covert:
            if not self.staff_only:
                raise ValueError("a covert scenario must be staff-only")
            if self.message.staff is not None:
                raise ValueError(
                    "a covert scenario has no message: its staff zones hear only the code "
                    "phrase the site sets in config.toml [code_phrases]")
        provided: set[str] = set()
        for param in self.parameters:
            provided |= set(param.choices[0].values) | {param.name}
        for name in sorted(self.placeholders() - provided):
            raise ValueError(f"message uses {{{name}}} but no parameter provides it")
        return self

    @property
    def staff_only(self) -> bool:
        return self.audience == "staff"

    @property
    def silent(self) -> bool:
        """Nothing is broadcast: the console alone carries it (phone, written threat)."""
        return self.message.public is None and self.message.staff is None

    def placeholders(self) -> set[str]:
        names: set[str] = set()
        for texts in (self.message.public, self.message.staff):
            if texts is None:
                continue
            for lang in LANGUAGES:
                for _, name, _, _ in string.Formatter().parse(texts[lang]):
                    if name:
                        names.add(name)
        return names

    def message_for(self, audience: Audience) -> Texts | None:
        return self.message.public if audience == "public" else self.message.staff

    def resolve_parameters(self, given: dict[str, str] | None) -> dict[str, str]:
        """Fill defaults; reject unknown names and choices with a clear reason."""
        given = dict(given or {})
        resolved = {}
        for param in self.parameters:
            value = given.pop(param.name, param.default)
            try:
                param.choice(value)
            except KeyError:
                ids = ", ".join(c.id for c in param.choices)
                raise ValueError(
                    f"parameter {param.name!r} of {self.id!r} has no choice {value!r} "
                    f"(choices: {ids})"
                ) from None
            resolved[param.name] = value
        if given:
            raise ValueError(f"scenario {self.id!r} has no parameter {sorted(given)[0]!r}")
        return resolved

    def parameter_values(self, resolved: dict[str, str]) -> dict[str, Value]:
        values: dict[str, Value] = {}
        for param in self.parameters:
            choice = param.choice(resolved[param.name])
            values.update(choice.values)
            values.setdefault(param.name, choice.id)
        return values

    def text(self, audience: Audience, language: str, resolved: dict[str, str]) -> str | None:
        texts = self.message_for(audience)
        if texts is None:
            return None
        return fill(texts[language], language, self.parameter_values(resolved))

    def describe_parameters(self, resolved: dict[str, str]) -> list[dict]:
        """What the console shows of an activation's choices: each parameter's title, the
        chosen option's title and its values with their titles (kk and ru)."""
        described = []
        for param in self.parameters:
            choice = param.choice(resolved.get(param.name, param.default))
            described.append({
                "name": param.name,
                "title": param.title.model_dump(),
                "choice": choice.id,
                "choice_title": choice.title.model_dump(),
                "values": [
                    {"name": name, "value": value,
                     "title": (param.value_titles[name].model_dump()
                               if name in param.value_titles else {"kk": name, "ru": name})}
                    for name, value in choice.values.items()
                ],
            })
        return described

    def with_code_phrase(self, phrase: Texts) -> Scenario:
        """This covert scenario speaking the site's code phrase in its staff zones."""
        return self.model_copy(update={"message": Messages(staff=phrase)})

    def all_parameter_sets(self) -> list[dict[str, str]]:
        """Every combination of parameter choices (for pre-rendering)."""
        sets: list[dict[str, str]] = [{}]
        for param in self.parameters:
            sets = [{**s, param.name: c.id} for s in sets for c in param.choices]
        return sets


class SharedTexts(Strict):
    drill_preamble: Texts
    # Before every drill cycle after the first (NFPA 72: every drill message says so).
    drill_marker: Texts
    drill_closing: Texts
    all_clear: Texts
    held_evacuation: Texts
    selftest: Texts
    training_topics: dict[Annotated[str, Field(pattern=r"^([1-9]|10)$")], Texts]

    SPOKEN: ClassVar[tuple[str, ...]] = ("drill_preamble", "drill_marker", "drill_closing", "all_clear",
              "held_evacuation", "selftest")

    def spoken(self) -> dict[str, Texts]:
        """The shared texts that are spoken (training topics are only printed)."""
        return {name: getattr(self, name) for name in self.SPOKEN}


_FIELD = re.compile(r"\{([a-z_][a-z0-9_]*)(?::([^{}]*))?\}")


def fill(template: str, language: str, values: dict[str, Value]) -> str:
    """Fill `{name}` and `{name:one|few|many}` placeholders.

    Plural forms follow the language's CLDR categories in order one, few, many, other;
    a missing category falls back to the last form given. A decimal is written with
    the language's comma ("0,33") and takes the "other" form ("0,33 литра").
    """

    def replace(match: re.Match[str]) -> str:
        name, forms = match.group(1), match.group(2)
        if name not in values:
            raise KeyError(name)
        value = values[name]
        if forms is None:
            return str(value).replace(".", ",") if isinstance(value, float) else str(value)
        options = forms.split("|")
        if isinstance(value, int | float):
            return choose_form(value, language, options)
        return options[-1]

    return _FIELD.sub(replace, template)


@dataclass
class Library:
    """All scenarios of a site, plus the shared texts."""

    scenarios: dict[str, Scenario]
    shared: SharedTexts
    warnings: list[str] = field(default_factory=list)
    # Spoken texts no voice can say right (`file: key: reason`); `dabyl check` fails on them.
    speech_problems: list[str] = field(default_factory=list)
    directory: Path = Path(".")

    def spoken_texts(self) -> list[tuple[str, str, str]]:
        """Every text that can be spoken, once per parameter choice:
        (`file: key`, language, text)."""
        out = []
        for name, texts in self.shared.spoken().items():
            for lang in LANGUAGES:
                out.append((f"{self.directory / SHARED_FILE}: {name}.{lang}", lang, texts[lang]))
        for sid, scenario in self.scenarios.items():
            seen: set[tuple[str, str, str]] = set()
            for params in scenario.all_parameter_sets():
                for audience in ("public", "staff"):
                    for lang in LANGUAGES:
                        text = scenario.text(audience, lang, params)  # type: ignore[arg-type]
                        if text is None:
                            continue
                        source = (f"{self.directory / (sid + '.toml')}: message.{audience}.{lang}"
                                  + (f" ({', '.join(f'{k}={v}' for k, v in params.items())})"
                                     if params else ""))
                        if (audience, lang, text) not in seen:
                            seen.add((audience, lang, text))
                            out.append((source, lang, text))
        return out

    def get(self, scenario_id: str) -> Scenario:
        try:
            return self.scenarios[scenario_id]
        except KeyError:
            known = ", ".join(sorted(self.scenarios))
            raise KeyError(f"unknown scenario {scenario_id!r} (known: {known})") from None


SHARED_FILE = "_shared.toml"


def load_library(directory: Path, config: Config | None = None) -> Library:
    """Load every scenario file and the shared texts; raise on any problem."""
    problems: list[str] = []
    if not directory.is_dir():
        raise ConfigurationError([f"{directory}: scenario directory not found"])
    scenarios: dict[str, Scenario] = {}
    shared: SharedTexts | None = None
    shared_path = directory / SHARED_FILE
    try:
        shared = SharedTexts.model_validate(read_toml(shared_path))
    except ConfigurationError as exc:
        problems.extend(exc.problems)
    except ValidationError as exc:
        problems.extend(format_pydantic(str(shared_path), exc))
    for path in sorted(directory.glob("*.toml")):
        if path.name.startswith("_"):
            continue
        try:
            data = read_toml(path)
            scenario = Scenario.model_validate(data)
        except ConfigurationError as exc:
            problems.extend(exc.problems)
            continue
        except ValidationError as exc:
            problems.extend(format_pydantic(str(path), exc))
            continue
        if scenario.id != path.stem:
            problems.append(f"{path}: id: {scenario.id!r} does not match the file name")
            continue
        problems.extend(_check_templates(scenario, str(path)))
        scenarios[scenario.id] = scenario
    if not scenarios and not problems:
        problems.append(f"{directory}: no scenario files (*.toml)")
    warnings = [
        f"{directory}: standard scenario {sid!r} is missing"
        for sid in STANDARD_IDS
        if sid not in scenarios and not any(sid in p for p in problems)
    ]
    if config is not None:
        more_problems, more_warnings = cross_check(config, scenarios, directory)
        problems.extend(more_problems)
        warnings.extend(more_warnings)
    if problems:
        raise ConfigurationError(problems)
    assert shared is not None
    if config is not None:
        for sid, phrase in config.code_phrases.items():
            scenarios[sid] = scenarios[sid].with_code_phrase(Texts(kk=phrase.kk, ru=phrase.ru))
    library = Library(scenarios=scenarios, shared=shared, warnings=warnings,
                      directory=directory)
    for source, lang, text in library.spoken_texts():
        library.speech_problems.extend(f"{source}: {p}" for p in speech_problems(text, lang))
    if config is not None:
        cfg = config.base_dir / "config.toml"
        for sid, phrase in config.code_phrases.items():
            for lang in LANGUAGES:
                library.speech_problems.extend(
                    f"{cfg}: code_phrases.{sid}.{lang}: {p}"
                    for p in speech_problems(getattr(phrase, lang), lang))
    return library


def _check_templates(scenario: Scenario, source: str) -> list[str]:
    problems = []
    for params in scenario.all_parameter_sets():
        for audience in ("public", "staff"):
            for lang in LANGUAGES:
                try:
                    scenario.text(audience, lang, params)
                except (KeyError, ValueError, IndexError) as exc:
                    problems.append(
                        f"{source}: message.{audience}.{lang}: cannot fill the template "
                        f"with {params}: {exc}"
                    )
                    return problems
    return problems


def cross_check(
    config: Config, scenarios: dict[str, Scenario], directory: Path
) -> tuple[list[str], list[str]]:
    """Between the site and its scenarios: zones, outputs, inputs, schedule."""
    problems: list[str] = []
    warnings: list[str] = []
    for sid, scenario in scenarios.items():
        source = directory / f"{sid}.toml"
        if isinstance(scenario.zones, list):
            for j, zone in enumerate(scenario.zones):
                if zone not in config.zones:
                    problems.append(f"{source}: zones[{j}]: unknown zone {zone!r}")
                elif scenario.staff_only and not config.zones[zone].staff:
                    problems.append(
                        f"{source}: zones[{j}]: {zone!r} is a public zone; "
                        "a staff-only scenario never reaches public zones"
                    )
        for out in scenario.outputs:
            if out not in config.outputs:
                warnings.append(f"{source}: outputs: site has no output {out!r}; it is skipped")
        if scenario.staff_only and not config.staff_zones():
            warnings.append(f"{source}: the site has no staff zone; staff will not hear it")
    cfg = config.base_dir / "config.toml"
    for i, inp in enumerate(config.inputs):
        if inp.kind != "panic":
            continue  # a fault input starts no scenario
        if inp.scenario not in scenarios:
            problems.append(f"{cfg}: inputs[{i}].scenario: unknown scenario {inp.scenario!r}")
        elif inp.zones and scenarios[inp.scenario].staff_only:
            for zone in inp.zones:
                if not config.zones[zone].staff:
                    problems.append(
                        f"{cfg}: inputs[{i}].zones: {zone!r} is public but "
                        f"{inp.scenario!r} is staff-only"
                    )
    for i, entry in enumerate(config.schedule):
        if entry.scenario and entry.scenario not in scenarios:
            problems.append(f"{cfg}: schedule[{i}].scenario: unknown scenario {entry.scenario!r}")
    for sid, phrase in config.code_phrases.items():
        if sid not in scenarios:
            problems.append(f"{cfg}: code_phrases.{sid}: unknown scenario {sid!r}")
        elif not scenarios[sid].covert:
            problems.append(
                f"{cfg}: code_phrases.{sid}: {sid!r} is not covert; it speaks its own message")
        else:
            for lang in LANGUAGES:
                named = [w for w in _NAMES_THE_THREAT[lang] if w in getattr(phrase, lang).lower()]
                if named:
                    problems.append(
                        f"{cfg}: code_phrases.{sid}.{lang}: a code phrase must not name the "
                        f"threat ({named[0]!r}); agree a neutral phrase with staff")
    return problems, warnings


# Words a hostage code phrase must never contain: captors may hear it.
_NAMES_THE_THREAT = {
    "kk": ("кепіл", "басып ал", "қару", "террор", "шабуыл", "полиция"),
    "ru": ("залож", "захват", "оруж", "террор", "нападен", "полиц"),
}


def zones_for(
    scenario: Scenario, config: Config, requested: list[str] | None
) -> list[str]:
    """The zones an activation covers; staff-only scenarios never reach public zones."""
    if requested:
        unknown = [z for z in requested if z not in config.zones]
        if unknown:
            raise ValueError(f"unknown zone {unknown[0]!r} (known: {', '.join(config.zones)})")
        if scenario.staff_only:
            public = [z for z in requested if not config.zones[z].staff]
            if public:
                raise ValueError(
                    f"{scenario.id!r} is staff-only and never reaches public zone {public[0]!r}"
                )
        return list(dict.fromkeys(requested))
    if scenario.zones == "all":
        return list(config.zones)
    if scenario.zones == "staff":
        return config.staff_zones()
    if scenario.zones == "public":
        return config.public_zones()
    return list(scenario.zones)

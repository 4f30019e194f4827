"""Spoken text: normalisation before synthesis, and what a text may contain.

`normalize` turns display text into words a speech engine reads right: numbers
(num2words `kz` and `ru`, with Kazakh decimals done here because num2words gets them
wrong), units after numbers agreeing with them by the language's CLDR plural rule
(Babel: "один метр", "два метра", "пять метров", "ноль целых пять десятых литра";
Kazakh nouns stay singular after numbers), "№", clock times. A leading "one" before
thousands is dropped as in speech ("тысяча двести сорок", "мың екі жүз қырық");
emergency numbers read as people say them ("сто два", "жүз екі").

`speech_problems` says what in a text no engine can say right: abbreviations, digits
the normaliser cannot speak (dates, ordinals, ranges), symbols and letters of another
script. `dabyl check` reports them with file and key.

Texts are written for the ear: `sentences` and `first_instruction` find where the
first thing a listener should do begins, for the timing report.
"""

from __future__ import annotations

import re
from decimal import Decimal

from babel import Locale
from num2words import num2words

LANGUAGES = ("kk", "ru")
_LANG = {"kk": "kz", "ru": "ru"}
STRESS = "\u0301"

# Units spoken after a number: Kazakh keeps the noun singular after numerals;
# Russian forms follow CLDR categories one, few, many, other.
_UNITS: dict[str, tuple[str, tuple[str, str, str, str]]] = {
    "км": ("километр", ("километр", "километра", "километров", "километра")),
    "кг": ("килограмм", ("килограмм", "килограмма", "килограммов", "килограмма")),
    "м": ("метр", ("метр", "метра", "метров", "метра")),
    "г": ("грамм", ("грамм", "грамма", "граммов", "грамма")),
    "л": ("литр", ("литр", "литра", "литров", "литра")),
}
_CATEGORIES = ("one", "few", "many", "other")
# Thousands are grouped with a no-break or narrow no-break space ("100 000"); a plain
# space separates two numbers ("101 112" are two phone numbers).
_GROUP = "\u00a0\u202f"
_NUMBER = re.compile(
    rf"(?<![\w.,])(?P<int>\d{{1,3}}(?:[{_GROUP}]\d{{3}})+|\d+)"
    r"(?:(?P<sep>[.,])(?P<frac>\d+))?"
    rf"(?:[ {_GROUP}]?(?P<unit>{'|'.join(_UNITS)})(?![\w]))?"
    # Not part of a date (03.05.2023), an ordinal (5-й, 2-ші) or a word (COVID19).
    r"(?![\w]|[.,]\d|-\w)"
)
_TIME = re.compile(r"(?<![\w.,:])([01]?\d|2[0-3]):([0-5]\d)(?![\w]|[.,:]\d)")
_SIGN = {"kk": "нөмір", "ru": "номер"}
# Kazakh reads a decimal as "whole, from the hundred, thirty three".
_KK_DENOMINATOR = {1: "оннан", 2: "жүзден", 3: "мыңнан", 4: "он мыңнан", 5: "жүз мыңнан"}
_RU_DENOMINATOR = {1: ("десятая", "десятых"), 2: ("сотая", "сотых"), 3: ("тысячная", "тысячных"),
                   4: ("десятитысячная", "десятитысячных"), 5: ("стотысячная", "стотысячных")}


def plural_category(value: int | float | Decimal | str, language: str) -> str:
    """The CLDR plural category (one, few, many, other) of a number in a language."""
    number = Decimal(str(value).replace(",", "."))
    return Locale.parse(language).plural_form(number)


def choose_form(value: int | float | Decimal | str, language: str, forms: list[str]) -> str:
    """The form agreeing with a number; forms are given for one, few, many, other, and
    a category not given falls back to the last form."""
    category = plural_category(value, language)
    index = _CATEGORIES.index(category) if category in _CATEGORIES else len(forms) - 1
    return forms[min(index, len(forms) - 1)]


def _integer_words(value: int, language: str, gender: str = "m") -> str:
    if language == "ru":
        words = num2words(value, lang="ru", gender=gender)
        return re.sub(r"^одна тысяча", "тысяча", words)
    return re.sub(r"^бір мың", "мың", num2words(value, lang="kz"))


def number_words(value: str, language: str) -> str:
    """A number written with digits ("1240", "0,33", "100 000") as words."""
    if language not in _LANG:
        raise ValueError(f"unsupported language {language!r}")
    digits = re.sub(f"[{_GROUP}]", "", value)
    whole, _, frac = digits.replace(",", ".").partition(".")
    if not frac:
        return _integer_words(int(whole), language)
    if len(frac) > 5:
        raise ValueError(f"too many decimal places in {value!r}")
    numerator = int(frac)
    if language == "kk":
        return f"{_integer_words(int(whole), 'kk')} бүтін {_KK_DENOMINATOR[len(frac)]} " \
               f"{_integer_words(numerator, 'kk')}"
    one, other = _RU_DENOMINATOR[len(frac)]
    whole_word = "целая" if plural_category(int(whole), "ru") == "one" else "целых"
    part_word = one if plural_category(numerator, "ru") == "one" else other
    return (f"{_integer_words(int(whole), 'ru', 'f')} {whole_word} "
            f"{_integer_words(numerator, 'ru', 'f')} {part_word}")


def _is_year(match: re.Match[str], text: str) -> bool:
    """"2023 г." is a year, not 2023 grams: no unit expansion after a year."""
    digits = match.group("int")
    return (match.group("unit") == "г" and not match.group("frac") and len(digits) == 4
            and 1000 <= int(digits) <= 2100 and text[match.end():match.end() + 1] == ".")


def _number(match: re.Match[str], text: str, language: str) -> str:
    value = match.group("int") + (("." + match.group("frac")) if match.group("frac") else "")
    words = number_words(value, language)
    unit = match.group("unit")
    if unit is None:
        return words
    if _is_year(match, text):
        return f"{words} {unit}"
    kk_word, ru_forms = _UNITS[unit]
    if language == "kk":
        return f"{words} {kk_word}"
    return f"{words} {choose_form(re.sub(f'[{_GROUP}]', '', value), 'ru', list(ru_forms))}"


def _time(match: re.Match[str], language: str) -> str:
    hours, minutes = int(match.group(1)), match.group(2)
    spoken_minutes = _integer_words(int(minutes), language)
    if minutes.startswith("0"):
        spoken_minutes = f"{'нөл' if language == 'kk' else 'ноль'} {spoken_minutes}"
    if minutes == "00":
        spoken_minutes = "нөл нөл" if language == "kk" else "ноль ноль"
    return f"{_integer_words(hours, language)} {spoken_minutes}"


def normalize(text: str, language: str, keep_stress: bool = False) -> str:
    """Turn display text into what a speech engine should read."""
    if language not in _LANG:
        raise ValueError(f"unsupported language {language!r}")
    out = text.replace("«", "").replace("»", "").replace('"', "")
    out = re.sub(r"№\s*", f"{_SIGN[language]} ", out)
    out = _TIME.sub(lambda m: _time(m, language), out)
    out = _NUMBER.sub(lambda m: _number(m, out, language), out)
    out = re.sub(r"\s+[—–]\s+", ", ", out)
    if not keep_stress:
        out = out.replace(STRESS, "")
    return re.sub(r"[ \t\u00a0\u202f]+", " ", out).strip()


# -- what a spoken text may contain ----------------------------------------------------

_CYRILLIC = "абвгдеёжзийклмнопрстуфхцчшщъыьэюя"
_KAZAKH_ONLY = "әғқңөұүһі"
_LETTERS = {"ru": set(_CYRILLIC), "kk": set(_CYRILLIC + _KAZAKH_ONLY)}
_PUNCTUATION = set(" \n.,!?:;—–-«»\"'’()…") | {STRESS, "\u00a0", "\u202f"}
_VOWELS = set("аеёиоуыэюяәөұүі")
# Abbreviations people write in notices; spoken texts spell them out.
_ABBREVIATIONS = {
    "ru": {"г", "гг", "ул", "д", "кв", "пр", "просп", "пл", "обл", "р", "руб", "тел", "им",
           "т.е", "т.д", "т.п", "т.к", "см", "напр", "др", "пер", "стр", "мин", "сек", "ч",
           "тыс", "млн", "млрд", "коп", "тг", "шт", "кг", "км", "м", "л", "с", "ш", "мкр",
           "пос", "рис", "н.э"},
    "kk": {"ж", "жж", "көш", "қ", "обл", "ш", "т.б", "т.с.с", "мыс", "тг", "млн", "млрд",
           "кг", "км", "м", "л", "мин", "сағ", "ауд", "мкр", "а", "б", "с"},
}
_ABBREVIATION = re.compile(r"(?<![\w.])((?:[^\W\d_]{1,5}\.)*[^\W\d_]{1,5})\.(?=\s|$|[,;:!?])")
_ACRONYM = re.compile(r"(?<![\w])([^\W\d_]{2,6})(?![\w])")


def speech_problems(text: str, language: str) -> list[str]:
    """Everything in a text that no engine will say as meant, one reason each."""
    if language not in _LANG:
        raise ValueError(f"unsupported language {language!r}")
    problems: list[str] = []
    letters = _LETTERS[language]
    odd = sorted({c for c in text if not (c.lower() in letters or c.isdigit()
                                           or c in _PUNCTUATION or c == "№")})
    latin = [c for c in odd if c.isascii() and c.isalpha()]
    if latin:
        problems.append(f"Latin letters ({''.join(latin)}) are read in another language; "
                        "write the word in Cyrillic")
    other = [c for c in odd if c not in latin]
    if other:
        shown = " ".join(repr(c) for c in other)
        problems.append(f"symbol {shown} cannot be spoken; write it in words")
    for match in _ACRONYM.finditer(text):
        word = match.group(1)
        if word.isupper():
            problems.append(f"abbreviation {word!r}: write it out in words")
    spoken = normalize(text, language, keep_stress=True)
    for match in _ABBREVIATION.finditer(spoken):
        if match.group(1).lower() in _ABBREVIATIONS[language]:
            problems.append(f"abbreviation {match.group(1) + '.'!r}: write it out in words")
    for match in re.finditer(r"\d[\w.,:\-–—/\u00a0\u202f]*", spoken):
        problems.append(
            f"number {match.group(0).strip('.,:;')!r} cannot be spoken (dates, ordinals, ranges "
            "and leading zeros are not); write it in words")
    for match in re.finditer(STRESS, text):
        before = text[match.start() - 1].lower() if match.start() else ""
        if before not in _VOWELS:
            problems.append("a stress mark (U+0301) must follow the stressed vowel")
    return problems


# -- how a text is heard ---------------------------------------------------------------

_SENTENCE = re.compile(r"(?<=[.!?…])\s+")
# Calls for attention are not instructions ("Назар аударыңыздар!").
_ATTENTION = {"kk": {"аударыңыздар", "аударыңыз"}, "ru": set()}
_KK_IMPERATIVE = re.compile(r"(ңыздар|ңіздер)$")
_RU_IMPERATIVE = re.compile(r"([иыйь]те|[иыйь]тесь)$")
_RU_IMPERATIVE_WORDS = {"лягте", "пусть"}


_IPA_VOWELS = set("aɑɐʌəɜeɛiɪɨoɔɵøœuʊʉyæɯ")


def marked_stress(word: str) -> int | None:
    """Which vowel (0-based) of a word a U+0301 mark stresses."""
    count = 0
    for i, c in enumerate(word):
        if c.lower() in _VOWELS:
            if word[i + 1:i + 2] == STRESS:
                return count
            count += 1
    return None


def stress_index(ipa_word: str) -> int | None:
    """Which vowel (0-based) of a word carries the primary stress in IPA phonemes."""
    count = 0
    for c in ipa_word:
        if c == "ˈ":
            return count
        if c in _IPA_VOWELS:
            count += 1
    return None


def sentences(text: str) -> list[str]:
    return [s for s in _SENTENCE.split(text.strip()) if s]


def words(text: str) -> list[str]:
    return [w.lower() for w in re.findall(r"[^\W\d_]+(?:-[^\W\d_]+)*", text.replace(STRESS, ""))]


def imperatives(text: str, language: str) -> list[str]:
    """The words of a text that tell the listener to do something."""
    found = []
    for word in words(text):
        if word in _ATTENTION[language]:
            continue
        if language == "kk" and _KK_IMPERATIVE.search(word):
            found.append(word)
        elif language == "ru" and (_RU_IMPERATIVE.search(word) or word in _RU_IMPERATIVE_WORDS):
            found.append(word)
    return found


_CLAUSE_END = re.compile(r"[.!?…,;:](?=\s|$)")


def first_instruction(text: str, language: str) -> str | None:
    """The text up to the end of the first clause that tells people what to do."""
    start = 0
    for match in _CLAUSE_END.finditer(text):
        if imperatives(text[start:match.end()], language):
            return text[:match.end()].strip()
        start = match.end()
    return text.strip() if imperatives(text[start:], language) else None

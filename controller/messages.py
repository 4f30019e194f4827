"""Every message dabyl shows an operator, in the console's three languages.

A message is a code and its parameters. The controller keeps both with the fault (or
error) it describes, so each console shows it in its own language; the English text
goes to the journal, the log and the command line. Parameters that name something
(a device, an input, a zone, an output, a scenario, an activation) hold its id; a
console passes `name` to show the title from the site config instead.

Three tables, one rule: whoever adds a fault, an error or an event kind adds its words
here in all three languages: natural Kazakh and Russian, short, saying what happened
and, where it helps, what to do.

- MESSAGES: faults and the errors an operator may meet (`code` → text).
- EVENTS: every event kind the controller publishes, as a line of the event log and
  of the journal browser. A kind missing here still shows, as a generic line.
- WORDS: the values of a few parameters (a level, a role, a source) in words.

Templates take `{param}` and `{param?said when true|said when false}`. Free text from
a program (an exception's message, a driver's reply) is English: it stays in the
English text and out of the Kazakh and Russian ones.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from typing import Any

LANGUAGES = ("kk", "ru", "en")

# name(kind, id) -> the title an operator knows it by.
Namer = Callable[[str, str], str]

MESSAGES: dict[str, dict[str, str]] = {
    # -- faults ---------------------------------------------------------------------
    "device_lost": {
        "en": "device {device} lost: {error}",
        "ru": "нет связи с устройством «{device}»",
        "kk": "«{device}» құрылғысымен байланыс жоқ",
    },
    "outputs_mismatch": {
        "en": "{device}: outputs not as commanded: {outputs}",
        "ru": "«{device}»: выходы не в заданном состоянии: {outputs}",
        "kk": "«{device}»: шығыстар берілген күйде емес: {outputs}",
    },
    "simulator_failed": {
        "en": "simulated board {device} cannot start: {error}",
        "ru": "имитатор платы «{device}» не запускается",
        "kk": "«{device}» тақтасының имитаторы іске қосылмады",
    },
    "input_stuck": {
        "en": "input {input} is active at start (stuck or wired wrong)",
        "ru": "«{input}» активен при запуске: залип или неверно подключён",
        "kk": "«{input}» іске қосылғанда белсенді: жабысып қалған немесе қате қосылған",
    },
    "input_cannot_trigger": {
        "en": "input {input} cannot start its scenario: {error}",
        "ru": "«{input}» не может запустить свой сценарий",
        "kk": "«{input}» өз сценарийін іске қоса алмайды",
    },
    "journal": {
        "en": "journal: {detail}",
        "ru": "неисправность журнала: записи пока хранятся в памяти",
        "kk": "журнал ақауы: жазбалар әзірге жадта сақталады",
    },
    "render_failed": {
        "en": "pre-rendering the announcements failed: {error}",
        "ru": "не удалось заранее подготовить сообщения",
        "kk": "хабарландыруларды алдын ала дайындау сәтсіз аяқталды",
    },
    "voice_missing": {
        "en": "no speech for {language}: tones only. {notes}",
        "ru": "нет синтеза речи на {language} языке: звучат только сигналы",
        "kk": "{language} тілінде сөйлеу жоқ: тек дыбыс сигналдары естіледі",
    },
    "audio_output": {
        "en": "sound output: {detail}",
        "ru": "звуковая карта недоступна: сообщения записываются в файлы",
        "kk": "дыбыс картасы қолжетімсіз: хабарландырулар файлға жазылады",
    },
    "schedule_missed": {
        "en": "scheduled {action} «{entry}» was missed {count} time(s) while the controller "
              "was down, last at {last}",
        "ru": "плановое действие «{entry}» пропущено, пока контроллер не работал "
              "(раз: {count}), последний раз {last}",
        "kk": "контроллер жұмыс істемеген кезде «{entry}» жоспарлы әрекеті өткізілмей қалды "
              "({count} рет), соңғысы {last}",
    },
    "reminder": {"en": "{text}", "ru": "{text}", "kk": "{text}"},
    "schedule_failed": {
        "en": "scheduled «{entry}» failed: {error}",
        "ru": "плановое действие «{entry}» не выполнено",
        "kk": "«{entry}» жоспарлы әрекеті орындалмады",
    },
    "resume_failed": {
        "en": "cannot resume {activation}: {error}",
        "ru": "не удалось возобновить «{activation}»",
        "kk": "«{activation}» қайта жалғастырылмады",
    },
    # -- errors a console may meet (controller/errors.py) -----------------------------
    "no_open_activation": {
        "en": "no open activation '{activation}'",
        "ru": "тревога «{activation}» уже завершена",
        "kk": "«{activation}» дабылы аяқталып қойған",
    },
    "not_held": {
        "en": "{activation} is not waiting for confirmation",
        "ru": "«{activation}» уже не ждёт подтверждения",
        "kk": "«{activation}» енді растауды күтпейді",
    },
    "no_form": {
        "en": "'{scenario}' has no form",
        "ru": "у сценария «{scenario}» нет формы",
        "kk": "«{scenario}» сценарийінде пішін жоқ",
    },
    "form_no_field": {
        "en": "form of '{scenario}' has no field '{field}'",
        "ru": "в форме «{scenario}» нет поля «{field}»",
        "kk": "«{scenario}» пішінінде «{field}» өрісі жоқ",
    },
    "unknown_role": {
        "en": "unknown role '{role}' (roles: leader, staff)",
        "ru": "неизвестная роль «{role}»",
        "kk": "«{role}» рөлі белгісіз",
    },
    "no_checklist_item": {
        "en": "checklist {role} has items 0..{last}",
        "ru": "в списке действий нет такого пункта",
        "kk": "іс-қимыл тізімінде мұндай тармақ жоқ",
    },
    "not_in_journal": {
        "en": "no activation '{activation}' in the journal",
        "ru": "в журнале нет тревоги «{activation}»",
        "kk": "журналда «{activation}» дабылы жоқ",
    },
    "not_a_drill": {
        "en": "{activation} was a real alarm, not a drill",
        "ru": "«{activation}» — настоящая тревога, а не учение",
        "kk": "«{activation}» — оқу-жаттығу емес, нақты дабыл",
    },
    "no_active_fault": {
        "en": "no active fault '{fault}'",
        "ru": "этой неисправности уже нет",
        "kk": "бұл ақау енді жоқ",
    },
    "clear_what": {
        "en": "name an activation or set all",
        "ru": "укажите тревогу или выберите все",
        "kk": "дабылды көрсетіңіз немесе барлығын таңдаңыз",
    },
    "unknown_input": {
        "en": "unknown input '{input}' (known: {known})",
        "ru": "неизвестный вход «{input}»",
        "kk": "«{input}» кірісі белгісіз",
    },
    "input_not_simulated": {
        "en": "input '{input}' is on a real device and cannot be pressed",
        "ru": "«{input}» — настоящее устройство, его нельзя нажать отсюда",
        "kk": "«{input}» — нақты құрылғы, оны мұнан басу мүмкін емес",
    },
    "unknown_scenario": {
        "en": "unknown scenario '{scenario}' (known: {known})",
        "ru": "неизвестный сценарий «{scenario}»",
        "kk": "«{scenario}» сценарийі белгісіз",
    },
    "bad_trigger": {
        "en": "{detail}",
        "ru": "сценарий нельзя запустить с такими параметрами или зонами",
        "kk": "сценарийді мұндай параметрлермен немесе аймақтармен іске қосу мүмкін емес",
    },
    "no_zone_to_reach": {
        "en": "'{scenario}' has no zone to reach on this site",
        "ru": "у сценария «{scenario}» нет ни одной зоны на этом объекте",
        "kk": "«{scenario}» сценарийінің бұл нысанда бірде-бір аймағы жоқ",
    },
    "journal_unreadable": {
        "en": "the journal cannot be read: {detail}",
        "ru": "журнал не читается",
        "kk": "журнал оқылмайды",
    },
    "no_answer": {
        "en": "the controller did not answer {op!r}",
        "ru": "контроллер не ответил",
        "kk": "контроллер жауап бермеді",
    },
    "refused": {
        "en": "{detail}",
        "ru": "контроллер отклонил запрос",
        "kk": "контроллер сұрауды орындамады",
    },
}

EVENTS: dict[str, dict[str, str]] = {
    "controller_started": {
        "en": "controller started",
        "ru": "контроллер запущен",
        "kk": "контроллер іске қосылды",
    },
    "controller_stopped": {
        "en": "controller stopped",
        "ru": "контроллер остановлен",
        "kk": "контроллер тоқтатылды",
    },
    "warning": {
        "en": "warning: {message}",
        "ru": "предупреждение о файлах сценариев (подробности: dabyl check)",
        "kk": "сценарий файлдары туралы ескерту бар (толығырақ: dabyl check)",
    },
    "voice": {
        "en": "{language} speech: {voice}",
        "ru": "речь на {language} языке: {voice}",
        "kk": "{language} тіліндегі сөйлеу: {voice}",
    },
    "prerendered": {
        "en": "announcements ready ({count} rendered now)",
        "ru": "сообщения готовы (подготовлено сейчас: {count})",
        "kk": "хабарландырулар дайын (қазір дайындалғаны: {count})",
    },
    "cache_miss": {
        "en": "{label} was not ready: the signal plays while it is prepared",
        "ru": "{label}: сообщение не было готово, пока оно готовится, звучит сигнал",
        "kk": "{label}: хабарландыру дайын емес еді, ол дайындалғанша сигнал беріледі",
    },
    "schedule_missed": {
        "en": "scheduled {entry} missed {count} time(s) while the controller was down",
        "ru": "пропущено по расписанию, пока контроллер не работал: {entry} (раз: {count})",
        "kk": "контроллер жұмыс істемеген кезде кесте бойынша өткізілмей қалды: "
              "{entry} ({count} рет)",
    },
    "schedule_run": {
        "en": "by the schedule: {entry}",
        "ru": "по расписанию: {entry}",
        "kk": "кесте бойынша: {entry}",
    },
    "threat_level": {
        "en": "terror threat level: {level}",
        "ru": "уровень террористической угрозы: {level}",
        "kk": "террористік қауіп деңгейі: {level}",
    },
    "selftest": {
        "en": "self-test: {checked} checked, {failed} failed",
        "ru": "самопроверка: проверено {checked}, неисправно {failed}",
        "kk": "өзін-өзі тексеру: {checked} тексерілді, {failed} ақаулы",
    },
    "drill_record": {
        "en": "drill record saved: {participants} participants",
        "ru": "итоги учения записаны: участников {participants}",
        "kk": "жаттығу қорытындысы жазылды: {participants} қатысушы",
    },
    "briefing": {
        "en": "briefing recorded: {person}",
        "ru": "инструктаж записан: {person}",
        "kk": "нұсқау жазылды: {person}",
    },
    "simulated_press": {
        "en": "simulated press: {input}",
        "ru": "имитация нажатия: {input}",
        "kk": "басу имитациясы: {input}",
    },
    "input": {
        "en": "{input}: {active?active|at rest}",
        "ru": "{input}: {active?сработал|в покое}",
        "kk": "{input}: {active?іске қосылды|тыныш күйде}",
    },
    "device": {
        "en": "{device}: {online?answers again|lost}",
        "ru": "{device}: {online?снова на связи|нет связи}",
        "kk": "{device}: {online?қайта байланыста|байланыс жоқ}",
    },
    "output": {
        "en": "{output}: {on?on|off}{ok?| — failed}",
        "ru": "{output}: {on?включён|выключен}{ok?| — ошибка}",
        "kk": "{output}: {on?қосулы|өшірулі}{ok?| — қате}",
    },
    "outputs_applied": {
        "en": "outputs set in {latency_ms} ms{ok?| (not all)}",
        "ru": "выходы установлены за {latency_ms} мс{ok?| (не все)}",
        "kk": "шығыстар {latency_ms} мс ішінде орнатылды{ok?| (барлығы емес)}",
    },
    "fault": {
        "en": "fault: {text}",
        "ru": "неисправность: {text}",
        "kk": "ақау: {text}",
    },
    "fault_cleared": {
        "en": "fault cleared{text?: {text}|}",
        "ru": "неисправность устранена{text?: {text}|}",
        "kk": "ақау жойылды{text?: {text}|}",
    },
    "fault_acknowledged": {
        "en": "fault acknowledged{text?: {text}|}",
        "ru": "неисправность принята{text?: {text}|}",
        "kk": "ақау қабылданды{text?: {text}|}",
    },
    "triggered": {
        "en": "{drill?drill|REAL ALARM} started; source: {from}",
        "ru": "{drill?учебная тревога|НАСТОЯЩАЯ ТРЕВОГА} запущена; источник: {from}",
        "kk": "{drill?оқу-жаттығу|НАҚТЫ ДАБЫЛ} басталды; көзі: {from}",
    },
    "retriggered": {
        "en": "signalled again; source: {from}",
        "ru": "повторный сигнал; источник: {from}",
        "kk": "қайталанған сигнал; көзі: {from}",
    },
    "resumed": {
        "en": "resumed after a restart (the controller was down {gap_s} s)",
        "ru": "возобновлена после перезапуска (контроллер не работал {gap_s} с)",
        "kk": "қайта іске қосылғаннан кейін жалғасты (контроллер {gap_s} с жұмыс істемеді)",
    },
    "held": {
        "en": "the evacuation waits for an operator's confirmation",
        "ru": "эвакуация ждёт подтверждения оператора",
        "kk": "эвакуация оператордың растауын күтуде",
    },
    "confirmed": {
        "en": "evacuation confirmed",
        "ru": "эвакуация подтверждена",
        "kk": "эвакуация расталды",
    },
    "declined": {
        "en": "evacuation declined",
        "ru": "эвакуация отклонена",
        "kk": "эвакуациядан бас тартылды",
    },
    "silenced": {
        "en": "silenced",
        "ru": "звук выключен",
        "kk": "дыбыс өшірілді",
    },
    "notices_silenced": {
        "en": "announcements silenced",
        "ru": "оповещения выключены",
        "kk": "хабарландырулар өшірілді",
    },
    "cleared": {
        "en": "ended ({reason})",
        "ru": "завершена ({reason})",
        "kk": "аяқталды ({reason})",
    },
    "checklist_tick": {
        "en": "{role}, item {number}: {done?done|not done}",
        "ru": "{role}, пункт {number}: {done?выполнено|отметка снята}",
        "kk": "{role}, {number}-тармақ: {done?орындалды|белгі алынды}",
    },
    "form": {
        "en": "caller form saved ({count} answers)",
        "ru": "форма звонка записана (ответов: {count})",
        "kk": "қоңырау пішіні жазылды (жауап саны: {count})",
    },
    "announcement_started": {
        "en": "playing: {label}",
        "ru": "звучит: {label}",
        "kk": "ойнап тұр: {label}",
    },
    "announcement_ended": {
        "en": "{completed?played|stopped}: {label}",
        "ru": "{completed?прозвучало|остановлено}: {label}",
        "kk": "{completed?ойналып бітті|тоқтатылды}: {label}",
    },
    "first_audio": {
        "en": "first sound {latency_ms} ms after the trigger",
        "ru": "первый звук через {latency_ms} мс после запуска",
        "kk": "алғашқы дыбыс іске қосылғаннан {latency_ms} мс кейін",
    },
}

# An event kind missing from EVENTS (a newer controller, say) still shows, in words.
UNKNOWN_EVENT = {"en": "controller event", "ru": "событие контроллера", "kk": "контроллер оқиғасы"}

WORDS: dict[str, dict[str, dict[str, str]]] = {
    "level": {
        "raised": {"en": "raised", "ru": "повышенный", "kk": "жоғары"},
        "normal": {"en": "normal", "ru": "обычный", "kk": "қалыпты"},
    },
    "role": {
        "leader": {"en": "leader's checklist", "ru": "действия руководителя",
                   "kk": "басшының іс-қимылы"},
        "staff": {"en": "staff checklist", "ru": "действия персонала",
                  "kk": "персоналдың іс-қимылы"},
    },
    "language": {
        "kk": {"en": "Kazakh", "ru": "казахском", "kk": "қазақ"},
        "ru": {"en": "Russian", "ru": "русском", "kk": "орыс"},
    },
    "source": {
        "operator": {"en": "an operator", "ru": "оператор", "kk": "оператор"},
        "input": {"en": "an input", "ru": "вход", "kk": "кіріс"},
        "schedule": {"en": "the schedule", "ru": "расписание", "kk": "кесте"},
        "engine": {"en": "the controller", "ru": "контроллер", "kk": "контроллер"},
    },
    "reason": {
        "cleared by operator": {"en": "by an operator", "ru": "оператором",
                                "kk": "оператордың шешімімен"},
        "declined by operator": {"en": "declined by an operator", "ru": "отклонена оператором",
                                 "kk": "оператор бас тартты"},
        "drill completed": {"en": "the drill ran to its end", "ru": "учение прошло до конца",
                            "kk": "жаттығу соңына дейін өтті"},
        "input released": {"en": "the input was released", "ru": "вход отпущен",
                           "kk": "кіріс босатылды"},
        "superseded by a real alarm": {"en": "a real alarm took its place",
                                       "ru": "её сменила настоящая тревога",
                                       "kk": "орнына нақты дабыл келді"},
    },
    "label": {
        "drill_preamble": {"en": "the drill announcement", "ru": "объявление об учении",
                           "kk": "оқу-жаттығу туралы хабарландыру"},
        "drill_closing": {"en": "the end of the drill", "ru": "окончание учения",
                          "kk": "оқу-жаттығудың аяқталуы"},
        "all_clear": {"en": "the all-clear", "ru": "отбой тревоги",
                      "kk": "қауіптің өткені туралы хабар"},
        "held_evacuation": {"en": "the staff notice of a held evacuation",
                            "ru": "сообщение персоналу о задержанной эвакуации",
                            "kk": "персоналға кідіртілген эвакуация туралы хабар"},
        "selftest": {"en": "the self-test message", "ru": "сообщение самопроверки",
                     "kk": "өзін-өзі тексеру хабары"},
        "public": {"en": "the public announcement", "ru": "сообщение для посетителей",
                   "kk": "келушілерге арналған хабарландыру"},
        "staff": {"en": "the staff announcement", "ru": "сообщение для персонала",
                  "kk": "персоналға арналған хабарландыру"},
        "tone": {"en": "the attention signal", "ru": "сигнал внимания",
                 "kk": "назар аудару сигналы"},
    },
}

# Parameters that name something, and what they name (for `name`).
NAMED = {
    "scenario": "scenario", "zone": "zone", "zones": "zone", "input": "input",
    "device": "device", "output": "output", "outputs": "output", "activation": "activation",
    "entry": "entry", "fault": "fault",
}


def _ids(kind: str, value: str) -> str:
    return value


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


_CHOICE = re.compile(r"\{(\w+)\?((?:[^{}|]|\{\w+\})*)\|((?:[^{}|]|\{\w+\})*)\}")


def fill(template: str, language: str, params: dict[str, Any], name: Namer | None = None) -> str:
    """A template with `{param}` and `{param?yes|no}`, names and words in `language`."""
    name = name or _ids
    template = _CHOICE.sub(lambda m: m.group(2) if params.get(m.group(1)) else m.group(3),
                           template)
    shown: dict[str, str] = {}
    for key, value in params.items():
        if key in NAMED and value not in (None, ""):
            values = value if isinstance(value, list | tuple) else [value]
            value = [name(NAMED[key], str(v)) for v in values]
        elif key in WORDS and isinstance(value, str) and value in WORDS[key]:
            value = WORDS[key][value].get(language) or WORDS[key][value]["en"]
        shown[key] = _show(value)
    try:
        return template.format_map(_Keep(shown))
    except (ValueError, IndexError):  # a malformed template must not hide the message
        return template


def render(code: str, language: str, params: dict[str, Any], name: Namer | None = None) -> str:
    """The message in one language (English where the code or language is unknown)."""
    templates = MESSAGES.get(code)
    if templates is None:
        return f"{code}: " + ", ".join(f"{k}={v}" for k, v in params.items())
    return fill(templates.get(language) or templates["en"], language, params, name)


def texts(code: str, params: dict[str, Any]) -> dict[str, str]:
    return {lang: render(code, lang, params) for lang in LANGUAGES}


def event_text(event: dict[str, Any], language: str, name: Namer | None = None) -> str:
    """One event in words: what the event log and the journal browser show."""
    kind = str(event.get("kind", ""))
    templates = EVENTS.get(kind)
    if templates is None:
        return UNKNOWN_EVENT.get(language, UNKNOWN_EVENT["en"])
    params = {**event, **_derived(event, language, name or _ids)}
    return fill(templates.get(language) or templates["en"], language, params, name)


def _derived(event: dict[str, Any], language: str, name: Namer) -> dict[str, Any]:
    """Values an event line needs that the event holds only as ids or numbers."""
    out: dict[str, Any] = {}
    kind = event.get("kind")
    if kind in ("triggered", "retriggered"):
        source, origin = str(event.get("source", "")), str(event.get("origin", ""))
        if source == "input":
            out["from"] = name("input", origin)
        elif source == "schedule":
            out["from"] = name("entry", origin)
        else:
            out["from"] = _word("source", source, language)
    if kind == "checklist_tick" and isinstance(event.get("item"), int):
        out["number"] = event["item"] + 1
    if kind == "form":
        out["count"] = len(event.get("answers") or {})
    if kind in ("fault", "fault_cleared", "fault_acknowledged"):
        code = event.get("code")
        if code in MESSAGES:
            out["text"] = render(code, language, event.get("params") or {}, name)
        else:  # the console knows the fault's text from the status, by its key
            out["text"] = name("fault", str(event.get("key", "")))
    if kind == "voice":
        out["voice"] = str(event.get("voice", "")).split(" ")[0]
    if "label" in event:
        out["label"] = label(str(event["label"]), language, name)
    if kind == "cleared" and event.get("reason") not in WORDS["reason"]:
        out["reason"] = _word("source", str(event.get("source", "")), language)
    if kind == "prerendered" and isinstance(event.get("seconds"), float):
        out["seconds"] = round(event["seconds"], 1)
    return out


def label(value: str, language: str, name: Namer | None = None) -> str:
    """What an announcement is, from its label (`fire-public`, `all_clear`, ...)."""
    name = name or _ids
    if value in WORDS["label"]:
        return _word("label", value, language)
    scenario, _, part = value.partition("-")
    part = part.removesuffix("-tone") if part != "tone" else part
    what = name("scenario", scenario)
    if part in WORDS["label"]:
        return f"{what}: {_word('label', part, language)}"
    return what


def _word(group: str, value: str, language: str) -> str:
    words = WORDS[group].get(value)
    if words is None:
        return value
    return words.get(language) or words["en"]


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)

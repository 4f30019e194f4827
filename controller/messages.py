"""Every message dabyl shows an operator, in the console's three languages.

A message is a code and its parameters. The controller keeps both with the fault (or
error) it describes, so each console shows it in its own language; the English text
goes to the journal, the log and the command line. Parameters that name something
(a device, an input, a zone, an output) hold its id; a console may show the title from
the site config instead.

Whoever adds a message adds it here in all three languages: natural Kazakh and Russian,
short, saying what is wrong and, where it helps, what to do.
"""

from __future__ import annotations

from typing import Any

LANGUAGES = ("kk", "ru", "en")

MESSAGES: dict[str, dict[str, str]] = {
    "device_lost": {
        "en": "device {device} lost: {error}",
        "ru": "нет связи с устройством {device}: {error}",
        "kk": "{device} құрылғысымен байланыс жоқ: {error}",
    },
    "outputs_mismatch": {
        "en": "{device}: outputs not as commanded: {outputs}",
        "ru": "{device}: выходы не в заданном состоянии: {outputs}",
        "kk": "{device}: шығыстар берілген күйде емес: {outputs}",
    },
    "simulator_failed": {
        "en": "simulated board {device} cannot start: {error}",
        "ru": "имитатор платы {device} не запускается: {error}",
        "kk": "{device} тақтасының имитаторы іске қосылмады: {error}",
    },
    "input_stuck": {
        "en": "input {input} is active at start (stuck or wired wrong)",
        "ru": "вход {input} активен при запуске (залип или неверно подключён)",
        "kk": "{input} кірісі іске қосылғанда белсенді (жабысып қалған немесе қате қосылған)",
    },
    "input_cannot_trigger": {
        "en": "input {input} cannot start its scenario: {error}",
        "ru": "вход {input} не может запустить сценарий: {error}",
        "kk": "{input} кірісі сценарийді іске қоса алмайды: {error}",
    },
    "journal": {
        "en": "journal: {detail}",
        "ru": "журнал: {detail}",
        "kk": "журнал: {detail}",
    },
    "render_failed": {
        "en": "pre-rendering the announcements failed: {error}",
        "ru": "не удалось заранее подготовить сообщения: {error}",
        "kk": "хабарландыруларды алдын ала дайындау сәтсіз аяқталды: {error}",
    },
    "voice_missing": {
        "en": "no speech for {language}: tones only. {notes}",
        "ru": "нет синтеза речи для языка {language}: только тональные сигналы. {notes}",
        "kk": "{language} тілінде сөйлеу жоқ: тек дыбыс сигналдары. {notes}",
    },
    "audio_output": {
        "en": "sound output: {detail}",
        "ru": "звуковой выход: {detail}",
        "kk": "дыбыс шығысы: {detail}",
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
        "ru": "плановое действие «{entry}» не выполнено: {error}",
        "kk": "«{entry}» жоспарлы әрекеті орындалмады: {error}",
    },
    "config_fallback": {
        "en": "the site's files are invalid, so the controller runs on their last good copy: "
              "{problems}",
        "ru": "в файлах объекта ошибки, поэтому контроллер работает по последней исправной "
              "копии: {problems}",
        "kk": "нысан файлдарында қате бар, сондықтан контроллер олардың соңғы дұрыс "
              "көшірмесімен жұмыс істейді: {problems}",
    },
    "config_invalid": {
        "en": "the edited site files are invalid; the controller goes on as before: {problems}",
        "ru": "в изменённых файлах объекта ошибки; контроллер работает по-прежнему: {problems}",
        "kk": "өзгертілген нысан файлдарында қате бар; контроллер бұрынғыдай жұмыс істейді: "
              "{problems}",
    },
    "config_not_saved": {
        "en": "the last good copy of the site cannot be kept: {error}",
        "ru": "не удаётся сохранить исправную копию файлов объекта: {error}",
        "kk": "нысан файлдарының дұрыс көшірмесін сақтау мүмкін емес: {error}",
    },
    "clock_unsynchronised": {
        "en": "the clock is not synchronised: journal times cannot be trusted; check NTP",
        "ru": "часы не синхронизированы: времени в журнале нельзя доверять; проверьте NTP",
        "kk": "сағат синхрондалмаған: журналдағы уақытқа сенуге болмайды; NTP-ны тексеріңіз",
    },
    "resume_failed": {
        "en": "cannot resume {activation}: {error}",
        "ru": "не удалось возобновить {activation}: {error}",
        "kk": "{activation} қайта жалғастырылмады: {error}",
    },
}


class _Keep(dict):
    def __missing__(self, key: str) -> str:
        return "{" + key + "}"


def render(code: str, language: str, params: dict[str, Any]) -> str:
    """The message in one language (English where the code or language is unknown)."""
    templates = MESSAGES.get(code)
    if templates is None:
        return f"{code}: " + ", ".join(f"{k}={v}" for k, v in params.items())
    template = templates.get(language) or templates["en"]
    return template.format_map(_Keep({k: _show(v) for k, v in params.items()}))


def texts(code: str, params: dict[str, Any]) -> dict[str, str]:
    return {lang: render(code, lang, params) for lang in LANGUAGES}


def _show(value: Any) -> str:
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)

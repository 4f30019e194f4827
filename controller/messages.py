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
    "journal_write_failed": {
        "en": "the journal cannot be written ({error}); new rows are kept in the spill file "
              "{spill} and go into the journal as soon as it can be written again",
        "ru": "журнал не записывается ({error}); новые записи сохраняются в резервном файле "
              "{spill} и попадут в журнал, как только запись снова станет возможной",
        "kk": "журналға жазу мүмкін емес ({error}); жаңа жазбалар {spill} қосалқы файлында "
              "сақталады және жазу мүмкін болған соң журналға түседі",
    },
    "journal_spill_failed": {
        "en": "the journal and its spill file {path} cannot be written ({error}): new rows "
              "are only in memory and are lost if the controller stops",
        "ru": "не записываются ни журнал, ни резервный файл {path} ({error}): новые записи "
              "есть только в памяти и пропадут при остановке контроллера",
        "kk": "журнал да, {path} қосалқы файлы да жазылмайды ({error}): жаңа жазбалар тек "
              "жадта тұр, контроллер тоқтаса, жоғалады",
    },
    "journal_head_failed": {
        "en": "the journal's head {path} cannot be written ({error}); the rows themselves "
              "are in the journal",
        "ru": "не записывается заголовок журнала {path} ({error}); сами записи в журнале есть",
        "kk": "журналдың {path} бас жазбасы жазылмайды ({error}); жазбалардың өзі журналда бар",
    },
    "journal_key": {
        "en": "the journal's signing key {path} cannot be used ({error}): rows are written "
              "unsigned",
        "ru": "ключ подписи журнала {path} недоступен ({error}): записи пишутся без подписи",
        "kk": "журналдың қолтаңба кілті {path} қолжетімсіз ({error}): жазбалар қолтаңбасыз "
              "жазылады",
    },
    "journal_damaged": {
        "en": "the journal was damaged ({problem}; first bad row {row}). The damaged files were "
              "kept as {moved}; open alarms were resumed from {snapshot}; the journal goes on "
              "in a new file",
        "ru": "журнал повреждён ({problem}; первая испорченная запись {row}). Повреждённые "
              "файлы сохранены как {moved}; открытые тревоги восстановлены из: {snapshot}; "
              "журнал продолжается в новом файле",
        "kk": "журнал бүлінген ({problem}; алғашқы бүлінген жазба {row}). Бүлінген файлдар "
              "{moved} ретінде сақталды; ашық дабылдар мына жерден қалпына келтірілді: "
              "{snapshot}; журнал жаңа файлда жалғасады",
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

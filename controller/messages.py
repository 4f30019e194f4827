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
    "device_no_reply": {
        "en": "{device} ({driver}, {where}): no reply within {timeout} s",
        "ru": "{device} ({driver}, {where}): нет ответа за {timeout} с",
        "kk": "{device} ({driver}, {where}): {timeout} с ішінде жауап жоқ",
    },
    "device_invalid_reply": {
        "en": "{device} ({driver}, {where}): answered an invalid frame ({detail})",
        "ru": "{device} ({driver}, {where}): прислало неверный кадр ({detail})",
        "kk": "{device} ({driver}, {where}): қате кадр жіберді ({detail})",
    },
    "device_port_vanished": {
        "en": "{device} ({driver}, {where}): port vanished (unplugged?)",
        "ru": "{device} ({driver}, {where}): порт пропал (кабель отключён?)",
        "kk": "{device} ({driver}, {where}): порт жоғалды (кабель ажыратылған ба?)",
    },
    "device_no_port": {
        "en": "{device} ({driver}, {where}): no such port (not plugged in?)",
        "ru": "{device} ({driver}, {where}): порт не найден (не подключён?)",
        "kk": "{device} ({driver}, {where}): порт табылмады (қосылмаған ба?)",
    },
    "device_cannot_open": {
        "en": "{device} ({driver}, {where}): cannot open the port ({detail})",
        "ru": "{device} ({driver}, {where}): не удаётся открыть порт ({detail})",
        "kk": "{device} ({driver}, {where}): портты ашу мүмкін емес ({detail})",
    },
    "device_port_failed": {
        "en": "{device} ({driver}, {where}): port failed ({detail})",
        "ru": "{device} ({driver}, {where}): сбой порта ({detail})",
        "kk": "{device} ({driver}, {where}): порт істен шықты ({detail})",
    },
    "device_cannot_connect": {
        "en": "{device} ({driver}, {where}): cannot connect ({detail})",
        "ru": "{device} ({driver}, {where}): не удаётся подключиться ({detail})",
        "kk": "{device} ({driver}, {where}): байланыс орнатылмады ({detail})",
    },
    "device_connection_lost": {
        "en": "{device} ({driver}, {where}): connection lost ({detail})",
        "ru": "{device} ({driver}, {where}): связь прервана ({detail})",
        "kk": "{device} ({driver}, {where}): байланыс үзілді ({detail})",
    },
    "device_refused": {
        "en": "{device} ({driver}, {where}): refused to {what}: {detail}",
        "ru": "{device} ({driver}, {where}): отказ выполнить запрос ({what}): {detail}",
        "kk": "{device} ({driver}, {where}): сұрауды орындаудан бас тартты ({what}): {detail}",
    },
    "device_error": {
        "en": "{device}: internal error: {error}",
        "ru": "{device}: внутренняя ошибка: {error}",
        "kk": "{device}: ішкі қате: {error}",
    },
    "outputs_refused": {
        "en": "{device} ({driver}, {where}) refuses to switch {outputs}: {detail}",
        "ru": "{device} ({driver}, {where}) не переключает {outputs}: {detail}",
        "kk": "{device} ({driver}, {where}) {outputs} ауыстырмайды: {detail}",
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
    "input_amplifier": {
        "en": "amplifier fault ({input})",
        "ru": "неисправность усилителя ({input})",
        "kk": "күшейткіш ақаулы ({input})",
    },
    "input_ups_on_battery": {
        "en": "mains lost: the UPS runs on battery ({input})",
        "ru": "нет сети: ИБП работает от батареи ({input})",
        "kk": "желі жоқ: ҮҚК батареядан жұмыс істеп тұр ({input})",
    },
    "input_ups_battery_low": {
        "en": "the UPS battery is running low ({input})",
        "ru": "батарея ИБП разряжается ({input})",
        "kk": "ҮҚК батареясы таусылып барады ({input})",
    },
    "input_tamper": {
        "en": "equipment cabinet opened ({input})",
        "ru": "вскрыт шкаф оборудования ({input})",
        "kk": "жабдық шкафы ашылды ({input})",
    },
    "input_fault": {
        "en": "fault signalled by {input}",
        "ru": "сигнал неисправности: {input}",
        "kk": "ақау сигналы: {input}",
    },
    "input_open": {
        "en": "input {input}: the loop is open (wire cut?)",
        "ru": "вход {input}: обрыв шлейфа (перерезан провод?)",
        "kk": "{input} кірісі: шлейф үзілген (сым қиылған ба?)",
    },
    "input_short": {
        "en": "input {input}: the loop is short-circuited",
        "ru": "вход {input}: короткое замыкание шлейфа",
        "kk": "{input} кірісі: шлейф қысқа тұйықталған",
    },
    "input_out_of_range": {
        "en": "input {input}: reading {value} fits no state (check its eol ranges)",
        "ru": "вход {input}: показание {value} вне всех диапазонов (проверьте eol)",
        "kk": "{input} кірісі: {value} көрсеткіші ешбір ауқымға кірмейді (eol тексеріңіз)",
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
    "task_restarted": {
        "en": "internal task {task} failed ({error}) and was started again",
        "ru": "внутренняя задача {task} завершилась с ошибкой ({error}) и запущена снова",
        "kk": "{task} ішкі тапсырмасы қатемен тоқтады ({error}) және қайта іске қосылды",
    },
    "audio_worker_ended": {
        "en": "the audio worker ended ({detail}); it was started again",
        "ru": "процесс воспроизведения звука завершился ({detail}); он запущен заново",
        "kk": "дыбыс ойнату үдерісі тоқтады ({detail}); ол қайта іске қосылды",
    },
    "audio_stalled": {
        "en": "no sound for {seconds} s on lane {lane} while {activation} should be heard; "
              "the player was restarted",
        "ru": "на линии {lane} нет звука {seconds} с, хотя должно звучать {activation}; "
              "воспроизведение перезапущено",
        "kk": "{lane} желісінде {seconds} с дыбыс жоқ, ал {activation} естілуі тиіс; "
              "ойнату қайта іске қосылды",
    },
    "cache_unreadable": {
        "en": "the recorded announcement {label} cannot be read ({error}); it is synthesised now",
        "ru": "записанное сообщение {label} не читается ({error}); оно синтезируется заново",
        "kk": "{label} жазылған хабарландыруы оқылмайды ({error}); ол қайта синтезделуде",
    },
    "cache_unwritable": {
        "en": "announcements cannot be stored ({error}); they are synthesised at alarm time",
        "ru": "сообщения не сохраняются ({error}); они синтезируются во время тревоги",
        "kk": "хабарландырулар сақталмайды ({error}); олар дабыл кезінде синтезделеді",
    },
    "speech_failed": {
        "en": "speech for {label} could not be synthesised ({error}); only the tone plays",
        "ru": "речь для {label} не синтезирована ({error}); звучит только сигнал",
        "kk": "{label} үшін сөйлеу синтезделмеді ({error}); тек дыбыс сигналы естіледі",
    },
    "zones_not_confirmed": {
        "en": "lane {lane}: relays not confirmed within {seconds} s ({outputs}); "
              "the announcement plays anyway",
        "ru": "линия {lane}: реле не подтвердили включение за {seconds} с ({outputs}); "
              "сообщение всё равно звучит",
        "kk": "{lane} желісі: релелер {seconds} с ішінде қосылғанын растамады ({outputs}); "
              "хабарландыру бәрібір беріледі",
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
    """The message in one language (English where the code or language is unknown).
    A parameter may itself be a {language: text} dict (a device's address, worded per
    language)."""
    templates = MESSAGES.get(code)
    if templates is None:
        return f"{code}: " + ", ".join(f"{k}={_show(v, 'en')}" for k, v in params.items())
    template = templates.get(language) or templates["en"]
    return template.format_map(_Keep({k: _show(v, language) for k, v in params.items()}))


def texts(code: str, params: dict[str, Any]) -> dict[str, str]:
    return {lang: render(code, lang, params) for lang in LANGUAGES}


def _show(value: Any, language: str) -> str:
    if isinstance(value, dict) and "en" in value:
        return str(value.get(language) or value["en"])
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)

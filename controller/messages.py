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
    "device_no_reply": {
        "en": "{device} ({driver}, {where}): no reply within {timeout} s",
        "ru": "{device} ({driver}, {where}): нет ответа за {timeout} с",
        "kk": "{device} ({driver}, {where}): {timeout} с ішінде жауап жоқ",
    },
    "device_invalid_reply": {
        "en": "{device} ({driver}, {where}): answered an invalid frame ({detail})",
        "ru": "{device} ({driver}, {where}): прислало неверный кадр",
        "kk": "{device} ({driver}, {where}): қате кадр жіберді",
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
        "ru": "{device} ({driver}, {where}): не удаётся открыть порт",
        "kk": "{device} ({driver}, {where}): портты ашу мүмкін емес",
    },
    "device_port_failed": {
        "en": "{device} ({driver}, {where}): port failed ({detail})",
        "ru": "{device} ({driver}, {where}): сбой порта",
        "kk": "{device} ({driver}, {where}): порт істен шықты",
    },
    "device_cannot_connect": {
        "en": "{device} ({driver}, {where}): cannot connect ({detail})",
        "ru": "{device} ({driver}, {where}): не удаётся подключиться",
        "kk": "{device} ({driver}, {where}): байланыс орнатылмады",
    },
    "device_connection_lost": {
        "en": "{device} ({driver}, {where}): connection lost ({detail})",
        "ru": "{device} ({driver}, {where}): связь прервана",
        "kk": "{device} ({driver}, {where}): байланыс үзілді",
    },
    "device_refused": {
        "en": "{device} ({driver}, {where}): refused to {what}: {detail}",
        "ru": "{device} ({driver}, {where}): отказ выполнить запрос",
        "kk": "{device} ({driver}, {where}): сұрауды орындаудан бас тартты",
    },
    "device_error": {
        "en": "{device}: internal error: {error}",
        "ru": "{device}: внутренняя ошибка",
        "kk": "{device}: ішкі қате",
    },
    "outputs_refused": {
        "en": "{device} ({driver}, {where}) refuses to switch {outputs}: {detail}",
        "ru": "{device} ({driver}, {where}) не переключает {outputs}",
        "kk": "{device} ({driver}, {where}) {outputs} ауыстырмайды",
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
        "ru": "«{input}» не может запустить свой сценарий",
        "kk": "«{input}» өз сценарийін іске қоса алмайды",
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
    "audio_worker_exited": {
        "en": "the audio worker stopped (exit code {status}); it was started again",
        "ru": "процесс воспроизведения звука остановился (код {status}); он запущен заново",
        "kk": "дыбыс ойнату үдерісі тоқтады (шығу коды {status}); ол қайта іске қосылды",
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
    "schedule_skipped": {
        "en": "the scheduled drill «{entry}» did not run: a real alarm is open ({activation})",
        "ru": "плановое учение «{entry}» не проведено: идёт настоящая тревога ({activation})",
        "kk": "«{entry}» жоспарлы оқу-жаттығуы өткізілмеді: нақты дабыл жүріп жатыр "
              "({activation})",
    },
    "reminder": {"en": "{text}", "ru": "{text}", "kk": "{text}"},
    "schedule_failed": {
        "en": "scheduled «{entry}» failed: {error}",
        "ru": "плановое действие «{entry}» не выполнено",
        "kk": "«{entry}» жоспарлы әрекеті орындалмады",
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
        "ru": "не удалось возобновить «{activation}»",
        "kk": "«{activation}» қайта жалғастырылмады",
    },
    # -- errors a console may meet (controller/errors.py) -----------------------------
    "no_open_activation": {
        "en": "no open activation '{activation}'",
        "ru": "тревога «{activation}» уже завершена",
        "kk": "«{activation}» дабылы аяқталып қойған",
    },
    "real_alarm_open": {
        "en": "no drill now: a real alarm is open ({activation})",
        "ru": "учение сейчас нельзя: идёт настоящая тревога ({activation})",
        "kk": "қазір оқу-жаттығу өткізуге болмайды: нақты дабыл жүріп жатыр ({activation})",
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
    "drill_recorded": {
        "en": "{activation} is recorded already ({participants} participants); "
              "a new record must be a correction (dabyl drill record … --correct)",
        "ru": "итоги «{activation}» уже записаны (участников: {participants}); "
              "новую запись можно сделать только как исправление",
        "kk": "«{activation}» қорытындысы жазылған ({participants} қатысушы); "
              "жаңа жазба тек түзету ретінде жасалады",
    },
    "form_bad_choice": {
        "en": "{field}: '{answer}' is none of the choices ({choices})",
        "ru": "{field}: «{answer}» — такого варианта нет ({choices})",
        "kk": "{field}: «{answer}» деген нұсқа жоқ ({choices})",
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
    "schedule_skipped": {
        "en": "scheduled drill not run, a real alarm is open: {entry}",
        "ru": "плановое учение не проведено, идёт настоящая тревога: {entry}",
        "kk": "жоспарлы оқу-жаттығу өткізілмеді, нақты дабыл жүріп жатыр: {entry}",
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
        "en": "drill record {corrects?corrected|saved}: {participants} participants",
        "ru": "итоги учения {corrects?исправлены|записаны}: участников {participants}",
        "kk": "жаттығу қорытындысы {corrects?түзетілді|жазылды}: {participants} қатысушы",
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
        "en": "signalled again{sounds_again?, it sounds again|}; source: {from}",
        "ru": "повторный сигнал{sounds_again?, оповещение снова звучит|}; источник: {from}",
        "kk": "қайталанған сигнал{sounds_again?, хабарлау қайта естіледі|}; көзі: {from}",
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
    "audio_worker_restarted": {
        "en": "the sound player was started again",
        "ru": "воспроизведение звука запущено заново",
        "kk": "дыбыс ойнату қайта іске қосылды",
    },
    "still_open": {
        "en": "still open: {activation}",
        "ru": "ещё не завершено: {activation}",
        "kk": "әлі аяқталмаған: {activation}",
    },
    "clock_jump": {
        "en": "the clock jumped by {delta_s} s",
        "ru": "часы сдвинулись на {delta_s} с",
        "kk": "сағат {delta_s} с-қа жылжыды",
    },
    "config_changed": {
        "en": "the site's files were edited; they are valid (apply: dabyl reload)",
        "ru": "файлы объекта изменены и проверены (применить: dabyl reload)",
        "kk": "нысан файлдары өзгертілді және тексерілді (қолдану: dabyl reload)",
    },
    "reloaded": {
        "en": "the site's files were applied",
        "ru": "изменения файлов объекта применены",
        "kk": "нысан файлдарындағы өзгерістер қолданылды",
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
        "drill_marker": {"en": "the drill marker", "ru": "пометка «учение»",
                         "kk": "«оқу-жаттығу» белгісі"},
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
    "entry": "entry", "fault": "fault", "lane": "lane",
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
        shown[key] = _show(value, language)
    try:
        return template.format_map(_Keep(shown))
    except (ValueError, IndexError):  # a malformed template must not hide the message
        return template


def render(code: str, language: str, params: dict[str, Any], name: Namer | None = None) -> str:
    """The message in one language (English where the code or language is unknown).
    A parameter may itself be a {language: text} dict (a device's address, worded per
    language)."""
    templates = MESSAGES.get(code)
    if templates is None:
        return f"{code}: " + ", ".join(f"{k}={_show(v, 'en')}" for k, v in params.items())
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


def _show(value: Any, language: str) -> str:
    if isinstance(value, dict) and "en" in value:
        return str(value.get(language) or value["en"])
    if isinstance(value, list | tuple):
        return ", ".join(map(str, value))
    return str(value)

"""UI strings in Kazakh, Russian and English (the site's `ui_language`)."""

from __future__ import annotations

STRINGS: dict[str, dict[str, str]] = {
    "en": {
        "QUIESCENT": "QUIESCENT", "ALARM": "ALARM", "DRILL": "DRILL", "FAULT": "FAULT",
        "devices": "Devices", "zones": "Zones", "faults": "Faults", "no_faults": "no faults",
        "online": "online", "lost": "LOST", "unknown": "waiting", "free": "free",
        "simulated": "sim",
        "idle": "No alarm. F1–F10 start a scenario, D switches drill mode, ? shows every key.",
        "drill_mode": "DRILL MODE: triggers are drills", "real_mode": "triggers are REAL alarms",
        "real_alarm": "REAL ALARM", "drill": "DRILL", "start": "Start", "cancel": "No",
        "what_happens": "What will happen", "outputs": "Outputs", "none": "none",
        "param": "Parameter", "silence_q": "Silence audio and sounders? The alarm stays active.",
        "clear_q": "End this alarm and play the all-clear?", "yes": "Yes", "no": "No",
        "held_title": "EVACUATION HELD DURING LOCKDOWN",
        "held_text": "An automatic evacuation signal arrived while people shelter in place. "
                     "Attackers may use alarms to draw people out. Confirm only if it is real.",
        "confirm_evac": "Confirm evacuation", "decline_evac": "Decline",
        "elapsed": "Elapsed", "playing": "Playing", "nothing": "—", "call": "Call",
        "leader": "Leader's checklist", "staff": "Staff checklist", "suspended": "SUSPENDED",
        "silenced": "SILENCED", "held": "HELD", "source": "Source",
        "journal": "Journal", "all": "All", "real": "Real", "timeline": "Timeline",
        "form": "Caller form", "save": "Save", "saved": "Saved to the journal",
        "help": "Keys", "ack_done": "Faults acknowledged", "no_active": "No active alarm",
        "no_form": "This alarm has no form", "connection_lost": "Connection to the controller lost",
        "panic": "Panic input", "zones_hint": "space toggles a zone",
        "role": "Role", "events": "Events", "audio": "Audio",
        "threat_raised": "RAISED THREAT LEVEL", "drill_record": "Drill record",
        "participants": "Number of participants", "remarks": "Remarks",
        "briefing": "Briefing (Annex 2, section 1)", "person": "Name of the person instructed",
        "position": "Position", "briefing_kind": "Kind", "planned": "planned",
        "unplanned": "unplanned", "instructor": "Instructor: name and position",
    },
    "ru": {
        "QUIESCENT": "НОРМА", "ALARM": "ТРЕВОГА", "DRILL": "УЧЕБНАЯ", "FAULT": "НЕИСПРАВНОСТЬ",
        "devices": "Устройства", "zones": "Зоны", "faults": "Неисправности",
        "no_faults": "неисправностей нет", "online": "на связи", "lost": "НЕТ СВЯЗИ",
        "unknown": "ожидание", "free": "свободна", "simulated": "имит.",
        "idle": "Тревоги нет. F1–F10 — сценарии, D — учебный режим, ? — все клавиши.",
        "drill_mode": "УЧЕБНЫЙ РЕЖИМ: запуск — учебная тревога",
        "real_mode": "запуск — НАСТОЯЩАЯ тревога",
        "real_alarm": "НАСТОЯЩАЯ ТРЕВОГА", "drill": "УЧЕБНАЯ ТРЕВОГА", "start": "Запустить",
        "cancel": "Нет", "what_happens": "Что произойдёт", "outputs": "Выходы", "none": "нет",
        "param": "Параметр", "silence_q": "Выключить звук и сирены? Тревога останется активной.",
        "clear_q": "Завершить тревогу и передать отбой?", "yes": "Да", "no": "Нет",
        "held_title": "ЭВАКУАЦИЯ ПРИОСТАНОВЛЕНА: ИДЁТ БЛОКИРОВКА",
        "held_text": "Автоматический сигнал эвакуации поступил, когда люди укрываются на месте. "
                     "Нападающие могут так выманивать людей. Подтвердите, только если это правда.",
        "confirm_evac": "Подтвердить эвакуацию", "decline_evac": "Отклонить",
        "elapsed": "Прошло", "playing": "Звучит", "nothing": "—", "call": "Звонить",
        "leader": "Действия руководителя", "staff": "Действия персонала",
        "suspended": "ПРИОСТАНОВЛЕНА", "silenced": "ЗВУК ВЫКЛ.", "held": "ОЖИДАЕТ",
        "source": "Источник", "journal": "Журнал", "all": "Все", "real": "Настоящие",
        "timeline": "Хронология", "form": "Форма звонка", "save": "Сохранить",
        "saved": "Записано в журнал", "help": "Клавиши", "ack_done": "Неисправности приняты",
        "no_active": "Нет активной тревоги", "no_form": "У этой тревоги нет формы",
        "connection_lost": "Связь с контроллером потеряна", "panic": "Тревожная кнопка",
        "zones_hint": "пробел — вкл./выкл. зону", "role": "Роль", "events": "События",
        "audio": "Звук", "threat_raised": "ПОВЫШЕННЫЙ УРОВЕНЬ УГРОЗЫ",
        "drill_record": "Итоги учения", "participants": "Количество участников",
        "remarks": "Замечания",
        "briefing": "Инструктаж (приложение 2, раздел 1)",
        "person": "Фамилия, имя, отчество инструктируемого", "position": "Должность",
        "briefing_kind": "Вид инструктажа", "planned": "плановый", "unplanned": "внеплановый",
        "instructor": "Кто проводил: фамилия, имя, должность",
    },
    "kk": {
        "QUIESCENT": "ТЫНЫШ", "ALARM": "ДАБЫЛ", "DRILL": "ОҚУ-ЖАТТЫҒУ", "FAULT": "АҚАУ",
        "devices": "Құрылғылар", "zones": "Аймақтар", "faults": "Ақаулар",
        "no_faults": "ақау жоқ", "online": "байланыста", "lost": "БАЙЛАНЫС ЖОҚ",
        "unknown": "күту", "free": "бос", "simulated": "имит.",
        "idle": "Дабыл жоқ. F1–F10 — сценарийлер, D — оқу режимі, ? — барлық пернелер.",
        "drill_mode": "ОҚУ РЕЖИМІ: іске қосу — оқу-жаттығу",
        "real_mode": "іске қосу — НАҚТЫ дабыл",
        "real_alarm": "НАҚТЫ ДАБЫЛ", "drill": "ОҚУ-ЖАТТЫҒУ", "start": "Іске қосу",
        "cancel": "Жоқ", "what_happens": "Не болады", "outputs": "Шығыстар", "none": "жоқ",
        "param": "Параметр", "silence_q": "Дыбыс пен сиренаны өшіру керек пе? Дабыл белсенді қалады.",
        "clear_q": "Дабылды аяқтап, қауіптің өткенін хабарлау керек пе?", "yes": "Иә", "no": "Жоқ",
        "held_title": "ЭВАКУАЦИЯ ТОҚТАТЫЛДЫ: ҚҰЛЫПТАУ ЖҮРІП ЖАТЫР",
        "held_text": "Адамдар жасырынып отырғанда автоматты эвакуация сигналы келді. "
                     "Шабуылдаушылар адамдарды осылай сыртқа шығаруы мүмкін. Тек шын болса растаңыз.",
        "confirm_evac": "Эвакуацияны растау", "decline_evac": "Бас тарту",
        "elapsed": "Өтті", "playing": "Ойнап тұр", "nothing": "—", "call": "Қоңырау",
        "leader": "Басшының іс-қимылы", "staff": "Персоналдың іс-қимылы",
        "suspended": "ТОҚТАТЫЛҒАН", "silenced": "ДЫБЫС ӨШІК", "held": "КҮТУДЕ",
        "source": "Көзі", "journal": "Журнал", "all": "Барлығы", "real": "Нақты",
        "timeline": "Хронология", "form": "Қоңырау пішіні", "save": "Сақтау",
        "saved": "Журналға жазылды", "help": "Пернелер", "ack_done": "Ақаулар қабылданды",
        "no_active": "Белсенді дабыл жоқ", "no_form": "Бұл дабылдың пішіні жоқ",
        "connection_lost": "Контроллермен байланыс үзілді", "panic": "Дабыл түймесі",
        "zones_hint": "бос орын — аймақты қосу/өшіру", "role": "Рөлі", "events": "Оқиғалар",
        "audio": "Дыбыс", "threat_raised": "ҚАУІП ДЕҢГЕЙІ ЖОҒАРЫ",
        "drill_record": "Жаттығу қорытындысы", "participants": "Қатысушылар саны",
        "remarks": "Ескертпелер",
        "briefing": "Нұсқау (2-қосымша, 1-бөлім)",
        "person": "Нұсқау алушының тегі, аты, әкесінің аты", "position": "Лауазымы",
        "briefing_kind": "Нұсқау түрі", "planned": "жоспарлы", "unplanned": "жоспардан тыс",
        "instructor": "Нұсқау жүргізген адам: тегі, аты, лауазымы",
    },
}


def strings(language: str) -> dict[str, str]:
    base = dict(STRINGS["en"])
    base.update(STRINGS.get(language, {}))
    return base


def text_language(ui_language: str) -> str:
    """Scenario texts exist in kk and ru; an English UI shows the Russian ones."""
    return ui_language if ui_language in ("kk", "ru") else "ru"

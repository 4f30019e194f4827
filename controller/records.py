"""The inspector's records: after-action reports, the Annex 2 journal of training
events and the Annex 3 yearly briefing schedule, as DOCX (and CSV).

Column headings and titles follow the forms of Order 284-НҚ, in Kazakh or Russian.
"""

from __future__ import annotations

import csv
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from controller.config import Config
from controller.journal import Row, timeline
from controller.scenarios import Library

FORMS = {
    "kk": {
        "annex2": "Терроризмге қарсы дайындық жөніндегі оқу іс-шараларын есепке алу журналы",
        "section1": "1-бөлім. Нұсқаулар",
        "section2": "2-бөлім. Іс-шаралар",
        "s1_cols": ["р/с", "Нұсқауды өткізу күні",
                    "Нұсқау алушының тегі, аты, әкесінің аты (бар болған кезде) және лауазымы",
                    "Нұсқау түрі: жоспарлы/ жоспардан тыс",
                    "Нұсқау жүргізген адамның тегі, аты, әкесінің аты (бар болған кезде) және лауазымы",
                    "Нұсқау алушының қолы", "Нұсқау өткізген адамның қолы"],
        "s2_cols": ["р/с", "Іс-шараны өткізу күні", "Іс-шараның тақырыбы", "Оқу сұрақтары",
                    "Қатысқан жұмыскерлер саны", "Іс-шараны өткізген адамның қолы"],
        "planned": "жоспарлы", "unplanned": "жоспардан тыс",
        "annex3": "діни қызметшілермен және ғибадат үйінің (ғимаратының) персоналымен "
                  "терроризмге қарсы бағыттағы нұсқаулар өткізу кестесі",
        "year": "{year} жылға арналған",
        "approve": "«Бекітемін»\nҰйым басшысы\n______________________\nтегі, аты, әкесінің аты "
                   "(бар болған кезде)\n20__ ж. «__»_________",
        "s3_cols": ["р/с", "Тақырыптың атауы", "Жаттықтырушы ауысым", "Өткізу күні", "Ескертпе"],
        "drill": "оқу-жаттығу", "period": "Кезең",
        "responsible": "Ұйымдағы терроризмге қарсы қызмет үшін жауапты болып тағайындалған "
                       "адамның лауазымы ______________________ тегі, аты, әкесінің аты "
                       "(бар болған кезде)",
    },
    "ru": {
        "annex2": "Журнал учета учебных мероприятий по антитеррористической подготовке",
        "section1": "Раздел 1. Инструктажи",
        "section2": "Раздел 2. Мероприятия",
        "s1_cols": ["№ п/п", "Дата проведения инструктажа",
                    "Фамилия, имя, отчество (при наличии) и должность инструктируемого",
                    "Вид инструктажа: плановый/ внеплановый",
                    "Фамилия, имя, отчество (при наличии) и должность лица, проводившего инструктаж",
                    "Подпись инструктируемого", "Подпись лица, проводившего инструктаж"],
        "s2_cols": ["№ п/п", "Дата проведения мероприятия", "Тема мероприятия",
                    "Учебные вопросы", "Количество присутствующих работников",
                    "Подпись лица, проводившего мероприятие"],
        "planned": "плановый", "unplanned": "внеплановый",
        "annex3": "График проведения антитеррористических инструктажей со священнослужителями "
                  "и персоналом культового здания (сооружения)",
        "year": "на {year} год",
        "approve": "«Утверждаю»\nРуководитель организации\n______________________\nфамилия, имя, "
                   "отчество (при наличии)\n«__»_________ 20__ г.",
        "s3_cols": ["№ п/п", "Наименование темы", "Обучаемая смена", "Дата проведения",
                    "Примечание"],
        "drill": "учебная тревога", "period": "Период",
        "responsible": "Должность лица, назначенного ответственным за антитеррористическую "
                       "деятельность в организации ______________________ фамилия, имя, "
                       "отчество (при наличии)",
    },
}


def _local(ts: str, tz: str) -> datetime:
    return datetime.fromisoformat(ts).astimezone(ZoneInfo(tz))


# -- after-action report --------------------------------------------------------------

def after_action(rows: list[Row], activation: str) -> dict[str, Any]:
    """Timeline and key times of one activation."""
    shown = timeline(rows, activation)
    if not shown:
        raise KeyError(activation)
    start = next(r for r in shown if r.kind in ("triggered", "resumed"))
    t0 = datetime.fromisoformat(start.ts)

    def since(row: Row | None) -> float | None:
        return None if row is None else round(
            (datetime.fromisoformat(row.ts) - t0).total_seconds() * 1000, 1)

    first_relay = next((r for r in shown if r.kind == "output" and r.data.get("ok")), None)
    first_audio = next((r for r in shown if r.kind == "first_audio"), None)
    end = next((r for r in shown if r.kind in ("cleared", "declined")), None)
    mine = [r for r in rows if r.activation == activation]
    record = next((r for r in reversed(mine) if r.kind == "drill_record"), None)
    return {
        "activation": activation,
        "scenario": start.data.get("scenario"),
        "drill": start.data.get("drill", False),
        "source": f"{start.data.get('source')}:{start.data.get('origin')}",
        "started": start.ts,
        "key_times_ms": {
            "trigger_to_first_relay": since(first_relay),
            "trigger_to_first_audio": first_audio.data.get("latency_ms") if first_audio else None,
            "trigger_to_clear": since(end),
        },
        "participants": record.data.get("participants") if record else None,
        "remarks": record.data.get("remarks") if record else None,
        "timeline": [r.as_dict() for r in shown],
    }


# -- Annex 2 ------------------------------------------------------------------------------

def annex2_rows(rows: list[Row], library: Library, lang: str, tz: str,
                since: date | None, until: date | None) -> tuple[list[list[str]], list[list[str]]]:
    """(section 1 briefings, section 2 events) as table rows."""
    f = FORMS[lang]

    def in_range(ts: str) -> bool:
        day = _local(ts, tz).date()
        return (since is None or day >= since) and (until is None or day <= until)

    briefings = [r for r in rows if r.kind == "briefing" and in_range(r.data.get("date") or r.ts)]
    section1 = []
    for i, r in enumerate(briefings, 1):
        d = r.data
        when = d.get("date") or _local(r.ts, tz).date().isoformat()
        section1.append([str(i), when, f"{d.get('person', '')}, {d.get('position', '')}",
                         f[d.get("briefing", "planned")], d.get("by", ""), "", ""])

    by_activation: dict[str, list[Row]] = {}
    for r in rows:
        if r.activation:
            by_activation.setdefault(r.activation, []).append(r)
    section2 = []
    for act, mine in by_activation.items():
        start = mine[0]
        if start.kind != "triggered" or not start.data.get("drill") or not in_range(start.ts):
            continue
        try:
            scenario = library.get(start.data.get("scenario", ""))
        except KeyError:
            continue
        topics = "; ".join(
            f"{n}. {library.shared.training_topics[str(n)][lang]}"
            for n in scenario.training_topics if str(n) in library.shared.training_topics)
        ticked = sorted({(r.data["role"], r.data["item"]) for r in mine
                         if r.kind == "checklist_tick" and r.data.get("done")})
        items = [getattr(scenario.checklist, role)[lang][item] for role, item in ticked]
        if not items:
            items = scenario.checklist.staff[lang][:3]
        questions = f"{scenario.title[lang]} ({f['drill']}, {act}): " + " ".join(
            f"{k}) {q}" for k, q in enumerate(items, 1))
        record = next((r for r in reversed(mine) if r.kind == "drill_record"), None)
        participants = str(record.data.get("participants", "")) if record else ""
        if record and record.data.get("remarks"):
            questions += f" — {record.data['remarks']}"
        section2.append([str(len(section2) + 1), _local(start.ts, tz).strftime("%d.%m.%Y"),
                         topics, questions, participants, ""])
    return section1, section2


def _document(landscape: bool = True):
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.shared import Cm, Pt

    doc = Document()
    style = doc.styles["Normal"]
    style.font.name = "Times New Roman"
    style.font.size = Pt(10)
    section = doc.sections[0]
    if landscape:
        section.orientation = WD_ORIENT.LANDSCAPE
        section.page_width, section.page_height = section.page_height, section.page_width
    for side in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, side, Cm(1.5))
    return doc


def _table(doc, header: list[str], body: list[list[str]], empty_rows: int = 0) -> None:
    table = doc.add_table(rows=1, cols=len(header))
    table.style = "Table Grid"
    for cell, text in zip(table.rows[0].cells, header, strict=True):
        cell.text = text
        for run in cell.paragraphs[0].runs:
            run.bold = True
    numbers = table.add_row().cells
    for i, cell in enumerate(numbers, 1):
        cell.text = str(i)
    for row in body:
        for cell, text in zip(table.add_row().cells, row, strict=True):
            cell.text = text
    for _ in range(empty_rows):
        table.add_row()


def write_annex2(path: Path, rows: list[Row], library: Library, config: Config, lang: str,
                 since: date | None, until: date | None) -> tuple[int, int]:
    f = FORMS[lang]
    tz = config.site.timezone
    section1, section2 = annex2_rows(rows, library, lang, tz, since, until)
    doc = _document()
    doc.add_paragraph(config.site.name)
    doc.add_heading(f["annex2"], level=1)
    period = f"{since or '…'} — {until or '…'}"
    doc.add_paragraph(f"{f['period']}: {period}")
    doc.add_heading(f["section1"], level=2)
    _table(doc, f["s1_cols"], section1, empty_rows=0 if section1 else 3)
    doc.add_heading(f["section2"], level=2)
    _table(doc, f["s2_cols"], section2, empty_rows=0 if section2 else 3)
    doc.save(str(path))
    with path.with_suffix(".csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow([f["section2"]])
        writer.writerow(f["s2_cols"])
        writer.writerows(section2)
        writer.writerow([])
        writer.writerow([f["section1"]])
        writer.writerow(f["s1_cols"])
        writer.writerows(section1)
    return len(section1), len(section2)


# -- Annex 3 ----------------------------------------------------------------------------------

def annex3_rows(config: Config, library: Library, year: int, lang: str) -> list[list[str]]:
    from controller.schedule import runs_between

    tz = ZoneInfo(config.site.timezone)
    start = datetime(year, 1, 1, tzinfo=tz)
    end = datetime(year, 12, 31, 23, 59, 59, tzinfo=tz)
    rows = []
    for entry in config.schedule:
        if entry.action != "drill" or not entry.scenario:
            continue
        scenario = library.get(entry.scenario)
        topics = "; ".join(library.shared.training_topics[str(n)][lang]
                           for n in scenario.training_topics)
        for when in runs_between(entry, config.site.timezone, start - _tiny(), end):
            rows.append([topics, "", when.strftime("%d.%m.%Y %H:%M"),
                         f"{scenario.title[lang]} ({FORMS[lang]['drill']}, {entry.id})"])
    rows.sort(key=lambda r: datetime.strptime(r[2], "%d.%m.%Y %H:%M"))
    return [[str(i), *r] for i, r in enumerate(rows, 1)]


def _tiny():
    from datetime import timedelta

    return timedelta(microseconds=1)


def write_annex3(path: Path, config: Config, library: Library, year: int, lang: str) -> int:
    f = FORMS[lang]
    rows = annex3_rows(config, library, year, lang)
    doc = _document(landscape=False)
    doc.add_paragraph(f["approve"])
    doc.add_paragraph(f["year"].format(year=year))
    doc.add_paragraph(config.site.name)
    doc.add_heading(f["annex3"], level=1)
    _table(doc, f["s3_cols"], rows, empty_rows=0 if rows else 3)
    doc.add_paragraph(f["responsible"])
    doc.save(str(path))
    with path.with_suffix(".csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(f["s3_cols"])
        writer.writerows(rows)
    return len(rows)


def now_local(tz: str) -> datetime:
    return datetime.now(UTC).astimezone(ZoneInfo(tz))

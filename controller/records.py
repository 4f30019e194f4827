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
from controller.journal import Row
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
        "drill": "оқу-жаттығу", "period": "Кезең", "not_recorded": "тіркелмеген",
        "corrected": "{now} (түзетілген; алғашқы жазба: {first})",
        "anchor": "Журнал зәкірі: №{seq} жазба, хэш {hash}, уақыты {ts}, {key} кілтімен "
                  "қолтаңба: {sig}",
        "no_anchor": "Журнал зәкірі: жоқ (журналдың бас жазбасы жоқ)",
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
        "drill": "учебная тревога", "period": "Период", "not_recorded": "не записано",
        "corrected": "{now} (исправлено; первая запись: {first})",
        "anchor": "Якорь журнала: запись № {seq}, хэш {hash}, время {ts}, подпись ключом "
                  "{key}: {sig}",
        "no_anchor": "Якорь журнала: нет (у журнала нет заголовка)",
        "responsible": "Должность лица, назначенного ответственным за антитеррористическую "
                       "деятельность в организации ______________________ фамилия, имя, "
                       "отчество (при наличии)",
    },
}


def _local(ts: str, tz: str) -> datetime:
    return datetime.fromisoformat(ts).astimezone(ZoneInfo(tz))


# -- after-action report --------------------------------------------------------------

UNITS = {"en": ("h", "min", "s", "."), "ru": ("ч", "мин", "с", ","), "kk": ("сағ", "мин", "с", ",")}


def human_duration(seconds: float | None, lang: str = "en") -> str:
    """3 min 35.7 s; 1 h 02 min 05.0 s; 0.4 s; — when unknown."""
    if seconds is None:
        return "—"
    h_, m_, s_, point = UNITS[lang]
    seconds = max(0.0, float(seconds))
    hours, rest = divmod(seconds, 3600)
    minutes, secs = divmod(rest, 60)
    if hours >= 1:
        out = f"{int(hours)} {h_} {int(minutes):02d} {m_} {secs:04.1f} {s_}"
    elif minutes >= 1:
        out = f"{int(minutes)} {m_} {secs:.1f} {s_}"
    else:
        out = f"{secs:.1f} {s_}"
    return out.replace(".", point)


def may_switch(config: Config, library: Library) -> dict[str, set[str]]:
    """Scenario → the outputs an activation of it can switch (for journal rows written
    before each output said which alarm wanted it)."""
    from controller.scenarios import zones_for

    amplifiers = {n for n, o in config.outputs.items() if o.kind == "amplifier"}
    out = {}
    for scenario in library.scenarios.values():
        names = set(scenario.outputs)
        if not scenario.silent:
            for zone in zones_for(scenario, config, None):
                names.update(config.zones[zone].outputs)
            names |= amplifiers
        out[scenario.id] = names
    return out


def after_action(path: Path, activation: str,
                 switches: dict[str, set[str]] | None = None) -> dict[str, Any]:
    """Timeline, key times (seconds) and who did what, for one activation: its own rows and
    the output commands it caused. Raises KeyError when it is not in the journal."""
    from controller.journal import activation_rows

    shown: list[dict[str, Any]] = []
    after = 0
    while True:
        page = activation_rows(path, activation, 500, after, switches)
        shown += page["timeline"]
        if not page["next_after"]:
            break
        after = page["next_after"]
    start = next(r for r in shown if r["kind"] in ("triggered", "resumed"))
    t0 = datetime.fromisoformat(start["ts"])

    def since(row: dict[str, Any] | None) -> float | None:
        return None if row is None else round(
            (datetime.fromisoformat(row["ts"]) - t0).total_seconds(), 3)

    first_relay = next((r for r in shown if r["kind"] == "output" and r.get("ok")
                        and r.get("on")), None)
    first_audio = next((r for r in shown if r["kind"] == "first_audio"), None)
    end = next((r for r in shown if r["kind"] in ("cleared", "declined")), None)
    records = [r for r in shown if r["kind"] == "drill_record"]
    record = records[-1] if records else None  # a later record is a correction
    actions = [
        {"ts": r["ts"], "kind": r["kind"], "who": r.get("operator") or r.get("by"),
         "what": r.get("text") or r.get("reason") or ""}
        for r in shown
        if r["kind"] in ("silenced", "cleared", "declined", "confirmed", "checklist_tick", "form",
                         "drill_record") and (r.get("operator") or r.get("by"))
    ]
    return {
        "activation": activation,
        "scenario": start.get("scenario"),
        "title": start.get("title") or {},
        "drill": start.get("drill", False),
        "source": f"{start.get('source')}:{start.get('origin')}",
        "started": start["ts"],
        "ended": end["ts"] if end else None,
        "outcome": end["kind"] if end else "open",
        "key_times_s": {
            "trigger_to_first_relay": since(first_relay),
            "trigger_to_first_audio": (round(first_audio["latency_ms"] / 1000, 3)
                                       if first_audio and "latency_ms" in first_audio else None),
            "trigger_to_clear": since(end),
        },
        "participants": record.get("participants") if record else None,
        "first_recorded": records[0].get("participants") if len(records) > 1 else None,
        "remarks": record.get("remarks") if record else None,
        "actions": actions,
        "timeline": shown,
    }


# -- Annex 2 ------------------------------------------------------------------------------

ANNEX2_KINDS = ("triggered", "checklist_tick", "drill_record", "briefing")


def worked_through(ticks: list[Row]) -> list[tuple[str, int, str]]:
    """(role, item, time) of the checklist items that ended ticked, in the order they were
    ticked; an item unticked later is not counted."""
    done: dict[tuple[str, int], str] = {}
    for r in ticks:
        key = (str(r.data.get("role")), int(r.data.get("item", -1)))
        if r.data.get("done"):
            done.pop(key, None)
            done[key] = r.ts
        else:
            done.pop(key, None)
    return [(role, item, ts) for (role, item), ts in done.items()]


def annex2_rows(rows, library: Library, lang: str, tz: str,
                since: date | None, until: date | None) -> tuple[list[list[str]], list[list[str]]]:
    """(section 1 briefings, section 2 events) as table rows, from journal rows oldest first.
    Only what happened: the checklist items ticked, in the order worked through, with their
    times; "not recorded" where nothing was ticked or counted."""
    f = FORMS[lang]

    def in_range(ts: str) -> bool:
        day = _local(ts, tz).date()
        return (since is None or day >= since) and (until is None or day <= until)

    section1 = []
    drills: dict[str, dict[str, Any]] = {}
    for r in rows:
        if r.kind == "briefing" and in_range(r.data.get("date") or r.ts):
            d = r.data
            when = d.get("date") or _local(r.ts, tz).date().isoformat()
            person = ", ".join(x for x in (d.get("person", ""), d.get("position", "")) if x)
            section1.append([str(len(section1) + 1), when, person,
                             f[d.get("briefing", "planned")], d.get("by", ""), "", ""])
        elif r.kind == "triggered" and r.activation and r.data.get("drill") and in_range(r.ts):
            drills[r.activation] = {"start": r, "ticks": [], "record": None, "first": None}
        elif r.activation in drills:
            if r.kind == "checklist_tick":
                drills[r.activation]["ticks"].append(r)
            elif r.kind == "drill_record":  # a later record is a correction
                drills[r.activation]["first"] = drills[r.activation]["first"] or r
                drills[r.activation]["record"] = r

    section2 = []
    for act, found in drills.items():
        start = found["start"]
        try:
            scenario = library.get(start.data.get("scenario", ""))
        except KeyError:
            continue
        topics = "; ".join(
            f"{n}. {library.shared.training_topics[str(n)][lang]}"
            for n in scenario.training_topics if str(n) in library.shared.training_topics)
        items = []
        for role, item, ts in worked_through(found["ticks"]):
            texts = getattr(scenario.checklist, role, None)
            if texts is None or not 0 <= item < len(texts[lang]):
                continue
            items.append(f"{texts[lang][item]} ({_local(ts, tz):%H:%M:%S})")
        worked = " ".join(f"{k}) {q}" for k, q in enumerate(items, 1)) or f["not_recorded"]
        questions = f"{scenario.title[lang]} ({f['drill']}, {act}): {worked}"
        record = found["record"]
        participants = str(record.data.get("participants", "")) if record else f["not_recorded"]
        if record and found["first"] is not record:
            participants = f["corrected"].format(
                now=participants, first=found["first"].data.get("participants", ""))
        if record and record.data.get("remarks"):
            questions += f" — {record.data['remarks']}"
        section2.append([str(len(section2) + 1), _local(start.ts, tz).strftime("%d.%m.%Y"),
                         topics, questions, participants, ""])
    return section1, section2


def anchor_line(path: Path, lang: str) -> str:
    """The journal's head, printed so that a signed paper pins the history up to it."""
    from controller.journal import anchor

    found = anchor(path)
    if not found:
        return FORMS[lang]["no_anchor"]
    return FORMS[lang]["anchor"].format(seq=found["seq"], hash=found["hash"], ts=found["ts"],
                                        key=found.get("key") or "—",
                                        sig=found.get("sig") or "—")


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


def write_annex2(path: Path, journal: Path, library: Library, config: Config, lang: str,
                 since: date | None, until: date | None) -> tuple[int, int]:
    from controller.journal import rows_of_kinds

    f = FORMS[lang]
    tz = config.site.timezone
    section1, section2 = annex2_rows(rows_of_kinds(journal, ANNEX2_KINDS), library, lang, tz,
                                     since, until)
    anchor = anchor_line(journal, lang)
    doc = _document()
    doc.add_paragraph(config.site.name)
    doc.add_heading(f["annex2"], level=1)
    period = f"{since or '…'} — {until or '…'}"
    doc.add_paragraph(f"{f['period']}: {period}")
    doc.add_heading(f["section1"], level=2)
    _table(doc, f["s1_cols"], section1, empty_rows=0 if section1 else 3)
    doc.add_heading(f["section2"], level=2)
    _table(doc, f["s2_cols"], section2, empty_rows=0 if section2 else 3)
    doc.add_paragraph(anchor).runs[0].font.size = _small()
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
        writer.writerow([])
        writer.writerow([anchor])
    return len(section1), len(section2)


def _small():
    from docx.shared import Pt

    return Pt(8)


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
    anchor = anchor_line(config.path(config.control.journal), lang)
    doc.add_paragraph(anchor).runs[0].font.size = _small()
    doc.save(str(path))
    with path.with_suffix(".csv").open("w", newline="", encoding="utf-8") as fh:
        writer = csv.writer(fh)
        writer.writerow(f["s3_cols"])
        writer.writerows(rows)
        writer.writerow([])
        writer.writerow([anchor])
    return len(rows)


def now_local(tz: str) -> datetime:
    return datetime.now(UTC).astimezone(ZoneInfo(tz))


# -- the after-action report as a document -------------------------------------------------

REPORT = {
    "ru": {
        "title": "Отчёт о срабатывании системы оповещения", "scenario": "Сценарий",
        "kind": "Вид", "drill": "учебная тревога", "real": "настоящая тревога",
        "source": "Источник", "started": "Начало", "ended": "Окончание", "open": "не завершено",
        "outcome": "Итог", "times": "Ключевые интервалы",
        "trigger_to_first_relay": "от запуска до первого реле",
        "trigger_to_first_audio": "от запуска до первого звука",
        "trigger_to_clear": "от запуска до отбоя", "actions": "Кто что сделал",
        "who": "Кто", "what": "Что", "when": "Время", "participants": "Участников учения",
        "remarks": "Замечания", "timeline": "Хронология", "event": "Событие",
        "details": "Подробности", "none": "не записано",
    },
    "kk": {
        "title": "Хабарлау жүйесінің іске қосылуы туралы есеп", "scenario": "Сценарий",
        "kind": "Түрі", "drill": "оқу-жаттығу дабылы", "real": "нақты дабыл",
        "source": "Көзі", "started": "Басталуы", "ended": "Аяқталуы", "open": "аяқталмаған",
        "outcome": "Нәтижесі", "times": "Негізгі аралықтар",
        "trigger_to_first_relay": "іске қосылғаннан бірінші релеге дейін",
        "trigger_to_first_audio": "іске қосылғаннан бірінші дыбысқа дейін",
        "trigger_to_clear": "іске қосылғаннан дабыл тоқтатылғанға дейін",
        "actions": "Кім не істеді", "who": "Кім", "what": "Не", "when": "Уақыты",
        "participants": "Жаттығуға қатысқандар саны", "remarks": "Ескертпелер",
        "timeline": "Хронология", "event": "Оқиға", "details": "Толығырақ",
        "none": "тіркелмеген",
    },
}
FONT_DIRS = ("/usr/share/fonts/truetype/dejavu", "/usr/share/fonts/dejavu",
             "/usr/local/share/fonts")


def _report_content(report: dict[str, Any], config: Config, lang: str):
    """(title, fields, key times, actions, timeline) as plain strings."""
    import json as json_

    t = REPORT[lang]
    tz = config.site.timezone

    def when(ts: str | None) -> str:
        return _local(ts, tz).strftime("%d.%m.%Y %H:%M:%S") if ts else t["open"]

    title = report["title"].get(lang) or report["scenario"]
    fields = [
        (t["scenario"], f"{title} ({report['scenario']}, {report['activation']})"),
        (t["kind"], t["drill"] if report["drill"] else t["real"]),
        (t["source"], report["source"]),
        (t["started"], when(report["started"])),
        (t["ended"], when(report["ended"])),
        (t["outcome"], report["outcome"]),
    ]
    if report["drill"]:
        shown = str(report["participants"]) if report["participants"] is not None else t["none"]
        if report.get("first_recorded") is not None:
            shown = FORMS[lang]["corrected"].format(now=shown, first=report["first_recorded"])
        fields.append((t["participants"], shown))
        fields.append((t["remarks"], report["remarks"] or t["none"]))
    times = [(t[k], human_duration(v, lang)) for k, v in report["key_times_s"].items()]
    actions = [[_local(a["ts"], tz).strftime("%H:%M:%S"), str(a["who"]),
                f"{a['kind']}: {a['what']}".strip(": ")] for a in report["actions"]]
    skip = {"seq", "ts", "kind", "activation", "title"}
    timeline = [[f"{r['seq']}", _local(r["ts"], tz).strftime("%H:%M:%S.%f")[:-3], r["kind"],
                 json_.dumps({k: v for k, v in r.items() if k not in skip},
                             ensure_ascii=False)[:300]]
                for r in report["timeline"]]
    return t, title, fields, times, actions, timeline


def write_report(path: Path, report: dict[str, Any], config: Config, lang: str,
                 fmt: str) -> None:
    """The after-action report of one activation as DOCX or PDF."""
    t, title, fields, times, actions, timeline = _report_content(report, config, lang)
    anchor = anchor_line(config.path(config.control.journal), lang)
    if fmt == "pdf":
        _report_pdf(path, config, t, fields, times, actions, timeline, anchor)
        return
    doc = _document(landscape=False)
    doc.add_paragraph(config.site.name)
    doc.add_heading(t["title"], level=1)
    for name, value in fields:
        doc.add_paragraph(f"{name}: {value}")
    doc.add_heading(t["times"], level=2)
    for name, value in times:
        doc.add_paragraph(f"{name}: {value}")
    doc.add_heading(t["actions"], level=2)
    _table(doc, [t["when"], t["who"], t["what"]], actions, empty_rows=0 if actions else 1)
    doc.add_heading(t["timeline"], level=2)
    _table(doc, ["№", t["when"], t["event"], t["details"]], timeline)
    doc.add_paragraph(anchor).runs[0].font.size = _small()
    doc.save(str(path))


def _font(name: str) -> str:
    for directory in FONT_DIRS:
        candidate = Path(directory) / name
        if candidate.exists():
            return str(candidate)
    from controller.errors import OperationFailed

    raise OperationFailed(f"no {name} font for Kazakh and Russian text "
                          "(install the fonts-dejavu-core package)")


def _report_pdf(path: Path, config: Config, t: dict[str, str], fields, times, actions,
                timeline, anchor: str) -> None:
    from fpdf import FPDF

    pdf = FPDF(orientation="portrait", format="A4")
    pdf.set_margins(15, 15, 15)
    pdf.add_font("DejaVu", "", _font("DejaVuSans.ttf"))
    pdf.add_font("DejaVu", "B", _font("DejaVuSans-Bold.ttf"))
    pdf.add_page()
    pdf.set_font("DejaVu", size=9)
    pdf.multi_cell(0, 5, config.site.name, new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", "B", 14)
    pdf.multi_cell(0, 8, t["title"], new_x="LMARGIN", new_y="NEXT")
    pdf.set_font("DejaVu", size=10)
    for name, value in fields:
        pdf.multi_cell(0, 5, f"{name}: {value}", new_x="LMARGIN", new_y="NEXT")

    def heading(text_: str) -> None:
        pdf.ln(3)
        pdf.set_font("DejaVu", "B", 11)
        pdf.multi_cell(0, 6, text_, new_x="LMARGIN", new_y="NEXT")
        pdf.set_font("DejaVu", size=9)

    def table(header: list[str], body: list[list[str]], widths: tuple[int, ...]) -> None:
        with pdf.table(col_widths=widths, text_align="LEFT") as tbl:
            tbl.row(header)
            for row in body:
                tbl.row(row)

    heading(t["times"])
    for name, value in times:
        pdf.multi_cell(0, 5, f"{name}: {value}", new_x="LMARGIN", new_y="NEXT")
    heading(t["actions"])
    table([t["when"], t["who"], t["what"]], actions or [["—", "—", t["none"]]], (15, 30, 55))
    heading(t["timeline"])
    table(["№", t["when"], t["event"], t["details"]], timeline, (8, 17, 20, 55))
    pdf.ln(3)
    pdf.set_font("DejaVu", size=7)
    pdf.multi_cell(0, 4, anchor, new_x="LMARGIN", new_y="NEXT")
    pdf.output(str(path))

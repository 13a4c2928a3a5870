"""Reports as documents: the 留言办理情况 report and the periodic reports (日监测, 周研判,
月报, 季通报, 年度报告), written as XLSX, DOCX and PDF and archived byte for byte.

A report is first built as plain data (:class:`ReportDoc`: numbered sections of
paragraphs and tables), then written by one writer per format, so the XLSX and the DOCX
of one report (and its PDF) always carry the same figures. Every issued file is stored under
``instance/reports`` with its SHA-256 in a :class:`ReportArchive` row (who, when, the exact
parameters); downloads serve that file unchanged.

PDF is written with reportlab (BSD licence, pure Python on PyPI) using its built-in Adobe
CID font ``STSong-Light`` (宋体, Adobe-GB1 glyph metrics in reportlab itself): the PDF names
the font without embedding it, and the reader draws it with its own Chinese font (Adobe
Reader's, or a system 宋体 / CJK font by substitution — a machine with no Chinese font at
all shows blanks). So no 10–20 MB CJK font file is shipped and nothing is downloaded.
reportlab's ``invariant`` mode makes the bytes deterministic (no creation time, fixed
document ID), like the archived XLSX/DOCX files. XLSX and DOCX remain what offices file
and edit; the PDF is for reading and printing.
"""

from __future__ import annotations

import hashlib
import io
import os
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from flask import current_app
from sqlalchemy import and_, distinct, func, or_, select, true

from sentinel.auth.permissions import Actor, can, scope_unit_ids
from sentinel.errors import Forbidden, NotFound, ValidationFailed
from sentinel.extensions import db
from sentinel.models import Case, Item, ReportArchive, Unit, utcnow
from sentinel.models.report import REPORT_FORMATS, REPORT_KINDS
from sentinel.services import audit, sla_report
from sentinel.services.sla_report import COLUMNS, RATES, TIMES, Period
from sentinel.timefmt import SHANGHAI, format_local

REPORT_JOB = "generate_report"
CHINESE_NUMERALS = "一二三四五六七八九十"
# Which period each periodic report covers (the scheduled run reports the last complete one).
KIND_PERIOD = {
    "daily": "day",
    "weekly": "week",
    "monthly": "month",
    "quarterly": "quarter",
    "annual": "year",
}
SENTIMENT_LABELS = {"negative": "负面", "neutral": "中性", "positive": "正面"}


@dataclass
class Table:
    name: str  # sheet name (≤ 31 characters) and table caption
    columns: list[str]
    rows: list[list[Any]]
    # Per column: "int", "rate" (0–1, shown as a percentage), "num" (2 decimals), "text".
    kinds: list[str]
    # Optional per-row, per-column drill-down URLs (web page only; not written to files).
    links: list[list[str | None]] | None = None


@dataclass
class Section:
    title: str
    paragraphs: list[str] = field(default_factory=list)
    tables: list[Table] = field(default_factory=list)


@dataclass
class ReportDoc:
    title: str
    office: str
    issued: date
    period: Period
    sections: list[Section]


# --------------------------------------------------------------------------- building


def _pct(value: float | None) -> str:
    return "—" if value is None else f"{value * 100:.1f}%"


def sla_rows_table(
    table: sla_report.SlaTable,
    previous: sla_report.SlaTable | None,
    name: str,
    link: Callable[[int, str], str] | None = None,
) -> Table:
    """The per-unit table with a rank, a totals row and the previous period side by side."""
    prev_by_unit = {r.unit_id: r for r in previous.rows} if previous else {}
    columns = ["名次", "单位"] + [sla_report.column_label(k) for k in COLUMNS]
    kinds = ["int", "text"] + [
        "rate" if k in RATES else "num" if k in TIMES else "text" if k == "satisfaction" else "int"
        for k in COLUMNS
    ]
    if previous is not None:
        columns += ["上期答复量", "上期按期办结率", "按期办结率变化（百分点）"]
        kinds += ["int", "rate", "num"]
    rows: list[list[Any]] = []
    links: list[list[str | None]] = []
    for row in [*table.rows, table.total]:
        values: list[Any] = [row.rank, row.name] + [row.values[k] for k in COLUMNS]
        row_links: list[str | None] = [None, None] + [
            link(row.unit_id, k) if link and row.unit_id and k in sla_report.METRICS else None
            for k in COLUMNS
        ]
        if previous is not None:
            before = previous.total if row.unit_id is None else prev_by_unit.get(row.unit_id)
            answered = before.values["answered"] if before else 0
            rate = before.values["on_time_rate"] if before else None
            now_rate = row.values["on_time_rate"]
            change = (
                round((now_rate - rate) * 100, 2)
                if rate is not None and now_rate is not None
                else None
            )
            values += [answered, rate, change]
            row_links += [None, None, None]
        rows.append(values)
        links.append(row_links)
    return Table(name, columns, rows, kinds, links)


def _scope_condition(unit_ids: list[int] | None) -> Any:
    if unit_ids is None:
        return true()
    return Case.unit_id.in_(unit_ids) | Case.owner_unit_id.in_(unit_ids)


def _volume(period: Period, unit_ids: list[int] | None) -> Section:
    w = sla_report.window_for(period)
    cases = db.session.scalar(
        select(func.count())
        .select_from(Case)
        .where(
            Case.first_item_at >= w.start,
            Case.first_item_at < w.end,
            Case.status != "merged",
            _scope_condition(unit_ids),
        )
    )
    items = db.session.scalar(
        select(func.count())
        .select_from(Item)
        .join(Case, Case.id == Item.case_id)
        .where(Item.received_at >= w.start, Item.received_at < w.end, _scope_condition(unit_ids))
    )
    return Section(
        "留言总体情况",
        [
            f"{period.label}，共收到留言 {items or 0} 条，形成工单 {cases or 0} 件"
            "（同一诉求的多条留言合并为一件）。"
        ],
        [
            Table(
                "留言量",
                ["指标", "数量"],
                [["留言条数", items or 0], ["工单件数", cases or 0]],
                ["text", "int"],
            )
        ],
    )


def _topics(period: Period, unit_ids: list[int] | None, limit: int = 10) -> Section:
    w = sla_report.window_for(period)
    base = (Case.first_item_at >= w.start, Case.first_item_at < w.end, Case.status != "merged")
    topic_rows = db.session.execute(
        select(Case.topic, func.count(), func.sum(Case.ask_count))
        .where(*base, _scope_condition(unit_ids), Case.topic.is_not(None))
        .group_by(Case.topic)
        .order_by(func.count().desc(), Case.topic)
        .limit(limit)
    ).all()
    sentiment_rows = db.session.execute(
        select(Case.sentiment, func.count())
        .where(*base, _scope_condition(unit_ids))
        .group_by(Case.sentiment)
        .order_by(Case.sentiment)
    ).all()
    total = sum(n for _, n in sentiment_rows) or 0
    negative = sum(n for s, n in sentiment_rows if s == "negative")
    paragraphs = [
        "本期工单较多的话题依次为："
        + ("、".join(f"{t}（{n} 件）" for t, n, _ in topic_rows[:5]) if topic_rows else "无")
        + "。",
        f"负面情绪工单 {negative} 件，占 {_pct(negative / total if total else None)}。",
    ]
    return Section(
        "话题与情感",
        paragraphs,
        [
            Table(
                "热点话题",
                ["话题", "工单件数", "留言人次"],
                [[t, n, int(a or 0)] for t, n, a in topic_rows],
                ["text", "int", "int"],
            ),
            Table(
                "情感分布",
                ["情感", "工单件数", "占比"],
                [
                    [SENTIMENT_LABELS.get(s or "", s or "未识别"), n, n / total if total else None]
                    for s, n in sentiment_rows
                ],
                ["text", "int", "rate"],
            ),
        ],
    )


def _events(period: Period, unit_ids: list[int] | None, limit: int = 10) -> Section:
    """热点事件: the events with messages in the period (in the units' scope), hottest
    first — messages and askers in the period, peak heat, escalation level and 会商."""
    from sentinel.models import Case, Consultation, Event, EventItem

    in_period = and_(
        EventItem.item_at >= period.start_utc,
        EventItem.item_at < period.end_utc,
    )
    stmt = (
        select(
            Event.id,
            Event.title,
            Event.heat_peak,
            Event.escalated_level,
            func.count(distinct(EventItem.item_id)),
            func.count(distinct(EventItem.case_id)),
        )
        .join(EventItem, EventItem.event_id == Event.id)
        .where(in_period, Event.status.in_(("open", "closed")))
        .group_by(Event.id, Event.title, Event.heat_peak, Event.escalated_level)
        .order_by(Event.heat_peak.desc(), Event.id)
    )
    if unit_ids is not None:
        stmt = stmt.join(Case, Case.id == EventItem.case_id).where(
            or_(Case.unit_id.in_(unit_ids), Case.owner_unit_id.in_(unit_ids))
        )
    found = db.session.execute(stmt).all()
    consultations = {
        c.event_id: c
        for c in db.session.scalars(
            select(Consultation).where(Consultation.event_id.in_([r[0] for r in found[:limit]]))
        )
    }
    levels = {0: "", 1: "一般", 2: "较大", 3: "重大"}
    rows = []
    for event_id, title, peak, level, items, cases in found[:limit]:
        consultation = consultations.get(event_id)
        rows.append(
            [
                event_id,
                title,
                items,
                cases,
                round(float(peak or 0), 1),
                levels.get(level, str(level)),
                consultation.status_label if consultation is not None else "",
            ]
        )
    escalated = sum(1 for r in found if r[3])
    lead = (
        f"本期有留言的热点事件共 {len(found)} 个，其中达到升级热度的 {escalated} 个；"
        f"按峰值热度列出前 {len(rows)} 个。"
        if found
        else "本期没有形成热点事件。"
    )
    return Section(
        "热点事件",
        [lead],
        [
            Table(
                "热点事件",
                ["事件号", "事件", "本期留言", "涉及工单", "峰值热度", "升级等级", "会商"],
                rows,
                ["int", "text", "int", "int", "num", "text", "text"],
            )
        ],
    )


def _overdue_list(period: Period, unit_ids: list[int] | None) -> Section:
    cases = sla_report.overdue_cases(period, unit_ids)
    rows = [
        [
            c.id,
            c.title,
            c.unit.name if c.unit else "",
            format_local(c.due_at) if c.due_at else "",
            c.extension_days,
        ]
        for c in cases
    ]
    return Section(
        "超期未办结工单名单",
        [f"截至期末，已超过办理时限仍未答复的工单共 {len(rows)} 件（名单见下表）。"],
        [
            Table(
                "超期未办结名单",
                ["工单号", "标题", "主办单位", "办理时限", "已延期（工作日）"],
                rows,
                ["int", "text", "text", "text", "int"],
            )
        ],
    )


def _returned_list(period: Period, unit_ids: list[int] | None) -> Section:
    returns = sla_report.returned_cases(period, unit_ids)
    case_titles = {
        case_id: title
        for case_id, title in db.session.execute(
            select(Case.id, Case.title).where(Case.id.in_({r.case_id for r in returns}))
        )
    }
    rows = [
        [
            r.case_id,
            case_titles.get(r.case_id, ""),
            r.unit.name,
            r.reason_label,
            format_local(r.returned_at),
            r.outcome_unit.name if r.outcome_unit else "待改派",
        ]
        for r in returns
    ]
    return Section(
        "退单工单名单",
        [f"本期退单共 {len(rows)} 次（名单见下表）。"],
        [
            Table(
                "退单名单",
                ["工单号", "标题", "退单单位", "退单原因", "退单时间", "改派至"],
                rows,
                ["int", "text", "text", "text", "text", "text"],
            )
        ],
    )


def _definitions_section() -> Section:
    return Section(
        "指标说明",
        [f"{label}：{text}" for label, text in sla_report.definitions()]
        + [
            "统计口径：工单计入当时负有办理责任的单位（见各项说明）；被合并的工单不重复计数。"
            "合计为各单位之和：一件工单先后交由几个单位办理（退单改派）的，在每个单位各计一次。"
            "时间以北京时间为准，工作日按国务院节假日安排（含调休）计算。"
        ],
    )


def _sla_section(
    period: Period,
    root: Unit | None,
    progress: Callable[[int], None] | None,
    now: datetime | None = None,
) -> Section:
    current = sla_report.sla_table(period, root, now=now, progress=progress)
    previous = sla_report.sla_table(period.previous(), root, now=now)
    t = current.total.values
    paragraphs = [
        f"{period.label}，交办工单 {t['dispatched']} 件，答复 {t['answered']} 件，"
        f"按期办结率 {_pct(t['on_time_rate'])}"
        f"（上期 {_pct(previous.total.values['on_time_rate'])}）；"
        f"超期未办结 {t['overdue_open']} 件，退单 {t['returned']} 次，"
        f"延期 {t['extended']} 次、暂停 {t['paused']} 次。",
        "各单位按按期办结率排名（本期无答复的单位不排名），末行为合计，右侧为上期对比。",
    ]
    return Section(
        "各单位留言办理情况",
        paragraphs,
        [
            sla_rows_table(current, previous, "各单位办理情况"),
            sla_rows_table(previous, None, "上期各单位办理情况"),
        ],
    )


def build_report(
    kind: str,
    period: Period,
    root: Unit | None,
    progress: Callable[[int], None] | None = None,
    now: datetime | None = None,
) -> ReportDoc:
    """Build the report ``kind`` (see REPORT_KINDS) for ``period`` over ``root``'s subtree."""
    if kind not in REPORT_KINDS:
        raise ValidationFailed("报告类型无效")
    now = now or utcnow()
    unit_ids = None if root is None else [u.id for u in sla_report._subtree(root)]
    office = root.name if root else current_app.config.get("REPORT_OFFICE_NAME", "政务新媒体办公室")
    scope = f"（{root.name}及下属单位）" if root else ""
    title = f"{period.label}{REPORT_KINDS[kind]}{scope}"
    sections: list[Section] = []
    if kind == "sla":
        sections.append(_sla_section(period, root, progress, now))
    else:
        sections.append(_volume(period, unit_ids))
        sections.append(_topics(period, unit_ids))
        sections.append(_events(period, unit_ids))
        sections.append(_sla_section(period, root, progress, now))
        sections.append(_overdue_list(period, unit_ids))
        if kind in ("quarterly", "annual", "monthly"):
            sections.append(_returned_list(period, unit_ids))
    sections.append(_definitions_section())
    return ReportDoc(title, office, now.astimezone(SHANGHAI).date(), period, sections)


# --------------------------------------------------------------------------- writers


def write_xlsx(doc: ReportDoc) -> bytes:
    """A sheet per table (frozen header, Chinese column names, numbers as numbers), and a
    first sheet with the title, the text and the column definitions."""
    from openpyxl import Workbook
    from openpyxl.styles import Font
    from openpyxl.utils import get_column_letter

    wb = Workbook()
    cover = wb.active
    assert cover is not None
    cover.title = "说明"
    cover.append([doc.title])
    cover["A1"].font = Font(bold=True, size=14)
    cover.append([f"{doc.office}　{doc.issued:%Y年%m月%d日}"])
    cover.append([f"统计期间：{doc.period.start:%Y-%m-%d} 至 {doc.period.end:%Y-%m-%d}"])
    for i, section in enumerate(doc.sections):
        cover.append([f"{CHINESE_NUMERALS[i]}、{section.title}"])
        for paragraph in section.paragraphs:
            cover.append([paragraph])
    cover.column_dimensions["A"].width = 120
    used: set[str] = {"说明"}
    for section in doc.sections:
        for table in section.tables:
            name = table.name[:31]
            while name in used:
                name = name[:29] + "_" + str(len(used))
            used.add(name)
            ws = wb.create_sheet(name)
            ws.append(table.columns)
            for cell in ws[1]:
                cell.font = Font(bold=True)
            for row in table.rows:
                ws.append(
                    [
                        None if v == "" and k != "text" else v
                        for v, k in zip(row, table.kinds, strict=True)
                    ]
                )
            for col, kind in enumerate(table.kinds, start=1):
                letter = get_column_letter(col)
                ws.column_dimensions[letter].width = 28 if kind == "text" else 14
                fmt = {"rate": "0.0%", "num": "0.00", "int": "0"}.get(kind)
                if fmt:
                    for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                        cell.number_format = fmt
                if kind == "text" and table.columns[col - 1] == "满意度":
                    for (cell,) in ws.iter_rows(min_row=2, min_col=col, max_col=col):
                        cell.value = "—"
            ws.freeze_panes = "A2"
    out = io.BytesIO()
    wb.save(out)
    return out.getvalue()


def _cell_text(value: Any, kind: str) -> str:
    if value is None:
        return "—"
    if kind == "rate":
        return _pct(value)
    if kind == "num":
        return f"{value:.2f}"
    return str(value)


def write_docx(doc: ReportDoc) -> bytes:
    """The report as an official notice: title, issuing office and date, numbered
    sections 一、二、…, tables, the column definitions."""
    from docx import Document
    from docx.enum.section import WD_ORIENT
    from docx.enum.text import WD_ALIGN_PARAGRAPH
    from docx.oxml.ns import qn
    from docx.shared import Cm, Pt

    document = Document()
    section = document.sections[0]
    # Landscape: the per-unit table has many columns.
    section.orientation = WD_ORIENT.LANDSCAPE
    section.page_width, section.page_height = section.page_height, section.page_width
    for margin in ("left_margin", "right_margin", "top_margin", "bottom_margin"):
        setattr(section, margin, Cm(1.8))
    normal = document.styles["Normal"]
    normal.font.name = "仿宋"
    normal.element.rPr.rFonts.set(qn("w:eastAsia"), "仿宋")
    normal.font.size = Pt(12)
    title = document.add_paragraph()
    title.alignment = WD_ALIGN_PARAGRAPH.CENTER
    run = title.add_run(doc.title)
    run.bold = True
    run.font.size = Pt(20)
    issuer = document.add_paragraph(f"{doc.office}　　{doc.issued:%Y年%m月%d日}")
    issuer.alignment = WD_ALIGN_PARAGRAPH.CENTER
    document.add_paragraph(
        f"统计期间：{doc.period.start:%Y年%m月%d日}至{doc.period.end:%Y年%m月%d日}。"
    )
    for i, part in enumerate(doc.sections):
        heading = document.add_paragraph()
        heading_run = heading.add_run(f"{CHINESE_NUMERALS[i]}、{part.title}")
        heading_run.bold = True
        heading_run.font.size = Pt(14)
        for paragraph in part.paragraphs:
            document.add_paragraph(paragraph).paragraph_format.first_line_indent = Pt(24)
        for table in part.tables:
            caption = document.add_paragraph(table.name)
            caption.alignment = WD_ALIGN_PARAGRAPH.CENTER
            if not table.rows:
                document.add_paragraph("（无）").alignment = WD_ALIGN_PARAGRAPH.CENTER
                continue
            grid = document.add_table(rows=1, cols=len(table.columns))
            grid.style = "Table Grid"
            small = Pt(7) if len(table.columns) > 12 else Pt(10)
            for cell, label in zip(grid.rows[0].cells, table.columns, strict=True):
                cell.text = label
                for p in cell.paragraphs:
                    for r in p.runs:
                        r.bold = True
                        r.font.size = small
            for row in table.rows:
                cells = grid.add_row().cells
                for cell, value, kind in zip(cells, row, table.kinds, strict=True):
                    cell.text = _cell_text(value, kind)
                    for p in cell.paragraphs:
                        for r in p.runs:
                            r.font.size = small
    signature = document.add_paragraph(f"{doc.office}\n{doc.issued:%Y年%m月%d日}")
    signature.alignment = WD_ALIGN_PARAGRAPH.RIGHT
    out = io.BytesIO()
    document.save(out)
    return out.getvalue()


PDF_FONT = "STSong-Light"


def _pdf_font() -> str:
    """Register reportlab's built-in CID font once (process-wide registry)."""
    from reportlab.pdfbase import pdfmetrics
    from reportlab.pdfbase.cidfonts import UnicodeCIDFont

    if PDF_FONT not in pdfmetrics.getRegisteredFontNames():
        pdfmetrics.registerFont(UnicodeCIDFont(PDF_FONT))
    return PDF_FONT


def _pdf_widths(table: Table, texts: list[list[str]], size: float, avail: float) -> list[float]:
    """Column widths: each column as wide as its longest body cell (headers wrap to at
    most four lines), scaled down to the page when the total is wider."""
    from reportlab.pdfbase.pdfmetrics import stringWidth

    font = _pdf_font()
    pad = 4.0
    body = [
        max((stringWidth(row[col], font, size) for row in texts), default=0.0)
        for col in range(len(table.columns))
    ]
    heads = [stringWidth(label, font, size) for label in table.columns]
    # Headers on one line when that fits the page, else wrapped to at most four lines.
    widths = [max(b, h, 2 * size) + pad for b, h in zip(body, heads, strict=True)]
    if sum(widths) > avail:
        widths = [max(b, h / 4, 2 * size) + pad for b, h in zip(body, heads, strict=True)]
    total = sum(widths)
    if total > avail:
        # Shrink the wide (text) columns first: their cells wrap; numbers must not.
        numeric = sum(w for w, k in zip(widths, table.kinds, strict=True) if k != "text")
        text_total = total - numeric
        if numeric < avail and text_total > 0:
            factor = (avail - numeric) / text_total
            widths = [
                w * factor if k == "text" else w for w, k in zip(widths, table.kinds, strict=True)
            ]
        else:
            widths = [w * avail / total for w in widths]
    return widths


def write_pdf(doc: ReportDoc) -> bytes:
    """The report as a printable PDF (A4 landscape, like the DOCX): title, issuing office
    and date, numbered sections 一、二、…, tables whose header row repeats on every page,
    page numbers; deterministic bytes (reportlab ``invariant``)."""
    from xml.sax.saxutils import escape

    from reportlab.lib import colors
    from reportlab.lib.enums import TA_CENTER, TA_RIGHT
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.styles import ParagraphStyle
    from reportlab.lib.units import cm
    from reportlab.platypus import LongTable, Paragraph, SimpleDocTemplate, Spacer
    from reportlab.platypus import TableStyle as PdfTableStyle

    font = _pdf_font()
    page = landscape(A4)
    margin = 1.8 * cm
    out = io.BytesIO()
    pdf = SimpleDocTemplate(
        out,
        pagesize=page,
        leftMargin=margin,
        rightMargin=margin,
        topMargin=margin,
        bottomMargin=margin,
        title=doc.title,
        author=doc.office,
        subject=f"{doc.period.start:%Y-%m-%d} 至 {doc.period.end:%Y-%m-%d}",
        creator="sentinel",
        invariant=1,
    )
    # wordWrap="CJK": Chinese breaks between any two characters, not at spaces only.
    body = ParagraphStyle("body", fontName=font, fontSize=12, leading=18, wordWrap="CJK")
    indented = ParagraphStyle("indented", parent=body, firstLineIndent=24, spaceAfter=4)
    title = ParagraphStyle("title", parent=body, fontSize=20, leading=28, alignment=TA_CENTER)
    centered = ParagraphStyle("centered", parent=body, alignment=TA_CENTER, spaceAfter=6)
    heading = ParagraphStyle("heading", parent=body, fontSize=14, leading=22, spaceBefore=8)
    right = ParagraphStyle("right", parent=body, alignment=TA_RIGHT, spaceBefore=18)
    story: list[Any] = [
        Paragraph(escape(doc.title), title),
        Paragraph(escape(f"{doc.office}　　{doc.issued:%Y年%m月%d日}"), centered),
        Paragraph(
            escape(f"统计期间：{doc.period.start:%Y年%m月%d日}至{doc.period.end:%Y年%m月%d日}。"),
            body,
        ),
    ]
    for i, part in enumerate(doc.sections):
        story.append(Paragraph(escape(f"{CHINESE_NUMERALS[i]}、{part.title}"), heading))
        for paragraph in part.paragraphs:
            story.append(Paragraph(escape(paragraph), indented))
        for table in part.tables:
            story.append(Paragraph(escape(table.name), centered))
            if not table.rows:
                story.append(Paragraph("（无）", centered))
                continue
            size = 6.5 if len(table.columns) > 12 else 10.0
            cell = ParagraphStyle("cell", parent=body, fontSize=size, leading=size * 1.25)
            texts = [
                [_cell_text(v, k) for v, k in zip(row, table.kinds, strict=True)]
                for row in table.rows
            ]
            widths = _pdf_widths(table, texts, size, page[0] - 2 * margin)
            # Headers and text cells wrap (Paragraph); numbers are plain strings.
            data: list[list[Any]] = [[Paragraph(escape(c), cell) for c in table.columns]]
            data += [
                [
                    Paragraph(escape(t), cell) if k == "text" else t
                    for t, k in zip(row, table.kinds, strict=True)
                ]
                for row in texts
            ]
            grid = LongTable(data, colWidths=widths, repeatRows=1)
            grid.setStyle(
                PdfTableStyle(
                    [
                        ("FONT", (0, 0), (-1, -1), font, size),
                        ("GRID", (0, 0), (-1, -1), 0.4, colors.black),
                        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#e8e8e8")),
                        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                        ("LEFTPADDING", (0, 0), (-1, -1), 2),
                        ("RIGHTPADDING", (0, 0), (-1, -1), 2),
                        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
                        ("BOTTOMPADDING", (0, 0), (-1, -1), 1.5),
                        *[
                            ("ALIGN", (col, 1), (col, -1), "RIGHT")
                            for col, kind in enumerate(table.kinds)
                            if kind != "text"
                        ],
                    ]
                )
            )
            story += [grid, Spacer(1, 8)]
    story.append(Paragraph(escape(doc.office) + "<br/>" + f"{doc.issued:%Y年%m月%d日}", right))

    def footer(canvas: Any, template: Any) -> None:
        canvas.saveState()
        canvas.setFont(font, 9)
        canvas.drawCentredString(page[0] / 2, margin / 2, f"第 {template.page} 页")
        canvas.drawString(margin, page[1] - margin / 2, doc.title)
        canvas.restoreState()

    pdf.build(story, onFirstPage=footer, onLaterPages=footer)
    return out.getvalue()


WRITERS: dict[str, Callable[[ReportDoc], bytes]] = {
    "xlsx": write_xlsx,
    "docx": write_docx,
    "pdf": write_pdf,
}


def render(doc: ReportDoc, fmt: str) -> bytes:
    if fmt not in WRITERS:
        raise ValidationFailed("文件格式无效")
    return WRITERS[fmt](doc)


# --------------------------------------------------------------------------- archive


def archive_dir() -> str:
    """Where archived report files live (instance/reports, one folder per year)."""
    return os.path.join(current_app.instance_path, "reports")


def parse_params(params: dict[str, Any]) -> tuple[str, str, Period, Unit | None]:
    """Validate the parameters of a report request: kind, format, period, unit."""
    kind = params.get("kind", "")
    fmt = params.get("fmt", "")
    if kind not in REPORT_KINDS:
        raise ValidationFailed("请选择报告类型")
    if fmt not in REPORT_FORMATS:
        raise ValidationFailed("请选择文件格式")
    try:
        start = date.fromisoformat(params["start"])
        end = date.fromisoformat(params["end"])
    except (KeyError, TypeError, ValueError) as exc:
        raise ValidationFailed("请填写有效的起止日期") from exc
    if end < start:
        raise ValidationFailed("结束日期不能早于开始日期")
    if (end - start).days > 366:
        raise ValidationFailed("统计期间不能超过一年")
    period_kind = params.get("period", "custom")
    period = (
        sla_report.period_of(period_kind, start)
        if period_kind in KIND_PERIOD.values()
        else sla_report.custom_period(start, end)
    )
    if (period.start, period.end) != (start, end):
        period = sla_report.custom_period(start, end)
    unit: Unit | None = None
    if params.get("unit_id"):
        unit = db.session.get(Unit, int(params["unit_id"]))
        if unit is None:
            raise NotFound("单位不存在")
    return kind, fmt, period, unit


def request_report(actor: Actor, params: dict[str, Any], scheduled: bool = False) -> ReportArchive:
    """Record a report request (validated; audited). The caller commits and enqueues
    :data:`REPORT_JOB` with the archive id, or calls :func:`generate` directly."""
    kind, fmt, period, unit = parse_params(params)
    if actor.user is not None:
        if not can(actor.user, "report.generate"):
            raise Forbidden("当前角色不能生成报告")
        ids = scope_unit_ids(actor.user)
        if ids is not None:
            if unit is None:
                # A report of the whole tree only for users whose scope is the whole tree.
                if len(ids) < (db.session.scalar(select(func.count()).select_from(Unit)) or 0):
                    raise ValidationFailed("请选择统计单位")
            elif unit.id not in ids:
                raise ValidationFailed(f"单位“{unit.name}”不在您的管辖范围内")
    exact = {
        "kind": kind,
        "fmt": fmt,
        "period": period.kind,
        "start": period.start.isoformat(),
        "end": period.end.isoformat(),
        "unit_id": unit.id if unit else None,
    }
    archive = ReportArchive(
        kind=kind,
        fmt=fmt,
        params=exact,
        title=f"{period.label}{REPORT_KINDS[kind]}" + (f"（{unit.name}）" if unit else ""),
        unit_id=unit.id if unit else None,
        period_start=period.start,
        period_end=period.end,
        status="pending",
        scheduled=scheduled,
        generated_by_id=actor.user_id,
        generated_by_label=(actor.user.display_name or actor.user.username)
        if actor.user is not None
        else actor.label,
        requested_at=utcnow(),
    )
    db.session.add(archive)
    db.session.flush()
    audit.record(actor, "report.requested", "report", archive.id, **exact)
    return archive


def generate(archive: ReportArchive, progress: Callable[[int], None] | None = None) -> None:
    """Build and write the archive's file, record its SHA-256; idempotent once ready.

    Flushes only; the job (or CLI) commits. ``progress`` gets 0–100.
    """
    if archive.status == "ready":
        return
    kind, fmt, period, unit = parse_params(archive.params)
    doc = build_report(kind, period, unit, progress=progress)
    data = render(doc, fmt)
    digest = hashlib.sha256(data).hexdigest()
    relative = os.path.join(
        f"{period.start.year}", f"report-{archive.id}-{kind}-{period.start:%Y%m%d}.{fmt}"
    )
    path = os.path.join(archive_dir(), relative)
    os.makedirs(os.path.dirname(path), exist_ok=True)
    temporary = path + ".part"
    with open(temporary, "wb") as fh:
        fh.write(data)
    os.replace(temporary, path)
    archive.file_path = relative
    archive.sha256 = digest
    archive.size = len(data)
    archive.status = "ready"
    archive.progress = 100
    archive.generated_at = utcnow()
    archive.error = None
    db.session.flush()


def file_bytes(archive: ReportArchive) -> bytes:
    """The archived file, checked against its recorded SHA-256 (never a regenerated one)."""
    if archive.status != "ready" or not archive.file_path:
        raise NotFound("报告尚未生成")
    path = os.path.join(archive_dir(), archive.file_path)
    try:
        with open(path, "rb") as fh:
            data = fh.read()
    except FileNotFoundError as exc:
        raise NotFound("报告文件不存在") from exc
    if hashlib.sha256(data).hexdigest() != archive.sha256:
        raise ValidationFailed("报告文件校验失败（SHA-256 不一致），请联系管理员")
    return data


def download_name(archive: ReportArchive) -> str:
    return f"{archive.title}.{archive.fmt}"


def archive_in_scope(user: Any, archive: ReportArchive) -> bool:
    """A user sees a report of a unit in their subtree; a whole-tree report only when
    their scope is the whole tree."""
    ids = scope_unit_ids(user)
    if ids is None:
        return True
    if archive.unit_id is None:
        return len(ids) >= (db.session.scalar(select(func.count()).select_from(Unit)) or 0)
    return archive.unit_id in ids


def archives_for(user: Any, limit: int = 100) -> list[ReportArchive]:
    """The newest archived reports the user may see."""
    stmt = select(ReportArchive).order_by(ReportArchive.id.desc())
    ids = scope_unit_ids(user)
    if ids is not None:
        whole = len(ids) >= (db.session.scalar(select(func.count()).select_from(Unit)) or 0)
        condition = ReportArchive.unit_id.in_(ids)
        stmt = stmt.where(condition | ReportArchive.unit_id.is_(None) if whole else condition)
    return list(db.session.scalars(stmt.limit(limit)))

"""Render the first page of a report DOCX to a PNG, to look at it (no LibreOffice here).

    python bench/docx_preview.py REPORT.docx OUT.png

The DOCX is read back with python-docx — paragraphs (alignment, bold, size, first-line
indent) and tables in body order — and laid out as HTML on the document's own page size
and margins, then headless Chromium takes a screenshot of the first page. It is a preview
of what the file says and how it is arranged, not Word's exact rendering; Chinese text
needs a CJK font on the machine (e.g. Debian's fonts-wqy-microhei).
"""

from __future__ import annotations

import html
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

EMU_PER_PX = 9525  # 914400 EMU per inch, 96 px per inch


def to_html(path: str) -> tuple[str, int, int]:
    from docx import Document
    from docx.table import Table
    from docx.text.paragraph import Paragraph

    document = Document(path)
    section = document.sections[0]
    width = int(section.page_width / EMU_PER_PX)
    height = int(section.page_height / EMU_PER_PX)
    margin = int(section.left_margin / EMU_PER_PX)
    parts: list[str] = []
    for child in document.element.body.iterchildren():
        tag = child.tag.rsplit("}", 1)[-1]
        if tag == "p":
            p = Paragraph(child, document)
            align = {1: "center", 2: "right"}.get(int(p.alignment or 0), "left")
            indent = "2em" if p.paragraph_format.first_line_indent else "0"
            runs = []
            for run in p.runs:
                style = []
                if run.bold:
                    style.append("font-weight:bold")
                if run.font.size:
                    style.append(f"font-size:{run.font.size.pt}pt")
                text = html.escape(run.text).replace("\n", "<br>")
                runs.append(f'<span style="{";".join(style)}">{text}</span>')
            parts.append(f'<p style="text-align:{align};text-indent:{indent}">{"".join(runs)}</p>')
        elif tag == "tbl":
            table = Table(child, document)
            rows = []
            for i, row in enumerate(table.rows):
                cell_tag = "th" if i == 0 else "td"
                cells = "".join(
                    f"<{cell_tag}>{html.escape(c.text)}</{cell_tag}>" for c in row.cells
                )
                rows.append(f"<tr>{cells}</tr>")
            parts.append(f"<table>{''.join(rows)}</table>")
    page = f"""<!doctype html><meta charset="utf-8"><style>
body {{ margin:0; background:#888; overflow:hidden; }}
.page {{ width:{width - 2 * margin}px; min-height:{height - 2 * margin}px; padding:{margin}px;
  background:#fff; font-family:'FangSong','WenQuanYi Micro Hei',serif; font-size:12pt; }}
p {{ margin:0 0 6px; }}
table {{ border-collapse:collapse; width:100%; margin:4px 0 10px; font-size:7pt; }}
th, td {{ border:1px solid #000; padding:1px 2px; text-align:center; }}
</style><div class="page">{"".join(parts)}</div>"""
    return page, width, height


def main() -> int:
    source, out = sys.argv[1], sys.argv[2]
    page, width, height = to_html(source)
    chromium = shutil.which("chromium") or shutil.which("chromium-browser")
    if chromium is None:
        print("chromium not found", file=sys.stderr)
        return 1
    with tempfile.TemporaryDirectory() as tmp:
        html_path = Path(tmp) / "page.html"
        html_path.write_text(page, encoding="utf-8")
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                f"--window-size={width},{height}",
                f"--screenshot={Path(out).resolve()}",
                html_path.as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=120,
        )
    print(f"wrote {out} ({width}×{height} px, first page)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())

"""Look at the deliveries as a person would: render a school's priority-list spreadsheet and the
trust report to PNG (LibreOffice headless and pdftoppm for the spreadsheet, headless Chromium for
the HTML), for the README pictures under docs/ and for a reviewer's eyes.

Needs Debian's `libreoffice-calc`, `poppler-utils` and `chromium`; not part of `make test`.
"""

from __future__ import annotations

import shutil
import subprocess
import tempfile
from datetime import date
from pathlib import Path

from attendance.home import Home


class RenderError(RuntimeError):
    pass


def _tool(*names: str) -> str:
    for name in names:
        found = shutil.which(name)
        if found:
            return found
    raise RenderError(
        f"none of {', '.join(names)} is installed (apt-get install -y libreoffice-calc "
        "poppler-utils chromium)"
    )


def xlsx_to_png(xlsx: Path, outputs: dict[str, Path], dpi: int = 80) -> list[Path]:
    """Print the workbook to PDF with LibreOffice, then render, for each (text, png) of
    `outputs`, the first page that holds that text (page 1 if the text is empty)."""
    soffice = _tool("soffice", "libreoffice")
    pdftoppm, pdftotext = _tool("pdftoppm"), _tool("pdftotext")
    made = []
    with tempfile.TemporaryDirectory() as tmp:
        profile = Path(tmp) / "profile"
        subprocess.run(
            [
                soffice,
                f"-env:UserInstallation=file://{profile}",
                "--headless",
                "--convert-to",
                "pdf",
                "--outdir",
                tmp,
                str(xlsx),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
        pdf = Path(tmp) / (xlsx.stem + ".pdf")
        if not pdf.exists():
            raise RenderError(f"LibreOffice made no PDF of {xlsx.name}")
        text = subprocess.run(
            [pdftotext, "-layout", str(pdf), "-"], check=True, capture_output=True, timeout=60
        ).stdout.decode("utf-8", "replace")
        pages = text.split("\f")
        for wanted, out_png in outputs.items():
            page = next((i for i, p in enumerate(pages, start=1) if wanted in p), 1)
            stem = Path(tmp) / f"page{page}"
            subprocess.run(
                [
                    pdftoppm,
                    "-png",
                    "-r",
                    str(dpi),
                    "-f",
                    str(page),
                    "-l",
                    str(page),
                    "-singlefile",
                    str(pdf),
                    str(stem),
                ],
                check=True,
                capture_output=True,
                timeout=120,
            )
            out_png.parent.mkdir(parents=True, exist_ok=True)
            shutil.copyfile(stem.with_suffix(".png"), out_png)
            made.append(out_png)
    return made


def html_to_png(html: Path, out_png: Path, width: int = 960, height: int = 1500) -> Path:
    chromium = _tool("chromium", "chromium-browser", "google-chrome")
    out_png.parent.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        subprocess.run(
            [
                chromium,
                "--headless",
                "--no-sandbox",
                "--disable-gpu",
                "--hide-scrollbars",
                f"--user-data-dir={tmp}",
                f"--window-size={width},{height}",
                f"--screenshot={out_png}",
                html.resolve().as_uri(),
            ],
            check=True,
            capture_output=True,
            timeout=180,
        )
    if not out_png.exists():
        raise RenderError(f"Chromium made no screenshot of {html.name}")
    return out_png


def render_docs(home: Home, run_date: date, out_dir: Path, urn: str | None = None) -> list[Path]:
    """Render one school's spreadsheet (the first, or `urn`) and the trust report of D."""
    d = run_date.isoformat()
    books = sorted(home.exports.glob(f"schools/*/{d}/priority_list_*_{d}.xlsx"))
    if urn:
        books = [b for b in books if b.parent.parent.name == urn]
    report = home.exports / "trust" / d / f"trust_report_{d}.html"
    if not books or not report.exists():
        raise RenderError(f"no exports for {d} in {home.exports}: run `attendance run` first")
    pictures = xlsx_to_png(
        books[0],
        {
            "": out_dir / "priority_list.png",
            "attendance as of": out_dir / "priority_list_summary.png",
            "Pupils to praise": out_dir / "priority_list_praise.png",
        },
    )
    return pictures + [html_to_png(report, out_dir / "trust_report.png")]

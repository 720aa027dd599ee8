"""The trust report (SPEC 7.4): one self-contained HTML page a trust leader reads in two minutes.

The headline figures first, then anything held back or late, then three charts drawn here as
inline SVG (attendance by academy over the weeks, PA and SA by academy, pupils per stage), the
table per academy and the data-quality picture. No scripts, no external files, no timestamps:
the same inputs give the same bytes. Every piece of text is HTML-escaped.
"""

from __future__ import annotations

from datetime import date
from html import escape

import pandas as pd

PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"]
STAGE_COLOURS = ["#d9d9d9", "#9ecae1", "#4292c6", "#2171b5", "#08519c", "#08306b"]
STAGES = ["stage_0", "stage_1", "stage_2", "stage_3", "stage_4", "stage_5_plus"]
STAGE_LABELS = ["No action", "Stage 1", "Stage 2", "Stage 3", "Stage 4", "Stage 5+"]
FONT = "font-family:Helvetica,Arial,sans-serif"


def _e(value: object) -> str:
    if value is None or (not isinstance(value, str) and pd.isna(value)):
        return ""
    return escape(str(value), quote=True)


def _num(v: float) -> str:
    return f"{v:.1f}".rstrip("0").rstrip(".")


def _fmt_pct(value: object) -> str:
    return "–" if value is None or pd.isna(value) else f"{float(value):.1f}%"


def line_chart(weekly: pd.DataFrame, series: list[tuple[str, str]], width: int = 820) -> str:
    """Weekly attendance %, one line per (column, label); the trust line dashed and black."""
    height, left, right, top, bottom = 300, 48, 210, 16, 40
    if weekly.empty:
        return "<p>No weekly figures yet.</p>"
    values = pd.concat([weekly[c] for c, _ in series if c in weekly]).dropna()
    lo = max(0.0, float(values.min()) // 5 * 5 - 5) if len(values) else 80.0
    hi = 100.0
    n = len(weekly)
    plot_w, plot_h = width - left - right, height - top - bottom

    def x(i: int) -> float:
        return left + (plot_w * i / (n - 1) if n > 1 else plot_w / 2)

    def y(v: float) -> float:
        return top + plot_h * (hi - v) / (hi - lo)

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" style="{FONT};font-size:11px">'
    ]
    step = 5 if hi - lo <= 30 else 10
    tick = hi
    while tick >= lo:
        parts.append(
            f'<line x1="{left}" x2="{left + plot_w}" y1="{_num(y(tick))}" y2="{_num(y(tick))}" '
            'stroke="#e5e5e5"/>'
            f'<text x="{left - 6}" y="{_num(y(tick) + 4)}" text-anchor="end" fill="#555">'
            f"{int(tick)}%</text>"
        )
        tick -= step
    weeks = list(weekly["week_start"])
    every = max(1, n // 8)
    for i, wk in enumerate(weeks):
        if i % every == 0 or i == n - 1:
            label = wk.strftime("%d %b") if isinstance(wk, date) else str(wk)
            parts.append(
                f'<text x="{_num(x(i))}" y="{height - bottom + 16}" text-anchor="middle" '
                f'fill="#555">{_e(label)}</text>'
            )
    for k, (col, label) in enumerate(series):
        if col not in weekly:
            continue
        trust = col == "trust"
        colour = "#222" if trust else PALETTE[k % len(PALETTE)]
        points = [(x(i), y(float(v))) for i, v in enumerate(weekly[col]) if not pd.isna(v)]
        if not points:
            continue
        path = " ".join(f"{_num(px)},{_num(py)}" for px, py in points)
        dash = ' stroke-dasharray="6 4"' if trust else ""
        stroke = 2.5 if trust else 1.8
        parts.append(
            f'<polyline points="{path}" fill="none" stroke="{colour}" '
            f'stroke-width="{stroke}"{dash}/>'
        )
        ly = top + 14 + 18 * k
        parts.append(
            f'<line x1="{width - right + 14}" x2="{width - right + 38}" y1="{ly - 4}" '
            f'y2="{ly - 4}" stroke="{colour}" stroke-width="{stroke}"{dash}/>'
            f'<text x="{width - right + 44}" y="{ly}" fill="#222">{_e(label[:26])}</text>'
        )
    parts.append(
        f'<text x="{left + plot_w / 2}" y="{height - 4}" text-anchor="middle" fill="#555">'
        "Week beginning</text></svg>"
    )
    return "".join(parts)


def bar_chart_pa_sa(summary: pd.DataFrame, width: int = 820) -> str:
    """PA % and SA % by academy, horizontal bars side by side."""
    row_h, left, right, top = 34, 230, 60, 28
    height = top + row_h * len(summary) + 24
    top_pct = max([float(v) for v in summary["pa_pct"].dropna()] + [10.0])
    scale_max = (int(top_pct) // 10 + 1) * 10
    plot_w = width - left - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" style="{FONT};font-size:11px">',
        f'<rect x="{left}" y="6" width="12" height="10" fill="#e6550d"/>'
        f'<text x="{left + 16}" y="15">Persistently absent (PA) %</text>'
        f'<rect x="{left + 190}" y="6" width="12" height="10" fill="#756bb1"/>'
        f'<text x="{left + 206}" y="15">Severely absent (SA) %</text>',
    ]
    for t in range(0, scale_max + 1, 10):
        gx = left + plot_w * t / scale_max
        parts.append(
            f'<line x1="{_num(gx)}" x2="{_num(gx)}" y1="{top}" y2="{height - 20}" '
            f'stroke="#eee"/><text x="{_num(gx)}" y="{height - 6}" text-anchor="middle" '
            f'fill="#555">{t}%</text>'
        )
    for i, rec in enumerate(summary.to_dict("records")):
        y0 = top + row_h * i
        parts.append(
            f'<text x="{left - 8}" y="{y0 + 19}" text-anchor="end" fill="#222">'
            f"{_e(str(rec['academy_name'])[:34])}</text>"
        )
        for j, (key, colour) in enumerate((("pa_pct", "#e6550d"), ("sa_pct", "#756bb1"))):
            v = 0.0 if pd.isna(rec[key]) else float(rec[key])
            w = plot_w * v / scale_max
            yy = y0 + 4 + j * 13
            parts.append(
                f'<rect x="{left}" y="{yy}" width="{_num(w)}" height="12" fill="{colour}"/>'
                f'<text x="{_num(left + w + 4)}" y="{yy + 10}" fill="#222">{v:.1f}%</text>'
            )
    parts.append("</svg>")
    return "".join(parts)


def stage_chart(summary: pd.DataFrame, width: int = 820) -> str:
    """Pupils per stage by academy, one stacked bar each (share of pupils on roll)."""
    row_h, left, right, top = 28, 230, 20, 30
    height = top + row_h * len(summary) + 10
    plot_w = width - left - right
    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {width} {height}" '
        f'width="{width}" height="{height}" role="img" style="{FONT};font-size:11px">'
    ]
    lx = left
    for colour, label in zip(STAGE_COLOURS, STAGE_LABELS, strict=True):
        parts.append(
            f'<rect x="{lx}" y="6" width="12" height="10" fill="{colour}"/>'
            f'<text x="{lx + 16}" y="15">{label}</text>'
        )
        lx += 90
    for i, rec in enumerate(summary.to_dict("records")):
        y0 = top + row_h * i
        total = sum(int(rec[s] or 0) for s in STAGES) or 1
        parts.append(
            f'<text x="{left - 8}" y="{y0 + 15}" text-anchor="end" fill="#222">'
            f"{_e(str(rec['academy_name'])[:34])}</text>"
        )
        x0 = float(left)
        for s, colour in zip(STAGES, STAGE_COLOURS, strict=True):
            count = int(rec[s] or 0)
            w = plot_w * count / total
            if count:
                parts.append(
                    f'<rect x="{_num(x0)}" y="{y0 + 2}" width="{_num(w)}" height="20" '
                    f'fill="{colour}"><title>{s}: {count}</title></rect>'
                )
                if w > 26:
                    fill = "#222" if s in ("stage_0", "stage_1") else "#fff"
                    parts.append(
                        f'<text x="{_num(x0 + w / 2)}" y="{y0 + 16}" text-anchor="middle" '
                        f'fill="{fill}">{count}</text>'
                    )
            x0 += w
    parts.append("</svg>")
    return "".join(parts)


CSS = """
body{font-family:Helvetica,Arial,sans-serif;color:#222;max-width:900px;margin:24px auto;
padding:0 16px;line-height:1.4}
h1{font-size:24px;margin:0 0 4px;color:#1f3864}h2{font-size:17px;margin:28px 0 8px;color:#1f3864;
border-bottom:2px solid #1f3864;padding-bottom:3px}
.sub{color:#555;margin:0 0 16px}
.kpis{display:flex;gap:12px;flex-wrap:wrap}
.kpi{flex:1;min-width:120px;background:#f3f6fb;border-radius:6px;padding:10px 12px}
.kpi b{display:block;font-size:26px;color:#1f3864}.kpi span{color:#555;font-size:13px}
.alert{background:#fdecea;border-left:5px solid #c0392b;padding:8px 12px;margin:12px 0}
.warn{background:#fff7e0;border-left:5px solid #d4ac0d;padding:8px 12px;margin:12px 0}
table{border-collapse:collapse;width:100%;font-size:13px}
th{background:#1f3864;color:#fff;text-align:left;padding:5px 6px;font-weight:600}
td{border-bottom:1px solid #ddd;padding:4px 6px;vertical-align:top}
td.n{text-align:right}tr.held td{background:#fdecea}
.status{border-radius:3px;padding:1px 6px;font-size:12px;color:#fff}
.ok{background:#2e7d32}.errors{background:#d4ac0d}.late{background:#e67e22}
.held-back{background:#c0392b}.no-data{background:#7f8c8d}
.note{color:#555;font-size:12px}
"""


def _status_badge(status: str) -> str:
    cls = status.replace(" ", "-")
    return f'<span class="status {_e(cls)}">{_e(status)}</span>'


def trust_report(
    *,
    trust_name: str,
    run_date: date,
    summary: pd.DataFrame,
    quality: pd.DataFrame,
    weekly: pd.DataFrame,
    trust_totals: dict,
) -> bytes:
    d = run_date.isoformat()
    held = quality[quality["held_back_reason"].astype(str) != ""]
    late = quality[(quality["delivery_for_run_date"] == "N") & (quality["held_back_reason"] == "")]
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>{_e(trust_name)}: attendance report {d}</title>",
        f"<style>{CSS}</style></head><body>",
        f"<h1>{_e(trust_name)}: attendance</h1>",
        f'<p class="sub">As of {run_date.strftime("%A %d %B %Y")} (academic year to date). '
        f"{len(summary)} academies.</p>",
        '<div class="kpis">',
        f'<div class="kpi"><b>{_fmt_pct(trust_totals["attendance_pct"])}</b>'
        "<span>attendance, year to date</span></div>",
        f'<div class="kpi"><b>{_fmt_pct(trust_totals["attendance_pct_on_d"])}</b>'
        "<span>attendance on the day</span></div>",
        f'<div class="kpi"><b>{trust_totals["pa_count"]:,}</b><span>persistently absent '
        f"({_fmt_pct(trust_totals['pa_pct'])})</span></div>",
        f'<div class="kpi"><b>{trust_totals["sa_count"]:,}</b><span>severely absent '
        f"({_fmt_pct(trust_totals['sa_pct'])})</span></div>",
        f'<div class="kpi"><b>{trust_totals["pupils"]:,}</b><span>pupils on roll</span></div>',
        "</div>",
    ]
    for rec in held.to_dict("records"):
        out.append(
            f'<div class="alert"><b>Held back today: {_e(rec["academy_name"])}</b> '
            f"({_e(rec['urn'])}). {_e(rec['held_back_reason'])}. No DfE or LA share and no "
            "priority list were published for it.</div>"
        )
    for rec in late.to_dict("records"):
        out.append(
            f'<div class="warn"><b>No delivery for {d}: {_e(rec["academy_name"])}</b> '
            f"({_e(rec['urn'])}). Its figures stop at the last delivery received.</div>"
        )
    names = dict(zip(summary["urn"], summary["academy_name"], strict=True))
    series = [(urn, names.get(urn, urn)) for urn in summary["urn"]] + [("trust", "Trust")]
    out += [
        "<h2>Attendance by academy, week by week</h2>",
        line_chart(weekly, series),
        "<h2>Persistent and severe absence by academy</h2>",
        bar_chart_pa_sa(summary),
        "<h2>Pupils per stage of the attendance policy</h2>",
        stage_chart(summary),
        "<h2>Academies</h2>",
        "<table><tr><th>Academy</th><th>Pupils</th><th>Attendance YTD</th><th>On the day</th>"
        "<th>PA</th><th>SA</th><th>At a stage</th><th>Data</th></tr>",
    ]
    for rec in summary.to_dict("records"):
        staged = sum(int(rec[s] or 0) for s in STAGES[1:])
        cls = ' class="held"' if rec.get("held_back_reason") else ""
        out.append(
            f"<tr{cls}><td>{_e(rec['academy_name'])}<br><span class='note'>URN {_e(rec['urn'])}, "
            f"{_e(rec['phase'])}, LA {_e(rec['la_code'])}</span></td>"
            f'<td class="n">{int(rec["pupils_on_roll"]):,}</td>'
            f'<td class="n">{_fmt_pct(rec["attendance_pct_ytd"])}</td>'
            f'<td class="n">{_fmt_pct(rec["attendance_pct_on_d"])}</td>'
            f'<td class="n">{int(rec["pa_count"])} ({_fmt_pct(rec["pa_pct"])})</td>'
            f'<td class="n">{int(rec["sa_count"])} ({_fmt_pct(rec["sa_pct"])})</td>'
            f'<td class="n">{staged}</td>'
            f"<td>{_status_badge(str(rec['data_quality_status']))}</td></tr>"
        )
    out += [
        "</table>",
        "<h2>Data quality</h2>",
        "<table><tr><th>Academy</th><th>Deliveries</th><th>Marks loaded</th><th>Rejected</th>"
        "<th>Missing marks</th><th>Late / none</th><th>Delivery for the day</th>"
        "<th>Held back</th></tr>",
    ]
    for rec in quality.to_dict("records"):
        reasons = rec["rejection_reasons"]
        out.append(
            f"<tr><td>{_e(rec['academy_name'])}</td>"
            f'<td class="n">{int(rec["deliveries_received"])}'
            + (
                f" ({int(rec['deliveries_rejected'])} rejected)"
                if rec["deliveries_rejected"]
                else ""
            )
            + f'</td><td class="n">{int(rec["records_loaded"]):,}</td>'
            f'<td class="n">{int(rec["records_rejected"]):,}</td>'
            f'<td class="n">{int(rec["missing_marks"]):,}</td>'
            f'<td class="n">{int(rec["late_deliveries"])} / '
            f"{int(rec['school_days_without_delivery'])}</td>"
            f"<td>{_e(rec['delivery_for_run_date'])}</td>"
            f"<td>{_e(rec['held_back_reason']) or 'no'}</td></tr>"
        )
        if reasons:
            out.append(
                '<tr><td></td><td colspan="7" class="note">'
                f"Rejected because: {_e(reasons)}</td></tr>"
            )
    out += [
        "</table>",
        '<p class="note">Attendance is attended sessions over possible sessions, summed over '
        "pupils. PA: absence of 10% or more of possible sessions this year; SA: 50% or more. "
        "Late / none: school days whose delivery came on a later day / school days with no "
        "delivery on the day. Full figures: trust_summary and data_quality CSV files beside "
        "this report.</p>",
        "</body></html>",
        "",
    ]
    return "\n".join(out).encode("utf-8")

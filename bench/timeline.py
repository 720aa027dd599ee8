"""Where a measured run's time went, as a picture: `results/<case>_timeline.svg`.

One SVG per measured run (the full rebuild, the messy trust, the median run of each daily
case), drawn from what the harness records anyway: the run's phases (bench/worker.py), each
dbt node's start and end (dbt's run_results.json), and the process tree's memory and the
machine's busy cores sampled while it ran (bench/measure.py). Read top to bottom it says what
the tables cannot: which phase and which models the seconds went to, what ran beside what
(the data tests beside the chain of models), whether both cores were busy, and where the
memory peaked against the size's memory target (4 GB at M, 24 GB at L).

The SVG is drawn here, by hand, like the trust report's charts (exports/report.py): no plotting
library in the environment, and the same result gives the same bytes.
"""

from __future__ import annotations

from datetime import datetime
from html import escape
from pathlib import Path

from bench.datasets import MEMORY_TARGETS_GB

FONT = "font-family:Helvetica,Arial,sans-serif"
PHASE_COLOURS = {"ingest": "#4c78a8", "build": "#f58518", "export": "#54a24b"}
PHASE_LABELS = {"ingest": "ingest", "build": "dbt build", "export": "export"}
MODEL_COLOUR = "#f58518"
TEST_COLOUR = "#b279a2"
WIDTH, LEFT, RIGHT = 900, 230, 24
ROW, GAP = 15, 3
MAX_MODEL_ROWS = 10


def _unix(stamp: str) -> float:
    """dbt's ISO timestamps ('2026-12-05T03:45:12.145166Z') as seconds since the epoch."""
    return datetime.fromisoformat(stamp.replace("Z", "+00:00")).timestamp()


def dbt_spans(run_results: dict) -> list[dict]:
    """Each dbt node's span on the wall clock, from its first timing entry's start (compile)
    to its last one's end (execute): what the node occupied of the build, beside its
    execution_time. Nodes dbt skipped have no timing and are left out."""
    spans = []
    for r in run_results.get("results", []):
        timing = [t for t in r.get("timing", []) if t.get("started_at") and t.get("completed_at")]
        if not timing:
            continue
        kind, _, name = r["unique_id"].split(".", 2)
        spans.append(
            {
                "name": name,  # a test's keeps dbt's hash suffix: its names can repeat
                "kind": kind,
                "start": round(_unix(timing[0]["started_at"]), 3),
                "end": round(_unix(timing[-1]["completed_at"]), 3),
                "seconds": round(r.get("execution_time", 0.0), 2),
            }
        )
    return sorted(spans, key=lambda s: (s["start"], s["name"]))


def nice_step(total: float, ticks: int = 8) -> float:
    """A tick interval of 1, 2 or 5 times a power of ten giving about `ticks` ticks."""
    raw = max(total, 1e-9) / ticks
    power = 10.0 ** (len(str(int(raw))) - 1) if raw >= 1 else 0.1
    for factor in (1, 2, 5, 10):
        if raw <= factor * power:
            return factor * power
    return 10 * power


def _fmt_s(seconds: float) -> str:
    return f"{seconds:.1f} s"


class _Canvas:
    """The shared x scale (seconds from the run's start) and the SVG parts drawn so far."""

    def __init__(self, t0: float, total: float) -> None:
        self.t0, self.total = t0, max(total, 1e-9)
        self.plot_w = WIDTH - LEFT - RIGHT
        self.parts: list[str] = []

    def x(self, unix: float) -> float:
        offset = min(max(unix - self.t0, 0.0), self.total)
        return round(LEFT + self.plot_w * offset / self.total, 1)

    def rect(
        self, x0: float, x1: float, y: float, h: float, fill: str, title: str, op: float = 1.0
    ) -> None:
        width = max(round(x1 - x0, 1), 0.6)  # a node of a few milliseconds still shows
        opacity = "" if op == 1.0 else f' fill-opacity="{op}"'
        self.parts.append(
            f'<rect x="{x0}" y="{y}" width="{width}" height="{h}" fill="{fill}"{opacity}>'
            f"<title>{escape(title)}</title></rect>"
        )

    def panel(self, y: float, h: float) -> None:
        """The grey ground of a sampled series."""
        self.parts.append(
            f'<rect x="{LEFT}" y="{y}" width="{self.plot_w}" height="{h}" fill="#f7f7f7"/>'
        )

    def hline(self, y: float, stroke: str, dashed: bool = False) -> None:
        dash = ' stroke-dasharray="4 3"' if dashed else ""
        self.parts.append(
            f'<line x1="{LEFT}" x2="{LEFT + self.plot_w}" y1="{y}" y2="{y}" '
            f'stroke="{stroke}"{dash}/>'
        )

    def text(self, x: float, y: float, label: str, anchor: str = "end", fill: str = "") -> None:
        colour = f' fill="{fill}"' if fill else ""
        self.parts.append(
            f'<text x="{x}" y="{y}" text-anchor="{anchor}"{colour}>{escape(label)}</text>'
        )

    def polyline(
        self, times: list[float], values: list[float], y0: float, h: float, top: float, colour: str
    ) -> None:
        """A sampled series on a panel from y0 (its top) h high, scaled 0..top."""
        points = " ".join(
            f"{self.x(t)},{round(y0 + h - h * min(v, top) / top, 1)}"
            for t, v in zip(times, values, strict=True)
        )
        self.parts.append(
            f'<polyline points="{points}" fill="none" stroke="{colour}" stroke-width="1.5"/>'
        )


def _model_rows(spans: list[dict], total: float) -> tuple[list[dict], list[dict], list[dict]]:
    """The models worth a row each (the longest, at least 1% of the run, in the order they
    ran), the other models, and the data tests."""
    models = [s for s in spans if s["kind"] in ("model", "seed", "snapshot")]
    tests = [s for s in spans if s["kind"] == "test"]
    longest = sorted(models, key=lambda s: -(s["end"] - s["start"]))[:MAX_MODEL_ROWS]
    own = [s for s in longest if s["end"] - s["start"] >= 0.01 * total]
    own_names = {s["name"] for s in own}
    others = [s for s in models if s["name"] not in own_names]
    return sorted(own, key=lambda s: s["start"]), others, tests


def _draw_phases(c: _Canvas, phases: list, y: float) -> float:
    for name, start, end in phases:
        label = f"{PHASE_LABELS.get(name, name)} {_fmt_s(end - start)}"
        c.rect(c.x(start), c.x(end), y, 22, PHASE_COLOURS.get(name, "#999999"), label)
        if c.x(end) - c.x(start) > 7 * len(label):  # the label fits in the bar
            c.text((c.x(start) + c.x(end)) / 2, y + 15, label, "middle", "#ffffff")
    c.text(LEFT - 8, y + 15, "phases")
    return y + 22 + 12


def _draw_nodes(c: _Canvas, spans: list[dict], y: float) -> float:
    """A row for each long model, labelled with its execution time, then the other models
    and the data tests, each in one row (they overlap: dbt runs two at a time)."""
    own, others, tests = _model_rows(spans, c.total)
    rows = [(f"{s['name']} {_fmt_s(s['seconds'])}", [s], MODEL_COLOUR, 1.0) for s in own]
    if others:
        rows.append((f"other models ({len(others)})", others, MODEL_COLOUR, 0.55))
    if tests:
        rows.append((f"data tests ({len(tests)})", tests, TEST_COLOUR, 0.55))
    for label, members, colour, opacity in rows:
        for s in members:
            tip = f"{s['name']}: {_fmt_s(s['end'] - s['start'])}"
            c.rect(c.x(s["start"]), c.x(s["end"]), y, ROW, colour, tip, opacity)
        c.text(LEFT - 8, y + ROW - 3, label)
        y += ROW + GAP
    return y + 10


def memory_ticks(top: float) -> list[float]:
    """Gridlines of the memory panel (0..top GB): a few, at round numbers of gigabytes."""
    if top <= 1:
        step = 0.25
    elif top <= 2:
        step = 0.5
    elif top <= 8:
        step = 1.0
    else:
        step = 2.0 * int(top // 16 + 1)
    return [step * i for i in range(1, int(top / step + 1e-9) + 1)]


def _draw_memory(
    c: _Canvas, times: list[float], mb: list[float], result: dict, target: float | None, y: float
) -> float:
    """The process tree's memory in GB, with gridlines and the size's target dashed."""
    h = 80
    peak_gb = result.get("peak_tree_rss_mb", 0) / 1024
    top = max(target or 0.0, peak_gb, 0.1) * 1.1
    c.panel(y, h)
    for gb in memory_ticks(top):
        tick_y = round(y + h - h * gb / top, 1)
        c.hline(tick_y, "#e4e4e4")
        c.text(LEFT + 3, tick_y - 2, f"{gb:g}", "start", "#888888")
    if target:
        target_y = round(y + h - h * target / top, 1)
        c.hline(target_y, "#d62728", dashed=True)
        c.text(LEFT + c.plot_w - 4, target_y - 3, f"{target:g} GB target", "end", "#d62728")
    c.polyline(times, [v / 1024 for v in mb], y, h, top, "#1f77b4")
    c.text(LEFT - 8, y + 14, "memory, GB")
    peak = f"peak {peak_gb:.2f} ({result.get('peak_phase', '-')})"
    c.text(LEFT - 8, y + 28, peak, "end", "#555555")
    return y + h + 10


def _draw_cores(c: _Canvas, times: list[float], cores: list[float], n: int, y: float) -> float:
    h = 50
    c.panel(y, h)
    c.polyline(times, cores, y, h, n, "#2ca02c")
    c.text(LEFT - 8, y + 14, f"busy cores (of {n})")
    c.text(LEFT - 8, y + 28, f"mean {sum(cores) / len(cores):.2f}", "end", "#555555")
    return y + h + 10


def _axis(c: _Canvas, y: float) -> str:
    """Vertical gridlines at round seconds from the top of the phases down to y, labelled."""
    step = nice_step(c.total)
    parts = []
    for i in range(int(c.total / step + 1e-9) + 1):
        x = c.x(c.t0 + i * step)
        parts.append(f'<line x1="{x}" x2="{x}" y1="36" y2="{y}" stroke="#dddddd"/>')
        parts.append(f'<text x="{x}" y="{y + 12}" text-anchor="middle">{i * step:g}</text>')
    parts.append(
        f'<text x="{LEFT + c.plot_w / 2}" y="{y + 26}" text-anchor="middle">'
        "seconds from the run's start</text>"
    )
    return "".join(parts)


def timeline_svg(result: dict, title: str, memory_target_gb: float | None = None) -> str:
    """The timeline of one measured run (a result the harness saved) as an SVG document, with
    the memory target drawn when there is one."""
    phases = result.get("phase_spans_unix") or []
    if not phases:
        raise ValueError("the result has no phase spans (phase_spans_unix): nothing to draw")
    t0, t_end = phases[0][1], phases[-1][2]
    c = _Canvas(t0, t_end - t0)
    y = _draw_phases(c, phases, 40)
    y = _draw_nodes(c, [s for s in result.get("dbt_spans", []) if s["end"] >= t0], y)
    # samples from before the first phase (the worker's imports) or after the last are
    # outside the time axis
    samples = result.get("samples") or {}
    kept = [i for i, t in enumerate(samples.get("t") or []) if t0 <= t <= t_end]
    if kept:
        times = [samples["t"][i] for i in kept]
        mb = [samples["rss_mb"][i] for i in kept]
        y = _draw_memory(c, times, mb, result, memory_target_gb, y)
        if samples.get("cores_busy"):
            cores = [samples["cores_busy"][i] for i in kept]
            y = _draw_cores(c, times, cores, max(samples.get("cores", 2), 1), y)
    height = y + 34
    head = (
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {height}" '
        f'width="{WIDTH}" height="{height}" role="img" style="{FONT};font-size:11px">'
        f'<rect width="{WIDTH}" height="{height}" fill="#ffffff"/>'
        f'<text x="{LEFT}" y="22" style="font-size:13px;font-weight:bold">{escape(title)}</text>'
    )
    return head + _axis(c, y) + "".join(c.parts) + "</svg>\n"


def title_for(size: str, case: str, result: dict) -> str:
    """`M full: 142.6 s (ingest 79.6 / dbt 60.3 / export 2.8), 16c945e, 2026-12-05 03:30`."""
    phases = result.get("phases", {})
    split = " / ".join(
        f"{PHASE_LABELS.get(k, k).replace('dbt build', 'dbt')} {phases[k]:.1f}"
        for k in ("ingest", "build", "export")
        if k in phases
    )
    measured = result.get("measured") or {}
    where = ", ".join(v for v in (measured.get("code"), measured.get("finished_utc")) if v)
    return f"{size} {case}: {result['seconds']:.1f} s ({split})" + (f", {where}" if where else "")


def write_timeline(result: dict, size: str, case: str, path: Path) -> Path | None:
    """Draw a saved result's timeline to `path`; None for a result without phase spans
    (one saved before the timelines were recorded)."""
    if not result.get("phase_spans_unix"):
        return None
    title = title_for(size, case, result)
    path.write_text(timeline_svg(result, title, MEMORY_TARGETS_GB.get(size)))
    return path

"""The benchmark's timeline picture (bench/timeline.py), on a run made up by hand.

A run of 100 s (ingest 60, dbt build 30, export 10) on a plot 646 px wide (900 less the
230 px of labels and a 24 px margin): 6.46 px a second, so the phases' bars are 387.6, 193.8
and 64.6 px from x = 230, 617.6 and 811.4. No timing of a real run is looked at here.
"""

from __future__ import annotations

import calendar
import xml.etree.ElementTree as ET

import pytest

from bench.measure import busy_cores
from bench.timeline import (
    dbt_spans,
    memory_ticks,
    nice_step,
    timeline_svg,
    title_for,
    write_timeline,
)

SVG = "{http://www.w3.org/2000/svg}"
T0 = 1_000_000.0


def _result() -> dict:
    return {
        "seconds": 100.0,
        "phases": {"ingest": 60.0, "build": 30.0, "export": 10.0},
        "phase_spans_unix": [
            ["ingest", T0, T0 + 60],
            ["build", T0 + 60, T0 + 90],
            ["export", T0 + 90, T0 + 100],
        ],
        "peak_tree_rss_mb": 2048.0,
        "peak_phase": "ingest",
        "dbt_spans": [
            # 10 s: a row of its own; 0.5 s (under 1% of the run) goes with the other models
            {"name": "int_big", "kind": "model", "start": T0 + 62, "end": T0 + 72, "seconds": 9.8},
            {
                "name": "stg_small",
                "kind": "model",
                "start": T0 + 61,
                "end": T0 + 61.5,
                "seconds": 0.4,
            },
            {"name": "unique_x", "kind": "test", "start": T0 + 73, "end": T0 + 75, "seconds": 2.0},
        ],
        "samples": {
            # the first and last fall outside the run's phases (imports, exit): left out
            "t": [T0 - 2, T0, T0 + 50, T0 + 100, T0 + 101],
            "rss_mb": [100.0, 1024.0, 2048.0, 1024.0, 50.0],
            "cores_busy": [0.5, 2.0, 1.0, 1.5, 0.1],
            "every_s": 0.5,
            "cores": 2,
        },
        "measured": {"code": "abc1234", "finished_utc": "2026-12-05 03:30"},
    }


def _rects(root: ET.Element) -> dict[str, tuple[float, float, float, float]]:
    """Every bar by its tooltip: x, y, width, height."""
    out = {}
    for rect in root.iter(f"{SVG}rect"):
        title = rect.find(f"{SVG}title")
        if title is not None:
            out[title.text] = tuple(float(rect.get(k)) for k in ("x", "y", "width", "height"))
    return out


def test_the_phases_and_nodes_are_placed_on_the_time_axis():
    root = ET.fromstring(timeline_svg(_result(), "t"))
    bars = _rects(root)
    assert bars["ingest 60.0 s"][0::2] == (230.0, 387.6)
    assert bars["dbt build 30.0 s"][0::2] == (617.6, 193.8)
    assert bars["export 10.0 s"][0::2] == (811.4, 64.6)
    # int_big from 62 to 72 s: x = 230 + 62 * 6.46 = 630.5, 64.6 px wide
    assert bars["int_big: 10.0 s"][0::2] == (630.5, 64.6)
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "int_big 9.8 s" in labels  # the row says the node's own execution time
    assert "other models (1)" in labels and "data tests (1)" in labels
    assert "stg_small 0.4 s" not in labels


def test_memory_and_cores_are_drawn_within_the_run():
    root = ET.fromstring(timeline_svg(_result(), "t", memory_target_gb=4.0))
    memory, cores = [
        [tuple(map(float, p.split(","))) for p in line.get("points").split()]
        for line in root.iter(f"{SVG}polyline")
    ]
    # three samples inside the run, at 0, 50 and 100 s
    assert [x for x, _ in memory] == [230.0, 553.0, 876.0]
    panels = [r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#f7f7f7"]
    y0, h = float(panels[0].get("y")), float(panels[0].get("height"))
    top = 4.0 * 1.1  # the 4 GB target is above the 2 GB peak: the scale is the target's
    assert [round((y0 + h - y) / h * top, 2) for _, y in memory] == [1.0, 2.0, 1.0]
    y0, h = float(panels[1].get("y")), float(panels[1].get("height"))
    assert [round((y0 + h - y) / h * 2, 2) for _, y in cores] == [2.0, 1.0, 1.5]
    labels = [t.text for t in root.iter(f"{SVG}text")]
    assert "peak 2.00 (ingest)" in labels
    assert "mean 1.50" in labels  # (2.0 + 1.0 + 1.5) / 3
    assert "4 GB target" in labels


def test_the_memory_scale_is_the_peaks_without_a_target(tmp_path):
    root = ET.fromstring(timeline_svg(_result(), "t"))
    memory = next(root.iter(f"{SVG}polyline"))
    panel = next(r for r in root.iter(f"{SVG}rect") if r.get("fill") == "#f7f7f7")
    y0, h = float(panel.get("y")), float(panel.get("height"))
    peak_y = min(float(p.split(",")[1]) for p in memory.get("points").split())
    assert round((y0 + h - peak_y) / h * 2.0 * 1.1, 2) == 2.0  # the 2 GB peak, scale 2.2
    assert not any("target" in (t.text or "") for t in root.iter(f"{SVG}text"))
    # the harness draws each size's own target: L's is 24 GB, not M's 4
    write_timeline(_result(), "L", "full", tmp_path / "l.svg")
    labels = [t.text for t in ET.parse(tmp_path / "l.svg").getroot().iter(f"{SVG}text")]
    assert "24 GB target" in labels and "4 GB target" not in labels


def test_dbt_spans_come_from_run_results():
    run_results = {
        "results": [
            {
                "unique_id": "model.attendance.int_big",
                "execution_time": 9.8,
                "timing": [
                    {
                        "name": "compile",
                        "started_at": "2026-12-05T03:45:12.500000Z",
                        "completed_at": "2026-12-05T03:45:12.600000Z",
                    },
                    {
                        "name": "execute",
                        "started_at": "2026-12-05T03:45:12.600000Z",
                        "completed_at": "2026-12-05T03:45:22.500000Z",
                    },
                ],
            },
            # skipped after a failure: no timing, nothing to draw
            {"unique_id": "model.attendance.mart_x", "execution_time": 0.0, "timing": []},
        ]
    }
    start = calendar.timegm((2026, 12, 5, 3, 45, 12)) + 0.5
    assert dbt_spans(run_results) == [
        {"name": "int_big", "kind": "model", "start": start, "end": start + 10.0, "seconds": 9.8}
    ]


@pytest.mark.parametrize(
    ("total", "step"), [(142.6, 20.0), (6.9, 1.0), (13.0, 2.0), (632.1, 100.0), (2.5, 0.5)]
)
def test_the_axis_ticks_are_round_numbers(total, step):
    assert nice_step(total) == step


def test_busy_cores_and_title():
    assert busy_cores(75.0, 2) == 1.5
    assert title_for("M", "full", _result()) == (
        "M full: 100.0 s (ingest 60.0 / dbt 30.0 / export 10.0), abc1234, 2026-12-05 03:30"
    )


def test_a_result_without_phases_is_refused():
    with pytest.raises(ValueError, match="phase spans"):
        timeline_svg({"seconds": 1.0}, "t")


@pytest.mark.parametrize(
    ("top", "ticks"),
    [
        (0.52, [0.25, 0.5]),  # S: half a gigabyte still gets a scale
        (1.5, [0.5, 1.0, 1.5]),
        (4.4, [1.0, 2.0, 3.0, 4.0]),  # M against its 4 GB target
        (26.4, [4.0, 8.0, 12.0, 16.0, 20.0, 24.0]),  # L against its 24 GB
    ],
)
def test_the_memory_gridlines_are_round_gigabytes(top, ticks):
    assert memory_ticks(top) == ticks

"""Run one measured step (bench/worker.py) in a child process and watch its memory.

Peak memory is the largest sum of resident set sizes over the worker and all its descendants
(the ingestion process pool included), sampled every 50 ms with psutil; the kernel's own
high-water marks (ru_maxrss of the worker and of its largest child) are reported beside it,
and the phase of the step the peak fell in (`peak_phase`: ingest, build or export). Every half
second the tree's largest sum in that half second and the machine's busy cores (psutil's CPU
times: the whole machine's, since on two cores anything else running shows as lost speed) are
kept as `samples`, which the run's timeline draws (bench/timeline.py).
"""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import threading
import time
from datetime import date
from pathlib import Path

import psutil

from attendance.home import REPO_ROOT

SAMPLE_EVERY_S = 0.5  # the timeline's resolution: a few hundred points for a full rebuild


def _tree_rss(proc: psutil.Process) -> int:
    total = 0
    try:
        members = [proc, *proc.children(recursive=True)]
    except psutil.Error:
        return 0
    for p in members:
        with contextlib.suppress(psutil.Error):
            total += p.memory_info().rss
    return total


def measure_step(
    step: str,
    home: Path,
    run_date: date,
    out: Path,
    profile: Path | None = None,
    env: dict[str, str] | None = None,
) -> dict:
    """Run `python -m bench.worker <step>` and return its timings plus peak memory (MB)."""
    args = [step, "--home", str(home), "--date", run_date.isoformat(), "--out", str(out)]
    if profile is not None:
        args += ["--profile", str(profile)]
    return measure_module("bench.worker", args, out, env)


def measure_module(
    module: str, args: list[str], out: Path, env: dict[str, str] | None = None
) -> dict:
    """Run `python -m <module> <args>`, which writes a JSON object to `out`; add the wall time
    and the peak memory of its process tree."""
    out.parent.mkdir(parents=True, exist_ok=True)
    cmd = [sys.executable, "-m", module, *args]
    log_path = out.with_suffix(".log")
    started = time.perf_counter()
    with log_path.open("w") as log:
        child = subprocess.Popen(cmd, cwd=REPO_ROOT, stdout=log, stderr=subprocess.STDOUT, env=env)
        peak = 0
        peak_at = 0.0
        stop = threading.Event()
        samples: dict[str, list[float]] = {"t": [], "rss_mb": [], "cores_busy": []}

        def sample() -> None:
            nonlocal peak, peak_at
            proc = psutil.Process(child.pid)
            psutil.cpu_percent()  # the next call measures from here
            bucket_end, bucket_peak = time.time() + SAMPLE_EVERY_S, 0
            while not stop.is_set():
                rss = _tree_rss(proc)
                now = time.time()
                if rss > peak:
                    peak, peak_at = rss, now
                bucket_peak = max(bucket_peak, rss)
                if now >= bucket_end:
                    samples["t"].append(round(now, 2))
                    samples["rss_mb"].append(round(bucket_peak / 2**20, 1))
                    samples["cores_busy"].append(busy_cores(psutil.cpu_percent()))
                    bucket_end, bucket_peak = now + SAMPLE_EVERY_S, 0
                stop.wait(0.05)

        watcher = threading.Thread(target=sample, daemon=True)
        watcher.start()
        code = child.wait()
        stop.set()
        watcher.join()
    wall = time.perf_counter() - started
    if code != 0:
        raise RuntimeError(f"{' '.join(cmd)} failed ({code}); see {log_path}")
    result = json.loads(out.read_text())
    result["wall_seconds"] = wall  # includes interpreter start-up and imports
    result["peak_tree_rss_mb"] = peak / 2**20
    result["peak_phase"] = peak_phase(result.get("phase_spans_unix", []), peak_at)
    result["samples"] = {**samples, "every_s": SAMPLE_EVERY_S, "cores": os.cpu_count() or 1}
    out.write_text(json.dumps(result, indent=2))
    return result


def busy_cores(percent: float, cores: int | None = None) -> float:
    """psutil's machine-wide CPU percent (0-100 over all cores) as a number of busy cores."""
    return round(percent * (cores or os.cpu_count() or 1) / 100, 2)


def peak_phase(spans: list, peak_at: float) -> str:
    """The phase (the worker's `phase_spans_unix`: name, start, end) during which the memory
    peaked; `start-up` before the first (imports), `finish` after the last."""
    if not spans:
        return "-"
    for name, start, end in spans:
        if start <= peak_at <= end:
            return name
    return "start-up" if peak_at < spans[0][1] else "finish"

"""One measured step in its own process, so peak memory and interpreter start-up belong to the
step alone: `python -m bench.worker run --home H --date D [--profile out.prof]`.

It calls `attendance.pipeline.run_day`, the function the CLI and the DAG use, and times its
phases from the progress messages run_day prints (ingest, dbt build, export). `build` runs the
dbt build alone: the daily cases use it, untimed, to leave the warehouse as the previous day's
run left it (its saved parse and incremental state included). It writes one
JSON object to `--out`.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from datetime import date
from pathlib import Path


def _run(home: Path, run_date: date, step: str) -> dict:
    from attendance import pipeline
    from attendance.home import Home

    h = Home.resolve(home)
    marks: list[tuple[str, float]] = [("start", time.perf_counter())]
    if step == "build":
        pipeline.prepare(h)
        pipeline.build(h, run_date)
        marks.append(("build", time.perf_counter()))
    elif step == "ingest":
        urns = pipeline.prepare(h)
        list(pipeline.ingest_all(h, urns, run_date))  # a generator: consume it to do the work
        marks.append(("ingest", time.perf_counter()))
    else:

        def progress(message: str) -> None:
            text = message.strip()
            if text.startswith("building"):
                marks.append(("ingest", time.perf_counter()))
            elif text.startswith("exporting"):
                marks.append(("build", time.perf_counter()))

        done = pipeline.run_day(h, run_date, progress=progress)
        marks.append(("export", time.perf_counter()))
        loaded = sum(r["deliveries_loaded"] for r in done["ingestion"])
    phases = {name: t - marks[i][1] for i, (name, t) in enumerate(marks[1:])}
    result = {"seconds": marks[-1][1] - marks[0][1], "phases": phases}
    # The phases on the wall clock too, so that the parent can say in which one the
    # process tree's memory peaked (bench/measure.py).
    offset = time.time() - time.perf_counter()
    result["phase_spans_unix"] = [
        [name, marks[i][1] + offset, t + offset] for i, (name, t) in enumerate(marks[1:])
    ]
    if step == "run":
        result["deliveries_loaded"] = loaded  # new deliveries this run ingested
    return result


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(prog="python -m bench.worker")
    parser.add_argument("step", choices=["run", "ingest", "build"])
    parser.add_argument("--home", type=Path, required=True)
    parser.add_argument("--date", type=date.fromisoformat, required=True)
    parser.add_argument("--out", type=Path, required=True)
    parser.add_argument("--profile", type=Path, help="write a cProfile of the step here")
    args = parser.parse_args(argv)
    if args.profile:
        import cProfile

        prof = cProfile.Profile()
        prof.enable()
        result = _run(args.home, args.date, args.step)
        prof.disable()
        prof.dump_stats(args.profile)
    else:
        result = _run(args.home, args.date, args.step)
    result["maxrss_self_mb"] = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    result["maxrss_children_mb"] = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
    args.out.write_text(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()

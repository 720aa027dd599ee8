"""Running the dbt project in-process for a run date (the CLI path; the DAG uses cosmos).

Start-up is most of a small daily build: dbt discards its partial-parse state whenever
`--vars` change, and the run date is a var that changes every day, so each run used to parse
the whole project again (about 19 s). The run date is only read when a node is compiled for
execution (`var()` in SQL is rendered again then, with the invocation's own `--vars`); it
shapes no ref, source or config. So a manifest parsed once is valid for every run date, and
is reused through `dbtRunner(manifest=...)`: kept in memory for the life of the process (a
backfill) and on disk in the home's target folder (the next daily run), keyed by everything
that does shape the parse (the project's files, the home, the dbt version).
"""

from __future__ import annotations

import functools
import hashlib
import importlib.metadata
import json
import logging
import os
from datetime import date
from pathlib import Path
from typing import Any

from attendance.heavy_imports import collector_paused
from attendance.home import REPO_ROOT, Home

log = logging.getLogger(__name__)

DBT_PROJECT = REPO_ROOT / "dbt_project"
MANIFEST_CACHE = "attendance_manifest.msgpack"

_parsed: dict[str, Any] = {}  # parse key -> Manifest, for the life of the process


class DbtFailed(RuntimeError):
    pass


def dbt_env(home: Home) -> dict[str, str]:
    """Environment dbt needs: where the home is; no telemetry."""
    return {
        "ATTENDANCE_HOME": str(home.root),
        "DBT_SEND_ANONYMOUS_USAGE_STATS": "False",
        "DO_NOT_TRACK": "1",
    }


def dbt_vars(run_date: date) -> str:
    return json.dumps({"run_date": run_date.isoformat()})


def run_dbt(home: Home, command: str, run_date: date, extra: list[str] | None = None) -> None:
    """Invoke dbt (`build`, `parse`, ...) in this process and raise if anything failed."""
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(home))
    try:
        if command == "parse":
            result = dbtRunner().invoke(dbt_args(home, command, run_date, extra))
        else:
            manifest = parsed_manifest(home, run_date)
            args = dbt_args(home, command, run_date, [*(extra or []), *_NO_ARTEFACTS])
            result = dbtRunner(manifest=manifest).invoke(args)
            _write_run_results(home, result.result)
    finally:
        _release_duckdb()
    if not result.success:
        raise DbtFailed(f"dbt {command} failed for {run_date}: {result.exception or 'see dbt log'}")


def dbt_args(home: Home, command: str, run_date: date, extra: list[str] | None = None) -> list[str]:
    """The command line of every invocation: this project and profile, the home's own target
    and log folders, the run date as a var."""
    return [
        command,
        "--project-dir",
        str(DBT_PROJECT),
        "--profiles-dir",
        str(DBT_PROJECT),
        "--target-path",
        str(target_path(home)),
        "--log-path",
        str(home.warehouse / "dbt_logs"),
        "--vars",
        dbt_vars(run_date),
        "--quiet",
        *(extra or []),
    ]


# dbt writes its artefacts at the end of a run, on the build's critical path: the run's results
# and the whole manifest again (manifest.json and semantic_manifest.json, about 0.4 s at this
# project's size). Nothing reads a home's manifest.json (the DAG renders from the project's own,
# written by `attendance setup`; the run reuses the cached parse), so runs write only
# run_results.json (`_write_run_results`), which operators and the benchmark read.
_NO_ARTEFACTS = ["--no-write-json"]
RUN_RESULTS = "run_results.json"


def _write_run_results(home: Home, result: Any) -> None:
    """dbt's run_results.json for a run invoked with `_NO_ARTEFACTS`, failed runs included
    (their results say which node failed)."""
    if hasattr(result, "write"):
        result.write(str(target_path(home) / RUN_RESULTS))


def target_path(home: Home) -> Path:
    """Compiled artefacts per home, so two homes (tests, demo) never share a target folder."""
    return home.warehouse / "dbt_target"


def warm_up(home: Home, run_date: date | None = None) -> None:
    """Import dbt and its DuckDB adapter and load this home's saved manifest into memory now.

    That is most of dbt's start-up (about 1.5 s), and a caller with other work in flight can
    pay it there: `run_day` calls this in a thread while its worker processes ingest. With
    `run_date`, a home with no saved parse (a new home, its first full rebuild; a changed
    project) is parsed here too, about 3 s that otherwise opened the build (M's full
    rebuild: see docs/benchmarks.md); without it, only a saved parse is loaded. Any failure
    is left for the build to meet and report. With the garbage collector paused
    (attendance.heavy_imports)."""
    try:
        with collector_paused():
            import dbt.adapters.duckdb  # noqa: F401
            from dbt.cli.main import dbtRunner  # noqa: F401

            parsed_manifest(home, run_date, parse=run_date is not None)
    except Exception:  # the build will raise it where it can be reported
        log.debug("dbt warm-up failed; the build starts dbt itself", exc_info=True)


def parsed_manifest(home: Home, run_date: date | None = None, parse: bool = True) -> Any:
    """The project's parsed manifest for this home: from memory, from the home's cache file,
    or parsed now (and cached) when the project, the home or dbt changed since (None instead,
    with `parse` False)."""
    key = _parse_key(home)
    if key in _parsed:
        return _parsed[key]
    cache = target_path(home) / MANIFEST_CACHE
    manifest = _load(cache, key)
    if manifest is None:
        if not parse or run_date is None:
            return None
        manifest = _parse(home, run_date)
        _save(cache, key, manifest)
    _parsed.clear()  # one home at a time: do not hold every test home's manifest
    _parsed[key] = manifest
    return manifest


@functools.cache
def dbt_version() -> str:
    """dbt-core's version, from its installed metadata: the same string as
    `dbt.version.__version__`, whose import loads the dbt package (0.23 s), and the build
    fingerprint is written before every daily run's ingestion, on its critical path."""
    return importlib.metadata.version("dbt-core")


def _parse_key(home: Home) -> str:
    """What a parse depends on: the project's files (models, macros, tests, seeds, config),
    the home (sources and the profile read ATTENDANCE_HOME) and dbt's version."""
    digest = hashlib.sha256(f"{dbt_version()}\0{home.root}".encode())
    _digest_files(digest, DBT_PROJECT, skip=("target", "logs", "dbt_packages"))
    return digest.hexdigest()


def _digest_files(digest: Any, folder: Path, skip: tuple[str, ...] = ()) -> None:
    """Feed every file under `folder` (name and bytes, in a fixed order) into `digest`."""
    for path in sorted(folder.rglob("*")):
        relative = path.relative_to(folder)
        if path.is_file() and relative.parts[0] not in skip:
            digest.update(f"\0{relative}\0".encode())
            digest.update(path.read_bytes())


BUILD_FINGERPRINT = "build_fingerprint.txt"


def write_build_fingerprint(home: Home) -> str:
    """Record what every incremental model's kept rows depend on besides the marks: the dbt
    project (models, macros, seeds such as the code tables, thresholds) and the home's
    configuration (calendars, policies, the trust's academies). The marts compare it with the
    fingerprint their previous build recorded and rebuild in full when it differs, so a new
    policy, calendar or model version never leaves rows computed under the old one behind
    (dbt_project/macros/incremental.sql). Written by rename: a reader never sees half of it."""
    digest = hashlib.sha256(dbt_version().encode())
    _digest_files(digest, DBT_PROJECT, skip=("target", "logs", "dbt_packages"))
    digest.update(b"\0config\0")
    _digest_files(digest, home.config)
    value = digest.hexdigest()
    path = home.warehouse / BUILD_FINGERPRINT
    if not path.exists() or path.read_text() != value:
        tmp = path.with_suffix(".tmp")
        tmp.write_text(value)
        tmp.replace(path)
    return value


def _load(cache: Path, key: str) -> Any:
    from dbt.contracts.graph.manifest import Manifest
    from dbt.parser.manifest import extended_mashumuro_decoder

    key_file = cache.with_suffix(".key")
    if not (cache.exists() and key_file.exists() and key_file.read_text() == key):
        return None
    try:
        manifest = Manifest.from_msgpack(cache.read_bytes(), decoder=extended_mashumuro_decoder)
    except Exception:  # an unreadable cache is only a slower run: parse again
        return None
    # what dbt itself rebuilds when it reuses a saved manifest unchanged (parser/manifest.py)
    manifest.build_parent_and_child_maps()
    manifest.build_group_map()
    return manifest


def _parse(home: Home, run_date: date) -> Any:
    from dbt.cli.main import dbtRunner

    os.environ.update(dbt_env(home))
    result = dbtRunner().invoke(dbt_args(home, "parse", run_date))
    if not result.success:
        raise DbtFailed(f"dbt parse failed: {result.exception or 'see dbt log'}")
    return result.result


def _save(cache: Path, key: str, manifest: Any) -> None:
    """Written by rename, so a run that dies half-way never leaves a torn cache behind."""
    from dbt.parser.manifest import extended_mashumaro_encoder

    cache.parent.mkdir(parents=True, exist_ok=True)
    tmp = cache.with_suffix(".tmp")
    tmp.write_bytes(manifest.to_msgpack(extended_mashumaro_encoder))
    tmp.replace(cache)
    cache.with_suffix(".key").write_text(key)


def _release_duckdb() -> None:
    from exports.warehouse import release_dbt_handle

    release_dbt_handle()

"""The benchmark trusts: generated once with the project's own generator and cached in the
git-ignored `bench/.cache/<size>/`, so every run measures the same bytes.

A measured run never writes into the cache: it gets a fresh home whose `config/` is copied and
whose `landing/` is a symlink to the cached landing area (the platform never modifies landing
files, SPEC 3).
"""

from __future__ import annotations

import json
import shutil
import time
from dataclasses import asdict, dataclass
from datetime import date
from pathlib import Path

CACHE = Path(__file__).resolve().parent / ".cache"

# One academic year: the generator's calendar decides which of these days are school days.
YEAR_START = date(2025, 9, 1)
YEAR_END = date(2026, 7, 31)


@dataclass(frozen=True)
class Size:
    name: str
    academies: int
    pupils: int
    start: date = YEAR_START
    end: date = YEAR_END
    seed: int = 7


SIZES = {
    # `micro` exists for the smoke test: two academies, a few weeks.
    "micro": Size("micro", 2, 60, date(2025, 9, 1), date(2025, 9, 19)),
    "S": Size("S", 1, 1_000),
    "M": Size("M", 50, 40_000),
    "L": Size("L", 300, 150_000),
}

# The memory targets (#7): M's peak under 4 GB, L within 24 GB. The timelines draw
# them (bench/timeline.py); kept apart from Size, whose fields stamp the generated trusts.
MEMORY_TARGETS_GB = {"M": 4.0, "L": 24.0}


def cached_home(size: Size, cache: Path = CACHE, log=print) -> Path:
    """The pristine generated home for `size`, generating it on first use."""
    root = cache / size.name / "source"
    stamp = cache / size.name / "generated.json"
    wanted = {k: str(v) for k, v in asdict(size).items()}
    if stamp.exists():
        meta = json.loads(stamp.read_text())
        if meta.get("size") == wanted:
            return root
    from attendance.generate import generate_trust

    if root.exists():
        shutil.rmtree(root)
    log(f"generating {size.name}: {size.academies} academies, {size.pupils} pupils ...")
    t0 = time.perf_counter()
    summary = generate_trust(
        root,
        academies=size.academies,
        pupils=size.pupils,
        start=size.start,
        end=size.end,
        seed=size.seed,
    )
    seconds = time.perf_counter() - t0
    stamp.write_text(json.dumps({"size": wanted, "summary": summary, "seconds": seconds}, indent=2))
    log(f"  generated in {seconds:.0f} s: {summary['files']} files, {summary['marks']} marks")
    return root


def generation_summary(size: Size, cache: Path = CACHE) -> dict:
    return json.loads((cache / size.name / "generated.json").read_text())


def fresh_home(source: Path, dest: Path) -> Path:
    """A new, empty deployment reading the cached landing files in place."""
    if dest.exists():
        shutil.rmtree(dest)
    dest.mkdir(parents=True)
    shutil.copytree(source / "config", dest / "config")
    (dest / "landing").symlink_to((source / "landing").resolve(), target_is_directory=True)
    return dest

"""The synthetic trust's registry: which academies exist and how each one differs.

Academies are planned by rule from their index, so that every variation the platform must handle
(four export formats, five policies, several LAs, two register-time conventions, file encodings,
a calendar override) appears even in a small trust, and a 4-academy demo has one of each format.
"""

from __future__ import annotations

import shutil
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from attendance.config import SOURCE_FORMATS
from attendance.generate.calendars import dump_yaml
from attendance.home import REPO_ROOT

TRUST_NAME = "Vale and Millbrook Learning Trust"
LA_CODES = ("931", "937", "830", "916")
POLICIES = ("stowe_valley", "vale_millbrook", "banded_pathway", "four_six_ten", "ccs")
OVERRIDE_CALENDAR_INDEX = 2  # the academy (when there are >= 3) with its own INSET day

PLACES = (
    "Millbrook",
    "Stowe Valley",
    "Kingsmead",
    "Ashcombe",
    "Brookfield",
    "Hollins",
    "Westfield",
    "Larkrise",
    "Thornbury",
    "Elmhurst",
    "Riverside",
    "Oakwood",
    "Hazelgrove",
    "Fernhill",
    "Marlowe",
    "Copperfield",
    "Beacon Hill",
    "Greenacre",
    "Harrowden",
    "Linden",
    "Moorside",
    "Northgate",
    "Orchard Vale",
    "Pennington",
    "Queensbury",
    "Redcliffe",
    "Saxonbury",
    "Tamworth Road",
    "Upton Park",
    "Valley Road",
    "Wickham",
    "Yardley",
    "Ambleside",
    "Bramcote",
    "Chilwell",
    "Dovedale",
    "Eastwood",
    "Foxhill",
    "Glenfield",
    "Hatherley",
    "Ivybridge",
    "Jubilee",
    "Keswick",
    "Lowfield",
    "Meadowbank",
    "Netherfield",
    "Oldbury",
    "Parkside",
    "Quarry Hill",
    "Rushden",
    "Sandown",
    "Trentside",
    "Whitmore",
    "Woodlands",
)

# Register times (HH:MM): start, late marks from, register closes ('U' after).
SEED_004_TIMES = ("08:45", "09:00", "09:15", "13:00", "13:15", "13:30")  # CCS, seed 004
SEED_001_TIMES = ("08:40", "08:50", "09:15", "13:00", "13:15", "13:30")  # Millbrook, seed 001
PRIMARY_TIMES = ("08:45", "08:55", "09:15", "13:05", "13:15", "13:35")
SECONDARY_TIMES = ("08:30", "08:40", "09:00", "13:30", "13:40", "14:00")
REGISTER_KEYS = ("am_start", "am_late", "am_close", "pm_start", "pm_late", "pm_close")

# Year groups each phase teaches: NC year as an integer, -2 = N1, -1 = N2, 0 = Reception.
SIZE_RANGES = {
    "primary": (200, 450),
    "secondary": (900, 1500),
    "all-through": (1300, 1900),
    "special": (100, 200),
}


@dataclass(frozen=True)
class AcademyPlan:
    """Everything the generator decides about one academy, including what the YAML omits."""

    index: int
    urn: str
    laestab: str
    la_code: str
    name: str
    phase: str
    source_format: str
    policy: str
    calendar: str
    registers: dict[str, str]
    size: int
    nc_low: int
    nc_high: int
    encoding: str  # of the register exports (rolls are always UTF-8, SPEC 3.1)
    extract_offset_min: int  # minutes after 18:30 the MIS export runs

    @property
    def estab(self) -> str:
        return self.laestab[3:]

    def minutes(self, key: str) -> int:
        """A register time as minutes after midnight."""
        hh, mm = self.registers[key].split(":")
        return int(hh) * 60 + int(mm)


def _phase(i: int, n: int) -> str:
    if i == 4 and n >= 5:
        return "all-through"
    if i == 9 and n >= 10:
        return "special"
    return "secondary" if i % 4 == 1 else "primary"


def _nc_range(i: int, phase: str) -> tuple[int, int]:
    if phase == "primary":
        return (-2 if i % 3 == 0 else 0), 6  # every third primary runs a nursery
    if phase == "secondary":
        return 7, (13 if (i // 4) % 2 == 0 else 11)  # half the secondaries have a sixth form
    if phase == "all-through":
        return 0, 13
    return 0, 14  # special schools teach ages 4 to 19


def _encoding(i: int, fmt: str) -> str:
    if fmt == "long_csv":
        return "cp1252" if (i // 4) % 2 == 0 else "utf-8"
    if fmt == "arbor_csv":
        return "utf-8-sig"
    return "utf-8"


def _registers(policy: str, phase: str) -> dict[str, str]:
    if policy == "ccs":
        times = SEED_004_TIMES
    elif policy == "vale_millbrook":
        times = SEED_001_TIMES
    else:
        times = PRIMARY_TIMES if phase == "primary" else SECONDARY_TIMES
    return dict(zip(REGISTER_KEYS, times, strict=True))


def _name(i: int, phase: str) -> str:
    place = PLACES[i % len(PLACES)]
    if i >= len(PLACES):
        place = f"{place} {['North', 'South', 'East', 'West'][(i // len(PLACES) - 1) % 4]}"
    suffix = {
        "primary": "Primary School" if i % 2 == 0 else "Primary Academy",
        "secondary": "Academy",
        "all-through": "All-Through School",
        "special": "Special School",
    }[phase]
    return f"{place} {suffix}"


def _split_sizes(phases: list[str], total: int, rng: np.random.Generator) -> list[int]:
    """Split the trust total unevenly: draw a plausible size per phase, then scale to `total`
    with largest-remainder rounding so the sizes add up exactly."""
    raw = np.array([rng.uniform(*SIZE_RANGES[p]) for p in phases])
    share = raw / raw.sum() * total
    sizes = np.floor(share).astype(int)
    short = total - int(sizes.sum())
    order = np.argsort(-(share - sizes), kind="stable")
    sizes[order[:short]] += 1
    return [int(max(s, 5)) for s in sizes]


def calendar_name(i: int) -> str:
    """The one academy with its own calendar names it after itself; the rest share 'default'."""
    return (
        PLACES[i % len(PLACES)].lower().replace(" ", "_")
        if i == OVERRIDE_CALENDAR_INDEX
        else "default"
    )


def plan_trust(academies: int, pupils: int, seed: int) -> list[AcademyPlan]:
    """The academies of the trust, deterministic in (`academies`, `pupils`, `seed`)."""
    if academies < 1:
        raise ValueError("a trust needs at least one academy")
    if pupils < 5 * academies:
        raise ValueError("need at least 5 pupils per academy")
    rng = np.random.default_rng([seed, 1])
    phases = [_phase(i, academies) for i in range(academies)]
    sizes = _split_sizes(phases, pupils, rng)
    plans = []
    for i, phase in enumerate(phases):
        la = LA_CODES[(i // 2) % len(LA_CODES)]
        estab = {"primary": 2000, "secondary": 4000, "all-through": 4500, "special": 7000}[phase]
        fmt = SOURCE_FORMATS[i % len(SOURCE_FORMATS)]
        policy = POLICIES[i % len(POLICIES)]
        low, high = _nc_range(i, phase)
        plans.append(
            AcademyPlan(
                index=i,
                urn=f"{140101 + i:06d}",
                laestab=f"{la}{estab + i:04d}",
                la_code=la,
                name=_name(i, phase),
                phase=phase,
                source_format=fmt,
                policy=policy,
                calendar=calendar_name(i) if academies >= 3 else "default",
                registers=_registers(policy, phase),
                size=sizes[i],
                nc_low=low,
                nc_high=high,
                encoding=_encoding(i, fmt),
                extract_offset_min=(i * 4) % 20,
            )
        )
    return plans


def write_trust(config_dir: Path, plans: list[AcademyPlan]) -> None:
    """Write config/trust.yml in the SPEC 2 shape."""
    doc = {
        "trust": TRUST_NAME,
        "academies": [
            {
                "urn": p.urn,
                "laestab": p.laestab,
                "name": p.name,
                "phase": p.phase,
                "la_code": p.la_code,
                "source_format": p.source_format,
                "policy": p.policy,
                "calendar": p.calendar,
                "registers": dict(p.registers),
            }
            for p in plans
        ],
    }
    header = "# Synthetic trust written by `attendance generate`; edit freely.\n"
    config_dir.mkdir(parents=True, exist_ok=True)
    (config_dir / "trust.yml").write_text(header + dump_yaml(doc), encoding="utf-8")


def copy_policies(config_dir: Path) -> list[str]:
    """Copy the shipped policy files; the generator never invents policy content itself."""
    source = REPO_ROOT / "config" / "policies"
    target = config_dir / "policies"
    target.mkdir(parents=True, exist_ok=True)
    copied = []
    if source.is_dir():
        for path in sorted(source.glob("*.yml")):
            shutil.copyfile(path, target / path.name)
            copied.append(path.name)
    return copied

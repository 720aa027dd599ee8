"""Trust registry, calendars and policies: configuration as data (SPEC 2).

The YAML is written by hand by operators, so loading validates it and names the file and the
key at fault instead of failing later with a KeyError deep in a pipeline.
"""

from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

import yaml

from attendance.home import Home

SOURCE_FORMATS = ("long_csv", "arbor_csv", "weekly_grid_csv", "api_json")
PHASES = ("nursery", "primary", "secondary", "all-through", "special")
REGISTER_KEYS = ("am_start", "am_late", "am_close", "pm_start", "pm_late", "pm_close")


class ConfigError(ValueError):
    """A configuration file is missing or wrong; the message names the file and the key."""


@dataclass(frozen=True)
class Academy:
    urn: str
    laestab: str
    name: str
    phase: str
    la_code: str
    source_format: str
    policy: str
    calendar: str
    registers: dict[str, str] = field(default_factory=dict)
    # Local MIS codes (SIMS 7/8/9, sub-codes such as I01) to DfE codes; optional per academy.
    code_map: dict[str, str] = field(default_factory=dict)

    @property
    def estab(self) -> str:
        return self.laestab[3:]


@dataclass(frozen=True)
class Trust:
    name: str
    academies: tuple[Academy, ...]

    def academy(self, urn: str) -> Academy:
        for a in self.academies:
            if a.urn == urn:
                return a
        raise KeyError(f"no academy with URN {urn} in the trust registry")

    @property
    def urns(self) -> list[str]:
        return [a.urn for a in self.academies]


@functools.lru_cache(maxsize=64)
def _parse_yaml(text: str) -> Any:
    """Parsed once per process per distinct text: PyYAML's pure-Python parser takes 0.15 s for
    a 50-academy trust.yml, and every academy's ingestion reads it again. Keyed by the text
    itself, so an edited file is parsed afresh."""
    return yaml.safe_load(text)


def _read_yaml(path: Path) -> Any:
    if not path.exists():
        raise ConfigError(f"{path}: file not found")
    try:
        # A copy: callers may change what they get (load_policy does), never the cached one.
        return copy.deepcopy(_parse_yaml(path.read_text(encoding="utf-8")))
    except yaml.YAMLError as exc:
        raise ConfigError(f"{path}: not valid YAML: {exc}") from exc


def _parse_academy(raw: dict[str, Any], where: str) -> Academy:
    def need(key: str) -> str:
        if key not in raw or raw[key] in (None, ""):
            raise ConfigError(f"{where}: missing '{key}'")
        return str(raw[key])

    urn, laestab, la_code = need("urn"), need("laestab"), need("la_code")
    if not re.fullmatch(r"\d{6}", urn):
        raise ConfigError(f"{where}: urn must be 6 digits, got {urn!r}")
    if not re.fullmatch(r"\d{7}", laestab):
        raise ConfigError(f"{where}: laestab must be 7 digits, got {laestab!r}")
    if not re.fullmatch(r"\d{3}", la_code) or not laestab.startswith(la_code):
        raise ConfigError(f"{where}: la_code must be the 3 digits laestab starts with")
    fmt = need("source_format")
    if fmt not in SOURCE_FORMATS:
        raise ConfigError(f"{where}: source_format {fmt!r} is not one of {SOURCE_FORMATS}")
    phase = need("phase")
    if phase not in PHASES:
        raise ConfigError(f"{where}: phase {phase!r} is not one of {PHASES}")
    registers = {k: str(v) for k, v in (raw.get("registers") or {}).items()}
    for key in REGISTER_KEYS:
        if key in registers and not re.fullmatch(r"\d{2}:\d{2}", registers[key]):
            raise ConfigError(f"{where}: registers.{key} must be HH:MM")
    code_map = _parse_code_map(raw.get("code_map"), where)
    return Academy(
        urn=urn,
        laestab=laestab,
        name=need("name"),
        phase=phase,
        la_code=la_code,
        source_format=fmt,
        policy=need("policy"),
        calendar=str(raw.get("calendar") or "default"),
        registers=registers,
        code_map=code_map,
    )


def _parse_code_map(raw: Any, where: str) -> dict[str, str]:
    """`code_map: {"I01": "I", "7": "/"}`: each local code an academy's MIS writes, and the
    DfE code it stands for. A target that is no DfE code is a configuration error, so a typo
    here cannot turn marks into unknown codes silently."""
    if raw in (None, {}):
        return {}
    if not isinstance(raw, dict):
        raise ConfigError(f"{where}: code_map must be a mapping of local code to DfE code")
    from attendance.codes import code_table

    known = set(code_table()["code"])
    out: dict[str, str] = {}
    for local, target in raw.items():
        local_code, dfe_code = str(local).strip(), str(target).strip()
        if not local_code:
            raise ConfigError(f"{where}: code_map has a blank local code")
        if dfe_code not in known:
            raise ConfigError(
                f"{where}: code_map.{local_code} maps to {dfe_code!r}, which is not a DfE code"
            )
        out[local_code] = dfe_code
    return out


def load_trust(home: Home) -> Trust:
    path = home.config / "trust.yml"
    raw = _read_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("academies"), list):
        raise ConfigError(f"{path}: expected 'trust' and a list 'academies'")
    academies = []
    seen: set[str] = set()
    for i, item in enumerate(raw["academies"]):
        academy = _parse_academy(item or {}, f"{path}: academies[{i}]")
        if academy.urn in seen:
            raise ConfigError(f"{path}: academies[{i}]: URN {academy.urn} appears twice")
        seen.add(academy.urn)
        academies.append(academy)
    return Trust(name=str(raw.get("trust") or "Trust"), academies=tuple(academies))


def _as_date(value: Any, where: str) -> date:
    if isinstance(value, date):
        return value
    try:
        return date.fromisoformat(str(value))
    except ValueError as exc:
        raise ConfigError(f"{where}: {value!r} is not a YYYY-MM-DD date") from exc


@dataclass(frozen=True)
class CalendarSpec:
    """Term dates as written in config/calendars/<name>.yml."""

    name: str
    terms: tuple[tuple[date, date], ...]
    holidays: tuple[tuple[date, date], ...]
    closures: tuple[tuple[date, str], ...]


def load_calendar(home: Home, name: str) -> CalendarSpec:
    path = home.config / "calendars" / f"{name}.yml"
    raw = _read_yaml(path) or {}

    def ranges(key: str) -> tuple[tuple[date, date], ...]:
        out = []
        for i, r in enumerate(raw.get(key) or []):
            where = f"{path}: {key}[{i}]"
            start = _as_date(r.get("start"), where)
            end = _as_date(r.get("end", r.get("start")), where)
            if end < start:
                raise ConfigError(f"{where}: end is before start")
            out.append((start, end))
        return tuple(out)

    closures = tuple(
        (_as_date(c.get("date"), f"{path}: closures[{i}]"), str(c.get("reason") or "closure"))
        for i, c in enumerate(raw.get("closures") or [])
    )
    return CalendarSpec(name, ranges("terms"), ranges("holidays"), closures)


def load_policy(home: Home, name: str) -> dict[str, Any]:
    path = home.config / "policies" / f"{name}.yml"
    raw = _read_yaml(path)
    if not isinstance(raw, dict) or not isinstance(raw.get("stages"), list):
        raise ConfigError(f"{path}: a policy needs a list 'stages'")
    raw.setdefault("name", name)
    raw["key"] = name
    return raw

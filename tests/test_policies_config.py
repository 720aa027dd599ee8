"""The five reference policies ship as configuration (SPEC 6) and must stay inside the grammar.

A policy file is edited by hand; these tests catch a typo in a measure or operator, a stage
without the action a school needs to see, or an assumed number left without the seed sentence
that justifies it, before any pupil is classified with it.
"""

from __future__ import annotations

import re
from typing import Any

import pytest
import yaml

from attendance.config import load_policy
from attendance.home import REPO_ROOT, Home
from attendance.stages import (
    DEFAULT_FLAG_TEXTS,
    MEASURES,
    OPS,
    SINCE_ENTRY,
    PolicyError,
    validate_policy,
)

POLICY_DIR = REPO_ROOT / "config" / "policies"
SEEDS = {
    "stowe_valley": "000_41e6d8ccc78a3ced.txt",
    "vale_millbrook": "001_764e66cea86c1aae.txt",
    "banded_pathway": "002_c3283ffc6f308b13.txt",
    "four_six_ten": "003_371b6416f3ca0beb.txt",
    "ccs": "004_1f3264eb60c715bb.txt",
}


def conditions(policy: dict[str, Any]) -> list[dict[str, Any]]:
    """Every leaf condition of a policy (entries, escalation 'when's and the exit)."""
    found: list[dict[str, Any]] = []

    def walk(cond: dict[str, Any] | None) -> None:
        if cond is None:
            return
        if "all" in cond or "any" in cond:
            for part in cond.get("all") or cond.get("any"):
                walk(part)
        else:
            found.append(cond)

    for stage in policy["stages"]:
        walk(stage.get("entry"))
        walk((stage.get("escalation") or {}).get("when"))
    walk(policy["exit"])
    return found


@pytest.fixture(scope="module")
def policies() -> dict[str, dict[str, Any]]:
    return {key: load_policy(Home(REPO_ROOT), key) for key in SEEDS}


def test_exactly_the_five_reference_policies_ship() -> None:
    assert sorted(p.stem for p in POLICY_DIR.glob("*.yml")) == sorted(SEEDS)


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_policy_loads_and_validates(key: str, policies: dict[str, dict[str, Any]]) -> None:
    policy = policies[key]
    assert policy["key"] == key
    assert policy["seed"] == SEEDS[key]
    assert policy["name"].strip()
    used = validate_policy(policy)
    assert used <= set(MEASURES)


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_every_stage_names_its_action(key: str, policies: dict[str, dict[str, Any]]) -> None:
    stages = policies[key]["stages"]
    assert [s["stage"] for s in stages] == list(range(1, len(stages) + 1))
    for stage in stages:
        assert stage["name"].strip() and stage["action"].strip()
        assert ("entry" in stage) != ("escalation" in stage)


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_conditions_use_known_measures_and_operators(
    key: str, policies: dict[str, dict[str, Any]]
) -> None:
    for cond in conditions(policies[key]):
        assert cond["measure"] in MEASURES
        if "since_entry" in cond:
            assert cond["since_entry"] in SINCE_ENTRY
        else:
            assert cond["op"] in OPS
            assert isinstance(cond["value"], bool | int | float)


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_flags_are_known_and_worded(key: str, policies: dict[str, dict[str, Any]]) -> None:
    flags = policies[key].get("flags") or {}
    assert set(flags) <= set(DEFAULT_FLAG_TEXTS)
    assert all(isinstance(text, str) and text.strip() for text in flags.values())


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_review_periods_carry_a_comment(key: str) -> None:
    """Every review period is an interpretation of the seed, so it must say which sentence."""
    lines = (POLICY_DIR / f"{key}.yml").read_text(encoding="utf-8").splitlines()
    periods = [line for line in lines if "after_school_days" in line]
    assert periods
    for line in periods:
        assert re.search(r"after_school_days:\s*\d+\s+#\s*\S", line), line


@pytest.mark.parametrize("key", sorted(SEEDS))
def test_assumed_numbers_are_commented(key: str) -> None:
    """Lines the files mark 'assumed' carry the number and a comment on the same line."""
    text = (POLICY_DIR / f"{key}.yml").read_text(encoding="utf-8")
    for line in text.splitlines():
        if "assumed" in line and not line.lstrip().startswith("#"):
            assert "#" in line and re.search(r"\d", line.split("#")[0]), line


def test_the_ladders_match_spec_6(policies: dict[str, dict[str, Any]]) -> None:
    """The numbers SPEC 6 gives (or marks assumed) are the ones shipped."""

    def entry_value(key: str, stage: int) -> float:
        return policies[key]["stages"][stage - 1]["entry"]["value"]

    def review(key: str, stage: int) -> tuple[Any, int]:
        esc = policies[key]["stages"][stage - 1]["escalation"]
        return esc["from_stage"], esc["after_school_days"]

    assert (entry_value("stowe_valley", 1), entry_value("stowe_valley", 2)) == (6, 8)
    assert [review("stowe_valley", s) for s in (3, 4, 5)] == [(2, 20), (3, 60), (4, 0)]
    assert entry_value("vale_millbrook", 1) == 92
    assert [review("vale_millbrook", s) for s in (2, 3, 4, 5)] == [
        (1, 5),
        (2, 10),
        (3, 10),
        (4, 20),
    ]
    assert policies["vale_millbrook"]["exit"] == {
        "measure": "attendance_pct_ytd",
        "op": ">=",
        "value": 92,
    }
    assert [entry_value("banded_pathway", s) for s in (1, 2, 3)] == [95, 92.5, 90]
    assert review("banded_pathway", 4) == ([2, 3], 10)
    assert [entry_value("four_six_ten", s) for s in (1, 2, 3)] == [4, 6, 10]
    assert [review("four_six_ten", s) for s in (4, 5)] == [(3, 20), (4, 20)]
    assert (entry_value("ccs", 1), entry_value("ccs", 2)) == (6, 10)
    assert [review("ccs", s) for s in (3, 4, 5)] == [(2, 20), (3, 60), (4, 0)]


def test_grammar_errors_name_the_place() -> None:
    good = yaml.safe_load((POLICY_DIR / "four_six_ten.yml").read_text(encoding="utf-8"))
    good["key"] = "four_six_ten"

    def broken(change: Any) -> dict[str, Any]:
        policy = yaml.safe_load(yaml.safe_dump(good))
        change(policy)
        return policy

    cases = [
        (lambda p: p["stages"][0]["entry"].update(measure="rolling_absense"), "unknown measure"),
        (lambda p: p["stages"][0]["entry"].update(op="=>"), "unknown op"),
        (lambda p: p["stages"][0].pop("action"), "missing 'action'"),
        (lambda p: p["stages"][3]["escalation"].update(from_stage=4), "from_stage"),
        (lambda p: p["stages"][3]["escalation"].update(after_school_days=-1), "after_school"),
        (
            lambda p: p["stages"][0].update(
                entry={"measure": "rolling_absence", "since_entry": "increased"}
            ),
            "since_entry is only allowed",
        ),
        (lambda p: p.pop("exit"), "exit"),
        (lambda p: p.update(flags={"truant": "x"}), "unknown flags"),
        (lambda p: p["stages"][1].update(stage=7), "numbered"),
    ]
    for change, message in cases:
        with pytest.raises(PolicyError, match=message):
            validate_policy(broken(change))

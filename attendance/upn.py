"""Unique Pupil Number check letter (DfE algorithm, see shared/domain/codes.md).

A UPN is 13 characters: a check letter, then the 3-digit LA code, the 4-digit establishment
number, 2 digits for the year of allocation and a 3-digit serial. Temporary UPNs end in a
letter instead of the last digit. The check letter is the one place a typo in a UPN shows.
"""

from __future__ import annotations

from functools import lru_cache

import numpy as np

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: no I, O or S
_DIGITS = "0123456789"  # str.isdigit alone would take other scripts' digits too


def _char_value(ch: str) -> int | None:
    if ch in _DIGITS:
        return int(ch)
    idx = CHECK_LETTERS.find(ch)
    return idx if idx >= 0 else None


def check_letter(body: str) -> str:
    """The check letter for the 12 characters after it (digits; the last may be a letter)."""
    if len(body) != 12:
        raise ValueError("a UPN body is 12 characters")
    total = 0
    for weight, ch in enumerate(body, start=2):
        value = _char_value(ch)
        if value is None or (ch not in _DIGITS and weight != 13):
            raise ValueError(f"character {ch!r} is not allowed at position {weight}")
        total += weight * value
    return CHECK_LETTERS[total % 23]


@lru_cache(maxsize=1 << 18)
def upn_problem(upn: str) -> str | None:
    """Why `upn` is not a valid UPN, or None when it is. Used for per-record errors; cached
    because every daily delivery repeats the same few thousand UPNs (bench hotspot 2)."""
    if len(upn) != 13:
        return f"UPN must be 13 characters, got {len(upn)}"
    first, body = upn[0], upn[1:]
    if not (body[:11].isascii() and body[:11].isdigit()):
        return "UPN characters 2-12 must be digits"
    if not (body[11] in _DIGITS or body[11] in CHECK_LETTERS):
        return "UPN character 13 must be a digit (or a letter for a temporary UPN)"
    expected = check_letter(body)
    if first != expected:
        return f"UPN check letter is {first!r}, expected {expected!r}"
    return None


# For upn_problems: each byte's value as the 13th character of a UPN (a digit, or a letter of
# CHECK_LETTERS in a temporary UPN), -1 where it cannot stand; the check letters as bytes.
_LAST_VALUE = np.full(256, -1, dtype=np.int64)
_LAST_VALUE[np.frombuffer(b"0123456789", np.uint8)] = np.arange(10)
_LAST_VALUE[np.frombuffer(CHECK_LETTERS.encode(), np.uint8)] = np.arange(len(CHECK_LETTERS))
_LETTER_BYTES = np.frombuffer(CHECK_LETTERS.encode(), np.uint8)
_WEIGHTS = np.arange(2, 13, dtype=np.int64)  # characters 2-12; the 13th weighs 13


def upn_problems(upns: list[str]) -> list[str | None]:
    """`upn_problem` of each UPN. The check letters of all the well-formed ones (13 ASCII
    characters, digits, a valid last character) are computed together with numpy; any UPN
    that is not well formed or whose letter does not match goes to `upn_problem` for its
    reason. A roll snapshot's UPNs are all new to a worker process, so the cache above does
    not help the daily run: checking each in Python was a tenth of an academy's day."""
    out: list[str | None] = [None] * len(upns)
    formed = [i for i, u in enumerate(upns) if len(u) == 13 and u.isascii()]
    if formed:
        raw = np.frombuffer("".join(upns[i] for i in formed).encode("ascii"), np.uint8)
        raw = raw.reshape(len(formed), 13)
        body = raw[:, 1:12].astype(np.int64) - ord("0")
        last = _LAST_VALUE[raw[:, 12]]
        total = (body * _WEIGHTS).sum(axis=1) + 13 * last
        good = ((body >= 0) & (body <= 9)).all(axis=1) & (last >= 0)
        good &= raw[:, 0] == _LETTER_BYTES[total % len(CHECK_LETTERS)]
        checked = dict(zip(formed, good.tolist(), strict=True))
    else:
        checked = {}
    for i, upn in enumerate(upns):
        if not checked.get(i, False):
            out[i] = upn_problem(upn)
    return out


def make_upn(la_code: str, estab: str, year2: int, serial: int) -> str:
    """A valid permanent UPN; used by the synthetic trust generator."""
    body = f"{int(la_code):03d}{int(estab):04d}{year2 % 100:02d}{serial % 1000:03d}"
    return check_letter(body) + body

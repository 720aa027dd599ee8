"""Unique Pupil Number check letter (DfE algorithm, see shared/domain/codes.md).

A UPN is 13 characters: a check letter, then the 3-digit LA code, the 4-digit establishment
number, 2 digits for the year of allocation and a 3-digit serial. Temporary UPNs end in a
letter instead of the last digit. The check letter is the one place a typo in a UPN shows.
"""

from __future__ import annotations

from functools import lru_cache

CHECK_LETTERS = "ABCDEFGHJKLMNPQRTUVWXYZ"  # 23 letters: no I, O or S


def _char_value(ch: str) -> int | None:
    if ch.isdigit():
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
        if value is None or (not ch.isdigit() and weight != 13):
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
    if not body[:11].isdigit():
        return "UPN characters 2-12 must be digits"
    if not (body[11].isdigit() or body[11] in CHECK_LETTERS):
        return "UPN character 13 must be a digit (or a letter for a temporary UPN)"
    expected = check_letter(body)
    if first != expected:
        return f"UPN check letter is {first!r}, expected {expected!r}"
    return None


def make_upn(la_code: str, estab: str, year2: int, serial: int) -> str:
    """A valid permanent UPN; used by the synthetic trust generator."""
    body = f"{int(la_code):03d}{int(estab):04d}{year2 % 100:02d}{serial % 1000:03d}"
    return check_letter(body) + body

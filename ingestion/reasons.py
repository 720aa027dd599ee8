"""Every problem ingestion can report, as a stable machine-readable code and the action an
attendance officer can take. One table: the quarantine, the issues parquet and the
data-quality report all read their codes and advice from here.

Reasons are written as sentences where they arise (they name the value at fault); the code is
found by the sentence's fixed opening; the last row catches field-format errors of the parsers.
"""

from __future__ import annotations

import re

import pandas as pd

# (pattern at the start of the reason, code, what to do). First match wins.
REASONS: list[tuple[str, str, str]] = [
    (
        r"whole delivery rejected: (the file is for|page \S+ is for)",
        "identity_mismatch",
        "This file carries another school's identity: check the MIS export settings (school "
        "selected, LAESTAB/URN) and send the right school's file; nothing from it was loaded.",
    ),
    (
        r"whole delivery rejected: (the file is empty|page \S+ is empty)",
        "file_empty",
        "The file arrived empty: re-run the export in the MIS and send it again.",
    ),
    (
        r"whole delivery rejected: the file looks truncated",
        "file_truncated",
        "The file was cut short in transfer: send the export again (nothing from it was loaded).",
    ),
    (
        r"whole delivery rejected: missing column",
        "file_columns",
        "The export is missing required columns: check the export template in the MIS.",
    ),
    (
        r"whole delivery rejected: the first line must be",
        "file_identity_line",
        "The weekly grid must start with 'School: <name> (<LAESTAB>)': use the standard export.",
    ),
    (
        r"whole delivery rejected:",
        "file_unreadable",
        "The file cannot be read as the expected format: re-export it from the MIS; if this "
        "repeats, send it to the trust data team.",
    ),
    (
        r"UPN ",
        "upn_invalid",
        "Correct the pupil's UPN in the MIS (compare it with the admission record or CTF) "
        "and re-export.",
    ),
    (
        r"the date is a weekend",
        "date_weekend",
        "A mark is dated on a Saturday or Sunday: correct the register date in the MIS.",
    ),
    (
        r"the date is outside the academy's terms",
        "date_outside_term",
        "A mark is dated outside term: correct the date in the MIS, or ask the trust to "
        "update the academy's term dates.",
    ),
    (
        r"the date is a holiday",
        "date_holiday",
        "A mark is dated on a holiday in the academy's calendar: correct the register, or ask "
        "the trust to correct the calendar.",
    ),
    (
        r"the date is after the delivery was extracted",
        "date_after_extraction",
        "A mark is dated after the export was made (a future register): check the MIS for "
        "pre-filled marks and remove them.",
    ),
    (
        r"code .* is not in the DfE code set in force",
        "code_wrong_set",
        "This code belongs to the other DfE code set (the codes changed on 19 August 2024): "
        "re-enter the mark with a code valid on that date.",
    ),
    (
        r"code .* is not a DfE code",
        "code_unknown",
        "Not a DfE attendance code: correct the mark, or (for a local MIS code) ask the trust "
        "to add it to the academy's code_map.",
    ),
    (
        r"the same pupil, date and session appears with different codes",
        "conflict",
        "The export holds two different marks for one session: correct the register so it "
        "holds one mark, and re-export (neither was loaded).",
    ),
    (
        r"the same mark appears twice",
        "duplicate",
        "No action needed: a repeated identical mark was loaded once.",
    ),
    (
        r"no mark was entered",
        "missing_mark",
        "The register was due but no mark was entered: complete the register in the MIS.",
    ),
    (
        r"a planned closure day",
        "closure_mark",
        "A planned closure (INSET) day holds a mark other than '#': check the register or the "
        "closure date.",
    ),
    (
        r"the pupil is not on the academy's roll",
        "not_on_roll",
        "The pupil has marks but is not on the roll for that date: check the admission and "
        "leaving dates in the MIS and send a new pupil roll (the mark was kept).",
    ),
    (
        r"no pupil roll has been received yet",
        "no_roll",
        "Send the pupil roll export (pupils_<timestamp>.csv) so marks can be checked.",
    ),
    (
        r"mark .* contradicts arrival",
        "arrival_contradiction",
        "The mark does not match the arrival time and the register times: check the mark "
        "(L before the register closes, U after); the mark was kept as entered.",
    ),
    (
        r"the pupil's row is rejected: their row from the previous roll is kept",
        "roll_row_carried",
        "The pupil's row in this roll was rejected (the error on the same row says why), so "
        "their row from the previous roll is still used: correct the record in the MIS and "
        "send a new roll.",
    ),
    (
        r"the UPN appears more than once in the roll",
        "roll_duplicate",
        "The pupil roll lists this UPN twice: correct the duplicate record in the MIS.",
    ),
    (
        r"the same pupil row appears twice in the roll",
        "roll_repeated_row",
        "No action needed: a pupil's row repeated exactly was kept once (if it repeats, the "
        "MIS export may be listing pupils twice: worth a look).",
    ),
    (
        r"(Date of Birth|Entry Date|Leaving Date|NC Year|FSM|SEN|EAL|Home LA) ",
        "roll_field_invalid",
        "A pupil roll field is not in the expected form: correct it in the MIS and re-export.",
    ),
    (
        r"file name",
        "file_name",
        "The file's name does not follow the agreed pattern, so it was not read: rename the "
        "export or fix the export job.",
    ),
    (
        r"(pages? .* not arrived|page \d+ says more pages follow)",
        "pages_missing",
        "The API delivery is incomplete: it waits until every page has arrived; if this "
        "persists, re-run the extract.",
    ),
    (
        r"",
        "field_invalid",
        "A field is not in the expected form (date, session, time): correct it in the MIS "
        "and re-export.",
    ),
]
_COMPILED = [(re.compile(p), code, action) for p, code, action in REASONS]
ACTIONS = {code: action for _, code, action in REASONS}


def reason_code(reason: str | None) -> str | None:
    if reason is None or (isinstance(reason, float) and pd.isna(reason)):
        return None
    for pattern, code, _ in _COMPILED:
        if pattern.match(reason):
            return code
    return "field_invalid"


def reason_codes(reasons: pd.Series) -> pd.Series:
    table = {r: reason_code(r) for r in pd.unique(reasons.dropna())}
    return reasons.map(table)


def action_for(code: str | None) -> str:
    return ACTIONS.get(code or "", "Send this to the trust data team.")

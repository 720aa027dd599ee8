"""Ground truth: every mark version the generator delivered, as parquet.

Tests compare the platform's results with this file, which is written from the generator's own
arrays and so is independent of the ingestion code. It is streamed one academy at a time (one
row group each) so the largest trust never holds all its marks in memory.
"""

from __future__ import annotations

from datetime import date
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from attendance.generate.behaviour import DISPLAY
from attendance.generate.pupils import Roll
from attendance.generate.writers import Truth

SCHEMA = pa.schema(
    [
        ("urn", pa.string()),
        ("upn", pa.string()),
        ("mark_date", pa.date32()),
        ("session", pa.string()),
        ("code", pa.string()),
        ("minutes_late", pa.int32()),
        ("extracted_at", pa.timestamp("s")),  # local (Europe/London) wall time, as in file names
    ]
)
_EPOCH = date(1970, 1, 1).toordinal()
_SESSIONS = np.array(["AM", "PM"], dtype=object)
_CODES = np.array(DISPLAY, dtype=object)


class TruthWriter:
    """Appends one academy's delivered marks at a time to a single parquet file."""

    def __init__(self, path: Path) -> None:
        path.parent.mkdir(parents=True, exist_ok=True)
        self.path = path
        self.writer = pq.ParquetWriter(path, SCHEMA, compression="zstd")
        self.rows = 0

    def add(self, urn: str, roll: Roll, chunks: list[Truth]) -> None:
        if not chunks:
            return
        pupil = np.concatenate([c.pupil for c in chunks]).astype(np.int64)
        minutes = np.concatenate([c.minutes for c in chunks]).astype(np.int32)
        stamps = np.concatenate(
            [np.full(len(c.pupil), np.datetime64(c.extracted, "s")) for c in chunks]
        )
        days = np.concatenate([c.day for c in chunks]).astype(np.int32) - _EPOCH
        table = pa.table(
            {
                "urn": pa.array(np.full(len(pupil), urn, dtype=object), pa.string()),
                "upn": pa.array(roll.upn[pupil], pa.string()),
                "mark_date": pa.array(days, pa.date32()),
                "session": pa.array(
                    _SESSIONS[np.concatenate([c.session for c in chunks])], pa.string()
                ),
                "code": pa.array(_CODES[np.concatenate([c.code for c in chunks])], pa.string()),
                "minutes_late": pa.array(minutes, pa.int32(), mask=minutes < 0),
                "extracted_at": pa.array(stamps, pa.timestamp("s")),
            },
            schema=SCHEMA,
        )
        self.writer.write_table(table)
        self.rows += len(table)

    def close(self) -> None:
        self.writer.close()

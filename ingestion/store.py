"""Writing what ingestion produced, so that a crash can never leave half a delivery loaded.

Every output file is written beside its target and renamed into place (a rename is atomic on
one file system). The ledger entry is written last: a delivery without a ledger entry is simply
processed again, and because outputs are named by the delivery, re-processing replaces them
with the same content. That is what makes ingestion idempotent and SIGKILL-safe.
"""

from __future__ import annotations

import hashlib
import json
import os
import shutil
from pathlib import Path
from typing import Any

import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq


def sha256_file(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as fh:
        for chunk in iter(lambda: fh.read(1 << 20), b""):
            digest.update(chunk)
    return digest.hexdigest()


def _tmp(path: Path) -> Path:
    return path.with_name(f".{path.name}.tmp-{os.getpid()}")


def write_parquet(frame: pd.DataFrame, path: Path, schema: pa.Schema | None = None) -> None:
    """With a schema, the file holds that schema alone: not pandas' metadata, which records the
    frame's in-memory dtypes (a text column is `str` or `object` depending on how the frame
    was assembled), so the same records always give the same bytes."""
    table = pa.Table.from_pandas(frame, schema=schema, preserve_index=False)
    if schema is not None:
        table = table.replace_schema_metadata(None)
    write_arrow(table, path)


def write_arrow(table: pa.Table, path: Path) -> None:
    """An Arrow table (or a slice of one) as snappy parquet, renamed into place.

    Snappy, parquet's usual codec, not zstd: a full rebuild writes one file per delivery (about
    12,000 at M), and zstd cost a delivery's file twice the CPU (1.32 against 0.71 ms for 400
    of M's register files of about 2,000 rows) for files a third smaller (16 against 23 KiB);
    DuckDB reads the snappy files no slower (docs/benchmarks.md)."""
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    pq.write_table(table, tmp, compression="snappy")
    os.replace(tmp, path)


def write_text(text: str, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(path)
    tmp.write_text(text, encoding="utf-8")
    os.replace(tmp, path)


def write_json(obj: Any, path: Path) -> None:
    write_text(json.dumps(obj, indent=2, sort_keys=True, default=str) + "\n", path)


def read_json(path: Path) -> Any:
    return json.loads(path.read_text(encoding="utf-8"))


def copy_file(src: Path, dest: Path) -> None:
    dest.parent.mkdir(parents=True, exist_ok=True)
    tmp = _tmp(dest)
    shutil.copyfile(src, tmp)
    os.replace(tmp, dest)


def remove(path: Path) -> None:
    if path.exists():
        path.unlink()


MARKS_SCHEMA = pa.schema(
    [
        ("urn", pa.string()),
        ("upn", pa.string()),
        ("mark_date", pa.date32()),
        ("session", pa.string()),
        ("code", pa.string()),
        ("source_code", pa.string()),  # as the export wrote it, before the academy's code_map
        ("minutes_late", pa.int32()),
        ("arrival_time", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("delivery", pa.string()),
        ("extracted_at", pa.timestamp("us")),
    ]
)

ISSUES_SCHEMA = pa.schema(
    [
        ("urn", pa.string()),
        ("delivery", pa.string()),
        ("extracted_at", pa.timestamp("us")),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("upn", pa.string()),
        ("mark_date", pa.date32()),
        ("session", pa.string()),
        ("code", pa.string()),
        ("severity", pa.string()),
        ("status", pa.string()),
        ("reason_code", pa.string()),  # ingestion/reasons.py: stable, machine-readable
        ("reason", pa.string()),
    ]
)

ROLL_SCHEMA = pa.schema(
    [
        ("urn", pa.string()),
        ("upn", pa.string()),
        ("surname", pa.string()),
        ("forename", pa.string()),
        ("date_of_birth", pa.date32()),
        ("gender", pa.string()),
        ("nc_year", pa.string()),
        ("reg_group", pa.string()),
        ("entry_date", pa.date32()),
        ("leaving_date", pa.date32()),
        ("fsm", pa.string()),
        ("sen", pa.string()),
        ("eal", pa.string()),
        ("ethnicity", pa.string()),
        ("home_la", pa.string()),
        ("source_file", pa.string()),
        ("source_row", pa.int64()),
        ("extracted_at", pa.timestamp("us")),
    ]
)

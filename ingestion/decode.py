"""Text from bytes: MIS exports come in UTF-8 (with or without BOM) or Windows-1252 (SPEC 3.2)."""

from __future__ import annotations

BOM = b"\xef\xbb\xbf"


def decode_export(raw: bytes) -> tuple[str, str]:
    """The text and the encoding it was read as. UTF-8 is tried first because valid UTF-8 of
    non-ASCII text is almost never valid-looking Windows-1252 by accident; the reverse is common.
    """
    if raw.startswith(BOM):
        return raw[len(BOM) :].decode("utf-8"), "utf-8-sig"
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), "cp1252"

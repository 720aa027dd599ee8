"""Text from bytes: MIS exports come in UTF-8 (with or without BOM) or Windows-1252 (SPEC 3.2)."""

from __future__ import annotations

from ingestion.errors import FileRejected

BOM = b"\xef\xbb\xbf"


def decode_export(raw: bytes) -> tuple[str, str]:
    """The text and the encoding it was read as. UTF-8 is tried first because valid UTF-8 of
    non-ASCII text is almost never valid-looking Windows-1252 by accident; the reverse is common.
    """
    if raw.startswith(BOM):
        # The BOM is the exporter's own statement that the file is UTF-8; bytes that are not
        # UTF-8 after it mean a broken export, and guessing another encoding could garble names.
        body = raw[len(BOM) :]
        try:
            return body.decode("utf-8"), "utf-8-sig"
        except UnicodeDecodeError as exc:
            line = body[: exc.start].count(b"\n") + 1
            raise FileRejected(
                f"the file starts with a UTF-8 byte-order mark but byte {exc.start + len(BOM) + 1} "
                f"(0x{body[exc.start]:02x}) is not UTF-8: re-export it as UTF-8, or as "
                "Windows-1252 without the byte-order mark",
                line=line,
            ) from exc
    try:
        return raw.decode("utf-8"), "utf-8"
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace"), "cp1252"

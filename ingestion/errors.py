"""Errors that reject a whole delivery. Per-record problems are data (a reason column), not
exceptions, so one bad row never stops the rows beside it."""


class FileRejected(Exception):
    """The delivery cannot be loaded at all: quarantined whole, with this reason."""

    def __init__(self, reason: str, line: int | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.line = line

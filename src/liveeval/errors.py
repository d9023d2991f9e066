"""The whole exception hierarchy of liveeval.

Every error a user can cause derives from :class:`LiveevalError` and from the
matching built-in, so ``except ValueError`` keeps working for callers that do not
know liveeval. Each carries structured fields so that the CLI and the API can name
the file, column and row without parsing messages.
"""

from __future__ import annotations

__all__ = [
    "ColumnNotFoundError",
    "InputFileError",
    "LiveevalError",
    "ProfileError",
    "StoreLocked",
    "StoreUnavailable",
    "UnknownLabelError",
    "UnknownMetricError",
    "ValidationError",
]


class LiveevalError(Exception):
    """Base class of every error raised on purpose by liveeval."""


class ValidationError(LiveevalError, ValueError):
    """Input data that liveeval cannot accept.

    Parameters
    ----------
    message:
        What was wrong, the offending value and what is accepted.
    source:
        The file (or ``"<table>"`` for in-memory data) the value came from.
    column:
        The column or field that holds the value.
    row:
        Zero-based row index of the first offending value.
    """

    def __init__(
        self,
        message: str,
        *,
        source: str | None = None,
        column: str | None = None,
        row: int | None = None,
    ) -> None:
        self.source = source
        self.column = column
        self.row = row
        self.detail = message
        super().__init__(self._render())

    def _render(self) -> str:
        where = []
        if self.source:
            where.append(f"{self.source}")
        if self.column is not None:
            where.append(f"column '{self.column}'")
        if self.row is not None:
            where.append(f"row {self.row}")
        prefix = ": ".join([", ".join(where)]) if where else ""
        return f"{prefix}: {self.detail}" if prefix else self.detail

    def located(self, source: str) -> ValidationError:
        """Return a copy of this error that names ``source`` as the data's origin."""
        return type(self)(self.detail, source=source, column=self.column, row=self.row)


class UnknownLabelError(ValidationError):
    """A label that is not among the declared classes."""


class UnknownMetricError(ValidationError, KeyError):
    """A metric name that the catalogue (``liveeval.metrics.registry``) does not know."""

    def __init__(self, message: str, *, name: str) -> None:
        self.name = name
        super().__init__(message)

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self._render()


class ColumnNotFoundError(ValidationError, KeyError):
    """A column that the data does not have."""

    def __str__(self) -> str:  # KeyError would otherwise quote the message
        return self._render()


class InputFileError(LiveevalError, OSError):
    """A file that cannot be read or has an unsupported format."""


class ProfileError(LiveevalError, ValueError):
    """A use-case profile that is missing or malformed."""


class StoreLocked(LiveevalError, RuntimeError):
    """Another process (or another store object) already writes this store."""


class StoreUnavailable(LiveevalError, RuntimeError):
    """The store cannot answer in time (a read waited too long for the loader)."""

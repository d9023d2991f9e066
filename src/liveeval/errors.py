"""The whole exception hierarchy of liveeval.

Every error a user can cause derives from :class:`LiveevalError` and from the
matching built-in, so ``except ValueError`` keeps working for callers that do not
know liveeval. Each carries structured fields so that the CLI and the API can name
the file, column and row without parsing messages.
"""

from __future__ import annotations

__all__ = [
    "ClientClosedError",
    "ColumnNotFoundError",
    "ConfigError",
    "ConflictError",
    "DeliveryError",
    "EngineUnavailable",
    "EventTypeError",
    "EventValueError",
    "InputFileError",
    "InvalidEventError",
    "LiveevalError",
    "ModelLoadError",
    "ModelOutputError",
    "NotFoundError",
    "NotificationError",
    "ProfileError",
    "QueueFullError",
    "StoreError",
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
        Row of the first offending value: counted from 1 in files and tables (the
        header is not a row); an index from 0 when raised on bare numpy arrays.
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


class InvalidEventError(LiveevalError):
    """An event the client cannot send as given; raised at the ``log_*`` call.

    Parameters
    ----------
    message:
        What was wrong with the value and what is accepted.
    field:
        The event's field (``"label"``, ``"features.amount"``, ...).
    value:
        The offending value, as given.
    """

    def __init__(self, message: str, *, field: str, value: object) -> None:
        self.field = field
        self.value = value
        self.detail = message
        super().__init__(f"{field}: {message}")


class EventTypeError(InvalidEventError, TypeError):
    """A value of a type that has no JSON form (a set, bytes, an arbitrary object)."""


class EventValueError(InvalidEventError, ValueError):
    """A value of an accepted type that cannot be sent (NaN, infinity, a 2-D array)."""


class QueueFullError(LiveevalError, RuntimeError):
    """The client's bounded queue stayed full: the server is down or too slow."""


class ClientClosedError(LiveevalError, RuntimeError):
    """An event logged on a client that was closed."""


class DeliveryError(LiveevalError, ConnectionError):
    """A synchronous upload that the server refused or that could not reach it.

    ``summary`` holds what had been acknowledged before the failure.
    """

    def __init__(self, message: str, *, summary: object = None) -> None:
        self.summary = summary
        super().__init__(message)


class NotificationError(LiveevalError, ConnectionError):
    """A channel that could not take a notification (unreachable, timed out, or an
    answer other than 2xx); the outbox keeps it and retries."""


class StoreError(LiveevalError, OSError):
    """A store location that cannot be opened (a folder, a file of another kind)."""


class EngineUnavailable(LiveevalError, RuntimeError):
    """A compute engine that cannot start here: its package or its runtime (for Spark,
    ``pyspark`` and a Java 17+ runtime) is missing."""


class StoreLocked(LiveevalError, RuntimeError):
    """Another process (or another store object) already writes this store."""


class StoreUnavailable(LiveevalError, RuntimeError):
    """The store cannot answer in time (a read waited too long for the loader)."""


class ModelLoadError(LiveevalError, ValueError):
    """A model file that cannot be served: missing, unreadable, not a model, or failing
    on a probe row when it is loaded.

    Parameters
    ----------
    model:
        The model's configured name.
    path:
        The file it was loaded from.
    reason:
        What was wrong and, where there is one, what to do about it.
    """

    def __init__(self, model: str, path: str, reason: str) -> None:
        self.model = model
        self.path = path
        self.reason = reason
        super().__init__(f"model '{model}': {path}: {reason}")


class ModelOutputError(LiveevalError, RuntimeError):
    """A served model answered with something that cannot be a prediction: non-finite
    or out-of-range scores, or the wrong shape. The request fails and the prediction
    is stored as failed; the score is never stored.

    Parameters
    ----------
    model:
        The model's configured name.
    reason:
        What the model returned and what was expected, on one line.
    """

    def __init__(self, model: str, reason: str) -> None:
        self.model = model
        self.reason = reason
        super().__init__(f"model '{model}' returned an invalid output: {reason}")


class ConfigError(LiveevalError, ValueError):
    """A server configuration (file, flag or environment) that cannot be used."""


class NotFoundError(LiveevalError, LookupError):
    """A model, version or profile that does not exist (HTTP 404)."""


class ConflictError(LiveevalError, ValueError):
    """A name already taken by something different, replaced only when asked (HTTP 409)."""

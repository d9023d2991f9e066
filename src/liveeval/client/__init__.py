"""A small SDK for model servers that are not liveeval's own.

```python
from liveeval.client import Client

with Client("http://127.0.0.1:8000", token=os.environ.get("LIVEEVAL_WRITE_TOKEN")) as client:
    pid = client.log_prediction("fraud", version="v3", label=model.predict(X)[0], score=0.93)
    ...
    client.log_outcome(pid, label=0)          # hours later, from anywhere
print(client.stats)                           # accepted, rejected (and why), failed, ...
```

Values are converted to JSON at the ``log_*`` call (numpy and pandas scalars and
arrays, datetimes); one that cannot be sent raises there, naming the field. Events
are then queued and sent in batches by a background thread, with retries and
exponential backoff when the server is unreachable or answers 5xx. The server
answers each event: the valid ones of a batch are stored and each invalid one is
counted as rejected with its reason (``client.stats``, ``client.rejected``), never
taking the others with it. Nothing stops the sender: an error in it is counted,
logged and kept in ``client.errors``. The queue is bounded: when it is full,
``log_*`` waits up to ``block_seconds`` and then raises :class:`QueueFullError`
rather than dropping data silently. ``close()`` (and leaving ``with``) waits at most
``close_timeout`` seconds and counts what is still unsent as ``undelivered``.

This package imports only the standard library (and pyarrow for
``log_prediction_table``), nothing from the server.
"""

from __future__ import annotations

from ..errors import (
    ClientClosedError,
    DeliveryError,
    EventTypeError,
    EventValueError,
    InvalidEventError,
    QueueFullError,
)
from ._client import Client
from ._ledger import ClientStats, Rejected
from ._table import Rejection, TableSummary

__all__ = [
    "Client",
    "ClientClosedError",
    "ClientStats",
    "DeliveryError",
    "EventTypeError",
    "EventValueError",
    "InvalidEventError",
    "QueueFullError",
    "Rejected",
    "Rejection",
    "TableSummary",
]

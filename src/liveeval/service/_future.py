"""Predictions dated after now: accepted and kept, left out of the reads that end at now.

A client with a wrong clock (or a typo in the year) can send a ``ts`` in the future;
the write path accepts it (the data is the user's, never lost), and every read without
an ``until`` ends at now so that such a row can neither stretch a sparkline or a list of
windows to its date nor become the "latest" window. Those reads say what they left out.
"""

from __future__ import annotations

from datetime import datetime

from ..store import Scope
from ..store.interface import StatisticsSource

__all__ = ["after_now_notes"]


def after_now_notes(
    source: StatisticsSource, end: datetime, models: list[str] | None = None
) -> list[str]:
    """A note per model (of ``models``, or every model) holding predictions at or after
    ``end`` (the read's end, now or the window holding it): how many, left out of the
    read. One cheap query when there are none (the common case)."""
    found = sorted({m for m, _ in source.versions_since(end)})
    if models is not None:
        found = [m for m in found if m in models]
    notes = []
    for model in found:
        count = source.statistics(Scope(model, since=end)).predictions
        if count:
            noun = "prediction" if count == 1 else "predictions"
            notes.append(
                f"{count} {noun} of model {model!r} dated at or after {end.isoformat()} "
                "(after now: a client clock ahead?) are left out of this read; give "
                "until=<a later time> to read them"
            )
    return notes

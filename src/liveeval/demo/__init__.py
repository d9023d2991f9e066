"""Demo material: an example prediction log (:mod:`.log`) for the batch report, and
the live demo (``liveeval demo``): two models trained at first run, served on a
fresh store, and a traffic replayer with delayed labels, failures, a new version and
a drift (:mod:`.models`, :mod:`.replay`, :mod:`.live`)."""

from __future__ import annotations

from .log import SEGMENTS, fraud_log, write_demo

__all__ = ["SEGMENTS", "fraud_log", "write_demo"]

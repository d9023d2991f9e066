"""The windows answer keeps its windows' results for the next read: the same answer as
a read without them, before and after late labels and new predictions, with only the
changed windows computed again."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

import numpy as np
import pytest
from fastapi.testclient import TestClient

from liveeval.monitor import WindowResults
from liveeval.service.monitoring import windows_of

T0 = datetime(2026, 11, 2, 0, 0, 0)


def _post(client: TestClient, hours: range, labelled: float, seed: int) -> list[dict]:
    """80 predictions an hour with scores; ``labelled`` of them with outcomes now, the
    outcomes of the rest returned for later."""
    rng = np.random.default_rng(seed)
    preds, now, later = [], [], []
    for hour in hours:
        y = (rng.random(80) < 0.3).astype(int)
        s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1).round(3)
        for i in range(80):
            pid = f"s{seed}-h{hour}-{i}"
            ts = T0 + timedelta(hours=hour, seconds=40 * i)
            preds.append(
                {"id": pid, "model": "ext", "version": "v1", "ts": ts.isoformat(),
                 "label": int(s[i] >= 0.5), "score": float(s[i])}
            )  # fmt: skip
            outcome = {"prediction_id": pid, "label": int(y[i]), "ts": ts.isoformat()}
            (now if i < labelled * 80 else later).append(outcome)
    assert client.post("/v1/predictions", json={"predictions": preds}).status_code == 200
    assert client.post("/v1/outcomes", json={"outcomes": now}).status_code == 200
    return later


def _same(a: Any, b: Any) -> None:
    """Two answers alike, floats within 1e-12 relative: a read sums the store's rows in
    the order DuckDB returns them, which may differ between two reads in the last bit."""
    if isinstance(a, dict):
        assert isinstance(b, dict) and a.keys() == b.keys()
        for k in a:
            _same(a[k], b[k])
    elif isinstance(a, list):
        assert isinstance(b, list) and len(a) == len(b)
        for x, y in zip(a, b, strict=True):
            _same(x, y)
    elif isinstance(a, float) and not isinstance(b, bool):
        assert a == pytest.approx(b, rel=1e-12, abs=1e-300)
    else:
        assert a == b


def _read(client: TestClient, cache: WindowResults | None):
    service = client.app.state.service  # type: ignore[attr-defined]
    return windows_of(service.store, "ext", "1h", pos_label=1, classes=(0, 1), cache=cache)


def test_cached_windows_answer_as_an_uncached_read_through_late_labels(client):
    later = _post(client, range(6), labelled=0.6, seed=1)
    cache = WindowResults()
    first = _read(client, cache)
    _same(first, _read(client, None))
    _same(_read(client, cache), first)
    # Late labels for hours 1 and 4, and a new hour of traffic.
    late = [o for o in later if "-h1-" in o["prediction_id"] or "-h4-" in o["prediction_id"]]
    assert client.post("/v1/outcomes", json={"outcomes": late}).status_code == 200
    _post(client, range(6, 7), labelled=0.5, seed=2)
    after = _read(client, cache)
    _same(after, _read(client, None))
    # Their counts moved; the other windows' did not.
    changed = [
        i
        for i, (a, b) in enumerate(zip(first["windows"], after["windows"], strict=False))
        if (a["labelled"], a["confusion_matrix"]) != (b["labelled"], b["confusion_matrix"])
    ]
    assert changed == [1, 4]
    assert len(after["windows"]) == 7


def test_only_changed_windows_are_computed_again(client, monkeypatch):
    later = _post(client, range(4), labelled=0.5, seed=3)
    cache = WindowResults()
    _read(client, cache)
    import liveeval.monitor.windows as windows

    computed: list[int] = []
    real = windows.binary_column_results

    def counting(columns, *args, **kwargs):
        computed.append(len(columns.confusion))
        return real(columns, *args, **kwargs)

    monkeypatch.setattr(windows, "binary_column_results", counting)
    _read(client, cache)
    assert computed == []  # nothing changed: every window's results reused
    late = [o for o in later if "-h2-" in o["prediction_id"]][:3]
    assert client.post("/v1/outcomes", json={"outcomes": late}).status_code == 200
    _read(client, cache)
    assert computed == [1]  # the window that gained three labels

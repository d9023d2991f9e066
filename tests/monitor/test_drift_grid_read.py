"""The live drift read over the store's arrays equals the per-histogram read it replaced.

The oracle below is the read as it was before ``feature_window_arrays``: one
``FeatureHistogram`` per window and feature, one measurement per cell
(``measure_numeric_windows`` per feature, ``measure_categorical`` per window), one
``call_drift`` over every cell. Every number of the answer must be the same.
"""

from __future__ import annotations

import json
import math
from dataclasses import replace
from datetime import datetime, timedelta

import numpy as np
import pyarrow as pa
import pytest

from liveeval.metrics.drift import (
    DriftRule,
    Histogram,
    call_drift,
    measure_categorical,
    measure_numeric,
    measure_numeric_windows,
)
from liveeval.metrics.drift_grid import categorical_grid, numeric_grid
from liveeval.monitor.drift import ColumnDrift, histogram_from_store
from liveeval.service.drift import drift_of
from liveeval.store import Scope, TableSource
from liveeval.store.interface import ReferenceStore, StoredReference

T0 = datetime(2026, 11, 2)
HOUR = timedelta(hours=1)


def _events(rng: np.random.Generator) -> dict[str, pa.Table]:
    """A reference day (v1) and 6 hours (v2) in which 'amount' moves, 'city' gains new
    values, 'sparse' loses its numbers in one hour, and the last hour holds 40 rows."""
    rows = []
    for version, start, hours, n, shift in (
        ("v1", T0, 24, 2400, 0.0),
        ("v2", T0 + 24 * HOUR, 6, 1840, 0.6),
    ):
        per_hour = [n // hours] * hours
        if version == "v2":
            per_hour = [360] * 5 + [40]
        k = 0
        for h, m in enumerate(per_hour):
            for j in range(m):
                ts = start + h * HOUR + timedelta(seconds=3600 * j / m)
                city = rng.choice(["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"])
                if version == "v2" and rng.random() < 0.2:
                    city = f"new{rng.integers(0, 4)}"
                features = {
                    "amount": round(float(rng.normal(shift, 1.0)), 4),
                    "other": round(float(rng.normal()), 4),
                    "city": str(city),
                    "flag": bool(rng.random() < (0.3 if version == "v1" else 0.6)),
                }
                if not (version == "v2" and h == 2):
                    features["sparse"] = round(float(rng.exponential()), 3)
                else:
                    features["sparse"] = None
                y = int(rng.random() < (0.2 if version == "v1" else 0.4))
                score = float(np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1))
                rows.append((f"{version}-{k}", version, ts, json.dumps(features), score, y))
                k += 1
    n = len(rows)
    predictions = pa.table(
        {
            "id": [r[0] for r in rows],
            "model": ["m"] * n,
            "version": [r[1] for r in rows],
            "ts": pa.array([r[2] for r in rows], pa.timestamp("us")),
            "features": [r[3] for r in rows],
            "label": [str(int(r[4] >= 0.5)) for r in rows],
            "score": [r[4] for r in rows],
            "status": ["ok"] * n,
        }
    )
    outcomes = pa.table(
        {
            "prediction_id": [r[0] for r in rows[::2]],
            "label": [str(r[5]) for r in rows[::2]],
            "ts": pa.array([r[2] + HOUR for r in rows[::2]], pa.timestamp("us")),
        }
    )
    return {"predictions": predictions, "outcomes": outcomes}


@pytest.fixture(scope="module")
def source():
    with TableSource(_events(np.random.default_rng(5))) as s:
        yield s


def _old_read(source, scope, ref_scope, every, rule, pos_label):
    """The per-histogram read (before the arrays): cells by (window, role, name), and
    the latest window's full entries."""
    grid_rule = DriftRule(**{**rule.__dict__, "bootstrap": 0})
    current = source.feature_windows(scope, every)
    starts = sorted(current)
    ref_hists = next(iter(source.feature_windows(ref_scope, None).values()), {})
    names = sorted({n for s in starts for n in current[s]} | set(ref_hists))
    columns = {}
    for name in names:
        if name in ref_hists:
            columns[("feature", name)] = (
                histogram_from_store(ref_hists[name]),
                [
                    None if name not in current[s] else histogram_from_store(current[s][name])
                    for s in starts
                ],
            )
    cur_scores = source.score_histograms(scope, every, pos_label=pos_label)
    ref = next(iter(source.score_histograms(ref_scope, None, pos_label=pos_label).values()))
    edges = np.linspace(0.0, 1.0, 1001)
    windows = [cur_scores.get(s) for s in starts]

    def two(c):
        return Histogram.from_categories({"negative": int(c[0]), "positive": int(c[1])})

    columns[("score", "score")] = (
        Histogram(edges=edges, counts=ref.predicted.sum(axis=0)),
        [
            None if w is None else Histogram(edges=edges, counts=w.predicted.sum(axis=0))
            for w in windows
        ],
    )
    columns[("prediction", "predicted label")] = (
        two(ref.predicted.sum(axis=1)),
        [None if w is None else two(w.predicted.sum(axis=1)) for w in windows],
    )
    columns[("label", "label")] = (
        two(ref.labelled.sum(axis=1)),
        [None if w is None or not w.n_labelled else two(w.labelled.sum(axis=1)) for w in windows],
    )
    measured = []
    for (role, name), (ref_hist, hists) in columns.items():
        present = [(i, h) for i, h in enumerate(hists) if h is not None]
        if len(ref_hist.edges):
            found = measure_numeric_windows(ref_hist, [h for _, h in present], grid_rule)
            measured += [(i, role, name, m) for (i, _), m in zip(present, found, strict=True)]
        else:
            measured += [
                (i, role, name, measure_categorical(ref_hist, h, grid_rule)) for i, h in present
            ]
    calls = call_drift([m for *_, m in measured], rule)
    cells, latest = {}, {}
    for (i, role, name, m), call in zip(measured, calls, strict=True):
        effect = m.effect if m.effect is None or math.isfinite(m.effect) else None
        cells[(i, role, name)] = (
            effect,
            m.p_value,
            call.p_adjusted,
            call.drifted,
            call.status,
            m.rows_current,
        )
        if i == len(starts) - 1:
            entry = ColumnDrift(name, role, call).to_dict()
            ref_hist, hists = columns[(role, name)]
            full = (measure_numeric if len(ref_hist.edges) else measure_categorical)(
                ref_hist, hists[i], rule
            )
            entry["effect"].update(
                {
                    "lower": full.effect_lower,
                    "upper": full.effect_upper,
                    "interval_method": full.interval_method,
                }
            )
            latest[(role, name)] = entry
    return starts, cells, latest


@pytest.mark.parametrize("reference", ["version:v1", "previous:6h"])
def test_the_array_read_answers_every_cell_as_the_per_histogram_read(source, reference):
    rule = DriftRule()
    body = drift_of(
        source,
        "m",
        reference=reference,
        window="1h",
        version=None,
        since=T0 + 24 * HOUR,
        pos_label=1,
    )
    scope = Scope("m", T0 + 24 * HOUR)
    ref_scope = (
        Scope("m", version="v1")
        if reference.startswith("version")
        else Scope("m", T0 + 18 * HOUR, T0 + 24 * HOUR)
    )
    starts, cells, latest = _old_read(source, scope, ref_scope, HOUR, rule, 1)
    assert [w["start"] for w in body["windows"]] == [s.isoformat() for s in starts]
    got = {
        (i, c["role"], c["name"]): (
            c["effect"],
            c["p_value"],
            c["p_adjusted"],
            c["drifted"],
            c["status"],
            c["rows"],
        )
        for i, w in enumerate(body["windows"])
        for c in w["columns"]
    }
    # The grid's KS p-values are the scalar series over arrays, whose exp may round
    # differently in the last bit: p-values (raw and adjusted) agree to 1e-14.
    assert _close(got, cells)
    statuses = {v[4] for v in cells.values()}
    # The data exercise every kind of cell: calls either way and too few rows.
    assert {"drifted", "not_drifted", "too_few_rows"} <= statuses
    assert _close({(c["role"], c["name"]): c for c in body["latest"]["columns"]}, latest)


def _close(a, b) -> bool:
    """Equal, floats within 1e-14 relative."""
    if isinstance(a, dict) and isinstance(b, dict):
        return a.keys() == b.keys() and all(_close(a[k], b[k]) for k in a)
    if isinstance(a, list | tuple) and isinstance(b, list | tuple):
        return len(a) == len(b) and all(_close(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, float) and isinstance(b, float):
        return a == pytest.approx(b, rel=1e-14, abs=0)
    return bool(a == b)


def test_a_numeric_grid_equals_the_per_window_measurements():
    rng = np.random.default_rng(3)
    edges = np.linspace(-3, 3, 21)
    ref = Histogram.from_values(rng.normal(size=5000), edges=edges)
    currents = [
        Histogram.from_values(rng.normal(s, 1.0, n), edges=edges)
        for s, n in ((0, 300), (0.3, 50), (1.0, 2000))
    ]
    rule = DriftRule(bootstrap=0)
    old = measure_numeric_windows(ref, currents, rule)
    counts = np.array([[c.below, *c.counts, c.above] for c in currents])
    grid = numeric_grid(ref, counts, rule)
    assert grid.effect.tolist() == [m.effect for m in old]
    assert grid.p_value.tolist() == [m.p_value for m in old]
    assert grid.enough_rows.tolist() == [True, False, True]


def test_a_categorical_grid_equals_the_per_window_measurements_pooled_or_not():
    rng = np.random.default_rng(4)
    names = [f"c{i}" for i in range(12)]
    ref = Histogram.from_categories(
        {n: int(v) for n, v in zip(names, rng.integers(50, 500, 12), strict=True)}
    )
    rule = DriftRule(bootstrap=0)
    values = (*names, "unseen1")
    # Large windows (no pooling), small ones (pooling), one with unseen values, one empty.
    counts = np.array(
        [rng.integers(100, 300, 13) for _ in range(3)]
        + [rng.integers(0, 3, 13) for _ in range(3)]
        + [np.zeros(13, dtype=np.int64)]
    )
    other = np.array([5, 0, 7, 1, 0, 0, 0])
    missing = np.array([0, 3, 0, 0, 1, 0, 0])
    grid = categorical_grid(ref, values, counts, other, missing, rule)
    for w in range(counts.shape[0]):
        current = Histogram(
            categories={v: int(c) for v, c in zip(values, counts[w], strict=True) if c},
            other=int(other[w]),
            missing=int(missing[w]),
        )
        m = measure_categorical(ref, current, rule)
        assert (None if math.isnan(grid.effect[w]) else float(grid.effect[w])) == m.effect
        assert (None if math.isnan(grid.p_value[w]) else float(grid.p_value[w])) == m.p_value
        assert int(grid.rows_current[w]) == m.rows_current


class _Uploads:
    """A statistics source that also keeps one uploaded reference, ``train``: the
    version v1 of the wrapped source, reduced as an upload is (feature histograms on
    the same bins, score counts, predicted and actual labels)."""

    def __init__(self, source: TableSource) -> None:
        self._source = source
        v1 = Scope("m", version="v1")
        features = next(iter(source.feature_windows(v1, None).values()))
        scores = next(iter(source.score_histograms(v1, None, pos_label=1).values()))
        neg, pos = (int(v) for v in scores.predicted.sum(axis=1))
        yneg, ypos = (int(v) for v in scores.labelled.sum(axis=1))
        self.stored = StoredReference(
            "m",
            "train",
            2400,
            features,
            scores=tuple(int(v) for v in scores.predicted.sum(axis=0)),
            predicted={"negative": neg, "positive": pos},
            labels={"negative": yneg, "positive": ypos},
        )

    def __getattr__(self, name: str):
        return getattr(self._source, name)

    def fix_feature_bins(self, model, edges):  # pragma: no cover - not read by drift
        raise NotImplementedError

    def save_reference(self, reference, *, replace=False):  # pragma: no cover
        raise NotImplementedError

    def reference(self, model: str, name: str) -> StoredReference | None:
        return self.stored if (model, name) == ("m", "train") else None

    def references(self, model: str) -> list[StoredReference]:
        return [self.stored] if model == "m" else []

    def delete_reference(self, model, name):  # pragma: no cover
        raise NotImplementedError


def test_an_uploaded_reference_is_read_on_the_arrays_as_the_stores_own_scope(source):
    """The same histograms uploaded as ``upload:train`` give every cell, score and
    label columns included, of ``version:v1``; the answer names the upload."""
    uploads = _Uploads(source)
    assert isinstance(uploads, ReferenceStore)
    kwargs = {"window": "1h", "since": T0 + 24 * HOUR, "pos_label": 1}
    uploaded = drift_of(uploads, "m", reference="upload:train", **kwargs)
    stored = drift_of(source, "m", reference="version:v1", **kwargs)
    assert uploaded["windows"] == stored["windows"]
    assert uploaded["latest"] == stored["latest"]
    roles = {c["role"] for w in uploaded["windows"] for c in w["columns"]}
    assert roles == {"feature", "score", "prediction", "label"}
    described = uploaded["reference"]
    assert described["given"] == "upload:train" and described["upload"] == "train"
    assert described["file_rows"] == 2400 and described["version"] is None
    assert described["rows"] == stored["reference"]["rows"]


def test_an_upload_without_labels_has_no_label_column():
    with TableSource(_events(np.random.default_rng(5))) as s:
        uploads = _Uploads(s)
        uploads.stored = replace(uploads.stored, labels=None, scores=None)
        body = drift_of(uploads, "m", reference="upload:train", since=T0 + 24 * HOUR, pos_label=1)
    roles = {c["role"] for w in body["windows"] for c in w["columns"]}
    assert roles == {"feature", "prediction"}


class _MovingBins:
    """The wrapped source, but its first array read bins ``amount`` on other edges (as
    when a load moves a feature's provisional bins between the two reads)."""

    def __init__(self, source: TableSource) -> None:
        self._source = source
        self.reads = 0

    def __getattr__(self, name: str):
        return getattr(self._source, name)

    def feature_window_arrays(self, *args, **kwargs):
        arrays = self._source.feature_window_arrays(*args, **kwargs)
        self.reads += 1
        if self.reads > 1:
            return arrays
        f = arrays.names.index("amount")
        moved = tuple(e + 0.01 for e in arrays.edges[f])
        return replace(arrays, edges=(*arrays.edges[:f], moved, *arrays.edges[f + 1 :]))


def test_the_read_is_taken_again_when_the_windows_bins_moved_from_the_references(source):
    moving = _MovingBins(source)
    kwargs = {"window": "1h", "since": T0 + 24 * HOUR, "pos_label": 1}
    body = drift_of(moving, "m", reference="version:v1", **kwargs)
    assert moving.reads == 2
    assert body == drift_of(source, "m", reference="version:v1", **kwargs)


def _without_features(events: dict[str, pa.Table]) -> dict[str, pa.Table]:
    predictions = events["predictions"]
    i = predictions.column_names.index("features")
    nulls = pa.nulls(predictions.num_rows, pa.string())
    return {**events, "predictions": predictions.set_column(i, "features", nulls)}


@pytest.mark.parametrize("reference", ["version:v1", "previous:6h"])
def test_a_model_logging_scores_without_features_gets_its_score_and_label_drift(reference):
    """Probe finding L8: the windows came from feature rows only, so a model without
    features answered no windows. Its score, predicted-label and label cells are those
    of the same events with features, and ``previous:`` counts back from its first
    window (not from 1970)."""
    events = _events(np.random.default_rng(5))
    kwargs = {"window": "1h", "since": T0 + 24 * HOUR, "pos_label": 1}
    with TableSource(_without_features(events)) as bare, TableSource(events) as full:
        got = drift_of(bare, "m", reference=reference, **kwargs)
        expected = drift_of(full, "m", reference=reference, **kwargs)
    assert len(got["windows"]) == 6
    assert got["reference"] == {**expected["reference"], "rows": {}}
    if reference.startswith("previous"):
        assert got["reference"]["since"] == (T0 + 18 * HOUR).isoformat()
    # The same cells; only the Benjamini-Hochberg family is smaller (no feature tests).
    family = ("p_adjusted", "drifted", "status")

    def measured(cells: list[dict]) -> list[dict]:
        return [{k: v for k, v in c.items() if k not in family} for c in cells]

    for mine, theirs in zip(got["windows"], expected["windows"], strict=True):
        assert mine["start"] == theirs["start"]
        kept = [c for c in theirs["columns"] if c["role"] != "feature"]
        assert measured(mine["columns"]) == measured(kept)
        assert {c["role"] for c in mine["columns"]} == {"score", "prediction", "label"}
    latest = got["latest"]["columns"]
    assert [(c["name"], c["effect"], c["p_value"]) for c in latest] == [
        (c["name"], c["effect"], c["p_value"])
        for c in expected["latest"]["columns"]
        if c["role"] != "feature"
    ]


def test_a_latest_window_read_again_answers_what_measuring_it_afresh_does(source):
    from liveeval.service import drift as service_drift

    kwargs = {"window": "1h", "since": T0 + 24 * HOUR, "pos_label": 1}
    service_drift._MEASURED.clear()
    fresh = drift_of(source, "m", reference="version:v1", **kwargs)
    kept = len(service_drift._MEASURED)
    assert kept == len(fresh["latest"]["columns"]) > 0
    # Read again: every latest column from the kept measurements, the same answer.
    assert drift_of(source, "m", reference="version:v1", **kwargs) == fresh
    assert len(service_drift._MEASURED) == kept
    # Another reference is other inputs: measured, not taken from the first.
    other = drift_of(source, "m", reference="previous:6h", **kwargs)
    assert len(service_drift._MEASURED) > kept
    assert other["latest"]["columns"] != fresh["latest"]["columns"]


def test_kept_grid_cells_are_reused_only_for_windows_whose_counts_are_unchanged(monkeypatch):
    from liveeval.metrics.drift_grid import numeric_grids
    from liveeval.service import _drift_kept
    from liveeval.service._drift_kept import NumericColumn, forget_grids, kept_numeric_grids

    rng = np.random.default_rng(8)
    edges = np.linspace(-3, 3, 31)
    ref = Histogram.from_values(rng.normal(size=4000), edges=edges)
    rows = []
    for shift in np.linspace(0, 1, 12):
        h = Histogram.from_values(rng.normal(shift, 1.0, 500), edges=edges)
        rows.append([h.below, *h.counts, h.above])
    counts = np.array(rows, dtype=np.int64)
    windows = np.arange(12, dtype=np.int64) * 3600
    rule = DriftRule(bootstrap=0)
    asked: list[int] = []

    def spy(columns, rule):
        asked.extend(c.shape[0] for _, c in columns)
        return numeric_grids(columns, rule)

    monkeypatch.setattr(_drift_kept, "numeric_grids", spy)
    forget_grids()
    column = NumericColumn(("feature", "x"), ref, counts, windows)
    first = kept_numeric_grids([column], rule)[0]
    # The window an hour later: 11 windows read before (one gained a value) and a new one.
    moved = np.vstack([counts[1:], counts[:1]])
    moved[-2, 5] += 1
    later = NumericColumn(("feature", "x"), ref, moved, windows + 3600)
    again = kept_numeric_grids([later], rule)[0]
    assert asked == [12, 2]
    expected = numeric_grids([(ref, moved)], rule)[0]
    for f in ("effect", "p_value", "rows_current", "enough_rows"):
        assert getattr(again, f).tobytes() == getattr(expected, f).tobytes()
    assert again.effect[:10].tobytes() == first.effect[1:11].tobytes()
    # A read without the fifth window (rows not consecutive): nothing new to compute.
    keep = np.arange(12) != 4
    gap = NumericColumn(("feature", "x"), ref, moved[keep], (windows + 3600)[keep])
    without = kept_numeric_grids([gap], rule)[0]
    assert asked == [12, 2]
    assert without.effect.tobytes() == again.effect[keep].tobytes()
    # Another reference is other inputs: nothing reused.
    other = Histogram.from_values(rng.normal(size=4000), edges=edges)
    kept_numeric_grids([NumericColumn(("feature", "x"), other, moved, windows + 3600)], rule)
    assert asked == [12, 2, 12]


def test_a_new_prediction_or_label_changes_the_kept_read_as_it_changes_a_fresh_one(tmp_path):
    from liveeval.service import drift as service_drift
    from liveeval.service._drift_kept import forget_grids
    from liveeval.store.duck.engine import DuckEngine

    events = _events(np.random.default_rng(5))
    kwargs = {"reference": "version:v1", "window": "1h", "since": T0 + 24 * HOUR, "pos_label": 1}

    def fresh(engine):
        forget_grids()
        service_drift._MEASURED.clear()
        return drift_of(engine, "m", **kwargs)

    engine = DuckEngine(tmp_path / "drift.duckdb")
    try:
        engine.commit("predictions", events["predictions"].to_pylist())
        engine.commit("outcomes", events["outcomes"].to_pylist())
        before = drift_of(engine, "m", **kwargs)
        assert drift_of(engine, "m", **kwargs) == before == fresh(engine)
        # A prediction in the fourth hour (not the latest): its cells change, the rest not.
        features = {"amount": 3.5, "other": 0.1, "city": "a", "flag": True, "sparse": 9.0}
        engine.commit(
            "predictions",
            [
                {
                    "id": "late",
                    "model": "m",
                    "version": "v2",
                    "ts": T0 + 27.5 * HOUR,
                    "features": json.dumps(features),
                    "label": "1",
                    "score": 0.97,
                    "status": "ok",
                }
            ],
        )
        after = drift_of(engine, "m", **kwargs)
        assert after != before
        assert after == fresh(engine)

        def cells(body, i):
            return [
                (c["name"], c["effect"], c["p_value"], c["rows"])
                for c in body["windows"][i]["columns"]
                if c["name"] in ("score", "predicted label", "label", "city")
            ]

        assert cells(after, 3) != cells(before, 3)
        # The other windows' score and category cells are the same (their adjusted
        # p-values are not: one family). The numeric features' bins are provisional
        # (fewer than 10,000 numbers), so the new number moved every window's.
        assert all(cells(after, i) == cells(before, i) for i in (0, 1, 2, 4, 5))
        # A label for it: the label column moves.
        engine.commit("outcomes", [{"prediction_id": "late", "label": "1", "ts": T0 + 28 * HOUR}])
        labelled = drift_of(engine, "m", **kwargs)
        assert labelled != after
        assert labelled == fresh(engine)
    finally:
        engine.close()

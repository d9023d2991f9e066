"""The alert loop's bucket-count read holds, bucket by bucket, the counts of the
windowed statistics read: predictions, failures, confusion cells, business values."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest

from liveeval.errors import ValidationError
from liveeval.store import Scope, encode_label, open_store
from liveeval.store.duck.bucket_counts import bucket_start
from liveeval.store.interface import ROLLUP_BUCKET, BucketCountSource

T0 = datetime(2026, 5, 1)


@pytest.fixture
def store(tmp_path):
    s = open_store(tmp_path / "b.duckdb")
    rng = np.random.default_rng(5)
    for model in ("a", "b"):
        predictions, outcomes = [], []
        for i in range(300):
            failed = i % 23 == 0
            pid = f"{model}{i}"
            ts = T0 + timedelta(minutes=2 * i)
            predictions.append(
                {"id": pid, "model": model, "version": f"v{i // 150}", "ts": ts,
                 "segment": None if i % 3 else "eu", "status": "error" if failed else "ok",
                 "error_type": "boom" if failed else None,
                 "label": None if failed else encode_label(int(rng.random() < 0.4))}
            )  # fmt: skip
            if i % 5 == 0:  # a business value without a label
                outcomes.append({"prediction_id": pid, "value": float(i % 2), "ts": ts})
            elif i % 4:
                outcomes.append({"prediction_id": pid, "label": encode_label(int(i % 7 == 0)),
                                 "value": 2.5, "ts": ts})  # fmt: skip
        s.commit("predictions", predictions)
        s.commit("outcomes", outcomes)
    yield s
    s.close()


def test_bucket_counts_hold_the_windowed_statistics_of_every_bucket(store):
    assert isinstance(store, BucketCountSource)
    counts = store.bucket_counts(["a", "b"], None, None)
    assert set(counts.model.tolist()) == {"a", "b"}
    for model in ("a", "b"):
        grouped = store.grouped_statistics(
            Scope(model), ("version", "segment"), every=ROLLUP_BUCKET, classes=(0, 1)
        )
        rows = np.flatnonzero(counts.model == model)
        assert len(rows) == len(grouped)
        for i in rows.tolist():
            key = (counts.version[i], counts.segment[i], bucket_start(int(counts.bucket[i])))
            stats = grouped[key]
            assert (counts.predictions[i], counts.failed[i]) == (stats.predictions, stats.failed)
            cells = counts.cell_row == i
            assert counts.cell_n[cells].sum() == stats.labelled
            n, total, _, binary = stats.values
            assert counts.values_n[i] == n and counts.values_sum[i] == pytest.approx(total)
            assert bool(counts.values_binary[i]) == binary
            if stats.evaluation is not None:
                cm = stats.evaluation.confusion.counts
                for t, p, k in zip(counts.cell_actual[cells], counts.cell_predicted[cells],
                                   counts.cell_n[cells], strict=True):  # fmt: skip
                    assert cm[int(t), int(p)] == k


def test_bucket_counts_read_a_range_of_buckets_and_refuse_a_bucket_cut_in_two(store):
    since, until = T0 + timedelta(hours=2), T0 + timedelta(hours=4)
    counts = store.bucket_counts(["a"], since, until)
    starts = {bucket_start(int(b)) for b in counts.bucket.tolist()}
    assert min(starts) == since and max(starts) == until - ROLLUP_BUCKET
    assert store.bucket_counts(["nobody"], None, None).bucket.size == 0
    with pytest.raises(ValidationError, match=r"00:05:00 is not on a 0:15:00 boundary"):
        store.bucket_counts(["a"], T0 + timedelta(minutes=5), None)

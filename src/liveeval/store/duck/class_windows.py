"""A multiclass model's class probabilities per window, from ``rollup_probas``.

The rollup keeps, per bucket, each class position ``cls``'s probability in
``SCORE_BINS`` bins as one list per (kind, width, actual label, predicted label, cls)
(:func:`.rollup._probas_sql`). A read resolves the stored label texts onto the model's
classes (declared, else the sorted labels, as :func:`.aggregate._multiclass`), keeps the
rows whose ``width`` is the number of classes, and adds the lists into
:class:`~liveeval.store.interface.ClassScoreHistograms` per window in numpy.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import duckdb
import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from ...errors import ValidationError
from ...metrics.labels import Label
from ..interface import SCORE_BINS, ClassScoreHistograms, Scope
from ..labels import resolve_labels
from ._rollup_sql import BUCKET_SECONDS, HOUR
from ._window_sql import add_rows, check, list_matrix, rollup_where, scores_table, start, window_key

__all__ = ["class_score_histograms", "probas_table"]


def probas_table(scope: Scope, every: timedelta | None) -> tuple[str, int]:
    """The hourly table when the windows and scope are whole hours (as the scores)."""
    hourly = scores_table(scope, every)[1] == HOUR
    return ("rollup_probas_hourly", HOUR) if hourly else ("rollup_probas", BUCKET_SECONDS)


def class_score_histograms(
    cur: duckdb.DuckDBPyConnection,
    scope: Scope,
    every: timedelta | None,
    *,
    classes: tuple[Label, ...] | None = None,
) -> dict[datetime, ClassScoreHistograms]:
    """Per window: the class probabilities of the ok predictions whose ``probas`` has
    one value per class, and of the labelled pairs among them; see
    :meth:`liveeval.store.StatisticsSource.class_score_histograms`."""
    check(scope, every)
    table, grain = probas_table(scope, every)
    where, params = rollup_where(scope, grain=grain)
    rows = cur.sql(
        f"SELECT {window_key(every, grain)} AS w, kind, width, label, predicted, cls, counts "
        f"FROM {table} r WHERE {where}",
        params=params,
    ).to_arrow_table()
    if rows.num_rows == 0:
        return {}
    actual = pc.unique(rows.column("label")).to_pylist()
    texts = sorted({t for t in actual if t} | set(pc.unique(rows.column("predicted")).to_pylist()))
    resolved = resolve_labels(texts, classes)
    k = len(resolved.labels)
    if resolved.outside:
        # As the confusion matrix (store.duck.aggregate.assemble): rows labelled outside
        # a declared model's classes (an early outcome's label) are left out; they
        # have no probability column.
        strays = pa.array(sorted(resolved.outside), pa.string())
        stray = [pc.is_in(pc.fill_null(rows.column(c), ""), strays) for c in ("label", "predicted")]
        rows = rows.filter(pc.invert(pc.or_(*stray)))
        texts = [t for t in texts if t not in resolved.outside]
        k = resolved.declared or 0
        if rows.num_rows == 0:
            return {}
    if k < 2:
        raise ValidationError(
            f"class probabilities need at least 2 classes; model {scope.model!r} has "
            f"labels {list(resolved.labels)!r}"
        )
    rows = rows.filter(pc.equal(rows.column("width"), k))
    if rows.num_rows == 0:
        return {}
    index = resolved.index
    code = np.array([index.get(t, -1) for t in texts], dtype=np.int64)
    lookup = pa.array(texts, pa.string())
    pred = code[pc.index_in(rows.column("predicted"), value_set=lookup).to_numpy()]
    label_at = pc.index_in(rows.column("label"), value_set=lookup)
    true = np.where(
        pc.is_valid(label_at).to_numpy(zero_copy_only=False),
        code[pc.fill_null(label_at, 0).to_numpy()],
        -1,
    )
    cls = rows.column("cls").to_numpy().astype(np.int64)
    windows, w = np.unique(rows.column("w").to_numpy(), return_inverse=True)
    w = w.astype(np.int64)
    counts = list_matrix(rows.column("counts"), SCORE_BINS, native=True)
    is_p = pc.equal(rows.column("kind"), "p").to_numpy(zero_copy_only=False)
    n_w = windows.size
    predicted = np.zeros((n_w * k * k, SCORE_BINS), dtype=np.int64)
    p = np.flatnonzero(is_p)
    add_rows(predicted, (w[p] * k + cls[p]) * k + pred[p], counts[p])
    labelled = np.zeros((n_w * k * 2, SCORE_BINS), dtype=np.int64)
    hit = np.zeros_like(labelled)
    lab = np.flatnonzero(~is_p)
    a = (true[lab] == cls[lab]).astype(np.int64)
    slot = (w[lab] * k + cls[lab]) * 2 + a
    add_rows(labelled, slot, counts[lab])
    mine = pred[lab] == cls[lab]
    add_rows(hit, slot[mine], counts[lab][mine])
    # Each labelled pair appears once per class position: count it at position 0.
    first = lab[cls[lab] == 0]
    totals = counts[first].sum(axis=1, dtype=np.int64)
    confusion = np.bincount(
        (w[first] * k + true[first]) * k + pred[first], weights=totals, minlength=n_w * k * k
    ).astype(np.int64)
    predicted4 = predicted.reshape(n_w, k, k, SCORE_BINS)
    labelled4 = labelled.reshape(n_w, k, 2, SCORE_BINS)
    hit4 = hit.reshape(n_w, k, 2, SCORE_BINS)
    confusion3 = confusion.reshape(n_w, k, k)
    out: dict[datetime, ClassScoreHistograms] = {}
    for i, win in enumerate(windows.tolist()):
        out[start(int(win), every, scope)] = ClassScoreHistograms(
            predicted4[i], labelled4[i], hit4[i], confusion3[i], resolved.labels[:k]
        )
    return out

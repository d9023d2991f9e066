"""Steps shared by the columnar rollup reads (:mod:`.window_arrays` for one model,
:mod:`.models_arrays` for every model at once): once each table's rows carry a group
number, the columns they sum to are the same whatever the groups are."""

from __future__ import annotations

from typing import Any

import numpy as np
import pyarrow as pa

from ...metrics import LossSums

IntVector = np.ndarray[Any, np.dtype[np.int64]]
FloatMatrix = np.ndarray[Any, np.dtype[np.float64]]
SketchKeys = tuple[IntVector, IntVector, np.ndarray[Any, np.dtype[np.float64]]]

# The confusion cells' sums (rollup_cells): pairs, scored pairs, log-loss and Brier
# parts per side, and the business values.
CELLS = ("n", "ns", "nls", "nls2", "nlq", "nlq2", "s2", "s4", "q2", "q4", "vn", "vs", "vss")
CELL_SUMS = ", ".join(
    f"sum({c})::BIGINT AS {c}" if c in ("n", "ns", "vn") else f"sum({c}) AS {c}" for c in CELLS
)
LATENCY_TOTALS = ("lat_n", "lat_zeros", "lat_sum", "lat_sum2", "lat_max")
LATENCY_SUMS = (
    "sum(lat_n)::DOUBLE AS lat_n, sum(lat_zeros)::DOUBLE AS lat_zeros, "
    "sum(lat_sum) AS lat_sum, sum(lat_sum2) AS lat_sum2, max(lat_max) AS lat_max"
)


def latency_totals(counts: pa.Table, at: IntVector, g_count: int) -> FloatMatrix:
    """Each group's latency totals (count, zeros, sum, sum of squares, max; 0 for none)."""
    totals = np.column_stack(
        [
            counts.column(c).to_numpy(zero_copy_only=False).astype(np.float64)[at]
            for c in LATENCY_TOTALS
        ]
    ).reshape(g_count, len(LATENCY_TOTALS))
    return np.where(np.isnan(totals), 0.0, totals)


def sketch_keys(lat_rows: pa.Table, lat_group: IntVector) -> SketchKeys:
    """The latency buckets' rows of the groups with predictions as (group, bucket key,
    count) columns, sorted by group then key (what ``GroupedArrays.sketch_of`` slices)."""
    lat_key = lat_rows.column("k").to_numpy().astype(np.int64)
    kept = lat_group >= 0
    order = np.lexsort((lat_key[kept], lat_group[kept]))
    return (
        lat_group[kept][order],
        lat_key[kept][order],
        lat_rows.column("n").to_numpy().astype(np.float64)[kept][order],
    )


def cell_columns(cells: pa.Table) -> dict[str, np.ndarray[Any, np.dtype[np.float64]]]:
    """The confusion cells' sums as float columns."""
    return {c: cells.column(c).to_numpy(zero_copy_only=False).astype(np.float64) for c in CELLS}


def business_values(
    cells: pa.Table,
    col: dict[str, np.ndarray[Any, np.dtype[np.float64]]],
    cell_group: IntVector,
    g_count: int,
) -> tuple[FloatMatrix, np.ndarray[Any, np.dtype[np.bool_]]]:
    """Each group's outcome values (count, sum, sum of squares) from the cells with
    values, as ``assemble`` sums them, and whether all of them were 0/1."""
    vbin = np.array([v is True for v in cells.column("vbin").to_pylist()], np.bool_)
    has_values = col["vn"] > 0
    values = np.column_stack(
        [
            np.bincount(cell_group, weights=np.where(has_values, col[c], 0.0), minlength=g_count)
            for c in ("vn", "vs", "vss")
        ]
    ).reshape(g_count, 3)
    binary = np.bincount(cell_group, weights=has_values & ~vbin, minlength=g_count) == 0
    return values.astype(np.float64), binary


def label_texts(
    cells: pa.Table,
) -> tuple[list[str], list[str], np.ndarray[Any, np.dtype[np.bool_]]]:
    """The cells' actual and predicted label texts ('' for none) and which cells are
    labelled pairs (both texts present)."""
    t_text = ["" if v is None else str(v) for v in cells.column("t").to_pylist()]
    p_text = ["" if v is None else str(v) for v in cells.column("pl").to_pylist()]
    valid = np.array([bool(a) and bool(b) for a, b in zip(t_text, p_text, strict=True)], np.bool_)
    return t_text, p_text, valid


def loss_sums(
    col: dict[str, np.ndarray[Any, np.dtype[np.float64]]],
    is_pos: np.ndarray[Any, np.dtype[np.bool_]],
    cell_group: IntVector,
    use: np.ndarray[Any, np.dtype[np.bool_]],
    column: np.ndarray[Any, np.dtype[np.bool_]],
) -> list[LossSums | None]:
    """The column groups' loss sums from the cells ``use`` picks: a positive row's
    -ln(s) and (1 - s)^2, a negative row's -ln(1 - s) and s^2 (None without scores)."""
    g_count = column.size
    parts = {
        "ns": col["ns"],
        "ll": np.where(is_pos, col["nls"], col["nlq"]),
        "ll2": np.where(is_pos, col["nls2"], col["nlq2"]),
        "b": np.where(is_pos, col["q2"], col["s2"]),
        "b2": np.where(is_pos, col["q4"], col["s4"]),
    }
    summed = {
        k: np.bincount(cell_group[use], weights=v[use], minlength=g_count) for k, v in parts.items()
    }
    rows = np.rint(summed["ns"]).astype(np.int64).tolist()
    ll, ll2, b, b2 = (summed[k].tolist() for k in ("ll", "ll2", "b", "b2"))
    losses: list[LossSums | None] = [None] * g_count
    for g in np.flatnonzero(column).tolist():
        n = rows[g]
        if n:
            losses[g] = LossSums(float(n), float(n), n, ll[g], ll2[g], b[g], b2[g])
    return losses


def cells_by_group(
    cells: pa.Table, cell_group: IntVector, groups: list[int]
) -> dict[int, list[dict[str, Any]]]:
    """The cell rows of ``groups`` as ``assemble`` takes them ('' labels as None)."""
    cell_dicts = cells.to_pylist()
    per_group: dict[int, list[dict[str, Any]]] = {g: [] for g in groups}
    for i, g in enumerate(cell_group.tolist()):
        if g in per_group:
            c = cell_dicts[i]
            per_group[g].append({**c, "t": c["t"] or None, "pl": c["pl"] or None})
    return per_group

"""A statistics source over event tables: Arrow tables or Parquet files, nothing to run.

:class:`TableSource` answers the same reads as a store (:class:`StatisticsSource`)
from tables in the store's event layout (:func:`liveeval.store.content_schema`):
predictions and outcomes, and optionally deployments and resource samples. It reads
the folder :meth:`Store.export` writes (Parquet partitioned by model and date), which
is also what the Spark engine of a later issue reads.

Events in files follow the store's rules: an id seen twice counts once (its first
row, as the store keeps the first it accepted), an outcome pairs with its prediction
whichever came first, and the statistics are the same GROUP BYs the DuckDB engine
runs, over an in-process, in-memory database built once from the tables.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Literal

import duckdb
import numpy as np
import pyarrow as pa

from ..errors import ValidationError
from ..metrics.labels import Label
from .bins_export import read_feature_bins
from .duck import class_windows, lifecycle, operations, windows
from .duck.aggregate import aggregate, grouped_aggregate
from .duck.features import feature_histograms, insert_features
from .duck.lifecycle import deployment_events, prediction_pairs
from .duck.models_arrays import models_grouped_arrays
from .duck.rollup import backfill
from .duck.schema import migrate
from .duck.store import LABELLED_INSERT
from .duck.window_arrays import rollup_grouped_arrays
from .events import KINDS, Kind, content_schema, id_field
from .interface import (
    ClassScoreHistograms,
    DeploymentEvent,
    FailureCount,
    FeatureHistogram,
    FeatureWindows,
    GroupedArrays,
    LabelDelays,
    PairStats,
    ResourceWindow,
    Scope,
    ScoreHistogram,
    ScoreWindows,
    StoreStats,
)

__all__ = ["TableSource"]


class TableSource:
    """Sufficient statistics of event tables in the store's layout.

    Parameters
    ----------
    tables
        Arrow tables by event kind (``"predictions"``, ``"outcomes"``,
        ``"deployments"``, ``"resource_samples"``); a missing kind has no events, a
        missing column is null, extra columns are ignored.
    feature_bins
        A store's frozen bins of numeric features (model, name, edges), as an export
        writes them: the numbers are binned on them, so drift on the tables equals drift
        on the store (without them, bins are rebuilt from the tables' own order).

    Raises
    ------
    ValidationError
        for an unknown kind or a column whose values cannot take the store's type.
    """

    def __init__(
        self, tables: Mapping[str, pa.Table], *, feature_bins: pa.Table | None = None
    ) -> None:
        for kind in tables:
            if kind not in KINDS:
                raise ValidationError(
                    f"unknown event kind {kind!r}; expected one of {list(KINDS)!r}"
                )
        self._con = duckdb.connect(":memory:")
        self._con.execute("SET enable_progress_bar = false").fetchall()
        self.schema_version = migrate(self._con)
        con = self._con
        con.execute("BEGIN TRANSACTION").fetchall()
        for kind, table in tables.items():
            source = _in_layout(kind, table)
            con.register("source", source)
            key = id_field(kind)
            columns = ", ".join(f'"{c}"' for c in content_schema(kind).names)
            if key is None:
                con.execute(f"INSERT INTO {kind} SELECT {columns} FROM source").fetchall()
            else:
                # The first row of each id, as the store keeps the first it accepted.
                con.execute(
                    f"INSERT INTO {kind} SELECT {columns} FROM source "
                    f"QUALIFY row_number() OVER (PARTITION BY {key} ORDER BY __row) = 1"
                ).fetchall()
            con.unregister("source")
        if feature_bins is not None and feature_bins.num_rows:
            # A store's frozen bins (an export's): numbers binned as the store bins them.
            con.register("bins", feature_bins)
            con.execute("INSERT INTO feature_bins SELECT model, name, edges FROM bins").fetchall()
            con.unregister("bins")
        insert_features(con, "predictions")
        con.execute(
            f"{LABELLED_INSERT} FROM predictions p JOIN outcomes o ON o.prediction_id = p.id"
        ).fetchall()
        backfill(con)
        con.execute("COMMIT").fetchall()

    @classmethod
    def from_parquet(cls, folder: str | Path) -> TableSource:
        """The events under ``folder`` as :meth:`Store.export` writes them: one
        sub-folder per kind, Parquet files partitioned Hive-style (``model=…/date=…``)."""
        root = Path(folder)
        if not root.is_dir():
            raise ValidationError(f"{root} is not a folder of exported events")
        tables: dict[str, pa.Table] = {}
        con = duckdb.connect(":memory:")
        try:
            for kind in KINDS:
                files = sorted((root / kind).rglob("*.parquet")) if (root / kind).is_dir() else []
                if not files:
                    continue
                tables[kind] = con.sql(
                    "SELECT * FROM read_parquet(?, hive_partitioning = true, "
                    "hive_types_autocast = false, union_by_name = true)",
                    params=[[str(f) for f in files]],
                ).to_arrow_table()
        finally:
            con.close()
        return cls(tables, feature_bins=read_feature_bins(root))

    def close(self) -> None:
        self._con.close()

    def __enter__(self) -> TableSource:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    # -- StatisticsSource ---------------------------------------------------------------

    def statistics(
        self,
        scope: Scope,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> StoreStats:
        return aggregate(self._con.cursor(), scope, classes=classes, pos_label=pos_label)

    def grouped_statistics(
        self,
        scope: Scope,
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta | None = None,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> dict[tuple[Any, ...], StoreStats]:
        cur = self._con.cursor()
        if every is not None and windows.unaligned(scope, every) is None:
            return windows.rollup_grouped(
                cur, scope, by, every, classes=classes, pos_label=pos_label
            )
        return grouped_aggregate(cur, scope, by, every=every, classes=classes, pos_label=pos_label)

    def grouped_statistic_arrays(
        self,
        scope: Scope,
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
        latency: bool = True,
        score_histograms: bool = False,
    ) -> GroupedArrays:
        cur = self._con.cursor()
        if windows.unaligned(scope, every) is None:
            return rollup_grouped_arrays(
                cur,
                scope,
                by,
                every,
                classes=classes,
                pos_label=pos_label,
                latency=latency,
                histograms=score_histograms,
            )
        return GroupedArrays.of(
            grouped_aggregate(cur, scope, by, every=every, classes=classes, pos_label=pos_label)
        )

    def models_grouped_statistics(
        self,
        labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta,
        since: datetime | None = None,
        until: datetime | None = None,
        scores: bool = True,
    ) -> dict[str, dict[tuple[Any, ...], StoreStats]]:
        return windows.models_grouped(
            self._con.cursor(), labels, by, every, since, until, scores=scores
        )

    def models_grouped_statistic_arrays(
        self,
        labels: Mapping[str, tuple[tuple[Label, ...] | None, Label | None]],
        by: Sequence[Literal["version", "segment"]] = (),
        *,
        every: timedelta,
        since: datetime | None = None,
        until: datetime | None = None,
        scores: bool = True,
    ) -> dict[str, GroupedArrays]:
        return models_grouped_arrays(
            self._con.cursor(), labels, by, every, since, until, scores=scores
        )

    def feature_histograms(
        self,
        scope: Scope,
        names: Sequence[str] | None = None,
        *,
        bins: int = 10,
        edges: Mapping[str, Sequence[float]] | None = None,
        max_categories: int = 50,
    ) -> dict[str, FeatureHistogram]:
        return feature_histograms(
            self._con.cursor(),
            scope,
            names,
            bins=bins,
            edges=edges,
            max_categories=max_categories,
        )

    def score_histograms(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> dict[datetime, ScoreHistogram]:
        return windows.score_histograms(
            self._con.cursor(), scope, every, classes=classes, pos_label=pos_label
        )

    def score_window_arrays(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
        pos_label: Label | None = None,
    ) -> ScoreWindows:
        return windows.score_window_arrays(
            self._con.cursor(), scope, every, classes=classes, pos_label=pos_label
        )

    def class_score_histograms(
        self,
        scope: Scope,
        every: timedelta | None = None,
        *,
        classes: tuple[Label, ...] | None = None,
    ) -> dict[datetime, ClassScoreHistograms]:
        return class_windows.class_score_histograms(
            self._con.cursor(), scope, every, classes=classes
        )

    def feature_windows(
        self,
        scope: Scope,
        every: timedelta | None = None,
        names: Sequence[str] | None = None,
        *,
        max_categories: int = 50,
    ) -> dict[datetime, dict[str, FeatureHistogram]]:
        return windows.feature_windows(
            self._con.cursor(), scope, every, names, max_categories=max_categories, hourly=True
        )

    def feature_window_arrays(
        self,
        scope: Scope,
        every: timedelta | None = None,
        names: Sequence[str] | None = None,
        *,
        max_categories: int = 50,
    ) -> FeatureWindows:
        return windows.feature_window_arrays(
            self._con.cursor(), scope, every, names, max_categories=max_categories, hourly=True
        )

    def feature_bins(self, model: str) -> dict[str, tuple[float, ...]]:
        return windows.feature_bins(self._con.cursor(), model)

    def label_delays(self, scope: Scope) -> LabelDelays:
        return windows.label_delays(self._con.cursor(), scope)

    def failures(self, scope: Scope, every: timedelta) -> list[FailureCount]:
        return operations.failures(self._con.cursor(), scope, every)

    def resource_windows(
        self, since: datetime | None, until: datetime | None, every: timedelta
    ) -> list[ResourceWindow]:
        return operations.resource_windows(self._con.cursor(), since, until, every)

    def deployment_events(self, model: str) -> list[DeploymentEvent]:
        return deployment_events(self._con.cursor(), model)

    def prediction_pairs(
        self,
        model: str,
        version_a: str,
        version_b: str,
        since: datetime | None = None,
        until: datetime | None = None,
    ) -> PairStats:
        return prediction_pairs(self._con.cursor(), model, version_a, version_b, since, until)

    def prediction_pair_windows(
        self,
        model: str,
        version_a: str,
        version_b: str,
        since: datetime,
        until: datetime,
        every: timedelta,
    ) -> dict[int, PairStats]:
        return lifecycle.prediction_pair_windows(
            self._con.cursor(), model, version_a, version_b, since, until, every
        )

    def has_model(self, model: str) -> bool:
        cur = self._con.cursor()
        return bool(
            cur.execute("SELECT 1 FROM predictions WHERE model = ? LIMIT 1", [model]).fetchall()
        )

    def models(self) -> set[str]:
        rows = self._con.cursor().execute("SELECT DISTINCT model FROM predictions").fetchall()
        return {str(r[0]) for r in rows}

    def versions_since(self, since: datetime | None) -> list[tuple[str, str]]:
        cur = self._con.cursor()
        sql = "SELECT DISTINCT model, version FROM predictions"
        rows = (
            cur.execute(sql).fetchall()
            if since is None
            else cur.execute(sql + " WHERE ts >= ?", [since]).fetchall()
        )
        return sorted((str(m), str(v)) for m, v in rows)

    def count(self, kind: Kind) -> int:
        if kind not in KINDS:
            raise ValidationError(f"unknown event kind {kind!r}; expected one of {list(KINDS)!r}")
        row = self._con.cursor().execute(f"SELECT count(*) FROM {kind}").fetchone()
        return int(row[0]) if row else 0


def _in_layout(kind: str, table: pa.Table) -> pa.Table:
    """``table`` with the store's columns for ``kind`` (missing ones null) and its row
    order as ``__row``."""
    schema = content_schema(kind)
    columns = []
    for field in schema:
        if field.name in table.column_names:
            column = table.column(field.name)
            try:
                columns.append(column.cast(field.type))
            except (pa.ArrowInvalid, pa.ArrowNotImplementedError) as exc:
                raise ValidationError(
                    f"{kind} column {field.name!r} of type {column.type} cannot be read as "
                    f"{field.type}: {exc}"
                ) from None
        else:
            columns.append(pa.nulls(table.num_rows, field.type))
    columns.append(pa.array(np.arange(table.num_rows, dtype=np.int64)))
    return pa.Table.from_arrays(columns, names=[*schema.names, "__row"])

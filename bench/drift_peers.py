"""The peers of ``bench/drift.py``, each run in its own virtual environment.

``python drift_peers.py PEER REF CUR`` prints one JSON line: seconds of the drift
computation (data already in memory: the read is not timed), peak RSS, whether
``num_00`` (shifted by 0.1 SD) was called drifted, and the other columns called.

- evidently: ``Report([DataDriftPreset()]).run(current, reference)`` (Evidently 0.7,
  default methods: Wasserstein normalised by std > 0.1 for numeric, Jensen–Shannon
  > 0.1 for categorical columns beyond 1000 rows);
- nannyml: ``UnivariateDriftCalculator`` with its defaults (ten chunks, Jensen–Shannon,
  alert above 0.1), fit on the reference, calculate on the current; a column counts as
  called when any current chunk alerts;
- alibi: ``TabularDrift`` (KS for numeric, chi-square for categorical columns, encoded
  as integers; Bonferroni over features, p < 0.05).
"""

from __future__ import annotations

import json
import os
import resource
import sys
import time

import pyarrow.parquet as pq

SHIFTED = "num_00"
os.environ.setdefault("NML_DISABLE_USAGE_LOGGING", "1")


def _frames(ref: str, cur: str):
    return pq.read_table(ref).to_pandas(), pq.read_table(cur).to_pandas()


def evidently(ref: str, cur: str) -> tuple[float, list[str]]:
    from evidently import DataDefinition, Dataset, Report
    from evidently.presets import DataDriftPreset

    r, c = _frames(ref, cur)
    num = [n for n in r.columns if n.startswith("num_")]
    cat = [n for n in r.columns if n.startswith("cat_")]
    started = time.perf_counter()
    definition = DataDefinition(numerical_columns=num, categorical_columns=cat)
    snapshot = Report([DataDriftPreset()]).run(
        Dataset.from_pandas(c, data_definition=definition),
        Dataset.from_pandas(r, data_definition=definition),
    )
    doc = snapshot.dict()
    elapsed = time.perf_counter() - started
    drifted = []
    for metric in doc["metrics"]:
        config = metric.get("config", {})
        column = config.get("column")
        threshold = config.get("threshold")
        method = str(config.get("method", ""))
        value = metric.get("value")
        if column is None or not isinstance(value, (int, float)) or threshold is None:
            continue
        # p-value methods drift below the threshold, distances at or above it.
        is_p_value = "p_value" in method or "test" in method.lower()
        if (value < threshold) if is_p_value else (value >= threshold):
            drifted.append(column)
    return elapsed, drifted


def nannyml(ref: str, cur: str) -> tuple[float, list[str]]:
    import nannyml as nml

    r, c = _frames(ref, cur)
    cols = list(r.columns)
    started = time.perf_counter()
    calc = nml.UnivariateDriftCalculator(
        column_names=cols,
        treat_as_categorical=[n for n in cols if n.startswith("cat_")],
    )  # default chunking (10 chunks); with one chunk its threshold came out 0.0 here
    calc.fit(r)
    result = calc.calculate(c).filter(period="analysis").to_df()
    elapsed = time.perf_counter() - started
    drifted = []
    for col in cols:
        alerts = [k for k in result.columns if k[0] == col and k[-1] == "alert"]
        if any(bool(result[k].any()) for k in alerts):
            drifted.append(col)
    return elapsed, drifted


def alibi(ref: str, cur: str) -> tuple[float, list[str]]:
    import numpy as np
    from alibi_detect.cd import TabularDrift

    rt, ct = pq.read_table(ref), pq.read_table(cur)
    cols = rt.column_names

    def encode(table, col, categories):
        values = table.column(col).to_numpy(zero_copy_only=False)
        if col.startswith("cat_"):
            lookup = {v: i for i, v in enumerate(categories)}
            return np.array([lookup.get(v, len(lookup)) for v in values], dtype=np.float32)
        return values.astype(np.float32)

    cats = {c: sorted(set(rt.column(c).unique().to_pylist())) for c in cols if c.startswith("cat_")}
    x_ref = np.column_stack([encode(rt, c, cats.get(c)) for c in cols])
    x_cur = np.column_stack([encode(ct, c, cats.get(c)) for c in cols])
    started = time.perf_counter()
    detector = TabularDrift(
        x_ref, p_val=0.05, categories_per_feature={i: None for i, c in enumerate(cols) if c in cats}
    )
    preds = detector.predict(x_cur, drift_type="feature")
    elapsed = time.perf_counter() - started
    flags = preds["data"]["is_drift"]
    return elapsed, [c for c, f in zip(cols, flags, strict=True) if f]


def _cpu(usage: resource.struct_rusage) -> float:
    return usage.ru_utime + usage.ru_stime


def main() -> None:
    peer, ref, cur = sys.argv[1:4]
    before = resource.getrusage(resource.RUSAGE_SELF)
    elapsed, drifted = {"evidently": evidently, "nannyml": nannyml, "alibi": alibi}[peer](ref, cur)
    print(
        json.dumps(
            {
                "seconds": elapsed,
                "cpu_seconds_with_read": _cpu(resource.getrusage(resource.RUSAGE_SELF))
                - _cpu(before),
                "peak_rss_mb": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024,
                "found_shift": SHIFTED in drifted,
                "false_calls": [d for d in drifted if d != SHIFTED],
            }
        )
    )


if __name__ == "__main__":
    main()

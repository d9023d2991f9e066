"""NannyML's CBPE on the benchmark's data; run by bench/estimate.py in NannyML's own venv.

    bench/data/venv-nannyml/bin/python bench/estimate_nannyml.py REF.parquet DATA.parquet

Prints one JSON line: seconds (read + fit + estimate, imports not timed), version,
and per chunk [value, lower, upper] of each metric (NannyML's confidence band).
"""

from __future__ import annotations

import json
import sys
import time
import warnings

import nannyml as nml
import pandas as pd
import pyarrow.parquet  # noqa: F401  (pandas would import it at the first read: not timed)

METRICS = ("accuracy", "precision", "recall", "f1", "roc_auc")


def main() -> None:
    ref_path, path = sys.argv[1], sys.argv[2]
    warnings.filterwarnings("ignore")
    start = time.perf_counter()
    cpu = time.process_time()
    reference = pd.read_parquet(ref_path, columns=["score", "pred", "y"])
    analysis = pd.read_parquet(path, columns=["score", "pred"])
    estimator = nml.CBPE(
        y_pred_proba="score",
        y_pred="pred",
        y_true="y",
        problem_type="classification_binary",
        metrics=list(METRICS),
        chunk_number=30,
    )
    estimator.fit(reference)
    result = estimator.estimate(analysis)
    end = time.perf_counter()
    cpu = time.process_time() - cpu
    frame = result.filter(period="analysis").to_df()
    estimates = []
    for i in range(len(frame)):
        row = {}
        for m in METRICS:
            row[m] = [
                float(frame[(m, "value")].iloc[i]),
                float(frame[(m, "lower_confidence_boundary")].iloc[i]),
                float(frame[(m, "upper_confidence_boundary")].iloc[i]),
            ]
        estimates.append(row)
    out = {"seconds": end - start, "cpu_seconds": cpu, "version": nml.__version__}
    print(json.dumps({**out, "estimates": estimates}))


if __name__ == "__main__":
    main()

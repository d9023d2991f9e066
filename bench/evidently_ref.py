"""Evidently's ClassificationPreset on the benchmark's binary log, for scale.

Runs in its own environment (Evidently 0.7 needs pandas < 3), never in the
project's: ``bench/run.py --evidently PYTHON`` passes that interpreter. Prints the
seconds for reading the data into pandas (untimed) and running the preset.
"""

from __future__ import annotations

import json
import sys
import time

import pyarrow.parquet as pq
from evidently import BinaryClassification, DataDefinition, Dataset, Report
from evidently.presets import ClassificationPreset

path, rows = sys.argv[1], int(sys.argv[2])
frame = pq.read_table(path).slice(0, rows).to_pandas()
frame["y_true"] = frame["y_true"].astype(int)
started = time.perf_counter()
dataset = Dataset.from_pandas(
    frame,
    data_definition=DataDefinition(
        classification=[
            BinaryClassification(target="y_true", prediction_probas="y_score", pos_label=1)
        ],
        numerical_columns=["y_score"],
    ),
)
Report([ClassificationPreset()]).run(dataset, None)
print(json.dumps({"seconds": time.perf_counter() - started, "rows": rows}))

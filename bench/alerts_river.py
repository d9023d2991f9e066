"""river's ADWIN and Page–Hinkley on the streams of bench/alerts.py (run in river's venv).

Reads a JSON list of (kind, seed, npz path) on stdin; writes, per kind/metric/detector,
the list (one per stream, in input order) of labelled-prediction indices (1-based
counts) at which the detector signalled a change. Default settings of both detectors.
"""

from __future__ import annotations

import json
import sys

import numpy as np
from river import drift


def detections(errors: np.ndarray, positions: np.ndarray, make) -> list[int]:
    detector = make()
    found = []
    for value, at in zip(errors.tolist(), positions.tolist(), strict=True):
        detector.update(value)
        if detector.drift_detected:
            found.append(int(at))
    return found


def main() -> None:
    files = json.load(sys.stdin)
    out: dict[str, list[list[int]]] = {}
    makers = {"adwin": drift.ADWIN, "page_hinkley": drift.PageHinkley}
    for kind, _seed, path in files:
        data = np.load(path)
        y, predicted = data["y"], data["predicted"]
        index = np.arange(1, y.size + 1)
        streams = {
            "accuracy": ((y != predicted).astype(float), index),
            "recall": ((~predicted[y]).astype(float), index[y]),
        }
        for metric, (errors, positions) in streams.items():
            for name, make in makers.items():
                out.setdefault(f"{kind}/{metric}/{name}", []).append(
                    detections(errors, positions, make)
                )
    json.dump(out, sys.stdout)


if __name__ == "__main__":
    main()

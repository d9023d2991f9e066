"""The metric catalogue covers every metric the engine reports, with the right direction."""

from __future__ import annotations

import numpy as np
import pytest

from liveeval.errors import UnknownMetricError
from liveeval.metrics import Evaluation
from liveeval.metrics.labels import canonical_label, label_key
from liveeval.metrics.registry import METRICS, metric_names, metric_spec


def _binary_and_multiclass() -> list[dict[str, object]]:
    rng = np.random.default_rng(3)
    binary = Evaluation.create([0, 1], pos_label=1)
    binary.update(rng.integers(0, 2, 300), y_score=rng.random(300))
    binary.update_operational(latency_seconds=rng.random(300), failed=np.zeros(300, bool))
    multi = Evaluation.create(["a", "b", "c"])
    multi.update(rng.choice(["a", "b", "c"], 300), proba=rng.dirichlet([1, 1, 1], 300))
    return [binary.result().metrics, multi.result().metrics]  # type: ignore[list-item]


def test_every_reported_metric_is_declared_with_its_direction() -> None:
    for metrics in _binary_and_multiclass():
        for name, result in metrics.items():  # type: ignore[attr-defined]
            spec = metric_spec(name)
            assert spec.higher_is_better == result.higher_is_better, name


def test_unknown_metric_suggests_the_closest_name() -> None:
    with pytest.raises(UnknownMetricError, match=r"unknown metric 'recal'; did you mean 'recall'"):
        metric_spec("recal")


def test_live_gauges_are_a_subset_of_the_catalogue() -> None:
    assert set(metric_names(live=True)) <= set(METRICS)
    assert "recall" in metric_names(live=True)


@pytest.mark.parametrize("value", [1, 1.0, "1", "1.0", True, "true", np.int64(1), np.float32(1)])
def test_one_is_one_class_whatever_its_json_type(value: object) -> None:
    assert canonical_label(value) == 1
    assert label_key(value) == label_key(1)


def test_words_stay_words_and_differ_from_numbers() -> None:
    assert canonical_label("spam") == "spam"
    assert label_key("1") != label_key("spam")
    assert canonical_label(0.5) == 0.5
    assert canonical_label("٣") == "٣"  # another script's digit is a word, not 3


@pytest.mark.parametrize("value", [float("nan"), float("inf"), [1], {"a": 1}])
def test_labels_that_are_not_finite_scalars_are_rejected(value: object) -> None:
    with pytest.raises(ValueError, match="label"):
        canonical_label(value)


def test_the_json_schema_lists_the_catalogues_per_class_metrics():
    import json
    from importlib import resources

    schema = json.loads((resources.files("liveeval") / "schema" / "report.schema.json").read_text())

    def find(node: object) -> list[list[str]]:
        found = []
        if isinstance(node, dict):
            required = node.get("required")
            if isinstance(required, list) and "support" in required:
                found.append(required)
            for value in node.values():
                found += find(value)
        elif isinstance(node, list):
            for value in node:
                found += find(value)
        return found

    (per_class,) = find(schema)
    assert set(per_class) - {"label", "support"} == set(metric_names(role="per_class"))


def test_every_name_in_a_table_role_is_a_reported_metric():
    reported = set()
    for metrics in _binary_and_multiclass():
        reported |= set(metrics)  # type: ignore[arg-type]
    for role in ("breakdown", "per_class", "operating_point"):
        assert set(metric_names(role=role)) <= reported | {"specificity"}, role

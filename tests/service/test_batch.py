"""Requests that arrive together go through the model in one call (service._batch):
each request keeps its own rows, answer and failure, and what is stored is what was
answered."""

from __future__ import annotations

import asyncio
import math
from pathlib import Path
from typing import Any

import joblib
import numpy as np
import pandas as pd
import pyarrow.parquet as pq
import pytest
from sklearn.compose import make_column_transformer
from sklearn.linear_model import LogisticRegression
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import OneHotEncoder

from liveeval.config import ServerConfig, load_config
from liveeval.errors import ConfigError
from liveeval.service import Service
from liveeval.service._batch import MAX_JOINING_ROWS
from liveeval.service.predict import predict
from liveeval.serving import ModelSpec

BIG = 1e6  # an input at or above this makes Counting raise


class Counting:
    """A binary classifier on ``x`` (P(1) = x / 10, clipped) that records the rows of
    every call and raises for an input at or above BIG."""

    classes_ = (0, 1)

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_proba(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float).reshape(len(x), -1)
        self.calls.append(len(x))
        if (x >= BIG).any():
            raise ValueError("an input the model cannot take")
        p = np.clip(x[:, 0] / 10.0, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])


def _service(tmp_path: Path, model: Any, **spec: Any) -> Service:
    path = tmp_path / "m.joblib"
    joblib.dump(model, path)
    features = spec.pop("features", ("x",))
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        models=[ModelSpec("m", path, features=features, **spec)],
        metrics_cache_seconds=0.0,
    )
    service = Service(config)
    service.run_alerts = False
    service.start()
    service.served("m", None).predictor.calls = []  # the load check's calls
    return service


def _together(service: Service, inputs: list[Any]) -> list[Any]:
    async def run() -> list[Any]:
        return await asyncio.gather(*(predict(service, "m", None, x) for x in inputs))

    return asyncio.run(run())


def _stored(service: Service, out: Path) -> dict[str, dict[str, Any]]:
    service.store.export(out)
    return {r["id"]: r for r in pq.read_table(out / "predictions").to_pylist()}


def test_requests_arriving_together_take_one_call_and_keep_their_own_rows(tmp_path):
    service = _service(tmp_path, Counting())
    try:
        answers = _together(service, [{"x": float(v)} for v in range(10)])
        assert service.served("m", None).predictor.calls == [10]
        assert [a.body["score"] for a in answers] == [v / 10.0 for v in range(10)]
        assert [a.body["label"] for a in answers] == [int(v >= 5) for v in range(10)]
        stored = _stored(service, tmp_path / "out")
        assert len(stored) == 10
        for a in answers:
            row = stored[a.body["id"]]
            assert row["score"] == a.body["score"] and row["status"] == "ok"
    finally:
        service.stop()


def test_a_request_the_model_fails_on_fails_alone(tmp_path):
    service = _service(tmp_path, Counting())
    try:
        inputs = [{"x": 1.0}, {"x": 2.0}, {"x": BIG}, {"x": 3.0}]
        answers = _together(service, inputs)
        # The batch's call failed, then each request ran alone.
        assert service.served("m", None).predictor.calls == [4, 1, 1, 1, 1]
        assert [a.outcome for a in answers] == ["ok", "ok", "model_failed", "ok"]
        assert answers[2].body["error_type"] == "ValueError"
        assert [answers[i].body["score"] for i in (0, 1, 3)] == [0.1, 0.2, 0.3]
        stored = _stored(service, tmp_path / "out")
        assert stored[answers[2].body["id"]]["status"] == "error"
        assert len(stored) == 4
    finally:
        service.stop()


def test_a_model_declared_batch_false_is_called_once_per_request(tmp_path):
    service = _service(tmp_path, Counting(), batch=False)
    try:
        answers = _together(service, [{"x": float(v)} for v in range(5)])
        assert service.served("m", None).predictor.calls == [1] * 5
        assert [a.body["score"] for a in answers] == [v / 10.0 for v in range(5)]
    finally:
        service.stop()


def test_a_large_request_runs_alone_and_small_ones_together(tmp_path):
    service = _service(tmp_path, Counting())
    try:
        large = [{"x": 1.0}] * (MAX_JOINING_ROWS + 1)
        answers = _together(service, [{"x": 1.0}, large, {"x": 2.0}, {"x": 3.0}])
        assert sorted(service.served("m", None).predictor.calls) == [3, MAX_JOINING_ROWS + 1]
        assert len(answers[1].body["predictions"]) == MAX_JOINING_ROWS + 1
        assert [answers[i].body["score"] for i in (0, 2, 3)] == [0.1, 0.2, 0.3]
    finally:
        service.stop()


def test_multi_row_requests_in_a_batch_get_their_rows_in_order(tmp_path):
    service = _service(tmp_path, Counting())
    try:
        inputs = [[{"x": 1.0}, {"x": 2.0}], {"x": 3.0}, [{"x": 4.0}, {"x": 5.0}, {"x": 6.0}]]
        answers = _together(service, inputs)
        assert service.served("m", None).predictor.calls == [6]
        assert [p["score"] for p in answers[0].body["predictions"]] == [0.1, 0.2]
        assert answers[1].body["score"] == 0.3
        assert [p["score"] for p in answers[2].body["predictions"]] == [0.4, 0.5, 0.6]
    finally:
        service.stop()


def test_a_batched_logistic_regression_scores_as_one_call_within_an_ulp_of_each_alone(
    tmp_path,
):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(400, 4))
    y = (x @ [1.0, -2.0, 0.5, 0.0] + rng.normal(size=400) > 0).astype(int)
    model = LogisticRegression().fit(x, y)
    names = ("a", "b", "c", "d")
    service = _service(tmp_path, model, features=names)
    try:
        rows = rng.normal(size=(16, 4))
        answers = _together(service, [dict(zip(names, r.tolist(), strict=True)) for r in rows])
        scores = np.array([a.body["score"] for a in answers])
        np.testing.assert_array_equal(scores, model.predict_proba(rows)[:, 1])
        alone = np.array([model.predict_proba(r[None, :])[0, 1] for r in rows])
        np.testing.assert_allclose(scores, alone, rtol=4 * np.finfo(float).eps, atol=0)
    finally:
        service.stop()


def test_a_table_input_model_is_batched_from_its_rows(tmp_path):
    frame = pd.DataFrame(
        {"city": ["a", "b", "c", "a", "b", "c"] * 20, "amount": np.arange(120, dtype=float)}
    )
    y = (frame["amount"] % 3 == 0).astype(int)
    encode = make_column_transformer((OneHotEncoder(), ["city"]), remainder="passthrough")
    model = make_pipeline(encode, LogisticRegression(max_iter=1000)).fit(frame, y)
    path = tmp_path / "t.joblib"
    joblib.dump(model, path)
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"),
        models=[ModelSpec("m", path, features=("city:string", "amount"))],
        metrics_cache_seconds=0.0,
    )
    service = Service(config)
    service.run_alerts = False
    service.start()
    try:
        loaded = service.served("m", None)
        calls: list[int] = []
        infer = loaded.infer

        def counted(x: Any) -> Any:
            calls.append(len(x))
            return infer(x)

        loaded.infer = counted  # type: ignore[method-assign]
        inputs = [{"city": c, "amount": float(a)} for c, a in [("a", 3), ("c", 7), ("b", 9)]]
        answers = _together(service, inputs)
        assert calls == [3]
        expected = model.predict_proba(pd.DataFrame(inputs))[:, 1]
        np.testing.assert_array_equal([a.body["score"] for a in answers], expected)
    finally:
        service.stop()


def test_batch_in_the_config_is_a_boolean_of_a_served_model(tmp_path):
    model = tmp_path / "m.joblib"
    joblib.dump(Counting(), model)
    good = tmp_path / "good.toml"
    good.write_text(f'[[models]]\nname = "m"\npath = "{model}"\nbatch = false\n')
    assert load_config(good).models[0].batch is False
    bad = tmp_path / "bad.toml"
    bad.write_text(f'[[models]]\nname = "m"\npath = "{model}"\nbatch = "no"\n')
    with pytest.raises(ConfigError, match=r"batch.*'no'.*true or false"):
        load_config(bad)
    logged = tmp_path / "logged.toml"
    logged.write_text('[[models]]\nname = "m"\nclasses = [0, 1]\nbatch = true\n')
    with pytest.raises(ConfigError, match=r"'batch' needs a 'path'"):
        load_config(logged)


def test_a_waiting_request_that_is_cancelled_leaves_the_batch_to_the_others(tmp_path):
    service = _service(tmp_path, Counting())
    try:

        async def run() -> list[Any]:
            tasks = [
                asyncio.ensure_future(predict(service, "m", None, {"x": v})) for v in (1.0, 2.0)
            ]
            await asyncio.sleep(0)  # both wait for the batch
            tasks[0].cancel()
            return await asyncio.gather(*tasks, return_exceptions=True)

        first, second = asyncio.run(run())
        assert isinstance(first, asyncio.CancelledError)
        assert second.body["score"] == 0.2
        assert math.isclose(second.body["score"], 0.2)
    finally:
        service.stop()

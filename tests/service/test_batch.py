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


class Abort(BaseException):
    """Raised by a library beside Exception (as a trio- or gevent-style timeout is)."""


ABORT = -99.0  # an input that makes Counting raise Abort


class Counting:
    """A binary classifier on ``x`` (P(1) = x / 10, clipped) that records the rows of
    every call and raises for an input at or above BIG (or Abort for ABORT)."""

    classes_ = (0, 1)

    def __init__(self) -> None:
        self.calls: list[int] = []

    def predict_proba(self, x: Any) -> np.ndarray:
        x = np.asarray(x, dtype=float).reshape(len(x), -1)
        self.calls.append(len(x))
        if (x == ABORT).any():
            raise Abort("the model's library gave up")
        if (x >= BIG).any():
            raise ValueError("an input the model cannot take")
        p = np.clip(x[:, 0] / 10.0, 0.0, 1.0)
        return np.column_stack([1.0 - p, p])


def _service(tmp_path: Path, model: Any, *, shadow: bool = False, **spec: Any) -> Service:
    path = tmp_path / "m.joblib"
    joblib.dump(model, path)
    features = spec.pop("features", ("x",))
    models = [ModelSpec("m", path, features=features, **spec)]
    if shadow:  # a challenger version of the same model
        models.append(ModelSpec("m", path, version="v2", features=features, shadow=True))
    config = ServerConfig(
        store=str(tmp_path / "s.duckdb"), models=models, metrics_cache_seconds=0.0
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


def test_a_model_that_raises_a_base_exception_fails_its_own_request_only(tmp_path, caplog):
    service = _service(tmp_path, Counting())
    try:

        async def run() -> list[Any]:
            inputs = [{"x": 1.0}, {"x": ABORT}, {"x": 2.0}, {"x": 3.0}]
            calls = (predict(service, "m", None, x) for x in inputs)
            return await asyncio.wait_for(asyncio.gather(*calls, return_exceptions=True), 10)

        with caplog.at_level("WARNING", logger="liveeval"):
            answers = asyncio.run(run())
        assert isinstance(answers[1], Abort)
        assert [answers[i].body["score"] for i in (0, 2, 3)] == [0.1, 0.2, 0.3]
        assert service.served("m", None).predictor.calls == [4, 1, 1, 1, 1]
        said = [r.getMessage() for r in caplog.records if "predicted together" in r.getMessage()]
        assert len(said) == 1 and "Abort" in said[0] and "batch = false" in said[0]
        _together(service, [{"x": 1.0}, {"x": BIG}])  # a second failing batch: said once
        said = [r for r in caplog.records if "predicted together" in r.getMessage()]
        assert len(said) == 1
        assert len(_stored(service, tmp_path / "out")) == 5  # Abort's request: not stored
    finally:
        service.stop()


def test_a_retry_with_its_own_id_inside_a_batch_is_a_duplicate(tmp_path):
    rng = np.random.default_rng(4)
    x = rng.normal(size=(300, 4))
    model = LogisticRegression().fit(x, (x[:, 0] + x[:, 1] > 0).astype(int))
    names = ("a", "b", "c", "d")
    service = _service(tmp_path, model, features=names)
    try:
        rows = [dict(zip(names, r.tolist(), strict=True)) for r in rng.normal(size=(40, 4))]

        async def run() -> list[Any]:
            # Sent one at a time: each predicted alone, as a 1-row product.
            firsts = [
                await predict(service, "m", None, row, id=f"r{i}") for i, row in enumerate(rows)
            ]
            # Each retried among requests without ids (which are batched together).
            again = []
            for i, row in enumerate(rows):
                again.append(predict(service, "m", None, row, id=f"r{i}"))
                again.extend(predict(service, "m", None, other) for other in rows[:5])
            return [*firsts, *await asyncio.gather(*again)]

        answers = asyncio.run(run())
        assert [a.outcome for a in answers] == ["ok"] * len(answers)
        retried = answers[len(rows) :: 6]
        for first, retry in zip(answers[: len(rows)], retried, strict=True):
            assert retry.body["id"] == first.body["id"]
            assert retry.body["score"] == first.body["score"]
        stored = _stored(service, tmp_path / "out")
        assert len(stored) == len(rows) + 5 * len(rows)
    finally:
        service.stop()


def test_a_duplicate_is_not_predicted_again_by_a_challenger(tmp_path):
    from liveeval.service import shadow

    service = _service(tmp_path, Counting(), shadow=True)
    try:

        async def run() -> list[Any]:
            answers = [await predict(service, "m", None, {"x": 1.0}, id="once") for _ in range(3)]
            while shadow._tasks:
                await asyncio.gather(*list(shadow._tasks))
            return answers

        assert [a.outcome for a in asyncio.run(run())] == ["ok"] * 3
        stored = _stored(service, tmp_path / "out")
        assert sorted(r["version"] for r in stored.values()) == ["v1", "v2"]
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


def test_a_batched_logistic_regression_scores_as_one_call_within_ulps_of_each_alone(
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
        # A few ulp of 1.0 at most (relative to a tiny score it may be more).
        np.testing.assert_allclose(scores, alone, rtol=0, atol=4 * np.finfo(float).eps)
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

"""Models known only from their logs (no classes declared): what their reads can say
before and while labels arrive — on a DuckDB and a PostgreSQL store alike."""

from __future__ import annotations

from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app

ENGINES = ["duckdb", "postgresql"]


@pytest.fixture(params=ENGINES)
def app(request: pytest.FixtureRequest, tmp_path: Path):
    if request.param == "postgresql":
        from tests.store.scenario import postgres_location

        store = postgres_location(request)
    else:
        store = str(tmp_path / "store.duckdb")
    config = ServerConfig(store=store, models=[], metrics_cache_seconds=0.0)
    with TestClient(create_app(config)) as c:
        yield c


def send(app: TestClient, predictions: list[dict], outcomes: list[dict] | None = None) -> None:
    r = app.post("/v1/predictions", json={"predictions": predictions})
    assert r.status_code == 200, r.text
    if outcomes:
        r = app.post("/v1/outcomes", json={"outcomes": outcomes})
        assert r.status_code == 200, r.text


COMPARING = ["precision", "recall", "f1", "f2", "balanced_accuracy", "f1_macro", "recall_weighted"]


def test_a_model_labelled_with_one_class_so_far_has_no_zero_width_intervals(app):
    for rows in (1, 3, 50):
        _one_class_model(app, rows)


def _one_class_model(app: TestClient, rows: int) -> None:
    model = f"alls{rows}"
    send(
        app,
        [{"id": f"{model}-{i}", "model": model, "label": "spam"} for i in range(rows)],
        [{"prediction_id": f"{model}-{i}", "label": "spam"} for i in range(rows)],
    )
    body = app.get(f"/v1/models/{model}/metrics").json()
    metrics = body["metrics"]
    for name in COMPARING:
        m = metrics[name]
        assert m["value"] == 1.0 and m["lower"] is None and m["upper"] is None, name
        assert m["reason"].startswith(
            f"only class 'spam' occurs and no other class is declared, so {name} compares nothing"
        )
    # Accuracy keeps its honest interval: it does not need a second class.
    assert metrics["accuracy"]["lower"] < 0.95 and metrics["accuracy"]["upper"] == 1.0
    verdict = app.get(f"/v1/models/{model}/metrics?profile=spam").json()["verdict"]
    assert verdict["status"] == "inconclusive"
    # The overview and the windows still render the model.
    overview = app.get("/v1/overview?window=1h&size=15m").json()
    card = next(c for c in overview["models"] if c["model"] == model)
    assert card["versions"][0]["labelled"] == rows
    windows = app.get(f"/v1/models/{model}/windows?size=1h&metrics=recall").json()["windows"]
    assert windows[-1]["metrics"]["recall"]["lower"] is None


def test_a_logged_model_without_labels_reports_failures_and_latency_on_every_read(app):
    failed = [
        {"id": f"e{i}", "model": "errs", "status": "error", "error_type": "AB"[i % 2]}
        for i in range(30)
    ]
    served = [
        {"id": f"l{i}", "model": "lat", "label": i % 2, "score": 0.4, "latency_total_s": t}
        for i, t in enumerate((5e-324, 1e-320, 0.001))
    ]
    send(app, failed + served)

    errs = app.get("/v1/models/errs/metrics").json()
    assert errs["predictions"] == 30 and errs["labelled"] == 0
    assert errs["metrics"]["failed_prediction_rate"]["value"] == 1.0
    assert errs["metrics"]["failed_prediction_rate"]["lower"] < 1.0
    assert errs["confusion_matrix"] is None
    lat = app.get("/v1/models/lat/metrics").json()["metrics"]
    assert lat["failed_prediction_rate"]["value"] == 0.0
    assert lat["latency_max_seconds"]["value"] == pytest.approx(0.001, rel=0.02)

    overview = app.get("/v1/overview?window=1h&size=15m").json()
    cards = {c["model"]: c["versions"][0]["metrics"] for c in overview["models"]}
    assert cards["errs"]["failed_prediction_rate"]["value"] == 1.0
    assert "latency_p95_seconds" in cards["lat"]

    asked = "metrics=failed_prediction_rate&metrics=latency_p95_seconds&metrics=recall"
    window = app.get(f"/v1/models/errs/windows?size=1h&{asked}").json()["windows"][-1]
    assert list(window["metrics"]) == ["failed_prediction_rate", "latency_p95_seconds", "recall"]
    assert window["metrics"]["failed_prediction_rate"]["value"] == 1.0
    assert window["metrics"]["latency_p95_seconds"]["value"] is None
    assert window["metrics"]["latency_p95_seconds"]["reason"] == "undefined: no latencies recorded"
    assert window["metrics"]["recall"]["reason"] == (
        "undefined: no labelled predictions in this window yet"
    )

    versions = app.get("/v1/models/lat/versions").json()["versions"]
    assert "latency_p95_seconds" in versions[0]["metrics"]


def test_drift_of_a_logged_binary_model_compares_its_score_with_the_positive_class_inferred(app):
    from datetime import datetime, timedelta

    import numpy as np

    rng = np.random.default_rng(0)
    t0 = datetime(2026, 11, 20)
    predictions, outcomes = [], []
    for day, shift in ((0, 0.0), (1, 0.3)):
        for i in range(150):
            y = int(rng.integers(0, 2))
            key = f"u{day}-{i}"
            score = float(np.clip(0.3 + shift + 0.3 * y + rng.normal(0, 0.1), 0, 1))
            ts = (t0 + timedelta(days=day, minutes=i)).isoformat()
            predictions.append({"id": key, "model": "u01", "label": y, "score": score, "ts": ts})
            outcomes.append({"prediction_id": key, "label": y})
    send(app, predictions, outcomes)
    assert app.get("/v1/models/u01/metrics").json()["pos_label"] == 1
    d = app.get(
        "/v1/models/u01/drift?reference=previous:1d&window=1d&since=2026-11-21T00:00:00Z"
    ).json()
    assert d["reference"]["since"] == "2026-11-20T00:00:00"
    cells = {c["name"]: c["status"] for c in d["latest"]["columns"]}
    assert cells == {"score": "drifted", "predicted label": "not_drifted", "label": "not_drifted"}
    assert d["reason"] is None


def test_drift_without_a_window_answers_why_and_places_no_reference_in_1970(app):
    send(app, [{"id": "s1", "model": "spam", "label": "no", "score": 0.2}])
    send(app, [{"id": "n1", "model": "plain", "label": "no"}])
    d = app.get("/v1/models/spam/drift?reference=previous:1d&window=1d").json()
    assert d["windows"] == [] and d["latest"]["columns"] == []
    assert (d["reference"]["since"], d["reference"]["until"]) == (None, None)
    assert d["reference"]["reason"] == (
        "'previous:1d' is the time just before the first window, and there is none"
    )
    assert d["reason"] == (
        "no window to compare: no prediction in the range carries features, and scores are "
        "not compared: score histograms need a binary model with a known positive class; "
        "model 'spam' has labels ['no'] (give pos_label)"
    )
    d = app.get("/v1/models/plain/drift?reference=previous:1d&window=1d").json()
    assert d["reason"] == (
        "no window to compare: no prediction in the range carries features or a score"
    )


def test_estimation_of_a_scored_model_with_one_label_so_far_names_that_cause(app):
    send(
        app,
        [{"id": "o1", "model": "one", "label": 1, "score": 0.7}],
        [{"prediction_id": "o1", "label": 1}],
    )
    estimation = app.get("/v1/models/one/windows?size=15m").json()["estimation"]
    assert estimation == {
        "available": False,
        "reason": "only label 1 seen so far, so the model's classes are unknown: estimation "
        "needs two classes; declare classes (and pos_label, for a score) to estimate",
    }


def test_drift_against_a_reference_without_predictions_says_so(app):
    send(app, [{"id": "r1", "model": "feat", "label": "a", "features": {"x": 1.0}}])
    d = app.get("/v1/models/feat/drift?reference=previous:1d&window=1h").json()
    assert len(d["windows"]) == 1 and d["windows"][0]["columns"] == []
    assert d["reason"] == "the reference 'previous:1d' holds no predictions to compare with"


def test_estimation_of_windows_finer_than_the_bucket_is_not_phrased_as_a_user_error(app):
    send(app, [{"id": "f1", "model": "fine", "label": 1, "score": 0.7}])
    estimation = app.get("/v1/models/fine/windows?size=5m").json()["estimation"]
    assert estimation == {
        "available": False,
        "reason": "estimates are made for windows of whole 15-minute buckets (15m, 1h, 1d …), "
        "not of 5m",
    }


def test_the_overview_card_of_a_logged_0_1_model_leads_with_f1_as_its_metrics_read(app):
    # Its metrics read infers positive class 1, so the card judges it as binary.
    send(
        app,
        [
            {"id": f"u{i}", "model": "u01", "label": i % 2, "score": 0.3 + 0.4 * (i % 2)}
            for i in range(40)
        ],
        [{"prediction_id": f"u{i}", "label": (i % 3) % 2} for i in range(40)],
    )
    card = app.get("/v1/overview?window=1h&size=15m").json()["models"][0]
    assert card["key_metric"] == "f1"
    version = card["versions"][0]
    assert version["metrics"]["f1"]["value"] == version["sparkline"][-1]["value"]
    f1 = app.get("/v1/models/u01/metrics").json()["metrics"]["f1"]["value"]
    assert version["metrics"]["f1"]["value"] == pytest.approx(f1, rel=1e-12)

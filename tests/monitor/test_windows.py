"""Windows over time: cohorts by prediction time, label coverage, maturity, count
windows, label-delay summaries, and the HTTP route."""

from __future__ import annotations

from datetime import datetime, timedelta

import numpy as np
import pytest
import sklearn.metrics as skm

from liveeval.config import parse_window
from liveeval.errors import ConfigError, ValidationError
from liveeval.monitor import WindowSize, summarise_label_delays
from liveeval.store.interface import LabelDelays

T0 = datetime(2026, 11, 2, 0, 0, 0)
# Predictions per hour and how many of them get ground truth (hour 2 has no traffic).
PLAN = {0: (120, 120), 1: (100, 50), 3: (60, 0)}


@pytest.fixture
def traffic(client):
    """Predictions over four hours; outcomes arrive later (some in a later hour)."""
    rng = np.random.default_rng(7)
    truth: dict[int, tuple[np.ndarray, np.ndarray]] = {}
    preds, outcomes = [], []
    for hour, (n, labelled) in PLAN.items():
        y = (rng.random(n) < 0.3).astype(int)
        s = np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)
        for i in range(n):
            pid = f"h{hour}-{i}"
            preds.append(
                {
                    "id": pid,
                    "model": "ext",
                    "version": "v1",
                    "ts": (T0 + timedelta(hours=hour, seconds=30 * i)).isoformat(),
                    "label": int(s[i] >= 0.5),
                    "score": float(s[i]),
                    "status": "error" if hour == 3 and i < 5 else "ok",
                    **({"error_type": "Timeout"} if hour == 3 and i < 5 else {}),
                }
            )
            if i < labelled:
                outcomes.append(
                    {
                        "prediction_id": pid,
                        "label": int(y[i]),
                        # Ground truth a day later: it still counts in its prediction's hour.
                        "ts": (T0 + timedelta(days=1, hours=hour)).isoformat(),
                    }
                )
        truth[hour] = (y[:labelled], (s[:labelled] >= 0.5).astype(int))
    # Half the outcomes before their predictions: the join must not depend on order.
    assert client.post("/v1/outcomes", json={"outcomes": outcomes[::2]}).status_code == 200
    assert client.post("/v1/predictions", json={"predictions": preds}).status_code == 200
    assert client.post("/v1/outcomes", json={"outcomes": outcomes[1::2]}).status_code == 200
    return truth


def test_hourly_windows_are_cohorts_by_prediction_time_with_coverage_and_state(client, traffic):
    body = client.get("/v1/models/ext/windows", params={"size": "1h"}).json()
    assert body["size"] == "1h"
    starts = [w["start"] for w in body["windows"]]
    assert starts == [(T0 + timedelta(hours=h)).isoformat() for h in range(4)]
    w0, w1, w2, w3 = body["windows"]
    assert (w0["predictions"], w0["labelled"], w0["label_coverage"], w0["state"]) == (
        120,
        120,
        1.0,
        "realized",
    )
    assert (w1["labelled"], w1["label_coverage"], w1["state"]) == (50, 0.5, "estimating")
    assert (w2["predictions"], w2["label_coverage"], w2["state"]) == (0, None, "empty")
    assert (w3["predictions"], w3["failed_predictions"], w3["labelled"]) == (60, 5, 0)
    assert w3["state"] == "estimating" and w3["label_coverage"] == 0.0
    # Before its labels a window shows what serving already knows, no quality metric.
    assert set(w3["metrics"]) <= {"failed_prediction_rate", "latency_p50_seconds",
                                  "latency_p95_seconds", "latency_p99_seconds"}  # fmt: skip
    assert w3["metrics"]["failed_prediction_rate"]["value"] == pytest.approx(5 / 60)
    assert w3["confusion_matrix"] is None
    for window, hour in ((w0, 0), (w1, 1)):
        y, pred = traffic[hour]
        assert window["metrics"]["recall"]["value"] == pytest.approx(
            skm.recall_score(y, pred), abs=1e-12
        )
        assert window["metrics"]["accuracy"]["value"] == pytest.approx(
            skm.accuracy_score(y, pred), abs=1e-12
        )
        lower, upper = (
            window["metrics"]["accuracy"]["lower"],
            window["metrics"]["accuracy"]["upper"],
        )
        assert lower <= window["metrics"]["accuracy"]["value"] <= upper
        assert window["confusion_matrix"]["matrix"] == skm.confusion_matrix(y, pred).tolist()


def test_maturity_level_and_chosen_metrics_are_honoured(client, traffic):
    body = client.get(
        "/v1/models/ext/windows",
        params={"size": "1h", "maturity": 0.5, "metrics": ["f1", "mcc"]},
    ).json()
    assert body["windows"][1]["state"] == "realized"
    assert set(body["windows"][0]["metrics"]) == {"f1", "mcc"}


def test_a_day_window_merges_the_hours(client, traffic):
    body = client.get("/v1/models/ext/windows", params={"size": "1d"}).json()
    (day,) = body["windows"]
    assert day["predictions"] == 280 and day["labelled"] == 170
    assert day["label_coverage"] == pytest.approx(170 / 275)
    y = np.concatenate([traffic[h][0] for h in (0, 1)])
    pred = np.concatenate([traffic[h][1] for h in (0, 1)])
    assert day["metrics"]["precision"]["value"] == pytest.approx(skm.precision_score(y, pred))


def test_count_windows_hold_at_least_n_labelled_predictions(client, traffic):
    body = client.get("/v1/models/ext/windows", params={"size": "100"}).json()
    windows = body["windows"]
    assert body["size"] == "100 labelled"
    assert sum(w["labelled"] for w in windows) == 170
    assert all(w["labelled"] >= 100 for w in windows[:-1])
    if windows[-1]["labelled"] < 100:
        assert any("still filling" in n for n in windows[-1]["notes"])


@pytest.mark.parametrize(
    ("params", "status", "match"),
    [
        ({"size": "1x"}, 422, "size"),
        ({"size": "1h", "metrics": "recal"}, 422, "'recall'"),
        ({"size": "1h", "maturity": 0}, 422, "maturity"),
    ],
)
def test_bad_queries_are_422s_that_name_the_problem(client, traffic, params, status, match):
    r = client.get("/v1/models/ext/windows", params=params)
    assert r.status_code == status
    assert match in str(r.json()["detail"])


def test_a_wide_range_only_narrows_and_too_many_windows_keep_the_most_recent(
    client, traffic, monkeypatch
):
    wide = {"since": "2000-01-01T00:00:00Z", "until": "2100-01-01T00:00:00Z"}
    body = client.get("/v1/models/ext/windows", params={"size": "1h", **wide}).json()
    assert len(body["windows"]) == 4
    from liveeval.monitor import windows

    monkeypatch.setattr(windows, "MAX_WINDOWS", 2)
    body = client.get("/v1/models/ext/windows", params={"size": "1h"}).json()
    assert [w["start"] for w in body["windows"]] == [
        (T0 + timedelta(hours=h)).isoformat() for h in (2, 3)
    ]


def test_a_range_that_cuts_a_window_takes_it_whole(client, traffic):
    since = (T0 + timedelta(minutes=30)).isoformat()
    until = (T0 + timedelta(hours=1, minutes=10)).isoformat()
    body = client.get(
        "/v1/models/ext/windows", params={"size": "1h", "since": since, "until": until}
    ).json()
    assert [(w["predictions"], w["labelled"]) for w in body["windows"]] == [(120, 120), (100, 50)]


@pytest.mark.parametrize(
    "query",
    [
        "windows?until=9999-12-31T23:59:59&size=1w",
        "windows?since=0001-01-01T00:00:00&size=1w",
        "windows?since=0001-01-01T00:00:00&until=9999-12-31T23:59:59&size=1",
        "windows?size=52w",
        "drift?reference=previous:5200w",
        "drift?reference=version:v1&until=9999-12-31T23:59:59&window=1w",
        "drift?reference=0001-01-01T00:00:00/9999-12-31T23:59:59",
        "drift?reference=version:v1&since=0001-01-01T00:00:00",
    ],
)
def test_times_at_the_ends_of_the_calendar_are_answered(client, traffic, query):
    # Window boundaries beyond year 1 or 9999 once raised OverflowError: a 500.
    assert client.get(f"/v1/models/ext/{query}").status_code == 200


def test_a_window_longer_than_a_century_is_a_4xx_naming_the_limit(client, traffic):
    for query in ("drift?reference=previous:99999w", "windows?size=3000000d"):
        r = client.get(f"/v1/models/ext/{query}")
        assert r.status_code == 422, (query, r.text)
        assert "longer than the longest window accepted, 36500d (100 years)" in r.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/overview?window={}h",
        "/v1/resources?size={}m",
        "/v1/models/ext/windows?size={}h",
        "/v1/models/ext/metrics?window={}h",
        "/v1/models/ext/drift?reference=previous:1h&window={}h",
        "/v1/models/ext/failures?size={}h",
        "/v1/models/ext/threshold?window={}h",
        "/v1/models/ext/versions?window={}h",
    ],
)
def test_a_duration_of_thousands_of_digits_is_a_422_not_a_500(client, traffic, path):
    # int() refuses more than 4,300 digits: the length is checked before the conversion.
    for digits in ("1" * 4301, "0" * 4400 + "1" * 11):
        r = client.get(path.format(digits))
        assert r.status_code == 422, (path, r.text[:300])
        assert "longer than the longest window accepted" in r.text or "drift" in path
        assert len(r.text) < 2000  # the value is named, not echoed in full


def test_parse_window_names_a_long_value_in_one_short_line():
    with pytest.raises(ConfigError, match=r"\(4,301 characters\) is longer than the longest"):
        parse_window("1" * 4300 + "h")
    assert parse_window("0" * 50 + "2h") == timedelta(hours=2)
    assert parse_window("36500d") == timedelta(days=36_500)


def test_unknown_model_is_404(client):
    assert client.get("/v1/models/nope/windows").status_code == 404


def test_window_size_parses_durations_and_counts():
    assert WindowSize.parse("15m").every == timedelta(minutes=15)
    assert WindowSize.parse("500").labelled == 500
    assert str(WindowSize.parse("1d")) == "1d"
    with pytest.raises(ValidationError, match="neither a duration"):
        WindowSize.parse("soon")
    with pytest.raises(ValidationError, match="count window"):
        WindowSize.parse("0")


def test_label_delay_summary_reads_quantiles_and_coverage_by_age():
    edges = (0.0, 60.0, 3600.0, 86400.0)
    # 10 outcomes within a minute, 80 within an hour, 10 within a day, none later.
    delays = LabelDelays(edges, np.array([10, 80, 10, 0], dtype=np.int64), early=0)
    summary = summarise_label_delays(delays)
    assert summary.n == 100
    # The median falls in [60 s, 3600 s): 40 of that bin's 80 outcomes, log-interpolated.
    assert summary.p50_seconds == pytest.approx(60 * (3600 / 60) ** 0.5)
    assert summary.p90_seconds == pytest.approx(3600.0)
    coverage = dict(summary.coverage_by_age)
    assert coverage[60.0] == pytest.approx(0.10)
    assert coverage[3600.0] == pytest.approx(0.90)
    assert coverage[86400.0] == pytest.approx(1.0)
    assert summarise_label_delays(LabelDelays(edges, np.zeros(4, np.int64))).p50_seconds is None


def test_estimating_windows_of_a_binary_model_get_estimates_from_the_realized_ones(client):
    """Six hours of a calibrated model: four realized hours calibrate, the last two
    (labels still arriving) are estimated; the estimate counts the labels they have."""
    rng = np.random.default_rng(5)
    preds, outcomes, truth = [], [], {}
    for hour in range(6):
        n = 400
        s = rng.beta(2, 5, n)
        y = (rng.random(n) < s).astype(int)  # calibrated: P(y=1 | s) = s
        truth[hour] = (y, (s >= 0.5).astype(int))
        for i in range(n):
            pid = f"e{hour}-{i}"
            preds.append(
                {
                    "id": pid,
                    "model": "ext",
                    "ts": (T0 + timedelta(hours=hour, seconds=9 * i)).isoformat(),
                    "label": int(s[i] >= 0.5),
                    "score": float(s[i]),
                }
            )
            if hour < 4 or i < 40:
                outcomes.append(
                    {
                        "prediction_id": pid,
                        "label": int(y[i]),
                        "ts": (T0 + timedelta(hours=hour + 2, seconds=9 * i)).isoformat(),
                    }
                )
    assert client.post("/v1/predictions", json={"predictions": preds}).status_code == 200
    assert client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
    body = client.get("/v1/models/ext/windows", params={"size": "1h"}).json()
    assert body["estimation"]["available"], body["estimation"]
    assert body["estimation"]["calibration"]["method"] in ("identity", "isotonic")
    states = [w["state"] for w in body["windows"]]
    assert states == ["realized"] * 4 + ["estimating"] * 2
    for w in body["windows"][:4]:
        assert w["estimate"] is None
    for hour, w in zip((4, 5), body["windows"][4:], strict=True):
        est = w["estimate"]
        assert est["n"] == 400
        accuracy = est["metrics"]["accuracy"]
        assert accuracy["lower"] <= accuracy["value"] <= accuracy["upper"]
        y, pred = truth[hour]
        # Not a coverage test (tests/monitor/test_estimate.py has those): the estimate is
        # in the right place.
        assert abs(accuracy["value"] - skm.accuracy_score(y, pred)) < 0.1
    delay = body["label_delay"]
    assert delay["n"] == len(outcomes)
    assert delay["p50_seconds"] == pytest.approx(7200, rel=0.5)

"""The reads the dashboard's pages draw: the overview in one request, failures by error
type, the server's resources, the server's clock, and how answers
travel (gzip, cached assets)."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np
import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.config import LoggedModel
from liveeval.dashboard import DIGEST
from liveeval.service import _clock
from liveeval.service.overview import _card, _merged
from liveeval.store import Scope

HOUR = timedelta(hours=1)


@pytest.fixture
def client(tmp_path: Path):
    config = ServerConfig(
        store=str(tmp_path / "store.duckdb"),
        logged=[LoggedModel("fraud", (0, 1), 1, "fraud"), LoggedModel("spam", (0, 1), 1)],
        metrics_cache_seconds=0.0,
        resource_interval_seconds=0.05,
    )
    with TestClient(create_app(config)) as c:
        yield c


def _hour() -> datetime:
    return datetime.now(UTC).replace(tzinfo=None, minute=0, second=0, microsecond=0)


def _log(client: TestClient, model: str = "fraud", n: int = 600, seed: int = 3) -> list[dict]:
    """Six hours of traffic: v1 then v2, every 40th a failure of one of two types, an
    `amount` feature that moves in the last hour, labels for 90%."""
    rng = np.random.default_rng(seed)
    start = _hour() - 6 * HOUR
    events, outcomes = [], []
    for i in range(n):
        ts = start + timedelta(seconds=i * 6 * 3600 / n)
        late = ts >= start + 5 * HOUR
        y = int(rng.random() < 0.3)
        event = {
            "id": f"{model}-{i}",
            "model": model,
            "version": "v1" if i < n // 2 else "v2",
            "ts": ts.isoformat(),
            "latency_total_s": float(rng.gamma(4.0, 0.005)),
            "features": {
                "amount": float(rng.normal(3.0 if late else 0.0, 1.0)),
                "kind": ["card", "wire", "cash"][i % 3],
            },
        }
        if i % 20 == 7:
            event |= {"status": "error", "error_type": "ValueError" if i % 60 == 7 else "KeyError"}
        else:
            score = float(np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1))
            event |= {"label": int(score >= 0.5), "score": round(score, 3)}
            if rng.random() < 0.9:
                outcomes.append({"prediction_id": event["id"], "label": y})
        events.append(event)
    assert client.post("/v1/predictions", json={"predictions": events}).status_code == 200
    assert client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
    return events


def test_overview_numbers_equal_the_metrics_and_windows_routes(client):
    _log(client)
    body = client.get("/v1/overview?window=24h&size=1h").json()
    fraud = next(m for m in body["models"] if m["model"] == "fraud")
    assert fraud["key_metric"] == "recall" and fraud["profile"] == "fraud"
    assert [c["version"] for c in fraud["versions"]] == ["v1", "v2"]
    since = body["since"]
    for card in fraud["versions"]:
        full = client.get(
            "/v1/models/fraud/metrics", params={"since": since, "version": card["version"]}
        ).json()
        for key in ("predictions", "failed_predictions", "labelled", "label_coverage"):
            assert card[key] == full[key]
        for name in ("recall", "precision", "latency_p95_seconds", "failed_prediction_rate"):
            assert card["metrics"][name] == full["metrics"][name]
        assert card["verdict"]["status"] == full["verdict"]["status"]
        assert card["verdict"]["summary"] == full["verdict"]["summary"]
    windows = client.get(
        "/v1/models/fraud/windows",
        params={"size": "1h", "since": since, "by": "version", "metrics": "recall"},
    ).json()["windows"]
    for card in fraud["versions"]:
        mine = [w for w in windows if w["version"] == card["version"]]
        assert [p["start"] for p in card["sparkline"]] == [w["start"] for w in mine]
        assert [p["value"] for p in card["sparkline"]] == [
            w["metrics"]["recall"]["value"] if "recall" in w["metrics"] else None for w in mine
        ]
        assert [p["state"] for p in card["sparkline"]] == [w["state"] for w in mine]
    spam = next(m for m in body["models"] if m["model"] == "spam")
    assert spam["key_metric"] == "f1" and spam["versions"][0]["version"] is None
    assert spam["versions"][0]["predictions"] == 0 and spam["versions"][0]["verdict"] is None


def test_versions_read_equals_each_versions_metrics_route(client):
    _log(client)
    since = (_hour() - 5 * HOUR + timedelta(minutes=17)).isoformat()
    body = client.get(
        "/v1/models/fraud/versions", params={"since": since, "metrics": ["f1", "roc_auc"]}
    ).json()
    assert body["key_metric"] == "recall" and body["profile"] == "fraud"
    assert [c["version"] for c in body["versions"]] == ["v1", "v2"]
    for card in body["versions"]:
        full = client.get(
            "/v1/models/fraud/metrics", params={"since": since, "version": card["version"]}
        ).json()
        for key in ("predictions", "failed_predictions", "labelled", "label_coverage"):
            assert card[key] == full[key]
        # The metrics named, the key metric and the card's own, as the full read has them.
        assert {"f1", "roc_auc", "recall", "latency_p95_seconds"} <= set(card["metrics"])
        for name, value in card["metrics"].items():
            assert value == full["metrics"][name], name
        assert card["verdict"] == {
            "status": full["verdict"]["status"],
            "summary": full["verdict"]["summary"],
        }
    # Another profile judges every version; an empty range has no versions.
    other = client.get("/v1/models/fraud/versions?profile=balanced").json()
    assert other["profile"] == "balanced"
    assert all("balanced" in c["verdict"]["summary"] for c in other["versions"])
    empty = client.get("/v1/models/fraud/versions?since=2100-01-01T00:00:00Z").json()
    assert empty["versions"] == []


def test_versions_read_names_what_it_refuses(client):
    r = client.get("/v1/models/nope/versions")
    assert r.status_code == 404 and "unknown model 'nope'" in r.json()["detail"]
    r = client.get("/v1/models/fraud/versions?metrics=recal")
    assert r.status_code == 422 and "recal" in r.text
    r = client.get("/v1/models/fraud/versions?profile=frud")
    assert r.status_code == 404 and "frud" in r.json()["detail"]


def test_overview_refuses_a_sparkline_of_too_many_points(client):
    r = client.get("/v1/overview?window=30d&size=1m")
    assert r.status_code == 422
    assert "more than 200 sparkline points over 30d" in r.json()["detail"]
    r = client.get("/v1/overview?window=1h&size=2h")
    assert r.status_code == 422 and "size 2h is longer than the window 1h" in r.text


def test_failures_are_counted_per_window_version_and_error_type(client):
    events = _log(client)
    body = client.get("/v1/models/fraud/failures?size=1h").json()
    failed = [e for e in events if e.get("status") == "error"]
    assert body["failed"] == len(failed)
    assert body["error_types"] == [
        {"error_type": t, "failed": n}
        for t, n in sorted(
            Counter(e["error_type"] for e in failed).items(), key=lambda kv: (-kv[1], kv[0])
        )
    ]
    expected = Counter(
        (e["ts"][:13], e["version"], e["error_type"]) for e in failed
    )  # the hour of each failure
    got = Counter()
    for w in body["windows"]:
        for t, n in w["by_error_type"].items():
            got[(w["start"][:13], w["version"], t)] += n
        assert w["failed"] == sum(w["by_error_type"].values())
    assert got == expected
    windows = client.get("/v1/models/fraud/windows?size=1h&by=version").json()["windows"]
    per_window = {(w["start"], w["version"]): w["failed_predictions"] for w in windows}
    assert all(per_window[(w["start"], w["version"])] == w["failed"] for w in body["windows"])
    only_v2 = client.get("/v1/models/fraud/failures?size=1h&version=v2").json()
    assert {w["version"] for w in only_v2["windows"]} == {"v2"}
    assert client.get("/v1/models/nope/failures").status_code == 404


def test_resources_are_the_servers_own_samples_per_window(client):
    deadline = datetime.now() + timedelta(seconds=5)
    body = {"processes": []}
    while datetime.now() < deadline and not body["processes"]:
        body = client.get("/v1/resources?size=1m").json()
    assert body["sample_interval_seconds"] == 0.05
    (process,) = body["processes"]
    window = process["windows"][-1]
    assert window["samples"] >= 1
    assert 0 <= window["cpu_percent_mean"] <= window["cpu_percent_max"]
    assert 0 < window["rss_bytes_mean"] <= window["rss_bytes_max"]
    # The answering process now: the one that wrote the samples.
    me = body["this_process"]
    assert me["process"] == process["process"]
    assert me["cpu_seconds"] > 0 and me["rss_bytes"] > 0
    assert datetime.fromisoformat(me["started"]) < datetime.now(UTC)
    r = client.get("/v1/resources?size=1s&since=2020-01-01T00:00:00Z")
    assert r.status_code == 422 and "more than 2000 windows" in r.json()["detail"]
    r = client.get("/v1/models/fraud/failures?size=1000d")
    assert r.status_code == 422 and "is longer than 366 days" in r.json()["detail"]


def test_healthz_tells_the_servers_clock_simulated_or_wall(client):
    body = client.get("/healthz").json()
    assert body["clock"] == "wall"
    assert abs(datetime.fromisoformat(body["now"]) - datetime.now(UTC).replace(tzinfo=None)) < HOUR
    _clock.use_clock(_clock.SimulatedClock(3600.0, datetime(2030, 1, 1)))
    try:
        body = client.get("/healthz").json()
    finally:
        _clock.use_clock(None)
    assert body["clock"] == "simulated, 3600× the wall clock"
    assert datetime(2030, 1, 1) <= datetime.fromisoformat(body["now"]) < datetime(2030, 2, 1)


def test_a_simulated_clock_stamps_events_and_ends_the_ranges(client):
    _clock.use_clock(_clock.SimulatedClock(1.0, datetime(2031, 5, 5, 12)))
    try:
        client.post("/v1/predictions", json={"id": "s1", "model": "spam", "label": 1, "score": 0.8})
        recent = client.get("/v1/models/spam/metrics?window=1h").json()
    finally:
        _clock.use_clock(None)
    assert recent["predictions"] == 1
    assert recent["scope"]["since"].startswith("2031-05-05T11:")
    stamped = {"since": "2031-05-05T12:00:00Z", "until": "2031-05-05T12:01:00Z"}
    assert client.get("/v1/models/spam/metrics", params=stamped).json()["predictions"] == 1
    with pytest.raises(ValueError, match="a clock's speed must be positive, got 0"):
        _clock.SimulatedClock(0)


def test_json_answers_are_gzipped_when_asked_and_the_fast_path_never(client):
    _log(client)
    r = client.get("/v1/models/fraud/windows?size=1h", headers={"accept-encoding": "gzip"})
    assert r.headers["content-encoding"] == "gzip"
    assert int(r.headers["content-length"]) * 3 < len(r.content)  # decoded by the client
    raw = client.get("/v1/models/fraud/windows?size=1h", headers={"accept-encoding": "identity"})
    assert "content-encoding" not in raw.headers and raw.json() == r.json()
    # A batch's per-event answers are kilobytes, but the fast path answers as it is.
    batch = [{"id": f"g{i}", "model": "spam", "label": 1, "score": 0.8} for i in range(200)]
    fast = client.post(
        "/v1/predictions", json={"predictions": batch}, headers={"accept-encoding": "gzip"}
    )
    assert fast.status_code == 200 and len(fast.content) > 1000
    assert "content-encoding" not in fast.headers


def test_pages_name_assets_by_digest_which_are_cached_for_a_year(client):
    page = client.get("/").text
    assert f"/dashboard/static/common.js?v={DIGEST}" in page
    named = client.get(f"/dashboard/static/common.js?v={DIGEST}")
    assert named.headers["cache-control"] == "public, max-age=31536000, immutable"
    assert client.get("/dashboard/static/common.js").headers["cache-control"] == (
        "public, max-age=300"
    )
    assert client.get("/dashboard/static/common.js?v=old").headers["cache-control"] == (
        "public, max-age=300"
    )


def _log_six_hours(client: TestClient, n: int, *, seed: int) -> tuple[datetime, list[dict]]:
    """``n`` scored fraud predictions over the last six hours, the first four labelled:
    the start and the predictions sent."""
    rng = np.random.default_rng(seed)
    start = _hour() - 6 * HOUR
    events, outcomes = [], []
    for i in range(n):
        ts = start + timedelta(seconds=i * 6 * 3600 / n)
        y = int(rng.random() < 0.3)
        score = round(float(np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1)), 3)
        events.append(
            {"id": f"e{i}", "model": "fraud", "ts": ts.isoformat(), "label": int(score >= 0.5),
             "score": score}
        )  # fmt: skip
        if ts < start + 4 * HOUR:
            outcomes.append({"prediction_id": f"e{i}", "label": y})
    assert client.post("/v1/predictions", json={"predictions": events}).status_code == 200
    assert client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
    return start, events


def test_windows_ending_between_buckets_still_get_estimates(client):
    """The dashboard asks for windows up to its clock's 'now', which is never on a
    bucket boundary: the estimates before labels must not need one."""
    _log_six_hours(client, 1500, seed=5)
    until = (_hour() + timedelta(minutes=7, seconds=3)).isoformat()
    body = client.get(
        "/v1/models/fraud/windows", params={"size": "1h", "until": until, "metrics": "recall"}
    ).json()
    assert body["estimation"]["available"], body["estimation"]
    estimating = [w for w in body["windows"] if w["state"] == "estimating"]
    assert len(estimating) == 2
    assert all(w["estimate"]["metrics"]["recall"]["value"] is not None for w in estimating)


def test_estimates_are_given_again_while_their_inputs_are_unchanged(client, monkeypatch):
    """The model page reads the same windows on every load: the estimates before labels
    are refitted only when a count they depend on changed (a label here)."""
    from liveeval.service import monitoring

    start, events = _log_six_hours(client, 1200, seed=6)
    fits = []
    fit = monitoring.PerformanceEstimator.fit
    monkeypatch.setattr(
        monitoring.PerformanceEstimator, "fit", lambda ref: fits.append(1) or fit(ref)
    )
    params = {"size": "1h", "metrics": "recall"}
    first = client.get("/v1/models/fraud/windows", params=params).json()
    again = client.get("/v1/models/fraud/windows", params=params).json()
    assert len(fits) == 1
    assert again == first
    assert first["estimation"]["available"]
    late = next(e for e in events if e["ts"] >= (start + 5 * HOUR).isoformat())
    sent = {"prediction_id": late["id"], "label": 1}
    assert client.post("/v1/outcomes", json={"outcomes": [sent]}).status_code == 200
    after = client.get("/v1/models/fraud/windows", params=params).json()
    assert len(fits) == 2
    assert after["windows"] != first["windows"]


def _close(got: object, want: object, path: str = "") -> None:
    """Equal JSON, numbers within 1e-9 relative (sums of the same terms in another
    order)."""
    if isinstance(want, dict):
        assert isinstance(got, dict) and got.keys() == want.keys(), path
        for k in want:
            _close(got[k], want[k], f"{path}.{k}")
    elif isinstance(want, list):
        assert isinstance(got, list) and len(got) == len(want), path
        for i, (a, b) in enumerate(zip(got, want, strict=True)):
            _close(a, b, f"{path}[{i}]")
    elif isinstance(want, float) and not isinstance(want, bool):
        assert got == pytest.approx(want, rel=1e-9, abs=1e-12), path
    else:
        assert got == want, path


def test_overview_cards_equal_one_read_of_each_versions_range(tmp_path: Path):
    # A profile judging a ranking metric (the overview reads scores for it), a binary
    # model without a profile, a multiclass model, and windows without labels yet.
    ranking = tmp_path / "ranking.toml"
    ranking.write_text(
        'name = "ranking"\ndescription = "ranks"\n\n[[check]]\nmetric = "roc_auc"\n'
        'op = ">="\ntarget = 0.7\nwarn = 0.05\nmin_n = 30\nwhy = "ranking"\n'
    )
    config = ServerConfig(
        store=str(tmp_path / "store.duckdb"),
        logged=[
            LoggedModel("fraud", (0, 1), 1, "fraud"),
            LoggedModel("spam", (0, 1), 1),
            LoggedModel("rank", (0, 1), 1, "ranking"),
            LoggedModel("kinds", ("a", "b", "c")),
        ],
        profiles={"ranking": ranking},
        metrics_cache_seconds=0.0,
    )
    rng = np.random.default_rng(5)
    with TestClient(create_app(config)) as client:
        for seed, model in enumerate(("fraud", "spam", "rank")):
            _log(client, model, n=400, seed=seed)
        now = datetime.now(UTC).replace(tzinfo=None)
        kinds, outcomes = [], []
        for i in range(300):
            ts = _hour() - 5 * HOUR + timedelta(seconds=i * 60)
            y = str(rng.choice(["a", "b", "c"]))
            kinds.append(
                {
                    "id": f"k{i}",
                    "model": "kinds",
                    "ts": ts.isoformat(),
                    "label": y if i % 3 else "a",
                }
            )
            if i < 240:
                outcomes.append({"prediction_id": f"k{i}", "label": y})
        # The current hour: predictions whose labels have not come.
        fresh = [
            {"id": f"f{i}", "model": "fraud", "version": "v2", "ts": now.isoformat(),
             "label": 1, "score": 0.8, "latency_total_s": 0.01}
            for i in range(5)
        ]  # fmt: skip
        assert (
            client.post("/v1/predictions", json={"predictions": kinds + fresh}).status_code == 200
        )
        assert client.post("/v1/outcomes", json={"outcomes": outcomes}).status_code == 200
        body = client.get("/v1/overview?window=24h&size=1h").json()
        service = client.app.state.service
        since = datetime.fromisoformat(body["since"])
        assert {m["model"] for m in body["models"]} == {"fraud", "spam", "rank", "kinds"}
        for entry in body["models"]:
            model = entry["model"]
            classes, pos_label, profile_name = service.model_meta(model, None)
            profile = service.profile(profile_name) if profile_name else None
            # The old path: each window's statistics from the grouped read, merged one
            # pair at a time.
            windows_of: dict[str, list] = {}
            for (version, _), stats in service.store.grouped_statistics(
                Scope(model, since),
                ("version",),
                every=HOUR,
                classes=classes,
                pos_label=pos_label,
            ).items():
                windows_of.setdefault(str(version), []).append(stats)
            assert [c["version"] for c in entry["versions"]] == list(windows_of) or (
                not windows_of and entry["versions"][0]["predictions"] == 0
            )
            for card in entry["versions"]:
                if card["version"] is None:
                    continue
                merged = _merged(windows_of[card["version"]])
                want = _card(card["version"], merged, profile, entry["key_metric"], [])
                _close({**card, "sparkline": []}, want, f"{model}/{card['version']}")
            windows = client.get(
                f"/v1/models/{model}/windows",
                params={"size": "1h", "since": body["since"], "by": "version",
                        "metrics": entry["key_metric"]},
            ).json()["windows"]  # fmt: skip
            for card in entry["versions"]:
                mine = [w for w in windows if w["version"] == card["version"]]
                key = entry["key_metric"]
                assert [p["state"] for p in card["sparkline"]] == [w["state"] for w in mine]
                _close(
                    [p["value"] for p in card["sparkline"]],
                    [w["metrics"][key]["value"] if key in w["metrics"] else None for w in mine],
                    f"{model}/{card['version']} sparkline",
                )
        rank = next(m for m in body["models"] if m["model"] == "rank")
        assert rank["key_metric"] == "roc_auc" and "roc_auc" in rank["versions"][0]["metrics"]
        fraud = next(m for m in body["models"] if m["model"] == "fraud")
        assert fraud["versions"][-1]["sparkline"][-1]["state"] == "estimating"

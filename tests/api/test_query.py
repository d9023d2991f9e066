"""Unknown query parameters on the /v1 routes are a 422 naming them (as unknown body
fields are): a typo such as ``?sise=1h`` never silently reads with the defaults."""

from __future__ import annotations

import pytest


@pytest.fixture
def logged(client):
    event = {"id": "q1", "model": "ext", "label": 1, "score": 0.9}
    assert client.post("/v1/predictions", json=event).status_code == 200
    return client


def test_a_typo_in_a_query_parameter_is_a_422_naming_it_and_the_accepted_ones(logged):
    r = logged.get("/v1/models/ext/windows?sise=1h")
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "unknown query parameter 'sise' for GET /v1/models/{model}/windows; did you mean "
        "'size'? (accepted: by, maturity, metrics, segment, since, size, until, version)"
    )
    r = logged.get("/v1/models/ext/metrics", params={"since": "2026-01-01", "sinse": "x", "a": 1})
    assert r.status_code == 422
    assert r.json()["detail"].startswith(
        "unknown query parameter 'sinse' (and 1 more) for GET /v1/models/{model}/metrics; "
        "did you mean 'since'?"
    )


def test_a_route_without_query_parameters_refuses_any(logged):
    r = logged.get("/v1/models?verbose=1")
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "unknown query parameter 'verbose' for GET /v1/models (this route takes no query "
        "parameters)"
    )
    # An empty value is a parameter all the same; a long name is not echoed whole.
    assert logged.get("/v1/alert-rules?x").status_code == 422
    r = logged.get("/v1/alert-rules?" + "y" * 5000 + "=1")
    assert r.json()["detail"].startswith(
        f"unknown query parameter '{'y' * 60}'… (5,000 characters)"
    )


def test_the_fast_routes_refuse_unknown_query_parameters_too(logged):
    r = logged.post("/v1/outcomes?dry_run=1", json={"prediction_id": "q1", "label": 1})
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "unknown query parameter 'dry_run' for POST /v1/outcomes (this route takes no query "
        "parameters)"
    )
    assert logged.get("/v1/models/ext/metrics").json()["labelled"] == 0  # nothing stored
    inputs = {"inputs": {"amount": 1.0, "distance_km": 2.0}}
    r = logged.post("/v1/models/fraud/predict?versoin=v3", json=inputs)
    assert r.status_code == 422
    assert r.json()["detail"] == (
        "unknown query parameter 'versoin' for POST /v1/models/{model}/predict; did you "
        "mean 'version'? (accepted: version)"
    )
    assert logged.post("/v1/models/fraud/predict?version=v3", json=inputs).status_code == 200


def test_declared_parameters_and_pages_outside_v1_are_unchanged(logged):
    # The parameters the dashboard's pages send, as they send them.
    for url in (
        "/v1/overview?window=1h&size=1m",
        "/v1/models/ext/windows?size=1h&since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00Z"
        "&by=version&metrics=recall&metrics=latency_p50_seconds&version=unversioned",
        "/v1/models/ext/versions?since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00Z"
        "&profile=fraud&metrics=recall",
        "/v1/models/ext/failures?size=1h&since=2026-11-01T00:00:00Z&version=unversioned",
        "/v1/models/ext/threshold?window=1h&version=unversioned&min_recall=0.5&cost_fp=1&cost_fn=1",
        "/v1/alerts?model=ext&state=firing",
        "/v1/notifications?limit=100&model=ext",
        "/v1/resources?size=1h&since=2026-11-01T00:00:00Z&until=2026-11-02T00:00:00Z",
    ):
        r = logged.get(url)
        assert r.status_code == 200, (url, r.text)
    # Pages keep their own state in the query string; only the JSON API is checked.
    assert logged.get("/healthz?probe=1").status_code == 200
    assert logged.get("/?range=6h&refresh=30").status_code == 200


RANGED = (
    "/v1/models/ext/metrics?",
    "/v1/models/ext/windows?size=1d&",
    "/v1/models/ext/windows?size=1h&",
    "/v1/models/ext/drift?reference=previous:1d&window=1d&",
    "/v1/models/ext/failures?size=1h&",
    "/v1/resources?size=1h&",
    "/v1/models/ext/versions?",
    "/v1/models/ext/compare?a=v1&b=v2&",
)


@pytest.mark.parametrize("url", RANGED)
def test_a_range_whose_since_is_not_before_its_until_is_a_422_naming_both(logged, url):
    r = logged.get(url + "since=2026-11-26T12:00:00Z&until=2026-11-26T10:00:00Z")
    assert r.status_code == 422, r.text
    assert r.json()["detail"] == (
        "since 2026-11-26T12:00:00 is after until 2026-11-26T10:00:00: the range is empty; "
        "give since before until"
    )
    r = logged.get(url + "since=2026-11-26T12:00:00%2B02:00&until=2026-11-26T10:00:00Z")
    assert r.status_code == 422
    assert r.json()["detail"].startswith(
        "since 2026-11-26T10:00:00 equals until 2026-11-26T10:00:00: the range is empty"
    )
    ok = logged.get(url + "since=2026-11-26T10:00:00Z&until=2026-11-26T12:00:00Z")
    assert ok.status_code != 422, ok.text


def test_a_single_valued_query_parameter_given_twice_is_a_422_naming_it_and_its_values(logged):
    for url, detail in (
        ("/v1/overview?window=1h&window=2h", "query parameter 'window' given 2 times ('1h', '2h')"),
        (
            "/v1/models/ext/windows?size=1h&since=2026-11-28&since=2020-01-01",
            "query parameter 'since' given 2 times ('2026-11-28', '2020-01-01')",
        ),
        (
            "/v1/models/ext/drift?reference=previous:1d&reference=version:v2",
            "query parameter 'reference' given 2 times ('previous:1d', 'version:v2')",
        ),
    ):
        r = logged.get(url)
        assert r.status_code == 422, url
        assert r.json()["detail"] == detail + "; give it once"
    # List parameters repeat as before.
    r = logged.get("/v1/models/ext/windows?size=1h&metrics=recall&metrics=recall&by=version")
    assert r.status_code == 200
    inputs = {"inputs": {"amount": 1.0, "distance_km": 2.0}}
    r = logged.post("/v1/models/fraud/predict?version=v3&version=v4", json=inputs)
    assert r.status_code == 422
    assert (
        r.json()["detail"] == "query parameter 'version' given 2 times ('v3', 'v4'); give it once"
    )


def test_a_version_no_prediction_can_carry_is_a_422_naming_the_accepted_form(logged):
    form = "a version is 1 to 100 letters, digits, '.', '_' or '-', as predictions name it"
    for url in ("/v1/models/ext/windows?size=1h&version=", "/v1/models/ext/metrics?version="):
        r = logged.get(url)
        assert r.status_code == 422, url
        assert r.json()["detail"] == f"query parameter 'version' is '': {form}"
    r = logged.get("/v1/models/ext/drift?reference=previous:1d&version=" + "v" * 10_000)
    assert r.status_code == 422
    assert r.json()["detail"] == (
        f"query parameter 'version' is {'v' * 60!r}… (10,000 characters): {form}"
    )
    r = logged.get("/v1/models/ext/metrics?version=a b")
    assert r.json()["detail"] == f"query parameter 'version' is 'a b': {form}"
    r = logged.get("/v1/models/ext/metrics?segment=" + "s" * 201)
    assert r.status_code == 422
    assert r.json()["detail"].endswith(
        "(201 characters): a segment is at most 200 characters, as predictions name it"
    )
    assert logged.get("/v1/models/ext/metrics?version=unversioned&segment=").status_code == 200


def test_comparing_a_version_with_itself_is_a_422(logged):
    r = logged.get("/v1/models/ext/compare?a=v1&b=v1")
    assert r.status_code == 422
    assert r.json()["detail"] == "a and b are both 'v1': compare two different versions"

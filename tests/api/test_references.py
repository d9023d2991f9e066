"""References registered by name: upload, list, delete, and drift against them."""

from __future__ import annotations

import io
from datetime import datetime, timedelta
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from fastapi.testclient import TestClient

from liveeval.api import ServerConfig, create_app
from liveeval.config import LoggedModel
from liveeval.errors import ColumnNotFoundError, ConflictError, NotFoundError, ValidationError
from liveeval.monitor.drift import compare_tables
from liveeval.service.drift import parse_reference
from liveeval.service.reference import upload_reference
from liveeval.store import Scope, open_store

PARQUET = "application/vnd.apache.parquet"
ARROW = "application/vnd.apache.arrow.stream"
T0 = datetime(2026, 11, 2)


def parquet(table: pa.Table) -> bytes:
    buf = io.BytesIO()
    pq.write_table(table, buf)
    return buf.getvalue()


def arrow(table: pa.Table) -> bytes:
    sink = pa.BufferOutputStream()
    with pa.ipc.new_stream(sink, table.schema) as writer:
        writer.write_table(table)
    return bytes(sink.getvalue())


def reference_table(n: int = 4000, seed: int = 1) -> pa.Table:
    rng = np.random.default_rng(seed)
    y = rng.integers(0, 2, n)
    return pa.table(
        {
            "amount": rng.normal(0.0, 1.0, n),
            "channel": rng.choice(["web", "app", "pos"], n, p=[0.5, 0.3, 0.2]),
            "score": np.clip(rng.normal(0.3 + 0.4 * y, 0.2), 0, 1),
            "y": y,
        }
    )


def log(client: TestClient, table: pa.Table, *, start: datetime = T0, prefix: str = "p") -> None:
    """Log the table's rows as predictions of 'ext' (one a second) with outcomes."""
    rows = table.to_pylist()
    preds = [
        {
            "id": f"{prefix}{i}",
            "model": "ext",
            "version": "v1",
            "ts": (start + timedelta(seconds=i % 3600)).isoformat(),
            "label": int(r["score"] >= 0.5),
            "score": float(r["score"]),
            "features": {"amount": r["amount"], "channel": r["channel"]},
        }
        for i, r in enumerate(rows)
    ]
    outs = [{"prediction_id": f"{prefix}{i}", "label": int(r["y"])} for i, r in enumerate(rows)]
    for k in range(0, len(preds), 10_000):
        assert client.post(
            "/v1/predictions", json={"predictions": preds[k : k + 10_000]}
        ).is_success
        assert client.post("/v1/outcomes", json={"outcomes": outs[k : k + 10_000]}).is_success


def config(path: Path | str, **kw: object) -> ServerConfig:
    return ServerConfig(
        store=str(path),
        logged=[LoggedModel("ext", (0, 1), 1)],
        metrics_cache_seconds=0.0,
        **kw,  # type: ignore[arg-type]
    )


@pytest.fixture
def client(tmp_path: Path):
    with TestClient(create_app(config(tmp_path / "store.duckdb"))) as c:
        yield c


def put(client: TestClient, name: str, body: bytes, media: str = PARQUET, **params: object):
    return client.put(
        f"/v1/models/ext/references/{name}",
        content=body,
        headers={"content-type": media},
        params=params,
    )


def test_an_uploaded_reference_is_listed_with_its_rows_columns_and_creation_time(client):
    r = put(client, "train", parquet(reference_table()), score="score", label="y")
    assert r.status_code == 201, r.text
    listed = client.get("/v1/models/ext/references").json()["references"]
    assert [x["name"] for x in listed] == ["train"]
    (ref,) = listed
    assert ref["rows"] == 4000
    assert ref["reference"] == "upload:train"
    assert {c["name"]: c["use"] for c in ref["columns"]} == {
        "amount": "feature",
        "channel": "feature",
        "score": "score",
        "y": "label",
    }
    assert datetime.fromisoformat(ref["created"]).tzinfo is not None


def test_an_arrow_stream_is_accepted_as_well_as_parquet(client):
    r = put(client, "arrow-ref", arrow(reference_table()), ARROW)
    assert r.status_code == 201, r.text
    assert r.json()["features"] == 4  # no roles named: every column is a feature


def test_reuploading_a_name_is_a_conflict_unless_replace_is_asked(client):
    body = parquet(reference_table())
    assert put(client, "train", body).status_code == 201
    again = put(client, "train", body)
    assert again.status_code == 409
    assert "already has a reference named 'train'" in again.json()["detail"]
    assert "replace=true" in again.json()["detail"]
    replaced = put(client, "train", parquet(reference_table(100)), replace="true")
    assert replaced.status_code == 200
    assert client.get("/v1/models/ext/references").json()["references"][0]["rows"] == 100


def test_bodies_that_are_not_the_declared_format_are_named(client):
    r = put(client, "x", b"not a file", "text/csv")
    assert r.status_code == 415
    assert "application/vnd.apache.parquet" in r.json()["detail"]
    r = put(client, "x", b"PAR1 but not really")
    assert r.status_code == 422
    assert "not a Parquet file" in r.json()["detail"]
    r = put(client, "x", b"\x00\x01", ARROW)
    assert r.status_code == 422
    assert "not an Arrow IPC stream" in r.json()["detail"]


def test_an_empty_file_or_table_is_refused(client):
    r = put(client, "x", b"")
    assert r.status_code == 422
    assert "empty (0 bytes)" in r.json()["detail"]
    r = put(client, "x", parquet(reference_table().slice(0, 0)))
    assert r.status_code == 422
    assert "0 rows" in r.json()["detail"]


def test_an_upload_over_the_reference_limit_is_413_naming_the_setting(tmp_path):
    with TestClient(create_app(config(tmp_path / "s.duckdb", max_reference_bytes=10_000))) as c:
        r = put(c, "big", parquet(reference_table(4000)))
        assert r.status_code == 413
        assert "max_reference_bytes" in r.json()["detail"]
        # Small files pass, and the limit is not the (smaller) one of other bodies.
        assert put(c, "small", parquet(reference_table(50))).status_code == 201


def test_a_reference_may_be_larger_than_other_bodies(tmp_path):
    cfg = config(tmp_path / "s.duckdb", max_body_bytes=1_000)
    with TestClient(create_app(cfg)) as c:
        assert put(c, "train", parquet(reference_table(2000))).status_code == 201


def test_a_name_with_a_slash_or_colon_is_not_a_reference_name(client):
    body = parquet(reference_table(50))
    assert put(client, "a/b", body).status_code == 404  # two path segments: no such route
    r = put(client, "a:b", body)
    assert r.status_code == 422
    assert client.get("/v1/models/ext/references").json()["references"] == []
    with pytest.raises(ValidationError, match="an uploaded reference is 'upload:NAME'"):
        parse_reference("upload:a/b")


def test_an_unknown_model_is_404(client):
    r = client.put(
        "/v1/models/nope/references/train",
        content=parquet(reference_table(50)),
        headers={"content-type": PARQUET},
    )
    assert r.status_code == 404
    assert client.get("/v1/models/nope/references").status_code == 404


def test_columns_the_model_does_not_have_are_named_or_left_out_on_request(client):
    log(client, reference_table(200, seed=3))
    extra = reference_table(500).append_column("zip", pa.array(["x"] * 500))
    service = client.app.state.service  # type: ignore[attr-defined]
    with pytest.raises(ValidationError, match=r"column\(s\) 'score', 'y', 'zip' .* not features"):
        upload_reference(service, "ext", "train", parquet(extra), PARQUET)
    r = put(client, "train", parquet(extra), score="score", label="y", extra="ignore")
    assert r.status_code == 201, r.text
    uses = {c["name"]: c["use"] for c in r.json()["columns"]}
    assert uses["zip"] == "left out: not a feature of model 'ext'"


def test_a_column_of_the_other_kind_than_the_live_feature_is_named(client):
    log(client, reference_table(200, seed=3))
    service = client.app.state.service  # type: ignore[attr-defined]
    table = pa.table({"amount": ["a", "b"] * 100, "channel": ["web"] * 200})
    with pytest.raises(ValidationError, match="column 'amount' is text in the reference"):
        upload_reference(service, "ext", "t", parquet(table), PARQUET)
    table = pa.table({"channel": np.arange(200.0)})
    with pytest.raises(ValidationError, match="column 'channel' is numeric in the reference"):
        upload_reference(service, "ext", "t", parquet(table), PARQUET)


def test_missing_and_non_finite_numbers_count_as_missing(client):
    values = np.r_[np.arange(300.0), [np.nan, np.inf, -np.inf]]
    mask = np.r_[np.zeros(303, dtype=bool), [True]]
    table = pa.table({"amount": pa.array(np.r_[values, [0.0]], mask=mask)})
    assert put(client, "t", parquet(table)).status_code == 201
    service = client.app.state.service  # type: ignore[attr-defined]
    stored = service.store.reference("ext", "t")
    h = stored.features["amount"]
    assert h.missing == 4 and h.rows == 304
    assert sum(h.counts) + h.below + h.above == 300
    assert stored.moments["amount"] == (
        300,
        float(np.arange(300.0).sum()),
        pytest.approx(float((np.arange(300.0) ** 2).sum())),
    )


def test_a_column_without_any_number_is_refused(client):
    service = client.app.state.service  # type: ignore[attr-defined]
    table = pa.table({"amount": [np.nan] * 10, "channel": ["web"] * 10})
    with pytest.raises(ValidationError, match="column 'amount' holds no finite number"):
        upload_reference(service, "ext", "t", parquet(table), PARQUET)


def test_scores_and_labels_are_checked_against_the_model(client):
    service = client.app.state.service  # type: ignore[attr-defined]
    bad = reference_table(100).set_column(2, "score", pa.array([0.5] * 99 + [1.5]))
    with pytest.raises(ValidationError, match=r"column 'score', row 100: 1.5 is not a score"):
        upload_reference(service, "ext", "t", parquet(bad), PARQUET, score="score")
    labels = reference_table(100).set_column(3, "y", pa.array(["fraud"] * 100))
    with pytest.raises(ValidationError, match="column 'y': 'fraud' is not a class of the model"):
        upload_reference(service, "ext", "t", parquet(labels), PARQUET, label="y")
    with pytest.raises(ColumnNotFoundError, match="Did you mean 'score'"):
        upload_reference(service, "ext", "t", parquet(labels), PARQUET, score="scor")


def test_a_taken_name_is_a_conflict_error(client):
    service = client.app.state.service  # type: ignore[attr-defined]
    body = parquet(reference_table(100))
    upload_reference(service, "ext", "t", body, PARQUET)
    with pytest.raises(ConflictError, match="already has a reference named 't'"):
        upload_reference(service, "ext", "t", body, PARQUET)


def test_deleting_a_reference_forgets_it(client):
    assert put(client, "train", parquet(reference_table(100))).status_code == 201
    assert client.delete("/v1/models/ext/references/train").status_code == 204
    r = client.delete("/v1/models/ext/references/train")
    assert r.status_code == 404
    assert "no reference named 'train'" in r.json()["detail"]
    r = client.get("/v1/models/ext/drift", params={"reference": "upload:train"})
    assert r.status_code == 404


def test_a_reference_without_fixed_bins_fixes_the_models_bins(client):
    service = client.app.state.service  # type: ignore[attr-defined]
    table = reference_table(3000).select(["amount", "channel"])
    summary = upload_reference(service, "ext", "t", parquet(table), PARQUET)
    assert summary["fixed_bins"]["from_this_reference"] == ["amount"]
    edges = service.store.feature_bins("ext")["amount"]
    assert edges == service.store.reference("ext", "t").features["amount"].edges
    assert 40 <= len(edges) <= 52  # 50 quantile bins (ties dropped) and the top edge
    # A second reference is binned on the same (now fixed) edges.
    table = reference_table(500, 9).select(["amount", "channel"])
    other = upload_reference(service, "ext", "u", parquet(table), PARQUET)
    assert other["fixed_bins"]["already_fixed"] == ["amount"]
    assert service.store.reference("ext", "u").features["amount"].edges == edges


@pytest.mark.parametrize("engine", ["duckdb", "postgresql"])
def test_a_reference_survives_a_store_reopen(tmp_path, engine, request):
    from tests.store.scenario import postgres_location

    path = postgres_location(request) if engine == "postgresql" else tmp_path / "store.duckdb"
    with TestClient(create_app(config(path))) as c:
        assert put(c, "train", parquet(reference_table()), score="score", label="y").is_success
        log(c, reference_table(2000, seed=5))
        before = c.get("/v1/models/ext/drift", params={"reference": "upload:train"}).json()
    store = open_store(path)
    try:
        ref = store.reference("ext", "train")
        assert ref is not None and ref.rows == 4000 and ref.labels is not None
        assert [r.name for r in store.references("ext")] == ["train"]
    finally:
        store.close()
    with TestClient(create_app(config(path))) as c:
        after = c.get("/v1/models/ext/drift", params={"reference": "upload:train"}).json()
    assert after["latest"] == before["latest"]


def test_uploaded_reference_drift_agrees_with_the_file_comparison(client):
    """The live comparison (50 store bins fixed from the reference) against
    ``liveeval drift`` on the same two tables (1000 reference-quantile bins)."""
    ref = reference_table(20_000, seed=1)
    rng = np.random.default_rng(2)
    n = 3000
    y = rng.integers(0, 2, n)
    current = pa.table(
        {
            "amount": rng.normal(0.3, 1.2, n),
            "channel": rng.choice(["web", "app", "pos"], n, p=[0.4, 0.3, 0.3]),
            "score": np.clip(rng.normal(0.35 + 0.4 * y, 0.2), 0, 1),
            "y": y,
        }
    )
    assert put(client, "train", parquet(ref), score="score", label="y").status_code == 201
    log(client, current)
    live = client.get(
        "/v1/models/ext/drift", params={"reference": "upload:train", "window": "1h"}
    ).json()
    cells = {c["name"]: c for c in live["latest"]["columns"]}
    files = compare_tables(ref, current, score="score", label="y")
    by_name = {c.name: c.to_dict() for c in files.columns}
    # Categories are counted exactly on both paths: the same effect and p-value.
    assert cells["channel"]["effect"]["value"] == pytest.approx(
        by_name["channel"]["effect"]["value"], rel=1e-9
    )
    assert cells["channel"]["p_value"] == pytest.approx(by_name["channel"]["p_value"], rel=1e-6)
    assert cells["label"]["effect"]["value"] == pytest.approx(
        by_name["y"]["effect"]["value"], rel=1e-9
    )
    # Numbers: W1 / reference SD on 50 reference-quantile bins reads high by up to ~7%
    # of the effect (the wide tail bins; docs/drift.md) where the 1000-bin value is within
    # 0.5% of exact; the exact KS D lies within the live bounds.
    file_effect = by_name["amount"]["effect"]["value"]
    assert abs(cells["amount"]["effect"]["value"] - file_effect) <= 0.005 + 0.08 * file_effect
    exact_ks = by_name["amount"]["statistics"]["ks"]
    live_ks = cells["amount"]["statistics"]
    assert live_ks["ks"] - 1e-9 <= exact_ks <= live_ks["ks_upper"] + 1e-9
    # The score on the store's 1000 equal bins: within 0.005 of the file's value.
    assert abs(cells["score"]["effect"]["value"] - by_name["score"]["effect"]["value"]) < 0.005
    live_calls = {c["name"] for c in live["latest"]["columns"] if c["drifted"]}
    file_calls = {"label" if c.name == "y" else c.name for c in files.columns if c.drifted}
    assert live_calls == file_calls


def test_a_source_without_references_says_so(tmp_path):
    from liveeval.service.drift import drift_of
    from liveeval.store import TableSource

    source = TableSource({})
    with pytest.raises(ValidationError, match="uploaded references live in a store"):
        drift_of(source, "ext", reference="upload:train")


def test_an_unknown_upload_name_suggests_the_close_one(client):
    assert put(client, "train", parquet(reference_table(100))).is_success
    r = client.get("/v1/models/ext/drift", params={"reference": "upload:trian"})
    assert r.status_code == 404
    assert "Did you mean 'train'?" in r.json()["detail"]
    service = client.app.state.service  # type: ignore[attr-defined]
    from liveeval.service.drift import drift

    with pytest.raises(NotFoundError, match="no reference named 'trian'"):
        drift(service, "ext", reference="upload:trian")


def test_numbers_stored_before_the_bins_were_fixed_are_binned_on_the_references(client):
    log(client, reference_table(300, seed=3))  # 300 numbers: fewer than the store's freeze
    service = client.app.state.service  # type: ignore[attr-defined]
    table = reference_table(2000).select(["amount", "channel"])
    upload_reference(service, "ext", "t", parquet(table), PARQUET)
    merged = service.store.feature_windows(Scope("ext"), None, ["amount"])
    (histogram,) = (w["amount"] for w in merged.values())
    assert histogram.edges == service.store.reference("ext", "t").features["amount"].edges
    assert sum(histogram.counts) + histogram.below + histogram.above == 300


def test_a_served_models_inputs_are_its_features_before_any_traffic(tmp_path, fraud_model):
    from liveeval.serving import ModelSpec

    cfg = ServerConfig(
        store=str(tmp_path / "s.duckdb"), models=[ModelSpec("fraud", fraud_model, version="v3")]
    )
    rng = np.random.default_rng(0)
    table = pa.table({"amount": rng.gamma(2.0, 50.0, 300), "zip": ["x"] * 300})
    with TestClient(create_app(cfg)) as c:
        r = c.put(
            "/v1/models/fraud/references/train",
            content=parquet(table),
            headers={"content-type": PARQUET},
        )
        assert r.status_code == 422
        assert (
            "column(s) 'zip' of the reference are not features of model 'fraud'"
            in (r.json()["detail"])
        )
        r = c.put(
            "/v1/models/fraud/references/train",
            content=parquet(table),
            headers={"content-type": PARQUET},
            params={"extra": "ignore"},
        )
        assert r.status_code == 201
        assert r.json()["features_without_reference"] == ["distance_km"]

"""Property-based tests of the served OpenAPI spec: no generated request may cause a
5xx, and every answer must match the documented schema (schemathesis's checks)."""

from __future__ import annotations

import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings

from liveeval.api import ServerConfig, create_app
from liveeval.serving import ModelSpec


@pytest.fixture
def app(tmp_path, fraud_model):
    config = ServerConfig(
        store=str(tmp_path / "fuzz.duckdb"),
        models=[ModelSpec("fraud", fraud_model, version="v3", profile="fraud")],
        metrics_cache_seconds=0.0,
    )
    application = create_app(config)
    application.state.service.start()
    try:
        yield application
    finally:
        application.state.service.stop()


@schemathesis.serializer("application/vnd.apache.arrow.stream", "application/vnd.apache.parquet")
def _arrow_bytes(ctx: object, value: object) -> bytes:
    # The spec says "binary"; whatever bytes are generated go out as they are.
    return value if isinstance(value, bytes) else str(value).encode()


def _probas_off(body: object) -> bool:
    items = body.get("predictions", [body]) if isinstance(body, dict) else []
    for item in items:
        probas = item.get("probas") if isinstance(item, dict) else None
        if isinstance(probas, list) and probas and abs(sum(probas) - 1.0) > 1e-3:
            return True
    return False


def _valid_reference(query: object) -> bool:
    from liveeval.errors import ValidationError
    from liveeval.service.drift import parse_reference

    try:
        parse_reference(str((query or {}).get("reference", "")))  # type: ignore[union-attr]
    except (ValidationError, OverflowError):
        return False
    return True


def _reaches_before_year_1(window: object) -> bool:
    from liveeval.config import parse_window
    from liveeval.errors import ConfigError
    from liveeval.service._clock import now

    if not isinstance(window, str):
        return False
    try:
        now() - parse_window(window)
    except (ConfigError, OverflowError):
        return True
    return False


def _stamped_outside_the_years(body: object) -> bool:
    """Whether an event in ``body`` carries a ``ts`` outside 1900–2999 (refused by rule)."""
    from datetime import datetime

    from liveeval.service.events import event_time

    items = []
    if isinstance(body, dict):
        for key in ("predictions", "outcomes"):
            if isinstance(body.get(key), list):
                items += body[key]
        items.append(body)
    for item in items:
        ts = item.get("ts") if isinstance(item, dict) else None
        if isinstance(ts, str):
            try:
                event_time(datetime.fromisoformat(ts.replace("Z", "+00:00")))
            except ValueError:
                return True
    return False


def _reversed_range(query: object) -> bool:
    """``since`` not before ``until``, as the server reads them (an empty range is a 422)."""
    from datetime import datetime

    from pydantic import TypeAdapter, ValidationError

    from liveeval.service.events import naive_utc

    if not isinstance(query, dict) or "since" not in query or "until" not in query:
        return False
    try:
        since, until = (
            naive_utc(TypeAdapter(datetime).validate_python(query[k])) for k in ("since", "until")
        )
    except (ValidationError, ValueError, OverflowError):
        return False
    return bool(since >= until)


def _longer_than_a_century(query: object) -> bool:
    from liveeval.config import parse_window
    from liveeval.errors import ConfigError

    for key in ("size", "every", "window"):
        value = (query or {}).get(key) if isinstance(query, dict) else None
        if isinstance(value, str) and not value.strip().isdigit():
            try:
                parse_window(value)
            except ConfigError as exc:
                if "longest window" in str(exc):
                    return True
    return False


@pytest.mark.slow
def test_api_conforms_to_its_openapi_spec(app):
    # schemathesis's pytest plugin does not support pytest 9 yet; drive it directly.
    schema = schemathesis.openapi.from_asgi("/openapi.json", app)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 8
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=40, deadline=None, suppress_health_check=list(HealthCheck), database=None
        )
        def check(case: schemathesis.Case) -> None:
            # JSON Schema cannot say "probas sum to 1"; a body that breaks only that
            # rule is rightly rejected, so acceptance is not demanded of it.
            excluded = []
            # Random bytes are schema-valid "binary" but not an Arrow stream or Parquet file.
            if (
                _probas_off(case.body)
                or case.path.endswith("/arrow")
                or (case.method == "PUT" and "/references/" in case.path)
            ):
                excluded.append(schemathesis.checks.positive_data_acceptance)
            # Nor "these two times are real dates and the end follows the start": a
            # drift reference our own parser refuses is rightly a 422.
            if case.path.endswith("/drift") and not _valid_reference(case.query):
                excluded.append(schemathesis.checks.positive_data_acceptance)
            # Nor "a window size no longer than the range, at most 200 sparkline points,
            # 2000 windows, 366 days", nor "a window that starts after year 1".
            if case.path in ("/v1/overview", "/v1/resources") or case.path.endswith("/failures"):
                excluded.append(schemathesis.checks.positive_data_acceptance)
            if _reaches_before_year_1((case.query or {}).get("window")):
                excluded.append(schemathesis.checks.positive_data_acceptance)
            # Nor "an event stamped from 1900 to 2999", "a window of at most 100 years".
            if _stamped_outside_the_years(case.body) or _longer_than_a_century(case.query):
                excluded.append(schemathesis.checks.positive_data_acceptance)
            # Nor "since before until" (the query names an empty range), nor "two
            # different versions" to compare.
            query = case.query or {}
            if _reversed_range(query) or (
                case.path.endswith("/compare") and query.get("a") == query.get("b")
            ):
                excluded.append(schemathesis.checks.positive_data_acceptance)
            case.call_and_validate(excluded_checks=excluded)

        check()

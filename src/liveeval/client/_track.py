"""``@client.track``: log every call of a predict function, without ever breaking it."""

from __future__ import annotations

import functools
import inspect
import logging
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar

from ..errors import ClientClosedError, EventTypeError, InvalidEventError, QueueFullError

if TYPE_CHECKING:
    from ._client import Client

__all__ = ["track"]

log = logging.getLogger("liveeval.client")
F = TypeVar("F", bound=Callable[..., Any])


def track(client: Client, model: str, version: str) -> Callable[[F], F]:
    """The decorator behind :meth:`Client.track`."""

    def decorate(fn: F) -> F:
        def record(started: float, result: Any = None, error: BaseException | None = None) -> Any:
            elapsed = time.perf_counter() - started
            if error is None and (not isinstance(result, dict) or "label" not in result):
                raise EventTypeError(
                    f"{fn.__name__} returned {type(result).__name__}, not a dict with a 'label'",
                    field="return value",
                    value=result,
                )
            pid: str | None = None
            try:
                if error is not None:
                    client.log_prediction(
                        model,
                        version=version,
                        status="error",
                        error_type=type(error).__name__,
                        latency_total_s=elapsed,
                    )
                else:
                    pid = client.log_prediction(
                        model,
                        version=version,
                        label=result["label"],
                        score=result.get("score"),
                        probas=result.get("probas"),
                        latency_total_s=elapsed,
                    )
            except (InvalidEventError, QueueFullError, ClientClosedError) as exc:
                # Already counted in client.stats; serving goes on.
                log.error("liveeval: a call of %s was not logged: %s", fn.__name__, exc)
            return None if error is not None else {**result, "prediction_id": pid}

        if inspect.iscoroutinefunction(fn):

            @functools.wraps(fn)
            async def async_wrapper(*args: Any, **kwargs: Any) -> Any:
                started = time.perf_counter()
                try:
                    result = await fn(*args, **kwargs)
                except Exception as exc:
                    record(started, error=exc)
                    raise
                return record(started, result)

            return async_wrapper  # type: ignore[return-value]

        @functools.wraps(fn)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            started = time.perf_counter()
            try:
                result = fn(*args, **kwargs)
            except Exception as exc:
                record(started, error=exc)
                raise
            return record(started, result)

        return wrapper  # type: ignore[return-value]

    return decorate

"""Shadow traffic: challenger versions predict the same inputs as the default version,
in the background, logged under their own version and never answered with.

A request to a model's default version (no ``version`` asked for) schedules, after
its own predictions are committed, one task per shadow version: infer in a worker
thread, check the output as for any prediction, and write the events (a failure is a
failed prediction of the shadow version). The request's answer never waits for them.
The predictions carry the same features, so ``GET /v1/models/{m}/compare`` pairs them
with the champion's and measures the flip rate.
"""

from __future__ import annotations

import asyncio
import logging
import time
from typing import TYPE_CHECKING, Any

from ..errors import ValidationError

if TYPE_CHECKING:
    from .core import Service

__all__ = ["schedule_shadows"]

log = logging.getLogger("liveeval")
_tasks: set[asyncio.Task[None]] = set()  # held until done: the loop keeps weak references


def schedule_shadows(
    service: Service, model: str, rows: list[dict[str, Any]], segment: str | None
) -> None:
    loop = asyncio.get_running_loop()
    for version in service.shadows.get(model, ()):
        task = loop.create_task(_shadow(service, model, version, rows, segment))
        _tasks.add(task)
        task.add_done_callback(_tasks.discard)


async def _shadow(
    service: Service, model: str, version: str, rows: list[dict[str, Any]], segment: str | None
) -> None:
    from .predict import _events, _failed

    started = time.perf_counter()
    loaded = service.served(model, version)
    try:
        x = loaded.inputs(rows)
    except ValidationError as exc:
        # The champion took these inputs; a challenger that cannot is its own problem.
        log.warning("shadow %r %r cannot take the inputs: %s", model, version, exc)
        return
    try:
        out = await asyncio.get_running_loop().run_in_executor(None, loaded.infer, x)
        events = _events(service, loaded, rows, out, None, segment, started)
    except Exception as exc:  # the challenger's fault: a failed prediction of its own
        await _failed(service, loaded, rows, rows, None, segment, started, None, exc)
        return
    await service.write("predictions", events, fresh=True)
    service.observer.predictions(model, version, "ok", len(rows))

"""Running the suite on several CPUs with pytest-xdist (``make test``: ``-n auto --dist
loadgroup``); what a test must do to be parallel-safe is in docs/testing.md.

``--dist loadgroup`` sends the tests of one group to one worker and balances every other
test on its own. Two things are added here:

- the groups: a test that uses a class-, module- or package-scoped fixture of this tree
  joins its module's group (its package's, for a package-scoped one), so an expensive
  shared fixture (a demo server and a browser, a store filled on four engines) is built
  once, not once per worker; an explicit ``@pytest.mark.xdist_group(name)`` still wins.
- the scheduler that honours them: pytest-xdist 3.8 tells the controller a test's group by
  appending ``@group`` to its node id, which pytest 9.2 no longer lets it change
  (pytest-xdist issue 1386), so every group would silently fall apart. The workers write
  their groups to a file instead and the controller's scheduler reads it.

Without xdist (a plain ``pytest``) none of this runs.
"""

from __future__ import annotations

import inspect
import json
import os
import shutil
import tempfile
from pathlib import Path
from typing import Any

import pytest

MAX_WORKERS = 8  # each worker imports the whole stack (torch, sklearn, duckdb): ~1 GB
_SHARED_SCOPES = ("class", "module", "package")
_KEY = "liveeval_groups_dir"


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_auto_num_workers(config: pytest.Config) -> int:
    """``-n auto``: the CPUs this process may run on (not psutil's physical cores, 1 on a
    2-vCPU machine with hyper-threads), at most MAX_WORKERS; PYTEST_XDIST_AUTO_NUM_WORKERS
    overrides it."""
    wanted = os.environ.get("PYTEST_XDIST_AUTO_NUM_WORKERS", "")
    if wanted.isdigit():
        return int(wanted)
    return max(1, min(len(os.sched_getaffinity(0)), MAX_WORKERS))


def group_of(item: pytest.Item, in_tree: Any) -> str | None:
    """The item's group: its explicit ``xdist_group`` marks (joined like xdist does),
    else its module's (package's) when it uses a shared fixture of this tree."""
    names = sorted(
        str(m.args[0] if m.args else m.kwargs.get("name", "default"))
        for m in item.iter_markers("xdist_group")
    )
    if names:
        return "_".join(names)
    info = getattr(item, "_fixtureinfo", None)
    defs = [d[-1] for d in (info.name2fixturedefs.values() if info else ()) if d]
    scopes = {d.scope for d in defs if d.scope in _SHARED_SCOPES and in_tree(d.func)}
    if not scopes:
        return None
    module = item.nodeid.split("::")[0]
    return module.rsplit("/", 1)[0] if "package" in scopes else module


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """On a worker: write {node id: group} where the controller's scheduler reads it."""
    where = getattr(config, "workerinput", {}).get(_KEY)
    if where is None:
        return
    root = config.rootpath.resolve()
    roots = [root / p for p in config.getini("testpaths")] or [root]
    ours: dict[Any, bool] = {}

    def in_tree(func: Any) -> bool:
        # A plugin's fixture (anyio's module-scoped anyio_backend) is cheap: no group.
        if func not in ours:
            source = Path(inspect.getfile(func)).resolve()
            ours[func] = any(source.is_relative_to(r) for r in roots)
        return ours[func]

    groups = {item.nodeid: g for item in items if (g := group_of(item, in_tree)) is not None}
    target = Path(where) / f"{config.workerinput['workerid']}.json"  # type: ignore[attr-defined]
    partial = target.with_suffix(".part")
    partial.write_text(json.dumps(groups), encoding="utf-8")
    partial.replace(target)


@pytest.hookimpl(optionalhook=True)
def pytest_configure_node(node: Any) -> None:
    """On the controller: tell each worker where to write its groups."""
    config = node.config
    if not hasattr(config, "_liveeval_groups_dir"):
        config._liveeval_groups_dir = tempfile.mkdtemp(prefix="liveeval-xdist-groups-")
    node.workerinput[_KEY] = config._liveeval_groups_dir


def pytest_unconfigure(config: pytest.Config) -> None:
    where = getattr(config, "_liveeval_groups_dir", None)
    if where is not None:
        shutil.rmtree(where, ignore_errors=True)


@pytest.hookimpl(optionalhook=True)
def pytest_xdist_make_scheduler(config: pytest.Config, log: Any) -> Any:
    if config.getoption("dist") != "loadgroup":
        return None
    from xdist.scheduler import LoadGroupScheduling

    class Scheduling(LoadGroupScheduling):  # type: ignore[misc]
        """loadgroup with the groups the workers wrote (see the module's docstring)."""

        groups: dict[str, str] | None = None

        def _split_scope(self, nodeid: str) -> str:
            if self.groups is None:
                self.groups = {}
                where = getattr(config, "_liveeval_groups_dir", None)
                for path in Path(where).glob("*.json") if where else ():
                    self.groups.update(json.loads(path.read_text(encoding="utf-8")))
            group = self.groups.get(nodeid)
            # "@" keeps a group apart from a test's own node id.
            return f"@{group}" if group is not None else super()._split_scope(nodeid)

    return Scheduling(config, log)

"""The parallel run (tests/parallel.py): a module-scoped fixture is built once, on one
worker, for every test that uses it; the other tests are spread out on their own."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from tests import parallel

pytest.importorskip("xdist")

PLUGIN = Path(__file__).with_name("parallel.py")

SHARED = """
import os
from pathlib import Path

import pytest

LOG = Path(__file__).with_name("log")


def note(what):
    with LOG.open("a") as f:
        f.write(f"{what} {os.environ['PYTEST_XDIST_WORKER']}\\n")


@pytest.fixture(scope="module")
def expensive():
    note("setup")
    return 42


@pytest.mark.parametrize("i", range(8))
def test_uses_it(expensive, i):
    note(f"shared{i}")


@pytest.mark.parametrize("i", range(4))
def test_does_not(i):
    note(f"alone{i}")
"""

OTHER = """
import pytest

@pytest.mark.parametrize("i", range(8))
def test_other(i):
    pass
"""


def test_a_module_fixture_is_built_once_and_its_tests_share_one_worker(
    pytester: pytest.Pytester, monkeypatch: pytest.MonkeyPatch
) -> None:
    pytester.makepyfile(
        parallel_plugin=PLUGIN.read_text(encoding="utf-8"), test_a=SHARED, test_b=OTHER
    )
    pytester.makeconftest('pytest_plugins = ["parallel_plugin"]')
    # Only xdist: the suite's other plugins (hypothesis, schemathesis) cost seconds a process.
    monkeypatch.setenv("PYTEST_DISABLE_PLUGIN_AUTOLOAD", "1")
    monkeypatch.setenv("PYTEST_PLUGINS", "xdist.plugin,xdist.looponfail")
    result = pytester.runpytest_subprocess(
        "-n", "2", "--dist", "loadgroup", "-p", "no:cacheprovider"
    )
    result.assert_outcomes(passed=20)
    lines = [line.split() for line in (pytester.path / "log").read_text().splitlines()]
    setups = [worker for what, worker in lines if what == "setup"]
    shared = {worker for what, worker in lines if what.startswith("shared")}
    assert len(setups) == 1, lines
    assert shared == set(setups), lines
    assert sum(what.startswith("alone") for what, _ in lines) == 4


def test_auto_is_the_cpus_we_may_use_at_most_eight_unless_told(
    pytestconfig: pytest.Config, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("PYTEST_XDIST_AUTO_NUM_WORKERS", raising=False)
    cpus = len(os.sched_getaffinity(0))
    assert parallel.pytest_xdist_auto_num_workers(pytestconfig) == min(cpus, 8)
    monkeypatch.setenv("PYTEST_XDIST_AUTO_NUM_WORKERS", "3")
    assert parallel.pytest_xdist_auto_num_workers(pytestconfig) == 3

"""A wheel built from the repo carries the dashboard's charting library (copied from
its npm package by the build, never committed) and a server installed from it serves
it: `pip install` users get working charts offline."""

from __future__ import annotations

import shutil
import subprocess
import sys
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
STATIC = "liveeval/dashboard/static"

pytestmark = pytest.mark.slow


def _tracked_tree(dest: Path) -> Path:
    """The repo's committed files (what a clean clone has), plus npm's node_modules/
    that `make assets` installed from the lockfile (the build copies from it)."""
    names = subprocess.run(
        ["git", "ls-files", "-z"], cwd=ROOT, check=True, capture_output=True
    ).stdout.split(b"\0")
    for name in filter(None, names):
        source = ROOT / name.decode()
        if source.is_file():
            (dest / name.decode()).parent.mkdir(parents=True, exist_ok=True)
            shutil.copy2(source, dest / name.decode())
    modules = ROOT / "node_modules" / "uplot"
    assert modules.is_dir(), "run `make assets` (npm ci) first"
    shutil.copytree(modules, dest / "node_modules" / "uplot")
    return dest


def test_a_wheel_built_from_the_repo_serves_the_charting_library(tmp_path):
    tree = _tracked_tree(tmp_path / "clone")
    assert not (tree / "src" / STATIC / "uplot.min.js").exists()  # never committed
    wheels = tmp_path / "wheels"
    subprocess.run(
        [sys.executable, "-m", "pip", "wheel", "--quiet", "--no-deps", "--no-build-isolation",
         "-w", str(wheels), str(tree)],
        check=True,
    )  # fmt: skip
    (wheel,) = wheels.glob("liveeval-*.whl")
    with zipfile.ZipFile(wheel) as z:
        names = set(z.namelist())
        assert {f"{STATIC}/uplot.min.js", f"{STATIC}/uplot.min.css"} <= names
        assert f"{STATIC}/uplot.LICENSE.txt" in names
        shipped = z.read(f"{STATIC}/uplot.min.js")
    assert shipped == (ROOT / "node_modules" / "uplot" / "dist" / "uPlot.iife.min.js").read_bytes()
    site = tmp_path / "site"
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", str(site),
         str(wheel)],
        check=True,
    )  # fmt: skip
    # The installed package (first on the path; its dependencies from this venv) serves
    # the model page and the library it names.
    probe = f"""
import re, liveeval
from fastapi.testclient import TestClient
from liveeval.api import ServerConfig, create_app
assert liveeval.__file__.startswith({str(site)!r}), liveeval.__file__
with TestClient(create_app(ServerConfig(store={str(tmp_path / "store.duckdb")!r}))) as c:
    page = c.get("/models/fraud").text
    src = re.search(r'src="(/dashboard/static/uplot.min.js[^"]*)"', page).group(1)
    r = c.get(src)
    assert r.status_code == 200 and "immutable" in r.headers["cache-control"]
    print(len(r.content))
"""
    out = subprocess.run(
        [sys.executable, "-c", probe],
        env={"PYTHONPATH": str(site), "PATH": "/usr/bin:/bin"},
        check=True,
        capture_output=True,
        text=True,
    )
    assert int(out.stdout.strip()) == len(shipped)

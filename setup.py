"""The wheel carries the dashboard's charting library: before the package's files are
collected, scripts/build_assets.py copies it from npm's node_modules (running `npm ci`
on package-lock.json when needed). Everything else is in pyproject.toml."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

from setuptools import setup
from setuptools.command.build_py import build_py


class BuildPyWithAssets(build_py):
    def run(self) -> None:
        script = Path(__file__).resolve().parent / "scripts" / "build_assets.py"
        subprocess.run([sys.executable, str(script)], check=True)
        super().run()


setup(cmdclass={"build_py": BuildPyWithAssets})

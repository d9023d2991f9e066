"""Put the dashboard's third-party JavaScript into the package (run by `make assets`,
by the Makefile's install step and by the wheel build in setup.py).

The charting library comes from the npm registry: `npm ci` installs exactly what
package-lock.json names into node_modules/, and its browser build, stylesheet and
licence are copied into src/liveeval/dashboard/static/ (ignored by git), where the
server serves them and a wheel carries them. Nothing third-party is committed and
nothing is fetched at run time.

When the copies are already there and match the lockfile's version (a source
distribution built after this step), npm is not needed.
"""

from __future__ import annotations

import json
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
STATIC = ROOT / "src" / "liveeval" / "dashboard" / "static"
# (file in the npm package, name in the dashboard's static folder)
FILES = {
    "uplot": [
        ("dist/uPlot.iife.min.js", "uplot.min.js"),
        ("dist/uPlot.min.css", "uplot.min.css"),
        ("LICENSE", "uplot.LICENSE.txt"),
    ],
}


def locked_versions() -> dict[str, str]:
    lock = json.loads((ROOT / "package-lock.json").read_text(encoding="utf-8"))
    return {name: lock["packages"][f"node_modules/{name}"]["version"] for name in FILES}


def installed_version(name: str) -> str | None:
    manifest = ROOT / "node_modules" / name / "package.json"
    if not manifest.exists():
        return None
    return str(json.loads(manifest.read_text(encoding="utf-8"))["version"])


def copied_version(name: str) -> str | None:
    stamp = STATIC / f"{name}.version"
    if not stamp.exists() or not all((STATIC / dest).exists() for _, dest in FILES[name]):
        return None
    return stamp.read_text(encoding="utf-8").strip()


def main() -> int:
    wanted = locked_versions()
    if all(copied_version(n) == v for n, v in wanted.items()):
        return 0
    if any(installed_version(n) != v for n, v in wanted.items()):
        npm = shutil.which("npm")
        if npm is None:
            print(
                "error: the dashboard's charting library comes from the npm registry and "
                "npm is not installed (Debian: apt-get install npm); needed once, to build",
                file=sys.stderr,
            )
            return 2
        subprocess.run(
            [npm, "ci", "--ignore-scripts", "--no-audit", "--no-fund"], cwd=ROOT, check=True
        )
    for name, files in FILES.items():
        for source, dest in files:
            shutil.copyfile(ROOT / "node_modules" / name / source, STATIC / dest)
        (STATIC / f"{name}.version").write_text(wanted[name] + "\n", encoding="utf-8")
        print(f"dashboard assets: {name} {wanted[name]} copied into {STATIC.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())

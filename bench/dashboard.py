"""Dashboard page load: 20 models with 30 days of hourly traffic, measured in Chromium.

Starts ``liveeval serve`` on a store with 20 logged models holding 30 days of
predictions (PER_HOUR an hour per model, 90% labelled, sent through the JSON API once
and kept in ``--data``), then opens each page in Debian's chromium via Playwright and
reports, per page, the time until every number is on screen (navigation start to the
page's "updated" mark, median of RUNS loads) and the bytes transferred (Resource
Timing: compressed bytes when the server compresses).

``--src`` names source trees to serve from (``PYTHONPATH``), e.g. main's and a
branch's: each round serves the same store copy from each tree in turn, so a busy
machine slows both alike; the summary gives medians per tree and their ratio.

    .venv/bin/python bench/dashboard.py                       # this tree
    .venv/bin/python bench/dashboard.py --src ../main/src --src src --rounds 2
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = 20
DAYS = 30
PER_HOUR = 12
RUNS = 5
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]


def post(url: str, body: dict) -> None:
    req = urllib.request.Request(
        url, json.dumps(body).encode(), {"content-type": "application/json"}, method="POST"
    )
    with urllib.request.urlopen(req, timeout=300) as r:
        r.read()


def fill(url: str) -> int:
    rng = np.random.default_rng(0)
    end = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    start = end - timedelta(days=DAYS)
    hours = DAYS * 24
    sent = 0
    for m in range(MODELS):
        n = hours * PER_HOUR
        offsets = np.sort(rng.uniform(0, hours * 3600, n))
        y = rng.random(n) < 0.05
        score = np.clip(rng.normal(0.25 + 0.45 * y, 0.18), 0, 1)
        version = np.where(offsets > hours * 3600 / 2, "v2", "v1")
        events = [
            {
                "id": f"m{m}-{i}",
                "model": f"model-{m:02d}",
                "version": str(version[i]),
                "ts": (start + timedelta(seconds=float(offsets[i]))).isoformat(),
                "label": int(score[i] >= 0.5),
                "score": round(float(score[i]), 4),
                "latency_total_s": round(float(rng.gamma(4.0, 0.004)), 5),
            }
            for i in range(n)
        ]
        outcomes = [
            {"prediction_id": f"m{m}-{i}", "label": int(y[i])}
            for i in range(n)
            if rng.random() < 0.9
        ]
        for k in range(0, n, 10_000):
            post(f"{url}/v1/predictions", {"predictions": events[k : k + 10_000]})
        for k in range(0, len(outcomes), 10_000):
            post(f"{url}/v1/outcomes", {"outcomes": outcomes[k : k + 10_000]})
        sent += n
    return sent


PAGES = {
    "overview_30d": "/?range=30d&refresh=0",
    "overview_24h": "/?range=24h&refresh=0",
    "model_page_30d": "/models/model-00?range=30d&refresh=0",
    "threshold_30d": "/models/model-00/threshold?range=30d&refresh=0",
}


def measure(browser: object, url: str, runs: int) -> dict:
    """``runs`` loads of ``url`` in a fresh page each (cold cache, as a first visit),
    after one warm-up load that is not counted (the server's first read of a range)."""
    times, walls, sizes, requests = [], [], [], []
    for i in range(runs + 1):
        page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
        errors: list[str] = []
        page.on("console", lambda m, e=errors: e.append(m.text) if m.type == "error" else None)
        started = time.perf_counter()
        page.goto(url)
        # Milliseconds from navigation start until the page first shows its numbers:
        # its own mark, or (a tree from before the mark) the first frame that shows
        # "updated" — polled every frame, not by Playwright's back-off, whose 500-ms
        # steps added 0.2-0.5 s to what was seen.
        shown = page.wait_for_function(
            """() => {
                const mark = performance.getEntriesByName('liveeval:updated')[0];
                if (mark) return mark.startTime;
                const out = document.getElementById('updated');
                return out && out.textContent.startsWith('updated') ? performance.now() : 0;
            }""",
            polling="raf",
            timeout=180_000,
        )
        wall = time.perf_counter() - started
        elapsed = float(shown.json_value()) / 1000
        size = page.evaluate(
            "performance.getEntriesByType('navigation').concat("
            "performance.getEntriesByType('resource'))"
            ".reduce((a, e) => a + (e.transferSize || e.encodedBodySize || 0), 0)"
        )
        n = page.evaluate("performance.getEntriesByType('resource').length")
        page.close()
        if errors:
            raise RuntimeError(f"{url}: console errors {errors}")
        if i:
            times.append(elapsed)
            walls.append(wall)
            sizes.append(size)
            requests.append(n)
    return {
        "seconds_median": round(statistics.median(times), 3),
        "seconds_all": [round(t, 3) for t in times],
        # goto to the mark seen by the test driver (includes its own round trips).
        "wall_seconds_median": round(statistics.median(walls), 3),
        "bytes_median": int(statistics.median(sizes)),
        "requests": int(statistics.median(requests)),
    }


def ensure_store(folder: Path, python: str) -> None:
    """Fill ``folder`` (config + store) once; later runs reuse it."""
    config = folder / "liveeval.toml"
    if (folder / "filled").exists():
        return
    folder.mkdir(parents=True, exist_ok=True)
    for stale in folder.glob("store.duckdb*"):
        stale.unlink()
    config.write_text(
        "".join(
            f'[[models]]\nname = "model-{m:02d}"\nclasses = [0, 1]\npos_label = 1\n'
            'profile = "fraud"\n\n'
            for m in range(MODELS)
        )
    )
    with serve(folder, folder / "store.duckdb", str(ROOT / "src"), python) as url:
        t0 = time.perf_counter()
        n = fill(url)
        print(f"filled {n:,} predictions in {time.perf_counter() - t0:.0f} s", flush=True)
    (folder / "filled").write_text(f"{n}\n")


@contextlib.contextmanager
def serve(folder: Path, store: Path, src: str, python: str) -> Iterator[str]:
    from e2e.conftest import free_port

    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEEVAL_")}
    env["PYTHONPATH"] = src
    server = subprocess.Popen(
        [python, "-m", "liveeval", "serve", "--config", str(folder / "liveeval.toml"),
         "--port", str(port), "--store", str(store)],
        env=env,
    )  # fmt: skip
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(600):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        yield url
    finally:
        server.terminate()
        server.wait(60)


def main() -> None:
    from playwright.sync_api import sync_playwright

    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--src", action="append", help="source tree(s) to serve from")
    parser.add_argument("--data", default=str(ROOT / "bench" / "data" / "dashboard"))
    parser.add_argument("--runs", type=int, default=RUNS, help="loads per page and round")
    parser.add_argument("--rounds", type=int, default=1)
    parser.add_argument("--pages", nargs="*", default=list(PAGES))
    args = parser.parse_args()
    trees = [str(Path(s).resolve()) for s in (args.src or [str(ROOT / "src")])]
    folder = Path(args.data)
    sys.path.insert(0, str(ROOT / "tests"))
    ensure_store(folder, sys.executable)
    n = int((folder / "filled").read_text())
    raw: dict[str, dict[str, list[dict]]] = {t: {p: [] for p in args.pages} for t in trees}
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
        for r in range(args.rounds):
            for tree in trees:
                with tempfile.TemporaryDirectory() as tmp:
                    # A copy per server: a tree's migrations or writes never reach the next.
                    store = Path(tmp) / "store.duckdb"
                    for f in folder.glob("store.duckdb*"):
                        if f.is_dir():
                            shutil.copytree(f, Path(tmp) / f.name)
                        else:
                            shutil.copy(f, Path(tmp) / f.name)
                    with serve(folder, store, tree, sys.executable) as url:
                        for name in args.pages:
                            got = measure(browser, url + PAGES[name], args.runs)
                            raw[tree][name].append(got)
                            print(f"round {r} {tree} {name}: {got}", flush=True)
        browser.close()
    results: dict = {
        "models": MODELS, "days": DAYS, "predictions": n, "runs": args.runs,
        "rounds": args.rounds, "load_average": os.getloadavg(), "trees": {},
    }  # fmt: skip
    for tree in trees:
        results["trees"][tree] = {
            name: {
                "seconds_median": round(
                    statistics.median(t for g in got for t in g["seconds_all"]), 3
                ),
                "wall_seconds_median": round(
                    statistics.median(g["wall_seconds_median"] for g in got), 3
                ),
                "bytes_median": int(statistics.median(g["bytes_median"] for g in got)),
                "requests": got[-1]["requests"],
                "seconds_all": [t for g in got for t in g["seconds_all"]],
            }
            for name, got in raw[tree].items()
        }
    if len(trees) == 2:
        a, b = (results["trees"][t] for t in trees)
        results["ratio_first_over_second"] = {
            name: round(a[name]["seconds_median"] / max(b[name]["seconds_median"], 1e-9), 1)
            for name in args.pages
        }
    out = ROOT / "bench" / "results" / "dashboard.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps({k: v for k, v in results.items() if k != "trees"}, indent=2))
    for tree, pages in results["trees"].items():
        for name, got in pages.items():
            print(f"{tree}  {name}: {got['seconds_median']} s, {got['bytes_median']:,} B, "
                  f"{got['requests']} requests")  # fmt: skip


if __name__ == "__main__":
    main()

"""Dashboard page load: 20 models with 30 days of hourly traffic, measured in Chromium.

Starts ``liveeval serve`` on a fresh store with 20 logged models, fills it with 30 days
of predictions (PER_HOUR an hour per model, 90% labelled) through the JSON API, then
opens the overview and a model page in Debian's chromium via Playwright and reports,
per page, the time until every number is on screen (navigation start to the page's
"updated" mark, median of RUNS) and the bytes transferred (Resource Timing).

    .venv/bin/python bench/dashboard.py            # writes bench/results/dashboard.json
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
from datetime import UTC, datetime, timedelta
from pathlib import Path

import numpy as np

ROOT = Path(__file__).resolve().parents[1]
MODELS = 20
DAYS = 30
PER_HOUR = 12
RUNS = 3
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


def measure(browser: object, url: str) -> dict:
    page = browser.new_page(viewport={"width": 1280, "height": 900})  # type: ignore[attr-defined]
    times, sizes = [], []
    for _ in range(RUNS):
        started = time.perf_counter()
        page.goto(url)
        page.wait_for_selector("#updated:has-text('updated')", timeout=120_000)
        times.append(time.perf_counter() - started)
        sizes.append(
            page.evaluate(
                "performance.getEntriesByType('navigation').concat("
                "performance.getEntriesByType('resource'))"
                ".reduce((a, e) => a + (e.transferSize || e.encodedBodySize || 0), 0)"
            )
        )
    requests = page.evaluate("performance.getEntriesByType('resource').length")
    page.close()
    return {
        "seconds_median": round(statistics.median(times), 3),
        "seconds_all": [round(t, 3) for t in times],
        "bytes_median": int(statistics.median(sizes)),
        "requests": requests,
    }


def main() -> None:
    from playwright.sync_api import sync_playwright

    sys.path.insert(0, str(ROOT / "tests"))
    from e2e.conftest import free_port

    folder = Path(tempfile.mkdtemp(prefix="liveeval-bench-dashboard-"))
    config = folder / "liveeval.toml"
    config.write_text(
        "".join(
            f'[[models]]\nname = "model-{m:02d}"\nclasses = [0, 1]\npos_label = 1\n'
            'profile = "fraud"\n\n'
            for m in range(MODELS)
        )
    )
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEEVAL_")}
    server = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liveeval",
            "serve",
            "--config",
            str(config),
            "--port",
            str(port),
            "--store",
            str(folder / "store.duckdb"),
        ],
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        for _ in range(300):
            try:
                urllib.request.urlopen(f"{url}/healthz", timeout=1).read()
                break
            except OSError:
                time.sleep(0.1)
        t0 = time.perf_counter()
        n = fill(url)
        print(f"filled {n:,} predictions in {time.perf_counter() - t0:.0f} s", flush=True)
        with sync_playwright() as p:
            browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=ARGS)
            results = {
                "models": MODELS,
                "days": DAYS,
                "predictions": n,
                "overview_30d": measure(browser, f"{url}/?range=30d&refresh=0"),
                "overview_24h": measure(browser, f"{url}/?range=24h&refresh=0"),
                "model_page_30d": measure(browser, f"{url}/models/model-00?range=30d&refresh=0"),
                "threshold_30d": measure(
                    browser, f"{url}/models/model-00/threshold?range=30d&refresh=0"
                ),
            }
            browser.close()
    finally:
        server.terminate()
        server.wait(30)
    out = ROOT / "bench" / "results" / "dashboard.json"
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

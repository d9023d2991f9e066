"""A real Prometheus scrapes the server and a real Alertmanager receives its alert.

Both come from Debian's packages; the test installs them when they are missing
(``apt-get``, as root) and always stops the processes it starts.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import time
import urllib.parse
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

from .conftest import free_port, machine_lock

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]


def ensure_installed(*binaries: str) -> None:
    if all(shutil.which(b) for b in binaries):
        return
    with machine_lock("apt"):  # another worker may be installing them right now
        missing = [b for b in binaries if shutil.which(b) is None]
        if not missing:
            return
        if os.geteuid() != 0:
            pytest.fail(
                f"{missing} missing and not root: install Debian's prometheus and "
                "prometheus-alertmanager"
            )
        env = {**os.environ, "DEBIAN_FRONTEND": "noninteractive"}
        apt = ["apt-get", "-o", "DPkg::Lock::Timeout=600"]
        subprocess.run([*apt, "update", "-qq"], check=True, env=env, timeout=600)
        subprocess.run(
            [*apt, "install", "-y", "-qq", "prometheus", "prometheus-alertmanager"],
            check=True,
            env=env,
            timeout=900,
        )


def wait_for(url: str, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            with urllib.request.urlopen(url, timeout=2):
                return
        except OSError:
            time.sleep(0.3)
    raise RuntimeError(f"{url} did not come up")


def get_json(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=10) as r:
        return json.loads(r.read())


@pytest.fixture
def processes() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    try:
        yield started
    finally:
        for p in started:
            p.terminate()
        for p in started:
            try:
                p.wait(15)
            except subprocess.TimeoutExpired:
                p.kill()


def test_shipped_alert_rules_are_valid():
    ensure_installed("promtool")
    out = subprocess.run(
        ["promtool", "check", "rules", str(ROOT / "deploy" / "prometheus-rules.yml")],
        capture_output=True,
        text=True,
        check=False,
    )
    assert out.returncode == 0, out.stdout + out.stderr
    dashboard = json.loads((ROOT / "deploy" / "grafana-dashboard.json").read_text())
    exprs = " ".join(t["expr"] for p in dashboard["panels"] for t in p["targets"])
    for name in (
        "liveeval_model_recall",
        "liveeval_prediction_latency_seconds_bucket",
        "liveeval_predictions_total",
    ):
        assert name in exprs


def test_prometheus_scrapes_quality_and_alertmanager_gets_the_alert(server, processes, tmp_path):
    ensure_installed("prometheus", "prometheus-alertmanager")
    # A model that misses most positives: recall 0.2 on 50 labelled predictions.
    for i in range(50):
        truth = 1 if i < 25 else 0
        predicted = 1 if i < 5 else 0
        server.post(
            "/v1/predictions",
            {"id": f"a{i}", "model": "weak", "label": predicted, "score": 0.9 * predicted},
        )
        server.post("/v1/outcomes", {"prediction_id": f"a{i}", "label": truth})
    am_port, prom_port = free_port(), free_port()
    (tmp_path / "am.yml").write_text(
        "route:\n  receiver: 'null'\n  group_wait: 1s\nreceivers:\n  - name: 'null'\n"
    )
    processes.append(
        subprocess.Popen(
            [
                "prometheus-alertmanager",
                f"--config.file={tmp_path / 'am.yml'}",
                f"--storage.path={tmp_path / 'am-data'}",
                f"--web.listen-address=127.0.0.1:{am_port}",
                "--cluster.listen-address=",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    # The shipped rules wait 10 minutes; the test's copy fires at once.
    rules = (ROOT / "deploy" / "prometheus-rules.yml").read_text().replace("for: 10m", "for: 0s")
    rules = rules.replace(
        "liveeval_model_labelled_predictions >= 100", "liveeval_model_labelled_predictions >= 10"
    )
    (tmp_path / "rules.yml").write_text(rules)
    (tmp_path / "prometheus.yml").write_text(
        f"""global:
  scrape_interval: 1s
  evaluation_interval: 1s
rule_files: ["{tmp_path / "rules.yml"}"]
alerting:
  alertmanagers:
    - static_configs:
        - targets: ["127.0.0.1:{am_port}"]
scrape_configs:
  - job_name: liveeval
    static_configs:
      - targets: ["127.0.0.1:{server.port}"]
"""
    )
    processes.append(
        subprocess.Popen(
            [
                "prometheus",
                f"--config.file={tmp_path / 'prometheus.yml'}",
                f"--storage.tsdb.path={tmp_path / 'prom-data'}",
                f"--web.listen-address=127.0.0.1:{prom_port}",
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
    )
    wait_for(f"http://127.0.0.1:{prom_port}/-/ready")
    wait_for(f"http://127.0.0.1:{am_port}/-/ready")
    query = urllib.parse.quote('liveeval_model_recall{model="weak"}')
    value = None
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and value is None:
        result = get_json(f"http://127.0.0.1:{prom_port}/api/v1/query?query={query}")["data"][
            "result"
        ]
        if result:
            value = float(result[0]["value"][1])
        else:
            time.sleep(1)
    assert value == pytest.approx(0.2)
    alerts: list[dict] = []
    deadline = time.monotonic() + 90
    while time.monotonic() < deadline and not alerts:
        alerts = [
            a
            for a in get_json(f"http://127.0.0.1:{am_port}/api/v2/alerts")
            if a["labels"].get("alertname") == "LiveevalRecallDrop"
            and a["labels"].get("model") == "weak"
        ]
        if not alerts:
            time.sleep(1)
    assert alerts, "Alertmanager never received LiveevalRecallDrop"
    assert "recall" in alerts[0]["annotations"]["summary"]

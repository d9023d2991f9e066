"""Server benchmarks on 127.0.0.1 with wrk: predict with full logging against a bare
FastAPI endpoint serving the same model with no logging, single-event and batched
ingestion, and the metrics query over 10 million stored events.

Reproduce: ``.venv/bin/python bench/server/run.py`` (needs Debian's ``wrk``). Every
server is started here and stopped at the end; load stops by itself (``-d``).

Environment: ``BENCH_DURATION`` (wrk's ``-d``, default 10s), ``BENCH_ROUNDS`` (rounds
of the reference and liveeval alternating, default 5), ``BENCH_PARTS`` (any of
``predict,ingest,metrics``; default all), ``BENCH_COMPETITORS=1`` (BentoML, MLServer),
``BENCH_OUT`` (default ``bench/results/server.json``).

For every liveeval round and connection count, the latency the server reports is
compared with wrk's: the p50/p99 of the stored latencies of that run's predictions
(``/v1/models/fraud/metrics?since=…&until=…``) and of the Prometheus histogram
``liveeval_prediction_latency_seconds`` (bucket counts scraped before and after the
run, interpolated within a bucket as PromQL's ``histogram_quantile`` does).
"""

from __future__ import annotations

import json
import os
import re
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from datetime import UTC, datetime
from pathlib import Path

import numpy as np

HERE = Path(__file__).parent
ROOT = HERE.parents[1]
DURATION = os.environ.get("BENCH_DURATION", "10s")
ROUNDS = int(os.environ.get("BENCH_ROUNDS", "5"))
PARTS = set(os.environ.get("BENCH_PARTS", "predict,ingest,metrics").split(","))
CONNECTIONS = (8, 64)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait(url: str, timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            urllib.request.urlopen(url, timeout=1).read()
            return
        except OSError:
            time.sleep(0.2)
    raise RuntimeError(f"{url} did not start")


def start(
    cmd: list[str], env: dict[str, str] | None = None, cwd: Path | None = None
) -> subprocess.Popen[bytes]:
    return subprocess.Popen(
        cmd,
        env={**os.environ, **(env or {})},
        cwd=cwd,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )


def stop(p: subprocess.Popen[bytes]) -> None:
    p.send_signal(signal.SIGTERM)
    try:
        p.wait(30)
    except subprocess.TimeoutExpired:
        p.kill()


def wrk(url: str, script: str, connections: int) -> dict[str, float]:
    out = subprocess.run(
        [
            "wrk",
            "-t2",
            f"-c{connections}",
            f"-d{DURATION}",
            "--latency",
            "-s",
            str(HERE / script),
            url,
        ],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]

    def ms(label: str) -> float:
        m = re.search(rf"{label}%\s+([\d.]+)(us|ms|s)", out)
        value, unit = float(m.group(1)), m.group(2)  # type: ignore[union-attr]
        return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value

    errors = re.search(r"Non-2xx or 3xx responses: (\d+)", out)
    return {
        "rps": rps,
        "p50_ms": ms("50"),
        "p99_ms": ms("99"),
        "non_2xx": float(errors.group(1)) if errors else 0.0,
    }


def model(folder: Path) -> Path:
    import joblib
    import pandas as pd
    from sklearn.linear_model import LogisticRegression

    rng = np.random.default_rng(0)
    x = pd.DataFrame(
        {
            "amount": rng.gamma(2.0, 50.0, 5000),
            "distance_km": rng.exponential(10.0, 5000),
            "merchant_risk": rng.beta(2, 8, 5000),
            "account_age_days": rng.integers(1, 3650, 5000).astype(float),
        }
    )
    y = ((x["amount"] > 150) & (x["distance_km"] > 8)).astype(int)
    path = folder / "fraud.joblib"
    joblib.dump(LogisticRegression(max_iter=1000).fit(x, y), path)
    return path


# Competitors, installed only in the benchmark's own virtual environments (git-ignored
# under bench/data), pinned to what was measured.
COMPETITORS = {
    "bentoml": ["bentoml==1.4.39", "scikit-learn==1.9.1", "joblib", "pandas"],
    "mlserver": ["mlserver==1.7.1", "mlserver-sklearn==1.7.1", "scikit-learn==1.9.1"],
}


def competitor_python(name: str) -> Path:
    venv = ROOT / "bench" / "data" / f"venv-{name}"
    python = venv / "bin" / "python"
    if not (venv / ".installed").exists():
        print(f"installing {name} into {venv} …", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
        subprocess.run(
            [str(python), "-m", "pip", "install", "--quiet", *COMPETITORS[name]], check=True
        )
        (venv / ".installed").touch()
    return python


def _measure(url: str, script: str) -> dict[int, dict[str, float]]:
    wrk(url, script, 8)  # warm-up
    return {c: wrk(url, script, c) for c in CONNECTIONS}


def histogram(base: str, name: str = "liveeval_prediction_latency_seconds") -> dict[float, float]:
    """Cumulative bucket counts (upper bound -> count) of ``name`` for model fraud."""
    text = urllib.request.urlopen(f"{base}/metrics", timeout=60).read().decode()
    buckets: dict[float, float] = {}
    for m in re.finditer(
        rf'^{name}_bucket\{{le="([^"]+)",model="fraud"[^}}]*\}} (\S+)$', text, re.M
    ):
        buckets[float(m.group(1))] = buckets.get(float(m.group(1)), 0.0) + float(m.group(2))
    return buckets


def histogram_quantile(q: float, before: dict[float, float], after: dict[float, float]) -> float:
    """PromQL's histogram_quantile over the increase between two scrapes (seconds)."""
    bounds = sorted(after)
    counts = [after[b] - before.get(b, 0.0) for b in bounds]
    total = counts[-1]
    if total <= 0:
        return float("nan")
    rank = q * total
    lower, below = 0.0, 0.0
    for bound, count in zip(bounds, counts, strict=True):
        if count >= rank:
            if bound == float("inf"):
                return lower
            return lower + (bound - lower) * (rank - below) / max(count - below, 1e-12)
        lower, below = bound, count
    return lower


def _utc() -> str:
    return datetime.now(UTC).replace(tzinfo=None).isoformat()


def _measure_liveeval(base: str, url: str, script: str) -> dict[int, dict[str, float]]:
    """wrk's figures and, for the same run, the server's own p50/p99 (stored and
    Prometheus)."""
    wrk(url, script, 8)  # warm-up
    out: dict[int, dict[str, float]] = {}
    for c in CONNECTIONS:
        before, since = histogram(base), _utc()
        measured = wrk(url, script, c)
        until, after = _utc(), histogram(base)
        query = urllib.parse.urlencode({"since": since, "until": until})
        stored = json.loads(
            urllib.request.urlopen(f"{base}/v1/models/fraud/metrics?{query}", timeout=120).read()
        )
        m = stored["metrics"]
        measured.update(
            {
                "stored_predictions": float(stored["predictions"]),
                "server_stored_p50_ms": m["latency_p50_seconds"]["value"] * 1000,
                "server_stored_p99_ms": m["latency_p99_seconds"]["value"] * 1000,
                "server_prometheus_p50_ms": histogram_quantile(0.5, before, after) * 1000,
                "server_prometheus_p99_ms": histogram_quantile(0.99, before, after) * 1000,
            }
        )
        out[c] = measured
    return out


def predict_bench(folder: Path, model_path: Path, competitors: bool = False) -> dict[str, object]:
    """The same model behind: bare FastAPI (the reference), liveeval serve with full
    logging, and (optionally) BentoML and MLServer; one after the other, same run."""
    results: dict[str, object] = {}
    servers: list[tuple[str, list[str], dict[str, str], Path | None, str, str, str]] = []
    port = free_port()
    servers.append(
        (
            "reference",
            [
                sys.executable,
                "-m",
                "uvicorn",
                "bare_app:app",
                "--port",
                str(port),
                "--log-level",
                "warning",
                "--no-access-log",
            ],
            {"BENCH_MODEL": str(model_path)},
            HERE,
            f"http://127.0.0.1:{port}/docs",
            f"http://127.0.0.1:{port}/v1/models/fraud/predict",
            "predict.lua",
        )
    )
    port = free_port()
    servers.append(
        (
            "liveeval",
            [
                sys.executable,
                "-m",
                "liveeval",
                "serve",
                "--model",
                f"fraud={model_path}",
                "--store",
                str(folder / "predict.duckdb"),
                "--port",
                str(port),
            ],
            {},
            None,
            f"http://127.0.0.1:{port}/healthz",
            f"http://127.0.0.1:{port}/v1/models/fraud/predict",
            "predict.lua",
        )
    )
    if competitors:
        port = free_port()
        bentoml = competitor_python("bentoml").parent / "bentoml"
        servers.append(
            (
                "bentoml",
                [
                    str(bentoml),
                    "serve",
                    "bento_service:Fraud",
                    "--host",
                    "127.0.0.1",
                    "--port",
                    str(port),
                ],
                {"BENCH_MODEL": str(model_path)},
                HERE,
                f"http://127.0.0.1:{port}/readyz",
                f"http://127.0.0.1:{port}/v1/models/fraud/predict",
                "predict.lua",
            )
        )
        port = free_port()
        repo = folder / "mlserver"
        (repo / "fraud").mkdir(parents=True, exist_ok=True)
        (repo / "fraud" / "model.joblib").write_bytes(model_path.read_bytes())
        (repo / "fraud" / "model-settings.json").write_text(
            json.dumps(
                {
                    "name": "fraud",
                    "implementation": "mlserver_sklearn.SKLearnModel",
                    "parameters": {"uri": "./model.joblib"},
                }
            )
        )
        # parallel_workers=0: MLServer 1.7.1's inference worker processes die at start
        # on this machine ("no current event loop"); inference then runs in-process.
        (repo / "settings.json").write_text(
            json.dumps(
                {
                    "host": "127.0.0.1",
                    "http_port": port,
                    "grpc_port": free_port(),
                    "metrics_port": free_port(),
                    "parallel_workers": 0,
                }
            )
        )
        mlserver = competitor_python("mlserver").parent / "mlserver"
        servers.append(
            (
                "mlserver",
                [str(mlserver), "start", str(repo)],
                {},
                None,
                f"http://127.0.0.1:{port}/v2/health/ready",
                f"http://127.0.0.1:{port}/v2/models/fraud/infer",
                "mlserver_infer.lua",
            )
        )
    # The reference and liveeval alternate for ROUNDS rounds (this machine's throughput
    # drifts by ±10% over minutes), the first of each pair swapping every round; the
    # ratio is taken per round, so drift between rounds cancels. Competitors run once.
    runs: dict[str, list[dict[int, dict[str, float]]]] = {}
    pair = servers[:2]
    order = [s for r in range(ROUNDS) for s in (pair if r % 2 == 0 else pair[::-1])]
    for name, cmd, env, cwd, ready, url, script in order + servers[2:]:
        print(f"  {name} …", flush=True)
        process = start(cmd, env=env, cwd=cwd)
        try:
            wait(ready, timeout=120)
            if name == "liveeval":
                base = url.split("/v1/")[0]
                runs.setdefault(name, []).append(_measure_liveeval(base, url, script))
            else:
                runs.setdefault(name, []).append(_measure(url, script))
        finally:
            stop(process)
    for name, measured in runs.items():
        keys = [k for k in measured[0][CONNECTIONS[0]] if not k.startswith("runs")]
        results[name] = {
            c: {key: float(np.median([m[c][key] for m in measured])) for key in keys}
            | {"runs_rps": [m[c]["rps"] for m in measured]}
            for c in CONNECTIONS
        }
    results["ratio"] = _ratios(runs)
    results["latency_agreement"] = _agreement(runs["liveeval"])
    return results


def _ratios(runs: dict[str, list[dict[int, dict[str, float]]]]) -> dict[int, dict[str, object]]:
    """liveeval's throughput over the reference's, round by round."""
    out: dict[int, dict[str, object]] = {}
    for c in CONNECTIONS:
        ratios = [
            live[c]["rps"] / ref[c]["rps"]
            for live, ref in zip(runs["liveeval"], runs["reference"], strict=True)
        ]
        out[c] = {
            "median": float(np.median(ratios)),
            "min": min(ratios),
            "max": max(ratios),
            "rounds": [round(r, 3) for r in ratios],
        }
    return out


def _agreement(measured: list[dict[int, dict[str, float]]]) -> dict[int, dict[str, object]]:
    """Server-reported p50/p99 over the client's (wrk), per round; 1.0 is perfect."""
    out: dict[int, dict[str, object]] = {}
    for c in CONNECTIONS:
        row: dict[str, object] = {}
        for source in ("stored", "prometheus"):
            for q in ("p50", "p99"):
                ratios = [m[c][f"server_{source}_{q}_ms"] / m[c][f"{q}_ms"] for m in measured]
                row[f"{source}_{q}_over_client"] = {
                    "median": float(np.median(ratios)),
                    "min": min(ratios),
                    "max": max(ratios),
                    "rounds": [round(r, 3) for r in ratios],
                }
        out[c] = row
    return out


def ingest_bench(folder: Path) -> dict[str, object]:
    import pyarrow as pa

    port = free_port()
    server = start(
        [
            sys.executable,
            "-m",
            "liveeval",
            "serve",
            "--store",
            str(folder / "ingest.duckdb"),
            "--port",
            str(port),
        ]
    )
    out: dict[str, object] = {}
    try:
        wait(f"http://127.0.0.1:{port}/healthz")
        out["single_event_64c"] = wrk(f"http://127.0.0.1:{port}", "ingest_single.lua", 64)
        # Batched ingestion from the Python client: a 1M-row table sent as ten Arrow
        # IPC chunks of 100,000 (Client.log_prediction_table), three times.
        sys.path.insert(0, str(ROOT / "src"))
        from liveeval.client import Client

        n = 1_000_000
        rng = np.random.default_rng(7)
        client = Client(f"http://127.0.0.1:{port}", timeout=120)
        rates, loaded_rates = [], []
        for run in range(3):
            table = pa.table(
                {
                    "id": [f"r{run}-{i}" for i in range(n)],
                    "model": ["batch"] * n,
                    "version": ["v1"] * n,
                    "ts": pa.array(np.full(n, np.datetime64("2026-11-01T00:00:00", "us"))),
                    "label": (rng.random(n) < 0.1).astype(np.int64),
                    "score": rng.random(n),
                }
            )
            started = time.perf_counter()
            totals = client.log_prediction_table(table)
            acked = time.perf_counter() - started
            assert totals["stored"] == n, totals
            # Acknowledged means journalled; count the rows once DuckDB has them too.
            body = json.loads(
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v1/models/batch/metrics", timeout=120
                ).read()
            )
            loaded = time.perf_counter() - started
            assert body["predictions"] == n * (run + 1), body["predictions"]
            rates.append(n / acked)
            loaded_rates.append(n / loaded)
        client.close()
        out["client_arrow_1m"] = {
            "median_events_per_s_acknowledged": float(np.median(rates)),
            "median_events_per_s_loaded_into_duckdb": float(np.median(loaded_rates)),
            "runs_acknowledged": [round(r) for r in rates],
            "runs_loaded": [round(r) for r in loaded_rates],
        }
    finally:
        stop(server)
    return out


def metrics_bench(folder: Path, n: int = 10_000_000) -> dict[str, object]:
    import pyarrow as pa

    sys.path.insert(0, str(ROOT / "src"))
    from liveeval.store.duck.store import DuckStore

    # Loading ten million events takes minutes: keep the file (bench/data is git-ignored).
    path = ROOT / "bench" / "data" / "metrics_10m.duckdb"
    path.parent.mkdir(parents=True, exist_ok=True)
    reuse = path.exists()
    store = DuckStore(path)
    rng = np.random.default_rng(1)
    chunk = 1_000_000
    loaded = time.perf_counter()
    for start_row in range(0, 0 if reuse else n, chunk):
        y = rng.random(chunk) < 0.02
        s = np.clip(rng.normal(0.2 + 0.5 * y, 0.15), 0, 1)
        ids = [f"m{start_row + i}" for i in range(chunk)]
        store.write_table(
            "predictions",
            pa.table(
                {
                    "id": ids,
                    "model": ["big"] * chunk,
                    "version": ["v1"] * chunk,
                    "ts": pa.array(np.full(chunk, np.datetime64("2026-11-01T00:00:00", "us"))),
                    "segment": pa.nulls(chunk, pa.string()),
                    "features": pa.nulls(chunk, pa.string()),
                    "label": np.where(s >= 0.5, "1", "0"),
                    "score": s,
                    "probas": pa.nulls(chunk, pa.list_(pa.float64())),
                    "latency_model_s": pa.nulls(chunk, pa.float64()),
                    "latency_total_s": rng.gamma(2.0, 0.005, chunk),
                    "status": ["ok"] * chunk,
                    "error_type": pa.nulls(chunk, pa.string()),
                }
            ),
        )
        store.write_table(
            "outcomes",
            pa.table(
                {
                    "prediction_id": ids,
                    "label": np.where(y, "1", "0"),
                    "value": pa.nulls(chunk, pa.float64()),
                    "ts": pa.array(np.full(chunk, np.datetime64("2026-11-02T00:00:00", "us"))),
                }
            ),
        )
    load_seconds = time.perf_counter() - loaded
    store.close()
    port = free_port()
    server = start(
        [sys.executable, "-m", "liveeval", "serve", "--store", str(path), "--port", str(port)]
    )
    try:
        wait(f"http://127.0.0.1:{port}/healthz", timeout=120)
        times = []
        for _ in range(5):
            started = time.perf_counter()
            body = json.loads(
                urllib.request.urlopen(
                    f"http://127.0.0.1:{port}/v1/models/big/metrics", timeout=120
                ).read()
            )
            times.append(time.perf_counter() - started)
        assert body["labelled"] == n
    finally:
        stop(server)
    return {
        "events": n,
        "load_seconds_via_write_table": None if reuse else load_seconds,
        "load_events_per_s": None if reuse else 2 * n / load_seconds,
        "median_seconds": float(np.median(times)),
        "runs_seconds": [round(t, 3) for t in times],
    }


def main() -> None:
    results: dict[str, object] = {}
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp)
        model_path = model(folder)
        if "predict" in PARTS:
            print("predict: bare FastAPI vs liveeval serve …", flush=True)
            results["predict"] = predict_bench(
                folder, model_path, competitors=os.environ.get("BENCH_COMPETITORS") == "1"
            )
        if "ingest" in PARTS:
            print("ingestion …", flush=True)
            results["ingest"] = ingest_bench(folder)
        if "metrics" in PARTS and os.environ.get("BENCH_SKIP_10M") != "1":
            print("metrics over 10M stored events …", flush=True)
            results["metrics_10m"] = metrics_bench(folder)
    out = Path(os.environ.get("BENCH_OUT", ROOT / "bench" / "results" / "server.json"))
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(results, indent=2) + "\n")
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()

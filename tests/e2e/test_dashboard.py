"""The dashboard in a real browser: Debian's chromium driven by Playwright, against
``liveeval demo`` running as its own process (a shortened run that keeps serving). The
demo runs on simulated time (its 75 s of traffic are a day, as `make demo`'s 150 s) and
its clock stops when the traffic ends, so every page and every API read below see the
same day. Its events are fractions of the run (the drift at 30%, v2 at half time), so
the recall-drop alert fires within it (35 s into a 60-s run on a busy machine; 75 s
leave room for a machine so busy that the demo sends half its traffic), and the
Alerts page is checked on it.

Screenshots at 1280 and 420 px go to out/screenshots/ (look at them after a change).
"""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path

import pytest

from .conftest import free_port, machine_lock

pytestmark = [pytest.mark.e2e, pytest.mark.slow]

ROOT = Path(__file__).resolve().parents[2]
SHOTS = ROOT / "out" / "screenshots"
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
TRAFFIC_SECONDS = 75


def _fixed(x: float, digits: int) -> str:
    """The text JavaScript's ``Number.prototype.toFixed`` gives: a tie in the float's exact
    value rounds away from zero, where Python's format rounds to even (recall 9/16 shows
    as 0.563 on the page and formats as 0.562 in Python)."""
    exact = Decimal(x).quantize(Decimal(1).scaleb(-digits), rounding=ROUND_HALF_UP)
    return f"{exact:.{digits}f}"


def _get(url: str) -> dict:
    with urllib.request.urlopen(url, timeout=30) as r:
        return json.loads(r.read())


@pytest.fixture(scope="module")
def chromium() -> Path:
    if not CHROMIUM.exists():
        with machine_lock("apt"):  # apt-get, maybe run by another worker too
            subprocess.run(["bash", str(ROOT / "scripts" / "ensure-chromium.sh")], check=True)
    return CHROMIUM


@pytest.fixture(scope="module")
def demo(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """``liveeval demo`` for a short run; it keeps serving after the traffic (--linger),
    so the numbers stand still while the pages are checked against the API."""
    out = tmp_path_factory.mktemp("demo")
    port = free_port()
    log = (out / "demo.log").open("wb")
    env = {k: v for k, v in os.environ.items() if not k.startswith("LIVEEVAL_")}
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "liveeval",
            "demo",
            "--out",
            str(out),
            "--port",
            str(port),
            "--duration",
            str(TRAFFIC_SECONDS),
            "--linger",
            "--no-batch-report",
        ],
        stdout=log,
        stderr=subprocess.STDOUT,
        env=env,
    )
    url = f"http://127.0.0.1:{port}"
    try:
        # The summary at the end of the traffic takes a while on a busy machine.
        deadline = time.monotonic() + TRAFFIC_SECONDS + 300
        while time.monotonic() < deadline:
            assert process.poll() is None, (out / "demo.log").read_text()
            if "Still serving" in (out / "demo.log").read_text():
                break
            time.sleep(0.5)
        else:
            raise AssertionError("the demo's traffic did not end in time")
        # Acknowledged events reach the statistics a moment later (the store's loader):
        # wait until the numbers stand still before comparing pages with the API.
        last = None
        for _ in range(60):
            now = [
                (b["predictions"], b["labelled"])
                for b in (_get(f"{url}/v1/models/{m}/metrics") for m in ("fraud", "diagnosis"))
            ]
            if now == last:
                break
            last = now
            time.sleep(1.0)
        yield url
    finally:
        process.send_signal(signal.SIGINT)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)
        log.close()


@pytest.fixture(scope="module")
def browser(chromium: Path) -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        b = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            yield b
        finally:
            b.close()


class Page:
    """A page at one width, collecting console errors."""

    def __init__(self, browser: object, width: int) -> None:
        self.page = browser.new_page(viewport={"width": width, "height": 900})  # type: ignore[attr-defined]
        self.width = width
        self.errors: list[str] = []
        self.page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        self.page.on("pageerror", lambda e: self.errors.append(str(e)))
        # The last answer the page got for each API path and query: what it rendered.
        self.answers: dict[str, object] = {}
        self.page.on("response", self._keep_api_answer)

    def _keep_api_answer(self, response: object) -> None:
        url = response.url  # type: ignore[attr-defined]
        path = url.split("://", 1)[1].split("/", 1)[1]
        if path.startswith("v1/"):
            self.answers["/" + path] = response

    def answer(self, path: str) -> dict:
        """The JSON of the answer the page rendered for ``path`` (with its query)."""
        return self.answers[path].json()  # type: ignore[attr-defined,no-any-return]

    def open(self, url: str) -> object:
        self.page.goto(url)
        self.page.wait_for_selector("#updated:has-text('updated')", timeout=30_000)
        self.settle()
        return self.page

    def settle(self) -> None:
        """Wait until no render is out (a resize or a control may render again)."""
        self.page.wait_for_selector("body:not([aria-busy])", state="attached", timeout=30_000)

    def shot(self, name: str) -> None:
        SHOTS.mkdir(parents=True, exist_ok=True)
        self.page.screenshot(path=str(SHOTS / f"{name}-{self.width}.png"), full_page=True)

    def overflow(self) -> int:
        return int(self.page.evaluate("document.scrollingElement.scrollWidth"))


def _span(url: str) -> str:
    """The range the pages read: the last 24 hours of the demo's (stopped) clock."""
    from datetime import datetime, timedelta
    from urllib.parse import quote

    end = datetime.fromisoformat(_get(f"{url}/healthz")["now"])
    return (
        f"since={quote((end - timedelta(days=1)).isoformat() + 'Z')}"
        f"&until={quote(end.isoformat() + 'Z')}"
    )


@pytest.mark.parametrize("width", [1280, 420])
def test_overview_shows_each_model_and_version_with_the_api_numbers(demo, browser, width):
    view = Page(browser, width)
    page = view.open(f"{demo}/?range=24h&refresh=0")
    view.shot("overview")
    body = _get(f"{demo}/v1/overview?window=24h&size=1h")
    cards = {(m["model"], c["version"]): (m, c) for m in body["models"] for c in m["versions"]}
    assert {("fraud", "v1"), ("fraud", "v2"), ("diagnosis", "v1")} <= set(cards)
    for (model, version), (m, c) in cards.items():
        card = page.locator(f"article[aria-label='{model} · {version}']")
        assert card.count() == 1
        text = card.inner_text()
        assert f"{c['predictions']:,}" in text
        assert f"{_fixed(100 * c['label_coverage'], 1)}%" in text
        assert _fixed(c["metrics"][m["key_metric"]]["value"], 3) in text
        badge = {"pass": "healthy", "warn": "warning", "fail": "failing"}.get(
            c["verdict"]["status"], "not enough labels yet"
        )
        assert badge in card.locator(".badge").inner_text()
        # One sparkline point per window with a value.
        points = [p for p in c["sparkline"] if p["value"] is not None]
        assert card.locator("svg.spark circle").count() == len(points)
    # One request for every model's numbers and one for the firing alerts (plus the
    # page, its assets and the clock).
    api = page.evaluate(
        "performance.getEntriesByType('resource').map(e => new URL(e.name).pathname)"
        ".filter(p => p.startsWith('/v1/'))"
    )
    assert set(api) == {"/v1/overview", "/v1/alerts"}  # a resize may render again
    assert view.overflow() <= width
    assert view.errors == []


@pytest.mark.parametrize("width", [1280, 420])
def test_model_page_shows_the_verdict_windows_and_confusion_matrix(demo, browser, width):
    view = Page(browser, width)
    page = view.open(f"{demo}/models/fraud?range=24h&refresh=0&metric=recall")
    view.shot("model-fraud")
    span = _span(demo)
    body = _get(f"{demo}/v1/models/fraud/metrics?{span}")
    assert body["verdict"]["summary"] in page.locator("#verdict").inner_text()
    headline = page.locator("#headline").inner_text()
    assert f"{body['predictions']:,}" in headline
    cells = page.locator("table.cm td .n").all_inner_texts()
    expected = [f"{round(c):,}" for row in body["confusion_matrix"]["matrix"] for c in row]
    assert cells == expected
    # Realized windows as filled points, estimates before labels as diamonds: as many
    # as the windows API has; a dotted line where v2 starts.
    windows = _get(f"{demo}/v1/models/fraud/windows?size=1h&{span}&metrics=recall")["windows"]
    realized = [w for w in windows if w["state"] == "realized" and "recall" in w["metrics"]]
    realized = [w for w in realized if w["metrics"]["recall"]["value"] is not None]
    estimated = [
        w for w in windows if w["state"] != "realized" and w["estimate"] is not None
        and w["estimate"]["metrics"].get("recall", {}).get("value") is not None
    ]  # fmt: skip
    quality = page.locator("#quality")
    assert quality.locator(".section-body").get_attribute("data-realized") == str(len(realized))
    assert quality.locator(".section-body").get_attribute("data-estimated") == str(len(estimated))
    # Drawn by uPlot on a canvas; the chart's frame names what it drew.
    plot = quality.locator(".plot")
    assert plot.locator("canvas").count() >= 1
    drawn = json.loads(plot.get_attribute("data-points"))
    assert drawn["realized"] == len(realized)
    assert drawn["estimated before labels"] == len(estimated)
    assert "v2" in plot.get_attribute("data-marks").split()
    # Drift against the first version, as the API answers the page's own request (its
    # window size follows the traffic), with each shown column's shares drawn.
    link = page.locator("#drift a", has_text="drift JSON").get_attribute("href")
    assert "reference=version%3Av1" in link
    drift = _get(f"{demo}{link}")
    text = page.locator("#drift").inner_text()
    if drift["latest"]["columns"]:
        assert "Reference version:v1" in text
        top = drift["latest"]["columns"][0]
        assert top["name"] in text
        figure = page.locator(f"#drift-hists figure[data-column='{top['name']}']")
        assert figure.locator("rect.bar").count() == 2 * len(top["histogram"]["bins"])
        last = figure.locator("text.tick").last.text_content()
        assert last == f"{_fixed(100 * top['histogram']['current'][-1], 1)}%"
    else:
        assert "nothing to compare yet" in text
    # Failures by error type: the API's totals on screen.
    failures = _get(f"{demo}/v1/models/fraud/failures?size=30m&{span}")
    rows = page.locator("#failed table.types tr").all_inner_texts()[1:]
    assert [r.split("\t") for r in rows] == [
        [t["error_type"], f"{t['failed']:,}"] for t in failures["error_types"]
    ]
    assert failures["failed"] == body["failed_predictions"]
    # CPU and memory: one point per window of resource samples.
    resources = _get(f"{demo}/v1/resources?size=30m&{span}")
    (process,) = resources["processes"]
    for chart in ("#cpu-chart", "#memory-chart"):
        drawn = json.loads(page.locator(f"{chart} .plot").get_attribute("data-points"))
        assert drawn == {process["process"]: len(process["windows"])}
    # Latency: p50, p95 and p99 per version, one point per window with predictions.
    drawn = json.loads(page.locator("#latency .plot").get_attribute("data-points"))
    assert {"v1 p50", "v1 p95", "v1 p99", "v2 p95"} <= set(drawn)
    # The model's alerts as the API has them: each rule and state, or "No alerts".
    alerts = [a for a in _get(f"{demo}/v1/alerts?model=fraud")["alerts"] if a["model"] == "fraud"]
    shown = page.locator("#alerts").inner_text()
    if alerts:
        for alert in alerts:
            assert alert["rule"] in shown and alert["state"].upper() in shown.upper()
    else:
        assert "No alerts for this model." in shown
    assert view.overflow() <= width
    assert view.errors == []


def test_a_chart_is_read_with_the_keyboard(demo, browser):
    view = Page(browser, 1280)
    # The whole demo: its simulated clock runs on after the traffic, so the last 24 hours
    # may hold no window by the time this test runs.
    page = view.open(f"{demo}/models/fraud?range=30d&refresh=0&metric=recall")
    plot = page.locator("#quality .plot")
    plot.focus()
    page.keyboard.press("Home")
    readout = page.locator("#quality .readout")
    # The readout is written by the chart's key handler after the event: wait for it
    # (read at once, it was empty once on a busy CI machine).
    first = _text_when(readout, lambda t: "recall" in t and "predictions" in t)
    page.keyboard.press("ArrowRight")
    _text_when(readout, lambda t: t not in ("", first))
    assert view.errors == []


def _text_when(locator, ok, timeout: float = 10.0) -> str:
    """The locator's text once ``ok`` holds for it; fails with the last text seen."""
    deadline = time.monotonic() + timeout
    text = locator.inner_text()
    while not ok(text):
        assert time.monotonic() < deadline, f"text never as expected: {text!r}"
        time.sleep(0.05)
        text = locator.inner_text()
    return text


def test_the_demos_alert_fires_within_the_run_and_shows_with_its_evidence(demo, browser):
    body = _get(f"{demo}/v1/alerts")
    fired = [a for a in body["alerts"] if a["rule"] == "demo:fraud:recall-drop"]
    assert fired, body
    alert_id = fired[0]["alert_id"]
    # It fired; on a machine so busy that the statistic ends near its threshold, new
    # labels may have resolved it again: the page shows the state the API has.
    history = _get(f"{demo}/v1/alerts/{alert_id}")["history"]
    assert "firing" in [change["state"] for change in history], history
    for width in (1280, 420):
        view = Page(browser, width)
        page = view.open(f"{demo}/alerts?refresh=0")
        view.shot("alerts")
        # The demo's engine keeps judging the rule while the test runs, so compare the
        # page with the very answers it rendered, not with an earlier read.
        shown = view.answer("/v1/alerts")
        notes = view.answer("/v1/notifications?limit=100")["notifications"]
        alert = next(a for a in shown["alerts"] if a["alert_id"] == alert_id)
        evidence = alert["evidence"]
        counts = page.locator("#alert-counts")
        for state in ("firing", "pending", "resolved"):
            n = sum(a["state"] == state for a in shown["alerts"])
            assert counts.locator(f"[data-state='{state}'] strong").inner_text() == str(n)
        card = page.locator(f"article[data-alert-id='{alert_id}']")
        text = card.inner_text()
        assert alert["rule"] in text and alert["state"].upper() in text.upper()
        assert alert["summary"] in text
        # The evidence as the API has it: the statistic against its threshold, the
        # reference and recent recall with their intervals and counts.
        assert (
            f"{_fixed(evidence['statistic'], 2)} against the threshold {_fixed(evidence['threshold'], 2)}"
            in text
        )
        for side in ("before", "after"):
            e = evidence[side]
            shown_e = f"recall {_fixed(e['value'], 3)} [{_fixed(e['lower'], 3)} – {_fixed(e['upper'], 3)}]"
            assert shown_e in text
            assert f"n = {e['n']:,}" in text
        assert f"{evidence['looks']} looks, {evidence['samples']:,} samples" in text
        # The notifications sent: one row each, the fired alert's among them.
        rows = page.locator("#notifications tbody tr")
        assert rows.count() == len(notes)
        mine = [n for n in notes if n["alert_id"] == alert_id]
        assert mine and any(n["state"] == "firing" for n in mine)
        assert page.locator("#notifications").inner_text().count(alert["rule"]) == len(mine)
        assert view.overflow() <= width
        assert view.errors == []
    # Linked from the nav of every page.
    assert Page(browser, 1280).open(f"{demo}/?refresh=0").locator("nav a[href='/alerts']").count()


def test_choosing_a_window_shows_its_confusion_matrix_and_lands_in_the_url(demo, browser):
    view = Page(browser, 1280)
    page = view.open(f"{demo}/models/fraud?range=24h&refresh=0")
    options = page.locator("#cm-window option")
    assert options.count() > 1
    value = options.nth(1).get_attribute("value")
    page.select_option("#cm-window", value)
    _, version = value.split("|")
    page.wait_for_selector(f"#confusion caption:has-text('· {version}')")
    assert "cm=" in page.url
    # The shared URL reproduces the view.
    again = Page(browser, 1280).open(page.url)
    assert again.locator("#cm-window").input_value() == value


def test_threshold_slider_moves_the_numbers_to_the_engines_curve(demo, browser):
    view = Page(browser, 1280)
    page = view.open(f"{demo}/models/fraud/threshold?range=24h&refresh=0")
    view.shot("threshold")
    curve = _get(f"{demo}/v1/models/fraud/threshold?window=24h&cost_fp=1&cost_fn=1")["curve"]
    from playwright.sync_api import expect

    slider = page.locator("#threshold")
    slider.press("Home")
    expect(page.locator("#t-value")).to_have_text(_fixed(min(curve["threshold"]), 3))
    slider.press("End")
    expect(page.locator("#t-value")).to_have_text(_fixed(max(curve["threshold"]), 3))
    i = curve["threshold"].index(max(curve["threshold"]))
    cells = page.locator("#at-threshold table.cm td .n").all_inner_texts()
    assert cells == [f"{round(curve[k][i]):,}" for k in ("tn", "fp", "fn", "tp")]
    page.locator(".version-card button").first.click()
    assert "t=" in page.url
    assert view.errors == []
    small = Page(browser, 420)
    small.open(f"{demo}/models/fraud/threshold?range=24h&refresh=0")
    small.shot("threshold")
    assert small.overflow() <= 420


def test_diagnosis_page_at_phone_width(demo, browser):
    view = Page(browser, 420)
    page = view.open(f"{demo}/models/diagnosis?range=24h&refresh=0")
    view.shot("model-diagnosis")
    assert "malignant" in page.locator("table.cm").inner_text()
    assert view.overflow() <= 420
    assert view.errors == []


def test_tab_reaches_the_controls(demo, browser):
    view = Page(browser, 1280)
    page = view.open(f"{demo}/models/fraud?range=24h&refresh=0")
    reached = set()
    for _ in range(25):
        page.keyboard.press("Tab")
        reached.add(page.evaluate("document.activeElement.id || document.activeElement.tagName"))
    assert {
        "range",
        "refresh",
        "version",
        "refresh-now",
        "token-button",
        "profile",
        "metric",
    } <= reached


def test_a_read_token_is_asked_for_and_sent(tmp_path, browser):
    from .conftest import ServerProcess

    config = tmp_path / "liveeval.toml"
    config.write_text('[tokens]\nread = "secret-read"\nwrite = "secret-write"\n')
    server = ServerProcess(config, tmp_path / "store.duckdb", free_port())
    server.start()
    try:
        view = Page(browser, 1280)
        page = view.page
        page.goto(f"{server.url}/?refresh=0")
        page.wait_for_selector("#token")
        page.fill("#token", "secret-read")
        page.keyboard.press("Enter")
        page.wait_for_selector("text=No models yet.")
        assert page.evaluate("sessionStorage.getItem('liveeval.readToken')") == "secret-read"
    finally:
        server.stop()


def test_auto_refresh_reloads_the_numbers_by_itself(demo, browser):
    view = Page(browser, 1280)
    page = view.open(f"{demo}/?range=24h&refresh=5")
    first = page.locator("#updated").inner_text()
    page.wait_for_function(
        "([sel, before]) => document.querySelector(sel).textContent !== before",
        arg=["#updated", first],
        timeout=15_000,
    )
    assert page.locator("#refresh").input_value() == "5"
    assert view.errors == []

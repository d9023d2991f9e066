"""The HTML report in a real browser (Debian's chromium via Playwright): with a drift
section and a windows section it fits a 420 px screen — no table or chart runs off it.

Screenshots at 1280 and 420 px go to out/screenshots/report-*.png.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from liveeval import evaluate
from tests.report.test_drift_and_windows_html import make

from .test_dashboard import CHROMIUM_ARGS, SHOTS, chromium

__all__ = ["chromium"]

pytestmark = [pytest.mark.e2e, pytest.mark.slow]


@pytest.mark.parametrize("width", [1280, 420])
def test_the_report_with_drift_and_windows_fits_the_screen(chromium, tmp_path: Path, width):
    from playwright.sync_api import sync_playwright

    report = evaluate(
        make(3000, 0.5, 2, pending_after=4),
        label="y",
        score="s",
        time="ts",
        window="1h",
        reference=make(4000, 0.0, 1),
    )
    page_path = tmp_path / "report.html"
    report.to_html(page_path)
    with sync_playwright() as p:
        browser = p.chromium.launch(executable_path=str(chromium), args=CHROMIUM_ARGS)
        try:
            page = browser.new_page(viewport={"width": width, "height": 900})
            page.goto(page_path.as_uri())
            SHOTS.mkdir(parents=True, exist_ok=True)
            page.screenshot(path=str(SHOTS / f"report-{width}.png"), full_page=True)
            assert page.evaluate("document.scrollingElement.scrollWidth") <= width
            for table in ("#drift-table", "#windows-table"):
                box = page.locator(table).bounding_box()
                assert box is not None and box["x"] + box["width"] <= width
            assert page.locator("#drift ~ details svg").count() >= 4
        finally:
            browser.close()

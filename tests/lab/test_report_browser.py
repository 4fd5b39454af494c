"""A quick run's report.html opened in headless Chromium (Debian's, driven by Playwright, no
network): the plots are drawn with a size, the variants table has every variant and highlights
what differs; a screenshot is kept in the test's temp dir."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"

playwright = pytest.importorskip("playwright.sync_api")
pytestmark = pytest.mark.skipif(not Path(CHROMIUM).exists(), reason="Debian's chromium is not installed (make test installs it)")


@pytest.mark.timeout(120)
def test_report_renders_plots_and_the_variants_table(quick, tmp_path):
    run = quick("throttling-carrier")
    html = run.directory / "report.html"
    with playwright.sync_playwright() as p:
        browser = p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            page = browser.new_page(viewport={"width": 1340, "height": 900})
            # offline: a request for anything but the file itself would fail the page
            requests: list[str] = []
            page.on("request", lambda r: requests.append(r.url))
            page.goto(html.as_uri())
            svgs = page.locator("svg")
            assert svgs.count() >= 10
            for i in range(svgs.count()):
                box = svgs.nth(i).bounding_box()
                assert box and box["width"] > 100 and box["height"] > 50, i
            drawn = page.locator("svg .series")  # lines and bars, not just empty frames
            assert drawn.count() >= 10
            assert any((drawn.nth(i).bounding_box() or {}).get("width", 0) > 10 for i in range(drawn.count()))
            table = page.locator("#variants")
            assert table.is_visible()
            headers = table.locator("thead tr").first.locator("th").all_inner_texts()
            assert headers[1:] == list(run.report["variants"])
            assert table.locator("td.diff").count() >= 1  # failover vs retry in place differ
            assert "failovers" in table.inner_text()
            shot = tmp_path / "report.png"
            page.screenshot(path=str(shot), full_page=True)
            assert shot.stat().st_size > 20_000
            assert requests == [html.as_uri()]
        finally:
            browser.close()

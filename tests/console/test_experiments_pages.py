"""The experiments page: the reports of an experiments directory listed with their headline
figures, each shown inline (sandboxed, under a CSP that lets it fetch nothing); names that would
leave the directory, and unknown ones, are the catalogue's 404."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest

from tests.console.conftest import OPERATOR_TOKEN
from tests.console.test_carriers_pages import console_state

SHIPPED = Path(__file__).resolve().parents[2] / "experiments" / "results"


@pytest.fixture
def reports(rig, tmp_path) -> Path:
    """A copy of a shipped report, one without report.html, and a symlink out of the directory,
    put where the console looks for reports."""
    root = tmp_path / "experiments"
    root.mkdir()
    shutil.copytree(SHIPPED / "baseline", root / "baseline")
    (root / "half-done").mkdir()
    (root / "half-done" / "report.json").write_text(json.dumps({"scenario": "half-done", "seed": 7, "variants": {}}))
    (root / "not-a-report").mkdir()  # nothing in it: not listed
    outside = tmp_path / "outside"
    shutil.copytree(SHIPPED / "carrier-outage", outside)
    (root / "escape").symlink_to(outside)
    (root / "baseline" / "stolen.html").symlink_to(outside / "report.html")
    state = console_state(rig)
    state.experiments = root
    return root


async def test_the_list_shows_each_report_with_its_seed_and_headline_figures(console, reports):
    await console.sign_in()  # an account sees them, as the operator does
    status, body = await console.get("/console/experiments")
    assert status == 200
    assert '<tr data-report="baseline">' in body and '<tr data-report="half-done">' in body
    assert 'data-report="escape"' not in body and 'data-report="not-a-report"' not in body
    baseline = json.loads((reports / "baseline" / "report.json").read_text())
    row = body.split('data-report="baseline"')[1].split('data-report="half-done"')[0]
    assert baseline["machine"]["date"] in row and f'class="num">{baseline["seed"]}<' in row
    for name, variant in baseline["variants"].items():
        assert f"<b>{name}</b>" in row
        assert f'{100 * variant["summary"]["delivery_rate"]:.2f} %' in row
        assert f'{variant["summary"]["all_final_s"]:.1f} s' in row
    assert "no variants" in body.split('data-report="half-done"')[1]


async def test_a_report_is_served_sandboxed_and_self_contained(console, reports):
    await console.sign_in(operator_token=OPERATOR_TOKEN)
    status, body = await console.get("/console/experiments/baseline")
    assert status == 200 and "Experiment: baseline" in body
    assert '<iframe class="report" id="report"' in body and 'sandbox=""' in body
    assert 'src="/console/experiments/baseline/report.html"' in body
    async with console.http.get("/console/experiments/baseline/report.html") as resp:
        assert resp.status == 200 and resp.content_type == "text/html"
        policy = resp.headers["Content-Security-Policy"]
        assert "default-src 'none'" in policy and "sandbox" in policy and "script-src" not in policy
        assert await resp.read() == (reports / "baseline" / "report.html").read_bytes()
    status, body = await console.get("/console/experiments/half-done")
    assert status == 200 and 'id="no-html"' in body and "<iframe" not in body


@pytest.mark.parametrize("path", [
    "/console/experiments/nothing-here", "/console/experiments/not-a-report",
    "/console/experiments/escape", "/console/experiments/escape/report.html",
    "/console/experiments/..%2Fexperiments%2Fbaseline", "/console/experiments/..%2F..%2Foutside/report.html",
    "/console/experiments/baseline/..%2F..%2Foutside%2Freport.html",
    "/console/experiments/half-done/report.html", "/console/experiments/baseline/stolen.html",
])
async def test_names_outside_the_directory_and_unknown_ones_are_not_found(console, reports, path):
    await console.sign_in()
    async with console.http.get(path, allow_redirects=False) as resp:
        body = await resp.text()
        assert resp.status == 404 and "1011" in body, (path, resp.status)
    assert "carrier-outage" not in body and "Experiment:" not in body and "<svg" not in body


async def test_unknown_names_show_the_catalogue_code(console, reports):
    await console.sign_in()
    status, body = await console.get("/console/experiments/nothing-here")
    assert status == 404 and '<b class="code">1011</b>' in body


@pytest.mark.timeout(90)
async def test_a_report_renders_inline_in_the_browser(pages, reports):
    page = await pages.sign_in()
    await page.click("nav a[href='/console/experiments']")
    await page.wait_for_url("**/console/experiments")
    assert await page.locator("#reports tr[data-report]").count() == 2
    await pages.shot("experiments")
    await page.click("#reports tr[data-report='baseline'] a.report-link")
    await page.wait_for_url("**/console/experiments/baseline")
    frame = page.frame_locator("iframe#report")
    assert await frame.locator("h1").inner_text() == "Experiment: baseline"
    plots = json.loads((reports / "baseline" / "report.json").read_text())["variants"]
    assert plots and await frame.locator("svg").count() >= 2
    assert await frame.locator("svg").first.is_visible()
    await pages.shot("experiment")

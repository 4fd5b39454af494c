"""The console over real sockets: a real engine and simulator, and a browser-like HTTP client
(cookie jar, forms) or headless Chromium."""

from __future__ import annotations

import re

import aiohttp
import pytest

from tests.support.rig import ADMIN, fast_profile, start_rig, stop_rig

CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')


class ConsoleClient:
    """Signs in like a person at the login form and keeps the session cookie."""

    def __init__(self, base: str) -> None:
        # unsafe: the cookie jar keeps cookies of an IP address host (127.0.0.1)
        self.http = aiohttp.ClientSession(base, cookie_jar=aiohttp.CookieJar(unsafe=True))
        self.csrf = ""

    async def sign_in(self, app_id: str = "demo", key: str = "demo-secret", operator_token: str = "") -> aiohttp.ClientResponse:
        async with self.http.post("/console/login", data={"app_id": app_id, "key": key,
                                                          "operator_token": operator_token},
                                  allow_redirects=False) as resp:
            await resp.read()
        await self.get("/console/")
        return resp

    async def get(self, path: str) -> tuple[int, str]:
        async with self.http.get(path) as resp:
            text = await resp.text()
            found = CSRF.search(text)
            if found:
                self.csrf = found.group(1)
            return resp.status, text

    async def post(self, path: str, data: dict | aiohttp.FormData, *, csrf: bool = True) -> tuple[int, str]:
        if csrf:
            if isinstance(data, dict):
                data = {**data, "csrf": self.csrf}
            else:
                data.add_field("csrf", self.csrf)
        async with self.http.post(path, data=data, headers={"Referer": str(self.http._base_url or "") + path}) as resp:
            return resp.status, await resp.text()

    async def post_json(self, path: str, body: dict) -> tuple[int, dict]:
        async with self.http.post(path, json=body, headers={"X-CSRF-Token": self.csrf}) as resp:
            return resp.status, await resp.json()

    async def close(self) -> None:
        await self.http.close()


@pytest.fixture
async def rig(tmp_path):
    rig = await start_rig(tmp_path, [fast_profile("ideal")])
    yield rig
    await stop_rig(rig)


@pytest.fixture
async def console(rig):
    client = ConsoleClient(f"http://127.0.0.1:{rig.server.http_port}")
    yield client
    await client.close()


OPERATOR_TOKEN = ADMIN


# -- headless Chromium (Debian's, driven by Playwright's async API in the engine's own loop) -------
import os  # noqa: E402
import shutil  # noqa: E402
from pathlib import Path  # noqa: E402

CHROMIUM = shutil.which("chromium") or "/usr/bin/chromium"
# screenshots of each page: into the test's temp dir, or into docs/ with
# SMSENGINE_CONSOLE_SHOTS=docs (how README's docs/console-*.png are made)
SHOTS = os.environ.get("SMSENGINE_CONSOLE_SHOTS", "")


@pytest.fixture
async def browser():
    async_api = pytest.importorskip("playwright.async_api")
    if not Path(CHROMIUM).exists():
        pytest.skip("Debian's chromium is not installed (make test installs it)")
    async with async_api.async_playwright() as p:
        chromium = await p.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        try:
            yield chromium
        finally:
            await chromium.close()


class Pages:
    """A browser context against the rig's console: signs in at the form, keeps screenshots, and
    records any request that leaves the engine (the console must work offline)."""

    def __init__(self, browser, base: str, shots: Path) -> None:
        self.browser = browser
        self.base = base
        self.shots = shots
        self.foreign: list[str] = []
        self.page = None

    async def open(self):
        context = await self.browser.new_context(viewport={"width": 1280, "height": 860})
        self.page = await context.new_page()
        self.page.on("request", lambda r: None if r.url.startswith(self.base) else self.foreign.append(r.url))
        return self.page

    async def sign_in(self, app_id: str = "demo", key: str = "demo-secret", *, operator_token: str = ""):
        page = self.page or await self.open()
        await page.goto(f"{self.base}/console/login")
        if operator_token:
            await page.fill("#operator_token", operator_token)
        else:
            await page.fill("#app_id", app_id)
            await page.fill("#key", key)
        await page.click("#signin")
        await page.wait_for_load_state()
        return page

    async def shot(self, name: str) -> Path:
        path = self.shots / f"console-{name}.png"
        await self.page.screenshot(path=str(path), full_page=True)
        return path


@pytest.fixture
async def pages(browser, rig, tmp_path):
    shots = Path(SHOTS) if SHOTS else tmp_path
    shots.mkdir(parents=True, exist_ok=True)
    pages = Pages(browser, f"http://127.0.0.1:{rig.server.http_port}", shots)
    yield pages
    assert pages.foreign == [], "the console fetched something from outside the engine"

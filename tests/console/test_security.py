"""The console against a hostile account, a careless operator and other sites, over real sockets:
what one account may reach of another's, forms that must not act for the wrong account, sign-ins
posted from elsewhere, masked numbers that must stay masked, and bounds on what a form may store."""

from __future__ import annotations

import hashlib
import hmac
import re
import time

import pytest

from smsengine.config import RecordsConfig
from tests.console.conftest import CSRF, OPERATOR_TOKEN, ConsoleClient
from smsengine.config import SignatureSeed, TemplateSeed
from tests.support.rig import ADMIN, Client, demo_account, fast_profile, start_rig, stop_rig

NUMBER = "+8613800138001"


@pytest.fixture
async def rig(tmp_path, request):
    """The console's rig, or one with the config changes a test asks for (indirect parametrize)."""
    rig = await start_rig(tmp_path, [fast_profile("ideal")], **dict(getattr(request, "param", {})))
    yield rig
    await stop_rig(rig)


MASKED = pytest.mark.parametrize("rig", [{"records": RecordsConfig(mask_numbers=True)}], indirect=True)
TWO_ACCOUNTS = pytest.mark.parametrize(
    "rig", [{"accounts": [demo_account(), demo_account(app_id="other", key="other-secret", signatures=[SignatureSeed("otherbrand")],
                                             templates=[TemplateSeed(7, "Other's code is {1}")])]}],
    indirect=True)


async def client_of(rig, **sign_in) -> ConsoleClient:
    client = ConsoleClient(f"http://127.0.0.1:{rig.server.http_port}")
    await client.sign_in(**sign_in)
    return client


# -- one account, another's data ---------------------------------------------------------------------
@TWO_ACCOUNTS
async def test_an_account_reaches_nothing_of_another_account_through_any_route(rig):
    """Ids in paths, ?app_id=, form fields naming an account, the JSON endpoints and the operator's
    actions: the other account's message, task and signature stay out of reach."""
    other = await client_of(rig, app_id="other", key="other-secret")
    demo = await client_of(rig)
    try:
        (mid,) = await Client(rig.http, "other", "other-secret").accepted(
            [NUMBER], template_id=7, params=["hello"], sign="otherbrand")
        async with rig.http.post("/v1/tasks", headers={"X-Admin-Token": ADMIN}, json={
                "app_id": "other", "template_id": 7, "numbers": [NUMBER], "params": ["1"], "sign": "otherbrand",
                "schedule_at": time.time() + 3600}) as resp:
            assert resp.status == 201, await resp.text()
            task = (await resp.json())["id"]
        await other.post("/console/catalogue/signatures", {"name": "Othersig"})
        sid = next(s.id for s in rig.engine.accounts.get("other").signatures.values() if s.name == "Othersig")

        for path in (f"/console/records/{mid}", f"/console/records/{mid}?app_id=other"):
            status, body = await demo.get(path)
            assert status == 404 and "hello" not in body
        _, body = await demo.get("/console/records?app_id=other")
        assert f"data-id=\"{mid}\"" not in body and "hello" not in body
        async with demo.http.get(f"/console/send/status.json?ids={mid}") as resp:
            assert (await resp.json()) == {"messages": {}}
        status, _ = await demo.post(f"/console/records/{mid}/cancel", {})
        assert (await rig.engine.store.message_view(int(mid))).status != "cancelled"
        # a form field naming the other account is not read: the signature is the signed-in one's
        await demo.post("/console/catalogue/signatures", {"name": "Mine", "app_id": "other"})
        assert {s.name for s in rig.engine.accounts.get("other").signatures.values()} == {"otherbrand", "Othersig"}
        status, body = await demo.post(f"/console/catalogue/signatures/{sid}/edit", {"name": "Hijacked"})
        assert "1011" in body
        # the operator's actions: review, carriers, the unattributed replies
        status, body = await demo.post(f"/console/catalogue/signatures/{sid}/approve", {})
        assert "1006" in body
        assert str(rig.engine.accounts.get("other").signatures["Othersig"].status) == "pending"
        for path in ("/console/carriers", "/console/carriers.json"):
            status, _ = await demo.get(path)
            assert status == 403
        status, body = await demo.get("/console/replies?app_id=")
        assert "not attributed" not in body
        for path in (f"/console/tasks/{task}", f"/console/tasks/{task}/live.json", f"/console/tasks/{task}/export.csv"):
            status, _ = await demo.get(path)
            assert status == 404
        await demo.post(f"/console/tasks/{task}/cancel", {})
        assert (await rig.engine.store.task(task)).state != "cancelled"
        # the console's cookie is nothing to the API
        async with demo.http.get("/v1/stats", headers={"Cookie": f"smsengine_console={_cookie(demo)}"}) as resp:
            assert resp.status == 401
    finally:
        await demo.close()
        await other.close()


def _cookie(client: ConsoleClient) -> str:
    return next(c.value for c in client.http.cookie_jar if c.key == "smsengine_console")


# -- the operator's acting account -------------------------------------------------------------------
@TWO_ACCOUNTS
async def test_a_form_made_for_one_account_does_not_act_for_another_the_operator_picked_since(rig):
    """The operator has the catalogue of `demo` open in one tab and picks `other` in a second: the
    first tab's form must not create its signature under `other` (nor anything else it posts)."""
    operator = await client_of(rig, operator_token=OPERATOR_TOKEN)
    try:
        await operator.get("/console/catalogue?app_id=demo")
        demo_form = operator.csrf
        await operator.get("/console/?app_id=other")  # the second tab
        operator.csrf = demo_form
        status, body = await operator.post("/console/catalogue/signatures", {"name": "DemoBrand"})
        assert status == 403 and "reload the page" in body
        assert all(s.name != "DemoBrand" for a in ("demo", "other")
                   for s in rig.engine.accounts.get(a).signatures.values())
        status, _ = await operator.post("/console/unsubscribes", {"phone": NUMBER})
        assert status == 403 and NUMBER not in rig.engine.accounts.get("other").unsubscribed
        # a form of the page now shown acts for the account it shows
        await operator.get("/console/catalogue")
        status, body = await operator.post("/console/catalogue/signatures", {"name": "OtherBrand"})
        assert status == 200 and any(s.name == "OtherBrand" for s in rig.engine.accounts.get("other").signatures.values())
    finally:
        await operator.close()


# -- sign-in -------------------------------------------------------------------------------------------
async def test_a_sign_in_posted_by_another_site_is_refused(console):
    """Login CSRF: a page elsewhere posting the attacker's own key would sign the victim's browser
    in as the attacker (whose records then get what the victim types)."""
    form = {"app_id": "demo", "key": "demo-secret", "next": "/console/"}
    for headers in ({"Origin": "http://evil.example"}, {"Origin": "null"}, {"Sec-Fetch-Site": "cross-site"},
                    {"Sec-Fetch-Site": "same-site", "Origin": "http://sub.example"}):
        async with console.http.post("/console/login", data=form, headers=headers, allow_redirects=False) as resp:
            assert resp.status == 403 and "Set-Cookie" not in resp.headers, headers
    base = str(console.http._base_url).rstrip("/")
    # the console's own page; and behind a proxy that rewrites Host, Sec-Fetch-Site decides
    for headers in ({"Origin": base}, {"Origin": "https://console.example", "Sec-Fetch-Site": "same-origin"}):
        async with console.http.post("/console/login", data=form, headers=headers, allow_redirects=False) as resp:
            assert resp.status == 302 and "smsengine_console=" in resp.headers["Set-Cookie"], headers


# -- masked numbers ------------------------------------------------------------------------------------
@MASKED
async def test_the_masked_unsubscribe_list_puts_no_whole_number_in_its_paging_link(rig, console):
    numbers = [f"+86138002{i:05d}" for i in range(101)]
    for phone in numbers:
        rig.engine.accounts.unsubscribe("demo", phone)
    await console.sign_in()
    _, body = await console.get("/console/replies")
    assert [n for n in numbers if n in body or n.lstrip("+") in body] == []
    more = re.search(r'<a href="([^"]+)" id="unsubscribed-next">', body)
    assert more is not None
    _, body = await console.get(more.group(1).replace("&amp;", "&"))
    assert re.findall(r'<tr data-phone="([^"]+)">', body) == ["+86138****0100"]


@MASKED
async def test_a_masked_numbers_lift_reference_does_not_give_its_digits_away(rig, console):
    """The lift button's reference must not be a hash the page's reader can invert: with the key
    on the page (the CSRF token), four hidden digits are 10,000 guesses."""
    rig.engine.accounts.unsubscribe("demo", NUMBER)
    await console.sign_in()
    _, body = await console.get("/console/replies")
    assert NUMBER not in body
    (shown, ref) = re.search(r'name="shown" value="([^"]+)">\s*<input type="hidden" name="ref" value="([0-9a-f]+)"',
                             body).groups()
    key = CSRF.search(body).group(1)
    found = [f"{shown[:-8]}{d:04d}{shown[-4:]}" for d in range(10_000)
             if hmac.new(key.encode(), f"{shown[:-8]}{d:04d}{shown[-4:]}".encode(), hashlib.sha256).hexdigest()[:32] == ref]
    assert found == []
    # and the button still lifts it
    status, body = await console.post("/console/unsubscribes/lift", {"shown": shown, "ref": ref})
    assert "may be sent to again" in body and NUMBER not in rig.engine.accounts.get("demo").unsubscribed


# -- bounds --------------------------------------------------------------------------------------------
async def test_a_huge_form_field_is_not_kept_whole_in_the_session(rig, console):
    """A message left for the next page echoes what was posted: 3 MB posted must not become 3 MB
    of session memory (ten of them per session, ten thousand sessions)."""
    await console.sign_in()
    status, body = await console.post("/console/unsubscribes/lift", {"shown": "7" * 3_000_000, "ref": "0"})
    assert status == 200 and "1011" in body
    assert len(body) < 20_000


# -- escaping ------------------------------------------------------------------------------------------
async def test_an_accounts_own_strings_are_escaped_in_html_attributes_and_script_json(rig, console):
    """A template's name and text (in the send page's script JSON, the catalogue's attributes and
    text areas) and a signature name come back as text, never markup."""
    evil = '"><img src=x onerror=alert(1)></textarea></script><script>alert(2)</script>'
    await console.sign_in()
    await console.post("/console/catalogue/templates", {"name": evil[:64], "text": f"Code {{1}} {evil}",
                                                        "type": "regular", "region": "mainland"})
    tid = max(t.id for t in rig.engine.accounts.get("demo").templates.values())
    operator = await client_of(rig, operator_token=OPERATOR_TOKEN)
    try:
        await operator.get("/console/catalogue")
        status, _ = await operator.post(f"/console/catalogue/templates/{tid}/approve", {})
        assert str(rig.engine.accounts.get("demo").templates[tid].status) == "approved"
    finally:
        await operator.close()
    for path in ("/console/catalogue", "/console/send"):
        status, body = await console.get(path)
        assert status == 200 and "<img src=x" not in body and "<script>alert" not in body
        assert "</script><script>" not in body
    assert "\\u003c/script\\u003e" in body  # the send page's template list, as JSON that cannot close its tag

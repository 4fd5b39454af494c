"""Accounts live in the store with their limits and alarm: an account created over the API keeps
them across a restart and its alarm fires; PATCH /v1/accounts/{id}/limits changes them at once
for organisation accounts, and refuses frequency limits for individual ones (1006)."""

import asyncio

import aiohttp

from carriers.group import SimulatorGroup
from tests.support.polling import eventually
from tests.support.rig import ADMIN, Client, engine_config, fast_profile, start_server
from tests.support.sink import json_sink

OPERATOR = {"X-Admin-Token": ADMIN}


async def test_an_api_account_keeps_its_limits_and_alarm_across_a_restart(tmp_path):
    async with json_sink("/alarm") as sink, SimulatorGroup([fast_profile("ideal")]) as sims:
        alarms, url = sink.bodies, sink.url
        config = engine_config(tmp_path, sims.ports)
        server = await start_server(config, tmp_path)
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                create = {"app_id": "shop", "key": "shop-key", "raw_content": True, "balance": 100,
                          "limits": {"daily_max": 2, "same_content_max": 5, "alarm_threshold": 2, "alarm_url": url},
                          "signatures": [{"name": "smsengine"}]}
                async with http.post("/v1/accounts", json=create, headers=OPERATOR) as resp:
                    assert resp.status == 201, await resp.text()
        finally:
            await server.stop(drain_timeout=1.0)

        server = await start_server(config, tmp_path)  # the config knows nothing of "shop"
        try:
            assert server.engine.limiter.policy_of("shop").daily_max == 2
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                shop = Client(http, "shop", "shop-key")
                for text in ("one", "two", "three"):
                    _, body = await shop.send(["+8613800000001"], content=text)
                assert body["results"][0]["code"] == 1025  # daily_max 2 held after the restart
                await eventually(lambda: alarms, 10.0)
                assert alarms[0]["app_id"] == "shop" and alarms[0]["accepted_today"] == 2
        finally:
            await server.stop(drain_timeout=1.0)


async def test_limits_are_patched_for_organisations_and_refused_for_individuals(tmp_path):
    async with SimulatorGroup([fast_profile("ideal")]) as sims:
        server = await start_server(engine_config(tmp_path, sims.ports), tmp_path)
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                demo = Client(http)
                async with http.patch("/v1/accounts/demo/limits", json={"daily_max": 1, "hourly_max": None},
                                      headers=demo.auth) as resp:
                    assert resp.status == 200
                    view = await resp.json()
                assert view["daily_max"] == 1 and view["same_content_max"] == 100_000  # the rest stayed
                _, body = await demo.send(["+8613800000002", "+8613800000002"], content="a")
                _, body = await demo.send(["+8613800000002"], content="b")
                assert body["results"][0]["code"] == 1025  # in force at once
                async with http.get("/v1/accounts/demo/limits", headers=demo.auth) as resp:
                    assert (await resp.json())["daily_max"] == 1

                person = {"app_id": "person", "key": "person-key", "type": "individual"}
                async with http.post("/v1/accounts", json=person, headers=OPERATOR) as resp:
                    assert resp.status == 201
                headers = {"X-App-Id": "person", "X-App-Key": "person-key"}
                async with http.patch("/v1/accounts/person/limits", json={"daily_max": 50}, headers=headers) as resp:
                    assert resp.status == 403 and (await resp.json())["code"] == 1006
                async with http.patch("/v1/accounts/person/limits", json={"alarm_threshold": 5},
                                      headers=headers) as resp:
                    assert resp.status == 200  # the alarm is the account's own business
                async with http.patch("/v1/accounts/demo/limits", json={"daily_max": -1}, headers=demo.auth) as resp:
                    assert resp.status == 400 and (await resp.json())["code"] == 1004
        finally:
            await server.stop(drain_timeout=1.0)


async def test_an_account_in_arrears_past_the_grace_is_suspended_and_resumes_when_topped_up(tmp_path):
    async with SimulatorGroup([fast_profile("ideal")]) as sims:
        server = await start_server(engine_config(tmp_path, sims.ports), tmp_path)
        accounts = server.engine.accounts
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                create = {"app_id": "thin", "key": "thin-key", "raw_content": True, "balance": 1,
                          "signatures": [{"name": "smsengine"}]}
                async with http.post("/v1/accounts", json=create, headers=OPERATOR) as resp:
                    assert resp.status == 201
                thin = Client(http, "thin", "thin-key")
                _, body = await thin.send(["+8613800000001"], content="the last one")
                await thin.wait_final([body["results"][0]["message_id"]])
                t0 = 1_000_000.0
                assert await accounts.check_arrears(t0, grace_s=100.0) == []  # arrears start now
                assert await accounts.check_arrears(t0 + 99.0, grace_s=100.0) == []  # within the grace
                assert await accounts.check_arrears(t0 + 100.0, grace_s=100.0) == ["thin"]
                _, body = await thin.send(["+8613800000002"], content="more")
                assert body["code"] == 1033
                async with http.patch("/v1/accounts/thin", json={"add_balance": 5}, headers=OPERATOR) as resp:
                    assert resp.status == 200 and (await resp.json())["state"] == "active"
                _, body = await thin.send(["+8613800000002"], content="more")
                assert body["results"][0]["code"] == 0
                assert await accounts.check_arrears(t0 + 200.0, grace_s=100.0) == []  # in credit: nothing
                assert "demo" not in await accounts.check_arrears(t0 + 10**6, grace_s=100.0)
        finally:
            await server.stop(drain_timeout=1.0)


async def test_signature_and_template_quotas_are_per_account_and_the_operators_to_grant(tmp_path):
    async with SimulatorGroup([fast_profile("ideal")]) as sims:
        server = await start_server(engine_config(tmp_path, sims.ports), tmp_path)
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                create = {"app_id": "small", "key": "small-key", "limits": {"max_signatures": 1, "max_templates": 0}}
                async with http.post("/v1/accounts", json=create, headers=OPERATOR) as resp:
                    assert resp.status == 201
                own = {"X-App-Id": "small", "X-App-Key": "small-key"}

                async def add(path: str, body: dict) -> int:
                    async with http.post(path, json={"app_id": "small", **body}, headers=own) as resp:
                        return (await resp.json()).get("code", resp.status) if resp.status != 201 else 201

                assert await add("/v1/signatures", {"name": "Small Shop"}) == 201
                assert await add("/v1/signatures", {"name": "Small Shop Two"}) == 1039
                assert await add("/v1/templates", {"text": "Your code is {1}"}) == 1038
                async with http.patch("/v1/accounts/small/limits", json={"max_templates": 5}, headers=own) as resp:
                    assert resp.status == 403  # not the account's own to grant
                async with http.patch("/v1/accounts/small/limits", json={"max_templates": 5},
                                      headers=OPERATOR) as resp:
                    assert resp.status == 200 and (await resp.json())["max_templates"] == 5
                assert await add("/v1/templates", {"text": "Your code is {1}"}) == 201
        finally:
            await server.stop(drain_timeout=1.0)


async def test_a_number_the_limits_stop_is_reported_once_at_the_alarm_url(tmp_path):
    async with json_sink("/alarm") as sink, SimulatorGroup([fast_profile("ideal")]) as sims:
        events, url = sink.bodies, sink.url
        server = await start_server(engine_config(tmp_path, sims.ports), tmp_path)
        try:
            async with aiohttp.ClientSession(f"http://127.0.0.1:{server.http_port}") as http:
                demo = Client(http)
                async with http.patch("/v1/accounts/demo/limits", json={"daily_max": 1, "alarm_url": url},
                                      headers=demo.auth) as resp:
                    assert resp.status == 200
                for text in ("first", "second", "third", "fourth"):
                    _, body = await demo.send(["+8613800000001"], content=text)
                assert body["results"][0]["code"] == 1025
                await eventually(lambda: events, 10.0)
                await asyncio.sleep(1.5)  # a second batch would have come by now
                [notice] = events
                assert notice["event"] == "over_limit" and notice["app_id"] == "demo"
                assert [(x["phone"], x["code"]) for x in notice["numbers"]] == [("+8613800000001", 1025)]
        finally:
            await server.stop(drain_timeout=1.0)

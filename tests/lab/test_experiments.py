"""The shipped scenarios, quick versions, end to end: simulators and engine as processes, traffic
over HTTP, and the report's accounting exact — every recipient in exactly one final state, every
charged segment submitted and accepted by a carrier, fates as configured, the same seed giving the
same fates and the same fate-decided final states."""

from __future__ import annotations

import json
import math

import pytest

from smsengine.lab.accounting import FATE_DECIDED, REASONS

from .conftest import SHIPPED, quick_run

# a fate's observed share is within this many binomial standard deviations of the configured one
# (for the seed, this is a fixed draw: the bound only documents how far it may be)
Z_BOUND = 4.0


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", SHIPPED)
def test_quick_run_accounts_for_every_recipient_and_segment(quick, name):
    run = quick(name)
    report = json.loads((run.directory / "report.json").read_text())
    assert report["scenario"] == name and report["quick"] is True
    assert set(report["variants"]) == set(run.figures) and len(report["variants"]) >= 2
    assert report["code_version"] and report["machine"]["cpus"] and report["seed"]
    for variant, figures in report["variants"].items():
        failed = [c for c in figures["accounting"]["checks"] if not c["ok"]]
        assert not failed, (variant, failed)
        summary, states, cost = figures["summary"], figures["final_states"], figures["cost"]
        # every planned recipient in exactly one final state, none left open
        assert sum(states.values()) == summary["planned"] == figures["settings"]["traffic"]["messages"]
        assert set(states) <= set(REASONS) and "not final" not in states
        outcomes = run.figures[variant]["outcomes"]
        ids = [o["message_id"] for o in outcomes if "message_id" in o]
        assert len(ids) == len(set(ids)) == summary["accepted"]
        assert len(outcomes) + states.get("duplicate", 0) + states.get("screened out", 0) \
            + states.get("refused", 0) == summary["planned"]
        # charge on submit: every charged segment is one the engine recorded and a carrier accepted
        assert cost["segments_charged"] == cost["segments_recorded"] > 0
        assert cost["segments_accepted_by_carriers"] == cost["segments_charged"] + cost["accepted_unanswered_resent"]
        assert cost["charged_undelivered"] == cost["segments_charged"] - cost["segments_delivered"] >= 0
        assert summary["complete"]


@pytest.mark.timeout(120)
@pytest.mark.parametrize("name", SHIPPED)
def test_fates_follow_the_configured_shares(quick, name):
    run = quick(name)
    for variant, figures in run.report["variants"].items():
        fates = figures["fates"]
        assert fates["numbers"] >= 100
        for fate, row in fates["fates"].items():
            p, n = row["configured"], fates["numbers"]
            bound = Z_BOUND * math.sqrt(p * (1 - p) / n) + 1 / n
            assert abs(row["observed"] - p) <= bound, (variant, fate, row)


@pytest.mark.timeout(120)
def test_reasons_match_the_numbers_fates(quick):
    """In bad-numbers every failure the carrier decided is the number's fate: an empty number ends
    `empty`, a blocked one `blocked`; screening drops the empty and out-of-service ones unsent and
    uncharged, so it charges less for the same traffic."""
    run = quick("bad-numbers")
    for variant in ("unscreened", "screened"):
        fates = run.figures[variant]["number_fates"]
        for outcome in run.figures[variant]["outcomes"]:
            if outcome["reason"] in FATE_DECIDED:
                assert fates[outcome["phone"]] == FATE_DECIDED[outcome["reason"]], outcome
    unscreened, screened = (run.report["variants"][v] for v in ("unscreened", "screened"))
    assert unscreened["final_states"]["empty"] > 0 and unscreened["final_states"]["blocked"] > 0
    assert unscreened["summary"]["unsubscribed"] > 0  # TD replies stop later sends (1015)
    assert "empty" not in screened["final_states"] and screened["summary"]["screened_out"] > 0
    assert screened["cost"]["segments_charged"] < unscreened["cost"]["segments_charged"]
    assert screened["cost"]["charged_undelivered"] < unscreened["cost"]["charged_undelivered"]


@pytest.mark.timeout(120)
def test_failover_moves_traffic_off_a_throttling_or_dark_carrier(quick):
    throttling = quick("throttling-carrier").report["variants"]
    assert throttling["retry-in-place"]["carriers"]["backup"]["messages"] == 0
    assert throttling["retry-in-place"]["summary"]["throttled"] > 0
    assert throttling["failover"]["summary"]["failovers"] > 0
    assert throttling["failover"]["carriers"]["backup"]["messages"] > 0
    outage = quick("carrier-outage").report["variants"]
    assert outage["failover"]["carriers"]["primary"]["drops"] > 0
    assert outage["failover"]["carriers"]["backup"]["messages"] > 0
    assert outage["no-failover"]["carriers"]["backup"]["messages"] == 0
    # waiting for the primary: every message still ends delivered, later
    for variant in outage.values():
        assert variant["final_states"]["delivered"] == variant["summary"]["accepted"]


@pytest.mark.timeout(120)
def test_same_seed_same_fates_and_fate_decided_states(quick, tmp_path):
    first = quick("bad-numbers")
    again = quick_run("bad-numbers", tmp_path, variant="unscreened")
    for variant in again.figures:
        assert again.figures[variant]["number_fates"] == first.figures[variant]["number_fates"]

        def decided(figures):
            return sorted((o["phone"], o["reason"]) for o in figures["outcomes"] if o["reason"] in FATE_DECIDED)

        assert decided(again.figures[variant]) == decided(first.figures[variant])
        assert again.report["variants"][variant]["summary"]["planned"] == \
            first.report["variants"][variant]["summary"]["planned"]

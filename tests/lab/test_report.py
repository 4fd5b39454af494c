"""The report's pure parts: chart scales, the JSON layout, what counts as a difference, and the
reasons a final state is put under."""

from __future__ import annotations

import json

from hypothesis import given
from hypothesis import strategies as st

from smsengine.lab.accounting import binned, cdf, intake_reason, message_reason, percentiles
from smsengine.lab.charts import line_chart, nice_ticks, stacked_bars
from smsengine.lab.report import different, dumps


@given(st.floats(0, 1e6), st.floats(1e-6, 1e6))
def test_ticks_cover_the_range_in_round_steps(low, span):
    ticks = nice_ticks(low, low + span)
    assert ticks[0] <= low + 1e-9 * max(1, low) and ticks[-1] >= (low + span) * (1 - 1e-9)
    steps = {round(b - a, 6) for a, b in zip(ticks, ticks[1:])}
    assert len(steps) <= 2 and 2 <= len(ticks) <= 12  # float rounding may differ in the last digit


def test_json_keeps_series_on_one_line_and_reads_back_the_same():
    report = {"a": {"series": [[0.5, 1.0], [1.0, 2.5]], "n": 3, "routes": [{"prefix": "+"}], "empty": {}}}
    text = dumps(report)
    assert json.loads(text) == report
    assert '"series": [[0.5,1.0],[1.0,2.5]]' in text and text.count("\n") == 11


def test_differences_allow_noise_but_not_a_changed_verdict():
    assert not different(100.0, 101.0) and different(100.0, 110.0)
    assert different(True, False) and not different(None, None) and different(0, 1)


def test_reasons_from_status_code_remark_and_fate():
    assert message_reason("failed", 60002, "UNDELIV err:001 (unknown or empty number)", "empty") == "empty"
    assert message_reason("failed", 60002, "UNDELIV err:011 (blocked by the carrier)", "blocked") == "blocked"
    assert message_reason("expired", 60003, "EXPIRED err:027 (validity period expired (handset off))",
                          "powered_off") == "powered off"
    assert message_reason("expired", 60003, "no delivery receipt within the validity period (24 h)",
                          "delivered") == "expired"
    assert message_reason("failed", 60006, "throttled", "delivered") == "throttled-then-failed"
    assert message_reason("failed", 60001, "submit_sm_resp ESME_RINVDSTADR (0xb)", "") == "rejected"
    assert message_reason("submitted", 0, "", "delivered") == "not final"
    assert [intake_reason(c) for c in (1015, 1023, 1025, 1058, 1016)] == [
        "unsubscribed", "rate-limited", "rate-limited", "screened out", "refused"]


def test_latency_figures_and_series():
    values = sorted(i / 1000 for i in range(1, 1001))
    assert percentiles(values) == {"p50": 501.0, "p90": 901.0, "p99": 991.0, "max": 1000.0}
    points = cdf(values)
    assert len(points) <= 201 and points[-1] == (1000.0, 1.0)
    assert binned([0.1, 0.2, 1.6], 2.0, 0.5) == [(0.25, 4.0), (0.75, 0.0), (1.25, 0.0), (1.75, 2.0)]


def test_charts_are_svg_with_a_title_and_say_when_there_is_nothing():
    svg = line_chart("T <1>", {"a": [(0, 1), (1, 2)]}, "s", "n")
    assert svg.startswith("<svg") and "T &lt;1&gt;" in svg and "polyline" in svg
    assert "no data" in line_chart("empty", {"a": []}, "s", "n")
    assert stacked_bars("b", {"v": {"delivered": 3, "empty": 1}}, ["delivered", "empty"], "n").count("<rect") >= 4

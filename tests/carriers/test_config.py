"""The carriers TOML: the default file's three carriers, and the errors a bad file gets."""

from __future__ import annotations

from pathlib import Path

import pytest

from carriers.config import CarrierConfigError, load_carriers_config


def test_default_config_has_the_three_documented_carriers() -> None:
    profiles = {p.name: p for p in load_carriers_config()}
    assert list(profiles) == ["ideal", "realistic", "flaky"]
    assert [profiles[n].port for n in profiles] == [2775, 2776, 2777]
    assert [profiles[n].admin_port for n in profiles] == [8775, 8776, 8777]
    for profile in profiles.values():
        assert profile.host == "127.0.0.1"
        assert [(a.system_id, a.password) for a in profile.accounts] == [("smsengine", "secret")]
    assert profiles["ideal"].fates.empty == 0 and profiles["ideal"].delays.regular[1] <= 1.0
    assert profiles["realistic"].message_ids.receipt == "decimal"
    assert profiles["flaky"].throughput_per_s > 0 and profiles["flaky"].drop_per_s > 0
    for profile in profiles.values():  # the documented connection defaults
        assert (profile.max_connections, profile.bind_timeout_s, profile.idle_timeout_s) == (512, 5.0, 120.0)
        assert profile.idle_timeout_s > profile.enquire_link_s
        assert (profile.bind_failure_delay_s, profile.bind_failures_max) == (0.5, 10)
        assert profile.submit_log == "" and profile.message_ids.nonce is None


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ('[[carriers]]\nname = "a"\n[carriers.fates]\nempty = 0.7\nblocked = 0.5\n', "sum to at most 1"),
        ('[[carriers]]\nname = "a"\n[[carriers.rules]]\nfate = "lost"\nprefix = "1"\n', "unknown fate"),
        ('[[carriers]]\nname = "a"\nqueue_full_rate = 2.0\n', "queue_full_rate"),
        ('[[carriers]]\nname = "a"\n[[carriers]]\nname = "a"\n', "duplicate"),
        ('[[carriers]]\nname = "a"\nwindw = 3\n', "windw"),
        ('[[carriers]]\nname = "a"\nmax_connections = 0\n', "max_connections"),
        ('[[carriers]]\nname = "a"\nbind_timeout_s = 0\n', "bind_timeout_s"),
        ('[[carriers]]\nname = "a"\nbind_failure_delay_s = -1\n', "bind_failure_delay_s"),
    ],
)
def test_bad_files_are_refused_with_the_key(tmp_path: Path, body: str, message: str) -> None:
    path = tmp_path / "carriers.toml"
    path.write_text(body)
    with pytest.raises(CarrierConfigError, match=message):
        load_carriers_config(path)

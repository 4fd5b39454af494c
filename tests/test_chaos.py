"""The short versions of the crash and carrier-fault campaigns (`make chaos` runs the long ones):
real processes killed and stopped on loopback, the store reconciled against the carrier's record."""

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]


def campaign(script: str, *args: str, timeout: float = 55.0) -> tuple[int, str]:
    done = subprocess.run([sys.executable, str(ROOT / "benchmarks" / script), "--quick", "--no-write", *args],
                          cwd=ROOT, capture_output=True, text=True, timeout=timeout)
    return done.returncode, done.stdout + done.stderr


def test_sigkilled_engine_loses_nothing_and_sends_nothing_twice():
    """3 SIGKILLs under 1,000 msg/s with instant receipts: every accepted message ends final, the
    carrier saw each exactly once (the recovery hold matched what was accepted before each kill)."""
    code, out = campaign("chaos_crash.py")
    result = json.loads(out.strip().splitlines()[-1])
    assert result["messages_accepted"] > 1000, out
    assert result["lost_not_final"] == 0, out
    assert result["at_carrier_but_not_recorded"] == 0, out
    assert result["delivered_but_never_at_carrier"] == 0, out
    assert result["duplicated_segments"] == 0, out
    assert code == 0, out


@pytest.mark.parametrize("scenario", ["restart_reused_ids", "sigstop"])
def test_carrier_faults_leave_nothing_open_and_no_fate_contradicted(scenario):
    code, out = campaign("chaos_carriers.py", "--only", scenario)
    row = next(line for line in out.splitlines() if line.startswith(scenario + " "))
    messages, not_final, contradicting = row.split()[1:4]
    assert int(messages.replace(",", "")) == 2000, out
    assert (not_final, contradicting) == ("0", "0"), out
    assert code == 0, out

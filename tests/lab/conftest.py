"""The shipped scenarios' quick versions, each run once per session (real processes on loopback,
seconds each) and shared by the tests that read their reports."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from smsengine.lab import experiment
from smsengine.lab.scenario import load

EXPERIMENTS = Path(__file__).resolve().parents[2] / "experiments"
SHIPPED = ("baseline", "throttling-carrier", "bad-numbers", "carrier-outage")


class QuickRun:
    def __init__(self, name: str, report: dict[str, Any], figures: dict[str, Any], directory: Path) -> None:
        self.name = name
        self.report = report
        self.figures = figures  # with the per-recipient outcomes and per-number fates
        self.directory = directory


def quick_run(name: str, out: Path, variant: str | None = None) -> QuickRun:
    file = load(EXPERIMENTS / f"{name}.toml", quick=True)
    report, figures, directory = experiment.run(file, variant=variant, quick=True, out=out,
                                                command=f"experiment run experiments/{name}.toml --quick")
    return QuickRun(name, report, figures, directory)


_runs: dict[str, QuickRun] = {}


@pytest.fixture(scope="session")
def quick(tmp_path_factory: pytest.TempPathFactory):
    """quick(name) -> that scenario's quick run, made on first use."""

    def get(name: str) -> QuickRun:
        if name not in _runs:
            _runs[name] = quick_run(name, tmp_path_factory.mktemp(f"{name}-quick"))
        return _runs[name]

    return get

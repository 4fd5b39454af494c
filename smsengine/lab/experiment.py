"""A whole experiment: each variant of a scenario run one after the other under the same seed,
accounted, and reported in one directory."""

from __future__ import annotations

import asyncio
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from smsengine.lab import report
from smsengine.lab.accounting import account
from smsengine.lab.runner import OnSample, run_variant
from smsengine.lab.scenario import Scenario, ScenarioError, ScenarioFile


def results_dir(file: ScenarioFile, quick: bool) -> Path:
    """experiments/results/NAME beside the scenario file (NAME-quick for the quick version, which
    is not kept)."""
    return file.path.parent / "results" / (file.name + ("-quick" if quick else ""))


def chosen(file: ScenarioFile, variant: str | None) -> dict[str, Scenario]:
    if variant is None:
        return file.variants
    if variant not in file.variants:
        raise ScenarioError(f"{file.path}: variants: no variant {variant!r} (known: {', '.join(file.variants)})")
    return {variant: file.variants[variant]}


def run(file: ScenarioFile, *, variant: str | None = None, quick: bool = False, out: Path | None = None,
        command: str = "", keep: Path | None = None,
        watch: Callable[[Scenario], OnSample | None] | None = None) -> tuple[dict[str, Any], dict[str, Any], Path]:
    """Run the chosen variants; returns (report, figures with per-recipient outcomes by variant, the
    directory written). `keep`: run each variant in a subdirectory of it (configs, logs, store)
    instead of a temp dir removed after. `watch(scenario)` gives the live callback of a variant."""
    figures: dict[str, dict[str, Any]] = {}
    for name, scenario in chosen(file, variant).items():
        on_sample = watch(scenario) if watch else None
        if keep is not None:
            directory = keep / name
            directory.mkdir(parents=True, exist_ok=True)
            observation = asyncio.run(run_variant(scenario, directory, on_sample))
        else:
            with tempfile.TemporaryDirectory(prefix=f"smsengine-lab-{file.name}-{name}-") as tmp:
                observation = asyncio.run(run_variant(scenario, Path(tmp), on_sample))
        figures[name] = account(observation)
    built = report.build(file, figures, quick=quick, command=command)
    directory = out or results_dir(file, quick)
    report.write(built, directory)
    return built, figures, directory

"""`experiment run|list`: carrier-behaviour experiments (smsengine/lab) from the command line, with
a live view of the run."""

from __future__ import annotations

import shlex
import sys
import time
from pathlib import Path
from typing import Annotated

import typer
from rich.console import Console, Group
from rich.live import Live
from rich.table import Table
from rich.text import Text

from smsengine.cli.connection import CommandError
from smsengine.lab.experiment import results_dir, run as run_experiment
from smsengine.lab.processes import ROOT, RunError
from smsengine.lab.runner import Sample
from smsengine.lab.scenario import Scenario, ScenarioError, load, shipped

app = typer.Typer(help="Carrier-behaviour experiments: scenario files in experiments/, reports in experiments/results/.",
                  no_args_is_help=True)
EXPERIMENTS = ROOT / "experiments"
REFRESH_S = 0.5  # the live view is redrawn at most this often


class LiveView:
    """The state of one variant run as a rich table: counts, then one row per carrier."""

    def __init__(self, scenario: Scenario, live: Live | None, console: Console) -> None:
        self.scenario = scenario
        self.live = live
        self.console = console
        self.planned = scenario.traffic.messages
        self.last_line = 0.0

    def render(self, s: Sample) -> Group:
        head = Text.assemble((f"{self.scenario.name} / {self.scenario.variant}", "bold"), f"  t={s.t:6.1f}s  ",
                             f"sent {s.sent:,}/{self.planned:,}  accepted {s.accepted:,}  segments submitted"
                             f" {s.submitted:,}  final {s.final:,}  in flight {s.open:,}  retries {s.retries:,}"
                             f"  failovers {s.failovers:,}")
        table = Table("carrier", "bound", "window in use", "queue", "throttled", "receipts", box=None)
        for name in self.scenario.carriers:
            c = s.carriers.get(name, {})
            binds = int(c.get("binds", 0))
            table.add_row(name, Text(str(binds), style="green" if binds else "bold red"), f"{c.get('window', 0):,.0f}",
                          f"{c.get('queue', 0):,.0f}", f"{c.get('throttled', 0):,.0f}", f"{c.get('receipts', 0):,.0f}")
        return Group(head, table)

    def __call__(self, sample: Sample) -> None:
        if self.live is not None:
            self.live.update(self.render(sample))
        elif time.monotonic() - self.last_line > 5:  # not a terminal: a line every 5 s
            self.last_line = time.monotonic()
            self.console.print(self.render(sample).renderables[0])


@app.command("run")
def run(
    path: Annotated[Path, typer.Argument(help="the scenario file, e.g. experiments/baseline.toml")],
    variant: Annotated[str | None, typer.Option("--variant", help="run only this variant")] = None,
    quick: Annotated[bool, typer.Option("--quick", help="the scenario's [quick] version: small counts, seconds")] = False,
    out: Annotated[Path | None, typer.Option("--out", help="report directory (default experiments/results/NAME)")] = None,
    keep: Annotated[Path | None, typer.Option("--keep", help="keep each variant's configs, logs and store here")] = None,
) -> int:
    """Start simulators and engine as the scenario says, drive its traffic, wait for every message
    to be final, and write report.json and report.html. Exit 1 when the accounting does not add up."""
    console = Console(stderr=True)
    try:
        file = load(path, quick=quick)
    except ScenarioError as exc:
        raise CommandError(str(exc)) from None
    command = "python -m smsengine experiment run " + " ".join(
        shlex.quote(a) for a in [str(path), *(["--variant", variant] if variant else []), *(["--quick"] if quick else [])])
    live = Live(console=console, refresh_per_second=1 / REFRESH_S, transient=True) if console.is_terminal else None

    def watch(scenario: Scenario) -> LiveView:
        return LiveView(scenario, live, console)

    started = time.monotonic()
    try:
        if live is not None:
            with live:
                report, _, directory = run_experiment(file, variant=variant, quick=quick, out=out, command=command,
                                                      keep=keep, watch=watch)
        else:
            report, _, directory = run_experiment(file, variant=variant, quick=quick, out=out, command=command,
                                                  keep=keep, watch=watch)
    except (ScenarioError, RunError) as exc:
        raise CommandError(str(exc)) from None
    table = Table("variant", "planned", "delivered", "rate", "accept→final p50 ms", "charged", "undelivered charged",
                  "retries", "failovers", "accounting", title=f"{file.name}: {time.monotonic() - started:.0f} s")
    failed = []
    for name, figures in report["variants"].items():
        s, cost = figures["summary"], figures["cost"]
        ok = figures["accounting"]["ok"]
        failed += [f"{name}: {c['check']} ({c['detail']})" for c in figures["accounting"]["checks"] if not c["ok"]]
        table.add_row(name, f"{s['planned']:,}", f"{s['delivered']:,}", f"{s['delivery_rate']:.1%}",
                      str(figures["latency_ms"]["accept_to_final"]["p50"]), f"{cost['segments_charged']:,}",
                      f"{cost['charged_undelivered']:,}", f"{s['retries']:,}", f"{s['failovers']:,}",
                      Text("exact" if ok else "MISMATCH", style="green" if ok else "bold red"))
    out_console = Console(width=None if sys.stdout.isatty() else 160)
    out_console.print(table)
    out_console.print(f"report: {directory / 'report.html'}")
    for line in failed:
        print(f"accounting: {line}", file=sys.stderr)
    return 1 if failed else 0


@app.command("list")
def list_(
    directory: Annotated[Path, typer.Option("--dir", help="where the scenario files are")] = EXPERIMENTS,
) -> int:
    """The scenarios shipped (experiments/*.toml), their variants, and whether a report exists."""
    try:
        files = shipped(directory)
    except ScenarioError as exc:
        raise CommandError(str(exc)) from None
    table = Table("scenario", "variants", "description", "report")
    for file in files:
        report = results_dir(file, False) / "report.html"
        table.add_row(file.name, ", ".join(file.variants), file.description,
                      str(report.relative_to(Path.cwd())) if report.exists() and report.is_relative_to(Path.cwd())
                      else ("yes" if report.exists() else "–"))
    Console(width=200).print(table)
    return 0

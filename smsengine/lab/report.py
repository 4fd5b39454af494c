"""The report of a scenario: `report.json` (every figure, per variant) and `report.html` (one
self-contained page: the variants side by side with their differences highlighted, the plots as
inline SVG, the accounting checks, and what it takes to reproduce the run)."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from html import escape
from pathlib import Path
from typing import Any

from smsengine.lab import charts
from smsengine.lab.accounting import PER_RECIPIENT, REASONS
from smsengine.lab.processes import ROOT
from smsengine.lab.scenario import ScenarioFile

# (label, path into a variant's figures) of the rows of the variants table
TABLE_ROWS: tuple[tuple[str, tuple[str, ...]], ...] = (
    ("recipients planned", ("summary", "planned")),
    ("accepted", ("summary", "accepted")),
    ("delivered", ("summary", "delivered")),
    ("delivery rate (of planned)", ("summary", "delivery_rate")),
    ("traffic sent in (s)", ("summary", "traffic_s")),
    ("all final after (s)", ("summary", "all_final_s")),
    ("accept→submit p50 (ms)", ("latency_ms", "accept_to_submit", "p50")),
    ("accept→submit p99 (ms)", ("latency_ms", "accept_to_submit", "p99")),
    ("submit→receipt p50 (ms)", ("latency_ms", "submit_to_receipt", "p50")),
    ("accept→final p50 (ms)", ("latency_ms", "accept_to_final", "p50")),
    ("accept→final p99 (ms)", ("latency_ms", "accept_to_final", "p99")),
    ("retries", ("summary", "retries")),
    ("failovers", ("summary", "failovers")),
    ("ESME_RTHROTTLED answers", ("summary", "throttled")),
    ("rate-limit rejections", ("summary", "rate_limited")),
    ("unsubscribed (TD)", ("summary", "unsubscribed")),
    ("screened out", ("summary", "screened_out")),
    ("segments charged", ("cost", "segments_charged")),
    ("segments delivered", ("cost", "segments_delivered")),
    ("charged but undelivered", ("cost", "charged_undelivered")),
    ("accounting exact", ("accounting", "ok")),
)
TOLERANCE = 0.02  # a figure within 2% of the first variant's is not highlighted as different


def code_version() -> str:
    """The commit the code was at (with "+changes" when the work tree differs from it)."""
    try:
        commit = subprocess.run(["git", "rev-parse", "--short=12", "HEAD"], cwd=ROOT, capture_output=True,
                                text=True, timeout=10).stdout.strip()
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=ROOT,
                               capture_output=True, text=True, timeout=10).stdout.strip()
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return (commit or "unknown") + ("+changes" if dirty else "")


def machine() -> dict[str, Any]:
    return {"cpus": os.cpu_count(), "platform": platform.platform(), "python": sys.version.split()[0],
            "host": platform.node(), "date": time.strftime("%Y-%m-%dT%H:%M:%S%z")}


def _get(figures: dict[str, Any], path: tuple[str, ...]) -> Any:
    node: Any = figures
    for key in path:
        node = node.get(key) if isinstance(node, dict) else None
    return node


def different(value: Any, reference: Any) -> bool:
    if isinstance(value, bool) or isinstance(reference, bool) or not isinstance(value, (int, float)) \
            or not isinstance(reference, (int, float)):
        return value != reference
    return abs(value - reference) > TOLERANCE * max(abs(value), abs(reference), 1e-9)


def build(file: ScenarioFile, variants: dict[str, dict[str, Any]], *, quick: bool, command: str) -> dict[str, Any]:
    """report.json's content: the scenario, how to reproduce it, and each variant's figures."""
    first = next(iter(file.variants.values()))
    return {
        "scenario": file.name,
        "description": file.description,
        "file": str(file.path),
        "seed": first.seed,
        "time_scale": first.time_scale,
        "quick": quick,
        "command": command,
        "code_version": code_version(),
        "machine": machine(),
        "variants": {name: {k: v for k, v in figures.items() if k not in PER_RECIPIENT}
                     for name, figures in variants.items()},
    }


def write(report: dict[str, Any], directory: Path) -> tuple[Path, Path]:
    directory.mkdir(parents=True, exist_ok=True)
    json_path, html_path = directory / "report.json", directory / "report.html"
    json_path.write_text(dumps(report) + "\n")
    html_path.write_text(html(report))
    return json_path, html_path


def dumps(value: Any, indent: str = "") -> str:
    """JSON with one key a line, but a list of numbers or of (t, value) points on one line: a
    report's series stay readable and the file small."""
    if isinstance(value, dict) and value:
        inner = indent + " "
        items = ",\n".join(f"{inner}{json.dumps(k, ensure_ascii=False)}: {dumps(v, inner)}" for k, v in value.items())
        return "{\n" + items + "\n" + indent + "}"
    if isinstance(value, list) and value and not all(isinstance(v, (int, float, str, list, tuple)) and not (
            isinstance(v, (list, tuple)) and any(isinstance(x, (dict, list)) for x in v)) for v in value):
        inner = indent + " "
        return "[\n" + ",\n".join(inner + dumps(v, inner) for v in value) + "\n" + indent + "]"
    return json.dumps(value, ensure_ascii=False, separators=(",", ":") if isinstance(value, list) else None)


def _cell(value: Any, share: bool = False) -> str:
    if value is None:
        return "–"
    if isinstance(value, bool):
        return "yes" if value else "NO"
    if isinstance(value, float):
        return f"{value:.1%}" if share else f"{value:,.1f}"
    if isinstance(value, int):
        return f"{value:,}"
    return escape(str(value))


def variants_table(variants: dict[str, dict[str, Any]]) -> str:
    names = list(variants)
    head = "".join(f"<th>{escape(n)}</th>" for n in names)
    rows = []
    reasons = [r for r in REASONS if any(v["final_states"].get(r) for v in variants.values())]
    carriers = list(dict.fromkeys(c for v in variants.values() for c in v["carriers"]))
    table_rows = [*TABLE_ROWS, *((f"final: {r}", ("final_states", r)) for r in reasons),
                  *((f"messages via {c}", ("carriers", c, "messages")) for c in carriers)]
    for label, path in table_rows:
        values = [_get(variants[n], path) for n in names]
        if path[0] == "final_states":
            values = [v or 0 for v in values]
        cells = []
        for i, value in enumerate(values):
            diff = i > 0 and different(value, values[0])
            cells.append(f'<td class="{"diff" if diff else ""}">{_cell(value, "rate" in label)}</td>')
        rows.append(f"<tr><th>{escape(label)}</th>{''.join(cells)}</tr>")
    descriptions = "".join(f"<td>{escape(variants[n].get('description') or '')}</td>" for n in names)
    return (f'<table id="variants"><thead><tr><th></th>{head}</tr><tr class="what"><th></th>{descriptions}</tr>'
            f'</thead><tbody>{"".join(rows)}</tbody></table>')


def _checks(variants: dict[str, dict[str, Any]]) -> str:
    items = []
    for name, figures in variants.items():
        for check in figures["accounting"]["checks"]:
            mark = "✔" if check["ok"] else "✘"
            items.append(f'<tr class="{"ok" if check["ok"] else "bad"}"><td>{escape(name)}</td><td>{mark}'
                         f' {escape(check["check"])}</td><td>{escape(check["detail"])}</td></tr>')
    return f'<table class="checks">{"".join(items)}</table>'


def _fates(variants: dict[str, dict[str, Any]]) -> str:
    name, figures = next(iter(variants.items()))
    fates = figures["fates"]
    rows = "".join(f"<tr><td>{escape(f)}</td><td>{v['configured']:.2%}</td><td>{v['observed']:.2%}</td>"
                   f"<td>{v['numbers']:,}</td><td>{'' if v['z'] is None else v['z']}</td></tr>"
                   for f, v in fates["fates"].items())
    return (f"<p>Fates of the {fates['numbers']:,} distinct numbers sent to (variant {escape(name)}; every variant"
            f" has the same, from the seed), as the simulators report them against the configured shares.</p>"
            f'<table class="fates"><tr><th>fate</th><th>configured</th><th>observed</th><th>numbers</th>'
            f"<th>z</th></tr>{rows}</table>")


def plots(variants: dict[str, dict[str, Any]]) -> list[tuple[str, str]]:
    """(section title, SVG) of every chart, in the order the page shows them."""
    out: list[tuple[str, str]] = []
    for name, figures in variants.items():
        series = figures["series"]
        lines = {f"{carrier} submits": pts for carrier, pts in series["throughput_per_carrier"].items()}
        lines["accepted"] = series["accepted"]
        lines["final"] = series["final"]
        out.append(("Throughput over time", charts.line_chart(f"Throughput — {name}", lines, "seconds",
                                                              "per second")))
    for key, label in (("accept_to_submit", "accept → submit"), ("submit_to_receipt", "submit → receipt"),
                       ("accept_to_final", "accept → final")):
        out.append(("Latency CDFs", charts.line_chart(
            f"Latency CDF, {label}", {n: f["cdf_ms"][key] for n, f in variants.items()}, "milliseconds (log)",
            "fraction of messages", log_x=True, y_max=1.0)))
    out.append(("Final states by reason", charts.stacked_bars(
        "Final state of every recipient", {n: f["final_states"] for n, f in variants.items()}, REASONS,
        "recipients")))
    events: dict[str, list[tuple[float, float]]] = {}
    for name, figures in variants.items():
        for kind in ("retries", "failovers", "throttled"):
            if any(v for _, v in figures["series"][kind]):
                events[f"{name} {kind}"] = figures["series"][kind]
    out.append(("Retries, failovers, throttling", charts.line_chart(
        "Retries, failovers and ESME_RTHROTTLED over time", events, "seconds", "per second")))
    backlog = {f"{n} open": f["series"]["open"] for n, f in variants.items()}
    for name, figures in variants.items():
        for carrier, pts in figures["series"]["queue"].items():
            if any(v for _, v in pts):
                backlog[f"{name} {carrier} queue"] = pts
    out.append(("Backlog and binds", charts.line_chart("Messages open and carrier queues", backlog, "seconds",
                                                       "messages / segments")))
    binds = {f"{n} {c}": pts for n, f in variants.items() for c, pts in f["series"]["binds"].items()}
    out.append(("Backlog and binds", charts.line_chart("Binds up per carrier", binds, "seconds", "binds")))
    out.append(("Cost", charts.grouped_bars("Segments: charged, delivered, charged but undelivered", {
        n: {"charged": f["cost"]["segments_charged"], "delivered": f["cost"]["segments_delivered"],
            "charged, undelivered": f["cost"]["charged_undelivered"],
            "accepted by carriers": f["cost"]["segments_accepted_by_carriers"]}
        for n, f in variants.items()}, "segments")))
    out.append(("Rate-limit and intake rejections", charts.grouped_bars("Refused at intake, by code", {
        n: {f"code {code}": count for code, count in f["intake_codes"].items()} for n, f in variants.items()},
        "recipients")))
    return out


STYLE = """
body{font-family:sans-serif;margin:24px;color:#222;max-width:1320px}
h1{margin-bottom:4px} .sub{color:#555;margin-top:0}
table{border-collapse:collapse;margin:8px 0 16px} td,th{border:1px solid #ddd;padding:3px 8px;text-align:right}
th{background:#f4f4f4} #variants tr.what td{font-size:11px;color:#555;text-align:left;max-width:240px}
#variants td.diff{background:#fff3b0;font-weight:bold}
.checks td{text-align:left} .checks tr.bad td{background:#fbd5d5} .checks tr.ok td:nth-child(2){color:#2a7d2a}
.plots{display:flex;flex-wrap:wrap;gap:12px} .plots figure{margin:0;border:1px solid #eee;padding:4px}
pre{background:#f7f7f7;padding:8px;white-space:pre-wrap}
"""


def html(report: dict[str, Any]) -> str:
    variants = report["variants"]
    sections: dict[str, list[str]] = {}
    for title, svg in plots(variants):
        sections.setdefault(title, []).append(f"<figure>{svg}</figure>")
    body = "".join(f'<h2>{escape(t)}</h2><div class="plots">{"".join(figs)}</div>' for t, figs in sections.items())
    machine_line = ", ".join(f"{k} {v}" for k, v in report["machine"].items())
    quick = " (quick version)" if report["quick"] else ""
    return f"""<!doctype html>
<html lang="en"><head><meta charset="utf-8"><title>Experiment {escape(report['scenario'])}</title>
<style>{STYLE}</style></head><body>
<h1>Experiment: {escape(report['scenario'])}{quick}</h1>
<p class="sub">{escape(report['description'])}</p>
<pre>scenario  {escape(report['file'])}
seed      {report['seed']}   time scale {report['time_scale']:g} (simulated delays × this = real seconds)
code      {escape(report['code_version'])}
machine   {escape(machine_line)}
reproduce {escape(report['command'])}</pre>
<h2>Variants side by side</h2>
<p>Same seed, same numbers, same traffic; cells that differ from the first variant by more than
{TOLERANCE:.0%} are highlighted.</p>
{variants_table(variants)}
{body}
<h2>Accounting</h2>
{_checks(variants)}
{_fates(variants)}
</body></html>
"""

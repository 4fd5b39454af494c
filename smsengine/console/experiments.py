"""The experiments page: the reports under the experiments directory (one directory per scenario
with report.json and a self-contained report.html), listed with their headline figures and each
shown inline — the report served sandboxed, under a Content-Security-Policy that lets it fetch
nothing."""

from __future__ import annotations

import functools
import re
import time
from pathlib import Path
from typing import Any

import msgspec
from aiohttp import web

from smsengine.console.shell import page, state_of
from smsengine.domain.errors import ErrorCode, SmsError

routes = web.RouteTableDef()

# a report directory's name: one path segment, nothing that could climb or hide
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9._-]{0,99}")
MAX_REPORTS = 500  # listed at most (newest names last in the directory order: sorted by name)
MAX_REPORT_JSON = 8 * 1024 * 1024  # a report.json larger than this is listed without its figures
# the served report may show itself (inline style, inline SVG, data: images) and nothing else:
# no script, no fetch, no form, no navigation of the console around it
REPORT_POLICY = ("default-src 'none'; style-src 'unsafe-inline'; img-src data:; "
                 "frame-ancestors 'self'; base-uri 'none'; form-action 'none'; sandbox")


class Latency(msgspec.Struct):
    p50: float | None = None
    p99: float | None = None


class Summary(msgspec.Struct):
    planned: int | None = None
    delivered: int | None = None
    delivery_rate: float | None = None
    all_final_s: float | None = None


class Accounting(msgspec.Struct):
    ok: bool | None = None


class Variant(msgspec.Struct):
    description: str = ""
    summary: Summary = msgspec.field(default_factory=Summary)
    latency_ms: dict[str, Latency] = {}
    accounting: Accounting = msgspec.field(default_factory=Accounting)


class Report(msgspec.Struct):
    """The part of a lab report.json (smsengine/lab/report.py) the page shows."""

    scenario: str = ""
    description: str = ""
    seed: int | None = None
    quick: bool = False
    time_scale: float | None = None
    command: str = ""
    machine: dict[str, Any] = {}
    variants: dict[str, Variant] = {}


def report_dir(root: Path, name: str) -> Path:
    """The directory of report `name`, directly under `root` (also once symlinks are resolved);
    anything else is NOT_FOUND, as an unknown name is."""
    if NAME.fullmatch(name) and ".." not in name:
        try:
            base = root.resolve(strict=True)
            found = (base / name).resolve(strict=True)
        except (OSError, RuntimeError):
            found = None
        if found is not None and found.parent == base and found.is_dir() and \
                ((found / "report.html").is_file() or (found / "report.json").is_file()):
            return found
    raise SmsError(ErrorCode.NOT_FOUND, f"no experiment report {name[:100]!r}")


def report_file(directory: Path, filename: str) -> Path | None:
    """A file of a report directory, unless it is missing or a symlink out of it."""
    try:
        path = (directory / filename).resolve(strict=True)
    except (OSError, RuntimeError):
        return None
    return path if path.parent == directory and path.is_file() else None


@functools.lru_cache(maxsize=256)
def _read_report(path: str, mtime_ns: int, size: int) -> Report | None:
    """report.json decoded, once per version of the file (keyed by its mtime and size)."""
    if size > MAX_REPORT_JSON:
        return None
    try:
        return msgspec.json.decode(Path(path).read_bytes(), type=Report)
    except (OSError, msgspec.DecodeError):
        return None


def report_view(directory: Path) -> dict[str, Any]:
    """A report as the list shows it: name, date, seed, variants with a headline figure or two."""
    json_file = report_file(directory, "report.json")
    html_file = report_file(directory, "report.html")
    report = None
    changed = 0.0
    for found in (json_file, html_file):
        if found is not None:
            stat = found.stat()
            changed = max(changed, stat.st_mtime)
            if found is json_file:
                report = _read_report(str(found), stat.st_mtime_ns, stat.st_size)
    date = str(report.machine.get("date", "")) if report else ""
    variants = []
    for name, v in (report.variants.items() if report else ()):
        final = v.latency_ms.get("accept_to_final", Latency())
        variants.append({"name": name, "description": v.description, "delivery_rate": v.summary.delivery_rate,
                         "all_final_s": v.summary.all_final_s, "final_p50_ms": final.p50,
                         "final_p99_ms": final.p99, "accounting_ok": v.accounting.ok})
    return {
        "name": directory.name, "scenario": report.scenario if report else "",
        "description": report.description if report else "", "seed": report.seed if report else None,
        "quick": report.quick if report else False, "command": report.command if report else "",
        "date": date or time.strftime("%Y-%m-%dT%H:%M:%S%z", time.gmtime(changed)),
        "variants": variants, "has_html": html_file is not None, "readable": report is not None,
    }


def report_views(root: Path) -> list[dict[str, Any]]:
    try:
        names = sorted(entry.name for entry in root.iterdir())
    except OSError:
        return []
    views = []
    for name in names:
        try:
            directory = report_dir(root, name)
        except SmsError:
            continue
        views.append(report_view(directory))
        if len(views) >= MAX_REPORTS:
            break
    return views


@routes.get("/experiments")
async def experiments_page(request: web.Request) -> web.Response:
    root = state_of(request).experiments
    return page(request, "experiments.html", {"reports": report_views(root), "root": str(root)})


@routes.get("/experiments/{name}")
async def experiment_page(request: web.Request) -> web.Response:
    directory = report_dir(state_of(request).experiments, request.match_info["name"])
    return page(request, "experiment.html", {"report": report_view(directory)})


@routes.get("/experiments/{name}/report.html")
async def report_html(request: web.Request) -> web.StreamResponse:
    directory = report_dir(state_of(request).experiments, request.match_info["name"])
    path = report_file(directory, "report.html")
    if path is None:
        raise SmsError(ErrorCode.NOT_FOUND, f"experiment {directory.name!r} has no report.html")
    return web.FileResponse(path, headers={
        "Content-Type": "text/html; charset=utf-8", "Content-Security-Policy": REPORT_POLICY,
        "X-Content-Type-Options": "nosniff", "Referrer-Policy": "no-referrer", "Cache-Control": "no-cache",
    })

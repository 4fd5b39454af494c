"""`python -m carriers --config config/carriers.toml`: run the configured simulators until SIGINT/SIGTERM."""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import logging
import signal
import sys

import msgspec
import structlog

from carriers.config import DEFAULT_CARRIERS_CONFIG, CarrierConfigError, CarrierProfile, load_carriers_config
from carriers.group import SimulatorGroup


def _configure_logging(level: str) -> None:
    structlog.configure(
        processors=[
            structlog.processors.add_log_level,
            structlog.processors.TimeStamper(fmt="iso"),
            structlog.processors.JSONRenderer(),
        ],
        wrapper_class=structlog.make_filtering_bound_logger(getattr(logging, level.upper())),
        logger_factory=structlog.PrintLoggerFactory(sys.stderr),
    )


async def _serve(group: SimulatorGroup, ready_line: bool) -> None:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(sig, stop.set)
    async with group:
        if ready_line:
            # One JSON line on stdout with the bound ports: how a parent process finds ephemeral ports.
            print(json.dumps({"ports": group.ports, "admin_ports": group.admin_ports}), flush=True)
        await stop.wait()


def _tune_gc() -> None:
    """A simulator allocates a few short-lived objects per PDU and keeps big tables of untracked
    records; the default gen-0 threshold (700) runs the collector every few dozen messages. A larger
    one cut CPU per message by ~12% in benchmarks/carrier_bench.py; cycles are still collected."""
    gc.collect()
    gc.freeze()  # start-up objects (modules, config) never need scanning again
    gc.set_threshold(100_000, 50, 1000)


def with_submit_log(profiles: list[CarrierProfile], path: str) -> list[CarrierProfile]:
    """Every profile logging its accepted submits to `path`; "{carrier}" in it becomes the carrier's
    name (without it, the carriers share one file: each line names its carrier)."""
    return [msgspec.structs.replace(p, submit_log=path.replace("{carrier}", p.name)) for p in profiles]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m carriers", description=__doc__)
    parser.add_argument("--config", default=str(DEFAULT_CARRIERS_CONFIG), help="carriers TOML file")
    parser.add_argument("--only", action="append", default=[], help="run only this carrier (repeatable)")
    parser.add_argument("--ephemeral", action="store_true", help="bind every port to 0 (see the ready line)")
    parser.add_argument("--ready-line", action="store_true", help="print the bound ports as JSON once listening")
    parser.add_argument(
        "--submit-log", metavar="PATH",
        help='append one JSON line per accepted submit to PATH ("{carrier}" is replaced by the carrier name);'
        " overrides the profiles' submit_log",
    )
    parser.add_argument("--log-level", default="info")
    parser.add_argument("--profile-cpu", metavar="FILE", help="write a cProfile of the run to FILE")
    args = parser.parse_args(argv)
    _configure_logging(args.log_level)
    try:
        profiles = load_carriers_config(args.config)
    except CarrierConfigError as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.only:
        profiles = [p for p in profiles if p.name in args.only]
    if args.submit_log:
        profiles = with_submit_log(profiles, args.submit_log)
    group = SimulatorGroup(profiles, ephemeral=args.ephemeral)
    _tune_gc()
    try:
        import uvloop
    except ImportError:  # uvloop is a dependency; plain asyncio still works without it
        runner = asyncio.run
    else:
        runner = uvloop.run
    if args.profile_cpu:
        import cProfile

        with cProfile.Profile() as profiler:
            runner(_serve(group, args.ready_line))
        profiler.dump_stats(args.profile_cpu)
    else:
        runner(_serve(group, args.ready_line))
    return 0


if __name__ == "__main__":
    sys.exit(main())

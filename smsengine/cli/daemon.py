"""`serve`: the engine in this process, with the runtime tuned for it."""

from __future__ import annotations

import asyncio
import os
import sys
from typing import Annotated

import typer

from smsengine.config import ConfigError, load
from smsengine.runtime import tune as tune_runtime


def serve(
    config_path: Annotated[str | None, typer.Option("--config", show_default=False,
                                                    help="engine TOML (default: config/engine.toml)")] = None,
) -> int:
    """Run the engine (HTTP API, store, carrier binds)."""
    from smsengine import logs
    from smsengine.server import serve as serve_engine

    try:
        config = load(config_path)
    except ConfigError as exc:
        print(f"config error: {exc}", file=sys.stderr)
        return 2
    logs.configure(config.log_level)
    tune_runtime()
    try:
        import uvloop

        uvloop.install()
    except ImportError:
        pass
    profile_to = os.environ.get("SMSENGINE_PROFILE")
    if profile_to:  # a cProfile of the whole run, written at shutdown (for benchmarks)
        import cProfile

        cProfile.runctx("asyncio.run(serve(config))", globals(), {"serve": serve_engine, "config": config},
                        filename=profile_to)
        return 0
    try:
        asyncio.run(serve_engine(config))
    except (OSError, RuntimeError) as exc:  # a port in use, simulators that would not start
        print(f"smsengine: cannot start: {exc}", file=sys.stderr)
        return 1
    return 0

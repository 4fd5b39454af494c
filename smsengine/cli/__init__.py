"""Command line: `python -m smsengine serve|send|task|messages|export|stats|experiment ...`."""

from __future__ import annotations

import os
import sys

import typer

from smsengine.cli import daemon, experiment, records, send, stats, tasks
from smsengine.cli.connection import CommandError

app = typer.Typer(name="smsengine", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="An SMS dispatch engine: run it, or talk to a running one over its HTTP API.")
app.command("serve")(daemon.serve)
app.command("send")(send.send)
app.add_typer(tasks.app, name="task")
app.add_typer(records.messages, name="messages")
app.add_typer(records.export, name="export")
app.command("stats")(stats.stats)
app.add_typer(experiment.app, name="experiment")


def _quiet_stdout() -> None:
    """The reader of stdout went away (`export ... | head`): what is still buffered goes nowhere,
    so the interpreter's last flush does not fail again on the closed pipe."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, sys.stdout.fileno())
    os.close(devnull)


def main(argv: list[str] | None = None) -> int:
    """Run one command; its exit status (usage errors 2, a failure reported in one line 1). The
    context is made and invoked here rather than by the command's `main`, which turns a closed
    stdout into status 1 whatever the command did."""
    command = typer.main.get_command(app)
    args = sys.argv[1:] if argv is None else list(argv)
    try:
        with command.make_context("smsengine", args) as ctx:
            return command.invoke(ctx) or 0
    except CommandError as exc:
        print(f"smsengine: {exc}", file=sys.stderr)
        return 1
    except BrokenPipeError:
        # a reader that stops early (`export ... | head`) has what it wanted: not a failure
        _quiet_stdout()
        return 0
    except typer.Exit as exc:  # --help
        return exc.exit_code
    except typer.TyperException as exc:  # usage errors (typer's vendored click raises these)
        if type(exc).__name__ == "NoArgsIsHelpError":  # its help is printed already
            pass
        elif hasattr(exc, "show"):
            exc.show()
        else:
            print(f"Error: {exc.format_message()}", file=sys.stderr)
        return exc.exit_code
    except (typer.Abort, KeyboardInterrupt):  # Ctrl-C: a followed task goes on in the engine
        print(file=sys.stderr)
        return 130

"""What every benchmark records about where it ran, and how it writes its results."""

from __future__ import annotations

import json
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results"


def engine_head_toml(http_port: int, db: Path, log_level: str = "warning") -> str:
    """The engine config every load script starts with: HTTP on loopback, its own store file, and
    no embedded simulators (each script runs its own, as a separate process). Callbacks may go to
    a sink on loopback."""
    return f"""
log_level = "{log_level}"
[http]
host = "127.0.0.1"
port = {http_port}
admin_token = "bench"
allow_private_callbacks = true
[store]
path = "{db}"
[simulators]
embedded = false
"""


# The engine config every load script ends with: one route for all numbers to `carrier`, and the
# account the load clients sign as (app "bench", key "bench-secret", limits out of the way).
def route_and_account_toml(carrier: str, receipt_url: str = "") -> str:
    return f"""
[[routes]]
prefix = "+"
targets = [{{ carrier = "{carrier}" }}]
[[accounts]]
app_id = "bench"
key = "bench-secret"
raw_content = true
balance = 100000000
receipt_url = "{receipt_url}"
signatures = [{{ name = "smsengine" }}]
[accounts.limits]
daily_max = 100000000
same_content_max = 100000000
international_daily_max = 100000000
[[accounts.templates]]
id = 1
text = "Your verification code is {{1}}, valid for {{2}} minutes."
"""


def stop(*processes: subprocess.Popen) -> None:
    """Terminate each process, then wait for it (killed after 15 s)."""
    for p in processes:
        p.terminate()
    for p in processes:
        try:
            p.wait(15)
        except subprocess.TimeoutExpired:
            p.kill()


def machine() -> dict:
    return {
        "cpu_count": os.cpu_count(),
        "python": sys.version.split()[0],
        "implementation": platform.python_implementation(),
        "platform": platform.platform(),
        "date": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def cpu_seconds(pid: int) -> float:
    """User + system CPU seconds another process has used so far, from /proc."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


def descendants(pid: int) -> list[int]:
    """The processes `pid` started, and theirs (the engine's carrier process), from /proc."""
    found: list[int] = []
    try:
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
    except OSError:
        return found
    for child in map(int, children):
        found.append(child)
        found.extend(descendants(child))
    return found


def thread_times(pid: int) -> dict[str, tuple[float, float]]:
    """Per thread of a process (by name; the first thread is "main"): seconds it has run on a CPU
    and seconds it has waited in the run queue for one, from /proc/<pid>/task/*/schedstat. A
    thread that runs or waits for nearly all of a phase's wall time is what bounds the phase."""
    times: dict[str, tuple[float, float]] = {}
    try:
        tids = sorted(os.listdir(f"/proc/{pid}/task"), key=int)
    except OSError:
        return times
    for tid in tids:
        try:
            name = "main" if tid == str(pid) else Path(f"/proc/{pid}/task/{tid}/comm").read_text().strip()
            run_ns, wait_ns, _ = Path(f"/proc/{pid}/task/{tid}/schedstat").read_text().split()
        except (OSError, ValueError):
            continue  # the thread ended meanwhile
        run, wait = times.get(name, (0.0, 0.0))  # threads of one name (a pool) add up
        times[name] = (run + int(run_ns) / 1e9, wait + int(wait_ns) / 1e9)
    return times


def thread_cores(before: dict[str, tuple[float, float]], after: dict[str, tuple[float, float]],
                 seconds: float) -> dict[str, dict[str, float]]:
    """Cores each thread kept busy between two `thread_times` readings: running, and waiting for a
    CPU (runnable, but the machine's cores were taken). Threads under 0.01 core are left out."""
    cores = {}
    for name, (run, wait) in after.items():
        run0, wait0 = before.get(name, (0.0, 0.0))
        running = (run - run0) / seconds
        if running >= 0.01:
            cores[name] = {"running": round(running, 2), "waiting_for_cpu": round((wait - wait0) / seconds, 2)}
    return cores


def machine_busy_seconds() -> float:
    """CPU seconds every process on the machine has used so far, all cores together (/proc/stat)."""
    user, nice, system, _idle, _iowait, irq, softirq = map(int, Path("/proc/stat").read_text().split()[1:8])
    return (user + nice + system + irq + softirq) / os.sysconf("SC_CLK_TCK")


def rss_mb(pid: int) -> float:
    """Resident set size of another process now, in MiB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    return 0.0


def progress(line: str) -> None:
    print(line, flush=True)


def write(name: str, payload: dict) -> Path:
    RESULTS.mkdir(parents=True, exist_ok=True)
    path = RESULTS / f"{name}.json"
    payload = {"machine": machine(), **payload}
    path.write_text(json.dumps(payload, indent=2, sort_keys=False) + "\n")
    progress(f"wrote {path.relative_to(RESULTS.parent.parent)}")
    return path

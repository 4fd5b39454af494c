"""Console latency with 1,000,000 messages in the store: every page timed over HTTP.

A store file of a realistic mix (four accounts of different sizes, 30 days of traffic with a
heavy today, API sends and bulk tasks, delivered / failed / expired / cancelled, one or two
segments, replies and unsubscribes) is generated once with sqlite3 in bulk over the engine's own
schema (smsengine/engine/store/schema.py) and reused while it is from today (the dashboard shows
today). The engine (`python -m smsengine serve`) and one simulator run as processes of their own;
this client signs in to the console as an account and as the operator and asks each page ~20
times in a row (after two warm-up requests): median and p95 to benchmarks/results/console.json.
A page answering 404 is a page not built yet. Then the dashboard's day statistics are taken
apart: each statement of a scan of the day's messages (what the day's statistics cost before the
store kept counts, schema.COUNTS) timed on its own, with its query plan.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import random
import re
import sqlite3
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

import aiohttp

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchenv import cpu_seconds, progress, rss_mb, stop, write  # noqa: E402
from e2e_bench import free_port, start_gateway, wait_up  # noqa: E402
from e2e_bench import write_configs as e2e_configs  # noqa: E402

from smsengine.engine.store.schema import INDEXES_AFTER_COLUMNS, SCHEMA  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent
CACHE = Path(tempfile.gettempdir()) / "smsengine-console-bench"
TARGET_MS = 100.0
ZONE = timezone(timedelta(hours=8))  # the accounts' timezone (the default utc_offset_minutes)
# (app id, share of the messages, share of its messages sent by bulk tasks)
ACCOUNTS = (("bench", 0.55, 0.5), ("shop", 0.25, 0.6), ("bank", 0.15, 0.0), ("ops", 0.05, 0.2))
TODAY_SHARE = 0.2  # of all messages, sent today (a heavy day for the dashboard)
DAYS = 30
TEXTS = (
    ("【smsengine】Your verification code is {}, valid for 5 minutes.", 1, 1),
    ("【smsengine】Your order {} has shipped. Reply TD to unsubscribe.", None, 1),
    ("【smsengine】尊敬的用户，您的订单 {} 已发货，预计三天内送达，请注意查收。如有疑问请致电客服热线，我们将竭诚为您服务。退订回TD", None, 2),
)
# (status, code, remark, carrier accepted it, weight)
FATES = (
    ("delivered", 0, "DELIVRD", True, 880),
    ("failed", 60002, "UNDELIV err:011 (blocked by the carrier)", True, 50),
    ("failed", 60001, "submit_sm_resp ESME_RINVDSTADR (0xb)", False, 15),
    ("failed", 60008, "no carrier answered", False, 5),
    ("expired", 60003, "no receipt within the validity period", True, 35),
    ("cancelled", 60011, "cancelled before it was sent", False, 15),
)


# -- the store ----------------------------------------------------------------------------------------
def store_path(messages: int) -> Path:
    return CACHE / f"store-{messages}-{datetime.now(ZONE):%Y%m%d}.db"


def build_store(path: Path, total: int, seed: int = 13) -> dict:
    """`total` messages over DAYS days up to now (TODAY_SHARE of them today, UTC+8), ids in
    creation order as the engine writes them; tasks, segments, replies, unsubscribes beside."""
    rnd = random.Random(seed)
    tmp = path.with_suffix(".partial")
    tmp.unlink(missing_ok=True)
    conn = sqlite3.connect(tmp)
    conn.executescript("PRAGMA journal_mode=OFF; PRAGMA synchronous=OFF; PRAGMA cache_size=-200000;")
    conn.executescript(SCHEMA + INDEXES_AFTER_COLUMNS)
    indexes = [name for (name,) in conn.execute(
        "SELECT name FROM sqlite_master WHERE type='index' AND tbl_name='messages' AND sql IS NOT NULL")]
    for name in indexes:  # built once after the rows are in: much faster than row by row
        conn.execute(f"DROP INDEX {name}")
    now = time.time()
    midnight = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    start = midnight - (DAYS - 1) * 86400
    today = int(total * TODAY_SHARE)
    # creation times, ascending: the older days evenly, today from midnight to a minute ago
    times = sorted([rnd.uniform(start, midnight) for _ in range(total - today)]) + \
        sorted([rnd.uniform(midnight, now - 60) for _ in range(today)])
    fate_weights = [f[4] for f in FATES]
    pools = {app: [f"+86{rnd.choice('358')}{rnd.randrange(10**9, 10**10)}" for _ in range(40_000)]
             for app, _, _ in ACCOUNTS}
    for app in pools:  # a few international numbers
        pools[app][:400] = [f"+44770{rnd.randrange(10**6, 10**7)}" for _ in range(400)]
    tasks: list[tuple] = []
    messages: list[tuple] = []
    segments: list[tuple] = []
    i = 0
    cursor = 0
    message_id = 0
    while i < total:
        app, _, task_share = rnd.choices(ACCOUNTS, weights=[a[1] for a in ACCOUNTS])[0]
        created = times[i]
        task_id = None
        if rnd.random() < task_share / 20:  # a task: one block of thousands of messages
            size = min(total - i, rnd.randrange(2_000, 20_000))
            task_id = len(tasks) + 1
            tasks.append((task_id, app, f"campaign {task_id}", "marketing", "smsengine", 3, TEXTS[1][0], created,
                          "completed", size, created, times[min(total - 1, i + size - 1)] + 30))
        else:
            size = min(total - i, rnd.choice((1, 1, 1, 2, 5, 20, 100)))  # one request
        for k in range(size):
            at = times[i + k] if task_id else created
            text, template, parts = TEXTS[1] if task_id else rnd.choice(TEXTS)
            content = text.format(rnd.randrange(100_000, 999_999))
            status, code, remark, taken, _ = rnd.choices(FATES, weights=fate_weights)[0]
            carrier = "instant" if rnd.random() < 0.7 else "backup"
            message_id += 1
            submitted = at + 0.02 if taken else None
            final = at + rnd.uniform(0.5, 30) if status != "expired" else at + 86_400
            cursor += 1
            messages.append((message_id, app, rnd.choice(pools[app]), content, "marketing" if task_id else "regular",
                             len(content), parts, 8 if parts == 2 or "尊" in content else 0, status, code, remark,
                             carrier if (taken or code == 60001) else "", "", template, at, submitted, final,
                             cursor, task_id))
            if taken:
                for seq in range(1, parts + 1):
                    segments.append((message_id, seq, carrier, f"{message_id:x}-{seq}", submitted,
                                     "DELIVRD" if status == "delivered" else "UNDELIV", "000", final))
        i += size
        if len(messages) >= 50_000 or i >= total:
            conn.executemany(
                "INSERT INTO messages (id, app_id, phone, content, type, chars, segments, data_coding, status, code,"
                " remark, carrier, context, template_id, created_at, submitted_at, final_at, cursor, task_id)"
                " VALUES (?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?,?)", messages)
            conn.executemany("INSERT INTO segments VALUES (?,?,?,?,?,?,?,?)", segments)
            messages.clear()
            segments.clear()
            progress(f"  {i:,} messages")
    conn.executemany(
        "INSERT INTO tasks (id, app_id, name, type, sign, template_id, template_text, created_at, state, recipients,"
        " started_at, completed_at) VALUES (?,?,?,?,?,?,?,?,?,?,?,?)", tasks)
    replies = sorted(rnd.uniform(start, now) for _ in range(30_000))
    conn.executemany("INSERT INTO replies (app_id, phone, text, carrier, received_at) VALUES (?,?,?,?,?)",
                     [(app, rnd.choice(pools[app]), rnd.choice(("TD", "thanks", "好的", "stop", "where is it?")),
                       "instant", at)
                      for at in replies for app in [rnd.choices(ACCOUNTS, weights=[a[1] for a in ACCOUNTS])[0][0]]])
    conn.executemany("INSERT OR IGNORE INTO unsubscribes VALUES (?,?,?)",
                     [(app, rnd.choice(pools[app]), rnd.uniform(start, now)) for app, _, _ in ACCOUNTS
                      for _ in range(300)])
    conn.commit()
    progress("  indexes")
    conn.executescript(SCHEMA + INDEXES_AFTER_COLUMNS)
    conn.execute("ANALYZE")
    conn.commit()
    conn.close()
    tmp.rename(path)
    return {"tasks": len(tasks), "replies": len(replies)}


def store_facts(path: Path) -> dict:
    """What the timed pages ask for: a busy number, a task, today's start."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True) as conn:
        phone = conn.execute("SELECT phone FROM messages WHERE app_id='bench' AND id > (SELECT MAX(id) - 100000"
                             " FROM messages) LIMIT 1").fetchone()[0]
        task = conn.execute("SELECT id, recipients FROM tasks WHERE app_id='bench' ORDER BY recipients DESC"
                            " LIMIT 1").fetchone()
        counts = dict(conn.execute("SELECT status, COUNT(*) FROM messages GROUP BY status").fetchall())
        total = conn.execute("SELECT COUNT(*) FROM messages").fetchone()[0]
        by_app = dict(conn.execute("SELECT app_id, COUNT(*) FROM messages GROUP BY app_id").fetchall())
        segments = conn.execute("SELECT COUNT(*) FROM segments").fetchone()[0]
        tasks = conn.execute("SELECT COUNT(*) FROM tasks").fetchone()[0]
        replies = conn.execute("SELECT COUNT(*) FROM replies").fetchone()[0]
    midnight = datetime.now(ZONE).replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
    return {"phone": phone, "task_id": task[0], "task_recipients": task[1], "messages": total,
            "by_status": counts, "by_account": by_app, "segments": segments, "tasks": tasks, "replies": replies,
            "today_start": midnight}


def write_configs(tmp: Path, db: Path, smpp_port: int, http_port: int) -> tuple[Path, Path]:
    """e2e_bench's instant carrier and bench account on the generated store, with the marketing
    template the generated tasks used and the other generated accounts."""
    carriers, engine = e2e_configs(tmp, smpp_port, http_port, binds=2, window=64, receipt_url="", db=db)
    others = "".join(f"""
[[accounts]]
app_id = "{app}"
key = "{app}-secret"
balance = 100000000
signatures = [{{ name = "smsengine" }}]
[accounts.limits]
daily_max = 100000000
""" for app, _, _ in ACCOUNTS if app != "bench")
    with engine.open("a") as f:
        f.write("""[[accounts.templates]]
id = 3
text = "Your order {1} has shipped. Reply TD to unsubscribe."
type = "marketing"
""" + others)
    return carriers, engine


# -- the pages ----------------------------------------------------------------------------------------
CSRF = re.compile(r'name="csrf-token" content="([^"]+)"')
BEFORE = re.compile(r'href="/console/records\?[^"]*before=(\d+)')


async def sign_in(url: str, **form: str) -> aiohttp.ClientSession:
    http = aiohttp.ClientSession(url, cookie_jar=aiohttp.CookieJar(unsafe=True),
                                 timeout=aiohttp.ClientTimeout(total=60))
    async with http.post("/console/login", data=form, allow_redirects=False) as resp:
        await resp.read()
        if resp.status != 302:
            raise RuntimeError(f"sign-in refused: {resp.status}")
    return http


async def time_page(http: aiohttp.ClientSession, path: str, repeat: int) -> dict:
    timings = []
    status = 0
    size = 0
    for n in range(repeat + 2):
        t0 = time.perf_counter()
        async with http.get(path, allow_redirects=False) as resp:
            body = await resp.read()
        elapsed = (time.perf_counter() - t0) * 1000
        status, size = resp.status, len(body)
        if status == 404:
            return {"path": path, "status": 404, "built": False}
        if n >= 2:  # two warm-up requests
            timings.append(elapsed)
    timings.sort()
    p95 = timings[min(len(timings) - 1, round(0.95 * (len(timings) - 1)))]
    return {"path": path, "status": status, "bytes": size, "requests": len(timings),
            "median_ms": round(statistics.median(timings), 1), "p95_ms": round(p95, 1),
            "max_ms": round(timings[-1], 1), "under_target": p95 < TARGET_MS}


async def next_records_page(http: aiohttp.ClientSession, path: str) -> str | None:
    async with http.get(path) as resp:
        found = BEFORE.search(await resp.text())
    if not found:
        return None
    return f"/console/records?before={found.group(1)}"


def day_stats_queries(db: Path, app_id: str, first_id: int, last_id: int) -> list[dict]:
    """The statements of a scan of one account's day (the day's statistics before the store kept
    counts, schema.COUNTS), each timed alone with its plan: what the counts saved."""
    where = "app_id=? AND id BETWEEN ? AND ?"
    statements = {
        "requests": f"SELECT COUNT(DISTINCT created_at) FROM messages WHERE {where}",
        "by_status_code_carrier": f"SELECT status, code, carrier, MIN(remark), COUNT(*), SUM(segments) FROM messages"
                                  f" WHERE {where} GROUP BY status, code, carrier",
        "segments_charged": "SELECT COUNT(*) FROM segments s JOIN messages m ON m.id = s.message_id"
                            " WHERE m.app_id=? AND m.id BETWEEN ? AND ?",
        "prefixes": f"SELECT substr(phone, 1, 5), COUNT(*) FROM messages WHERE {where} GROUP BY 1",
    }
    out = []
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        for name, sql in statements.items():
            params = (app_id, first_id, last_id)
            plan = [row[3] for row in conn.execute("EXPLAIN QUERY PLAN " + sql, params)]
            runs = []
            for _ in range(5):
                t0 = time.perf_counter()
                conn.execute(sql, params).fetchall()
                runs.append((time.perf_counter() - t0) * 1000)
            out.append({"query": name, "median_ms": round(statistics.median(runs), 1), "plan": plan})
    return out


def day_span(db: Path, since: float) -> tuple[int, int, int]:
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as conn:
        first = conn.execute("SELECT MIN(id) FROM messages WHERE created_at >= ?", (since,)).fetchone()[0]
        last = conn.execute("SELECT MAX(id) FROM messages").fetchone()[0]
        bench = conn.execute("SELECT COUNT(*) FROM messages WHERE app_id='bench' AND id >= ?", (first,)).fetchone()[0]
    return first, last, bench


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=1_000_000)
    parser.add_argument("--repeat", type=int, default=20)
    parser.add_argument("--rebuild", action="store_true", help="generate the store again even if today's exists")
    args = parser.parse_args()
    CACHE.mkdir(parents=True, exist_ok=True)
    db = store_path(args.messages)
    if args.rebuild or not db.exists():
        for old in CACHE.glob(f"store-{args.messages}-*.db*"):
            old.unlink()
        progress(f"generating {db} ({args.messages:,} messages) ...")
        t0 = time.monotonic()
        build_store(db, args.messages)
        progress(f"generated in {time.monotonic() - t0:.1f} s, {db.stat().st_size / 2**20:,.0f} MiB")
    else:
        progress(f"reusing {db}")
    facts = store_facts(db)
    progress(f"store: {facts['messages']:,} messages, {facts['segments']:,} segments, {facts['tasks']} tasks,"
             f" {facts['replies']:,} replies; {facts['by_status']}")
    tmp = Path(tempfile.mkdtemp(prefix="smsengine-console-"))
    smpp_port, http_port = free_port(), free_port()
    carriers_cfg, engine_cfg = write_configs(tmp, db, smpp_port, http_port)
    t0 = time.monotonic()
    sims, engine = start_gateway(carriers_cfg, engine_cfg, {**os.environ, "PYTHONPATH": str(ROOT)})
    url = f"http://127.0.0.1:{http_port}"
    results: list[dict] = []
    try:
        await wait_up(url, timeout=120)
        started = time.monotonic() - t0
        progress(f"engine up in {started:.1f} s (RSS {rss_mb(engine.pid):,.0f} MiB)")
        cpu0 = cpu_seconds(engine.pid)
        account = await sign_in(url, app_id="bench", key="bench-secret")
        operator = await sign_in(url, operator_token="bench")
        today = facts["today_start"]
        now = time.time()
        pages: list[tuple[str, aiohttp.ClientSession, str]] = [
            ("dashboard (account, today)", account, "/console/"),
            ("records", account, "/console/records"),
            ("records by phone", account, f"/console/records?phone={facts['phone'].replace('+', '%2B')}"),
            ("records status=failed", account, "/console/records?status=failed"),
            ("records status=cancelled", account, "/console/records?status=cancelled"),
            ("records time range (today's first hours)", account,
             f"/console/records?since={today:.0f}&until={min(now - 600, today + 3 * 3600):.0f}"),
            ("records time range 8 days ago + status=expired", account,
             f"/console/records?since={today - 8 * 86400:.0f}&until={today - 7 * 86400:.0f}&status=expired"),
            ("records by task", account, f"/console/records?task_id={facts['task_id']}"),
            ("records by task + status=failed", account, f"/console/records?task_id={facts['task_id']}&status=failed"),
        ]
        second = await next_records_page(account, "/console/records")
        if second:
            pages.append(("records page 2 (before cursor)", account, second))
        deep = await next_records_page(account, "/console/records?status=cancelled")
        if deep:
            pages.append(("records status=cancelled page 2", account, deep.replace("?", "?status=cancelled&")))
        pages += [
            ("tasks", account, "/console/tasks"),
            (f"task detail ({facts['task_recipients']:,} messages)", account, f"/console/tasks/{facts['task_id']}"),
            ("replies", account, "/console/replies"),
            ("catalogue", account, "/console/catalogue"),
            ("send", account, "/console/send"),
            ("experiments", account, "/console/experiments"),
            ("experiment report page", account, "/console/experiments/baseline"),
            ("dashboard (operator, all accounts)", operator, "/console/"),
            ("records (operator, all accounts)", operator, "/console/records"),
            ("records status=expired (operator, all accounts)", operator, "/console/records?status=expired"),
            ("tasks (operator, all accounts)", operator, "/console/tasks"),
            ("carriers (operator)", operator, "/console/carriers"),
        ]
        for name, http, path in pages:
            result = {"page": name, **await time_page(http, path, args.repeat)}
            results.append(result)
            if result.get("built", True):
                mark = "" if result["under_target"] else f"  ** over {TARGET_MS:.0f} ms **"
                progress(f"  {name:<50} {result['status']}  median {result['median_ms']:7.1f} ms"
                         f"  p95 {result['p95_ms']:7.1f} ms{mark}")
            else:
                progress(f"  {name:<50} not built (404)")
        engine_cpu = cpu_seconds(engine.pid) - cpu0
        rss = rss_mb(engine.pid)
        await account.close()
        await operator.close()
    finally:
        stop(engine, sims)
    first, last, bench_today = day_span(db, facts["today_start"])
    progress(f"a scan of 'bench' today, as before the counts ({bench_today:,} of its messages, ids {first:,}..{last:,}):")
    breakdown = day_stats_queries(db, "bench", first, last)
    for q in breakdown:
        progress(f"  {q['query']:<24} {q['median_ms']:7.1f} ms  {' / '.join(q['plan'])}")
    built = [r for r in results if r.get("built", True)]
    write("console", {
        "command": "python " + " ".join(sys.argv),
        "processes": "client, engine and simulator as separate processes (2 cores shared)",
        "setup": {"store": {k: v for k, v in facts.items() if k not in ("phone", "today_start")},
                  "store_file_mib": round(db.stat().st_size / 2**20), "repeat": args.repeat,
                  "engine_start_s": round(started, 1), "engine_rss_mb_after": round(rss, 1),
                  "engine_cpu_s_while_timed": round(engine_cpu, 1)},
        "target_ms": TARGET_MS,
        "all_under_target": all(r["under_target"] for r in built),
        "pages": results,
        "day_stats_today": {"app_id": "bench", "messages": bench_today, "queries": breakdown,
                            "total_ms": round(sum(q["median_ms"] for q in breakdown), 1)},
    })


if __name__ == "__main__":
    asyncio.run(main())

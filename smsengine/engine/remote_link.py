"""The engine's side of the carrier process (engine/carrier_process.py): one `RemoteLink` per
carrier for the dispatcher, and `ProcessLinks`, which starts the process, sends it `Orders` once
per loop turn, hands its `Outcomes` to the dispatcher, and starts it again if it dies.

Why a process: with the binds on the engine's loop, that one loop carried HTTP intake, dispatch
and every PDU, and it was the bound (0.81 core running + 0.13 waiting at saturation while ~0.35
core of the machine stood idle, benchmarks/results/e2e.json of session 7); the binds' share of it
was about 36% (py-spy). Across the socket a message costs a tuple each way in a msgpack frame.

Deliver_sm answers keep the engine's guarantee: the carrier process holds each until the engine
says the Outcomes frame that carried it is durable (`Orders.durable`, sent from the store's
`when_durable`); an answer to a receipt the dispatcher parked waits for its submit_sm_resp there.
If the process dies, every job it held goes back to the dispatcher (as when a bind drops: sent
again) and unanswered deliver_sm are delivered again by the SMSC."""

from __future__ import annotations

import asyncio
import contextlib
import socket
import sys
import time
from collections import deque
from collections.abc import Callable, Iterable
from functools import partial

import msgspec
import structlog

from smsengine.config import CarrierConfig
from smsengine.engine.carrier_link import CarrierLink
from smsengine.engine.jobs import Job
from smsengine.engine.lifecycle import cancel_tasks
from smsengine.engine.link_frames import FrameReader, Orders, Outcomes, Start, frame
from smsengine.engine.links import LinkEvents
from smsengine.engine.stats import CarrierState, LinkStats
from smsengine.smpp.concatenation import ReferenceRotor

log = structlog.get_logger("smsengine.carrier_process")

RESTART_MIN_S = 0.5
RESTART_MAX_S = 10.0
SILENT_S = 5.0  # a process that reports nothing this long (it reports every 0.5 s) is killed
# submits per Orders frame at most: a submit_sm body is at most ~400 bytes, so a frame stays far
# below link_frames.MAX_FRAME however large a backlog is routed in one turn
FRAME_ITEMS = 10_000


class RemoteLink(CarrierLink):
    """A carrier whose binds run in the carrier process: the dispatcher's `Link`, with gauges as
    the process last reported them (every 0.5 s, at once when the carrier goes up or down)."""

    def __init__(self, config: CarrierConfig, rotor: ReferenceRotor, index: int, process: ProcessLinks) -> None:
        super().__init__(config, rotor)
        self.index = index
        self.process = process
        self.stats = LinkStats()
        self.last_state = CarrierState(index, False, 0, 0, 0)
        # counters of the processes before the running one (each starts its own from zero), and
        # handler errors on the engine's side of the socket: added to what the process reports
        self.counted_before = (0, 0, 0, 0, 0, 0)
        self.engine_errors = 0

    def submit_many(self, jobs: Iterable[Job], front: bool = False) -> None:
        self.process.submit(self.index, jobs, front)

    def discard_final(self) -> None:
        """Nothing to scan for: the Engine names every message that ends other than delivered
        (expired included) to the process as it ends (`ProcessLinks.ended`)."""

    async def query_state(self, message_id: str) -> tuple[str, str] | None:
        return await self.process.query(self.index, message_id, self.config.response_timeout_s + 1.0)

    def observe(self, state: CarrierState) -> None:
        was_up = self.up
        self.last_state = state
        self.up = state.up
        before = self.counted_before
        counters = [a + b for a, b in zip(before, state.counters)]
        counters[1] += self.engine_errors  # handler_errors
        self.stats.load(tuple(counters))  # type: ignore[arg-type]
        if was_up and not state.up:
            # jobs routed here while the news was on its way: back to the dispatcher, which now
            # knows this carrier is down and can fail them over (the loop's pool strands its
            # queue the moment its last bind drops)
            self.process.return_queue(self.index)

    def restarted(self) -> None:
        """The process ended: keep its counters as the base of the next one's."""
        self.counted_before = tuple(a + b for a, b in zip(self.counted_before, self.last_state.counters))  # type: ignore[assignment]
        self.observe(CarrierState(self.index, False, 0, 0, 0, [], (0, 0, 0, 0, 0, 0)))

    # -- gauges ----------------------------------------------------------------------------------
    def window_used(self) -> int:
        return self.last_state.window_used

    def binds_up(self) -> int:
        return self.last_state.binds_up

    def queued(self) -> int:
        return self.last_state.queued

    def state(self, now: float, index: int = 0) -> CarrierState:
        return self.last_state


class _Connection(asyncio.Protocol):
    """One start of the carrier process: its socket, and when it last said anything (it reports
    its gauges every 0.5 s, so silence means it hangs)."""

    def __init__(self, owner: ProcessLinks) -> None:
        self.owner = owner
        self.reader = FrameReader(self._frame)
        self.transport: asyncio.Transport | None = None
        self.lost: asyncio.Future = asyncio.get_running_loop().create_future()
        self.last_rx = time.monotonic()

    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def data_received(self, data: bytes) -> None:
        self.last_rx = time.monotonic()
        try:
            self.reader.feed(data)
        except (ValueError, msgspec.DecodeError) as exc:  # a broken stream: start the process again
            log.error("carrier_process.bad_frame", error=str(exc))
            if self.transport is not None:
                self.transport.abort()

    def _frame(self, payload: bytes) -> None:
        self.owner._outcomes(self, payload)

    def connection_lost(self, exc: Exception | None) -> None:
        if not self.lost.done():
            self.lost.set_result(exc)


class ProcessLinks:
    """Every carrier's binds in one child process, driven over a socketpair."""

    def __init__(self, carriers: list[CarrierConfig], events: LinkEvents, rotor: ReferenceRotor,
                 when_durable: Callable[[Callable[[], None]], None], log_level: str = "info") -> None:
        self.carriers = carriers
        self.links = [RemoteLink(c, rotor, i, self) for i, c in enumerate(carriers)]
        self.events = events
        self.when_durable = when_durable
        self.log_level = log_level
        # jobs the process holds (queued, or in a window), by job id: (carrier index, job)
        self.jobs: dict[int, tuple[int, Job]] = {}
        self._next_id = 0
        self.orders = Orders()
        self._flush_pending = False
        # Outcomes frames acted on and waiting for their commit, oldest first: [frame, receipts
        # parked in it, committed]. The process is told "durable up to N" only over a prefix that
        # is all committed, with that prefix's parked receipts: commit callbacks can run out of
        # order (one queued behind a failed commit, a later one run at once)
        self._awaiting: deque[list] = deque()
        self._queries: dict[int, asyncio.Future] = {}
        self._encode = msgspec.msgpack.Encoder().encode
        self._decode = msgspec.msgpack.Decoder(Outcomes).decode
        self._connection: _Connection | None = None
        self._process: asyncio.subprocess.Process | None = None
        self._drained = asyncio.Event()
        self._runner: asyncio.Task | None = None
        self._stopping = False
        self.restarts = 0

    # -- what the links forward --------------------------------------------------------------------
    def _next(self) -> Orders:
        if not self._flush_pending and self._connection is not None:
            self._flush_pending = True
            asyncio.get_running_loop().call_soon(self._flush)
        return self.orders

    def _flush(self) -> None:
        self._flush_pending = False
        connection = self._connection
        if connection is None or connection.transport is None or connection.transport.is_closing():
            return  # kept for the next start of the process
        orders, self.orders = self.orders, Orders()
        encode = self._encode
        connection.transport.writelines([frame(encode(part)) for part in _bounded(orders)])

    def submit(self, index: int, jobs: Iterable[Job], front: bool) -> None:
        orders = self._next()
        items = orders.retries if front else orders.submits
        held = self.jobs
        job_id = self._next_id
        for job in jobs:
            job_id += 1
            held[job_id] = (index, job)
            flight = job.inflight
            record = flight.record
            items.append((index, job_id, record.id, record.phone, flight.wire[job.seq - 1],  # type: ignore[index]
                          record.type == "marketing"))
        self._next_id = job_id

    def ended(self, message_id: int) -> None:
        """A message ended other than delivered: parts of it still queued in the process stay unsent."""
        if self._connection is not None:  # down: every job it held came back, none is queued there
            self._next().ended.append(message_id)

    def return_queue(self, index: int) -> None:
        """Ask for the jobs queued for a carrier that went down (they come back stranded)."""
        if self._connection is not None:
            self._next().returns.append(index)

    async def query(self, index: int, message_id: str, timeout: float) -> tuple[str, str] | None:
        self._next_id += 1
        request = self._next_id
        future = self._queries[request] = asyncio.get_running_loop().create_future()
        self._next().queries.append((request, index, message_id))
        try:
            async with asyncio.timeout(timeout):
                stat, err = await future
        except (TimeoutError, ConnectionError):
            return None
        finally:
            self._queries.pop(request, None)
        return (stat, err) if stat else None

    # -- what the process reports --------------------------------------------------------------------
    def _outcomes(self, connection: _Connection, payload: bytes) -> None:
        """Act on one Outcomes frame. Each event is handled on its own: a bug of ours in one (a
        LinkEvents handler raising) is logged and counted, as on the loop's binds, and never
        costs the rest of the frame or the connection."""
        if connection is not self._connection:
            return  # read after that process was given up (killed as hung): it is gone
        o = self._decode(payload)
        events = self.events
        links = self.links
        pop = self.jobs.pop
        for state in o.states:
            links[state.carrier].observe(state)
        parked: list[tuple[int, str]] = []
        for job_id, message_id, key in o.submitted:
            entry = pop(job_id, None)
            if entry is not None:
                try:
                    events.submitted(links[entry[0]].name, entry[1], message_id, key)
                except Exception:
                    self._handler_error(entry[0], "submitted")
        # the rarer outcomes of a job: (job id, *what the handler takes after carrier and job)
        for items, handle in ((o.refused, events.refused), (o.unanswered, events.unanswered),
                              (o.throttled, events.throttled_too_long)):
            for item in items:
                entry = pop(item[0], None)
                if entry is not None:
                    try:
                        handle(links[entry[0]].name, entry[1], *item[1:])  # type: ignore[operator]
                    except Exception:
                        self._handler_error(entry[0], handle.__name__)
        if o.stranded:
            self._strand([pop(job_id, None) for job_id in o.stranded])
        for job_id in o.dropped:
            pop(job_id, None)
        receipt = events.receipt
        for index, key, tail, stat, err in o.receipts:
            try:
                if not receipt(links[index].name, key, tail, stat, err):
                    parked.append((index, key))
            except Exception:
                self._handler_error(index, "receipt")
        recording: list[asyncio.Future] = []  # replies whose sender is being looked up
        for index, phone, text, complete in o.replies:
            try:
                pending = events.reply(links[index].name, phone, text, complete)
                if pending is not None:
                    recording.append(pending)
            except Exception:
                self._handler_error(index, "reply")
        for request, stat, err in o.answers:
            future = self._queries.get(request)
            if future is not None and not future.done():
                future.set_result((stat, err))
        if o.drained:
            self._drained.set()
        entry = [o.frame, parked, False]
        self._awaiting.append(entry)
        wait = partial(self.when_durable, partial(self._durable, connection, entry))
        if recording:  # the frame is durable once its replies are recorded, then committed
            asyncio.gather(*recording).add_done_callback(lambda _: wait())
        else:
            wait()

    def _handler_error(self, index: int, event: str) -> None:
        link = self.links[index]
        link.engine_errors += 1
        link.stats.handler_errors += 1
        log.exception("carrier.handler_error", carrier=link.name, kind=event)

    def _durable(self, connection: _Connection, entry: list) -> None:
        if connection is not self._connection:
            return  # that process is gone, and its held answers with it
        entry[2] = True
        awaiting = self._awaiting
        if not awaiting[0][2]:
            return  # an older frame is not committed yet
        orders = self._next()
        while awaiting and awaiting[0][2]:
            upto, parked, _ = awaiting.popleft()
            orders.durable = upto
            orders.parked.extend(parked)

    def _strand(self, entries: Iterable[tuple[int, Job] | None]) -> None:
        by_link: dict[int, list[Job]] = {}
        for entry in entries:
            if entry is not None:
                by_link.setdefault(entry[0], []).append(entry[1])
        for index, jobs in by_link.items():
            try:
                self.events.stranded(self.links[index].name, jobs)
            except Exception:
                self._handler_error(index, "stranded")

    # -- the process -----------------------------------------------------------------------------------
    def start(self) -> None:
        self._runner = asyncio.get_running_loop().create_task(self._run(), name="carrier-process")

    async def wait_up(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not all(link.up for link in self.links) and time.monotonic() < deadline:
            await asyncio.sleep(0.02)
        return all(link.up for link in self.links)

    async def _run(self) -> None:
        backoff = RESTART_MIN_S
        while not self._stopping:
            began = time.monotonic()
            try:
                await self._serve_once()
            except OSError as exc:
                log.error("carrier_process.start_failed", error=repr(exc))
            if self._stopping:
                break
            self.restarts += 1
            log.error("carrier_process.died", restarts=self.restarts)
            if time.monotonic() - began > 60.0:
                backoff = RESTART_MIN_S
            await asyncio.sleep(backoff)
            backoff = min(RESTART_MAX_S, backoff * 2)

    async def _serve_once(self) -> None:
        loop = asyncio.get_running_loop()
        parent, child = socket.socketpair()
        try:
            self._process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "smsengine.engine.carrier_process", str(child.fileno()),
                pass_fds=(child.fileno(),))
        finally:
            child.close()
        connection = _Connection(self)
        await loop.connect_accepted_socket(lambda: connection, parent)
        assert connection.transport is not None
        connection.transport.write(frame(self._encode(Start(self.carriers, self.log_level))))
        self._connection = connection
        if self.orders.submits or self.orders.retries or self.orders.queries:
            self._next()  # what waited for this start goes now
        try:
            while not connection.lost.done():
                await asyncio.wait([connection.lost], timeout=1.0)
                if time.monotonic() - connection.last_rx > SILENT_S and not connection.lost.done():
                    # it reports every 0.5 s: one that says nothing for this long hangs (stopped,
                    # deadlocked, spinning); a new one takes over
                    log.error("carrier_process.silent", seconds=SILENT_S)
                    self._kill()
                    break
        finally:
            self._connection = None
            if connection.transport is not None:
                connection.transport.abort()  # nothing more is read from it
            self._lost()
            self._kill()
            await self._process.wait()

    def _kill(self) -> None:
        process = self._process
        if process is not None and process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                process.kill()

    def _lost(self) -> None:
        """The process ended: nothing it held will be answered. Jobs go back to the dispatcher
        (sent again, as after a bind drop); queries answer None; the carriers are down."""
        self._awaiting.clear()
        for link in self.links:
            link.restarted()
        jobs, self.jobs = self.jobs, {}
        self.orders = Orders()  # what it was not sent yet is among `jobs`, and comes back the same way
        for future in self._queries.values():
            if not future.done():
                future.set_exception(ConnectionError("carrier process ended"))
        if jobs and not self._stopping:
            self._strand(jobs.values())

    # -- stopping ----------------------------------------------------------------------------------------
    async def drain(self, timeout: float) -> None:
        """Wait for the carrier queues to empty and every window to be answered (at most `timeout`)."""
        if self._connection is None:
            return
        self._drained.clear()
        self._next().command = "drain"
        try:
            async with asyncio.timeout(timeout):
                await self._drained.wait()
        except TimeoutError:
            pass

    async def stop(self) -> None:
        """Unbind every carrier (answers to the last deliver_sm included), then end the process.
        The process unbinds its carriers side by side, each bind within a second."""
        binds = max((c.binds * (2 if c.bind_mode == "transmitter_receiver" else 1) for c in self.carriers), default=0)
        await self._end("stop", 2.0 + binds)

    async def abort(self) -> None:
        """Drop every bind at once, as a crash would: the process is killed."""
        self._stopping = True
        self._kill()
        await cancel_tasks(self._runner)

    async def _end(self, command: str, timeout: float) -> None:
        self._stopping = True
        connection = self._connection
        if connection is not None:
            self._next().command = command
            self._flush()
            try:
                async with asyncio.timeout(timeout):
                    await asyncio.shield(connection.lost)
            except TimeoutError:
                log.warning("carrier_process.stop_timeout")
        self._kill()
        runner = self._runner
        if runner is not None and not runner.done():
            # it reaps the process, so nothing is left for the loop's child watcher after close
            await asyncio.wait([runner], timeout=2.0)
        await cancel_tasks(runner)


def _bounded(orders: Orders) -> list[Orders]:
    """`orders` as frames of at most FRAME_ITEMS submits each (a restart with a large backlog
    routes it all in one loop turn). The process puts each frame's retries at the front of its
    queue, so their chunks go last first and end up in order; then the submits in order. What
    must come before them (ended messages, durability, queries) rides the first frame; carriers
    to hand back and a command, which must come after them, the last."""
    if len(orders.retries) + len(orders.submits) <= FRAME_ITEMS:
        return [orders]
    retries, submits = orders.retries, orders.submits
    chunks = [Orders(retries=retries[i:i + FRAME_ITEMS]) for i in range(0, len(retries), FRAME_ITEMS)][::-1]
    chunks += [Orders(submits=submits[i:i + FRAME_ITEMS]) for i in range(0, len(submits), FRAME_ITEMS)]
    first, last = chunks[0], chunks[-1]
    first.ended, first.durable, first.parked, first.queries = orders.ended, orders.durable, orders.parked, orders.queries
    last.returns, last.command = orders.returns, orders.command
    return chunks

"""The carrier process: the engine's SMPP binds in a process of their own, so the protocol work
(PDU codec, send windows, keepalive, receipt texts) runs beside the engine's loop on another core.

It runs the same `CarrierPool` the engine's loop runs in `dispatch.carrier_process = false`, with
the pools' `LinkEvents` gathered into one `Outcomes` frame per loop turn and the engine's `Orders`
acted on as they come (engine/link_frames.py). Started by the engine (engine/remote_link.py) as
`python -m smsengine.engine.carrier_process FD`, FD being its end of a socketpair; it ends when
the engine says stop or its end of the socket closes."""

from __future__ import annotations

import asyncio
import signal
import socket
import sys
import time
from collections import deque
from collections.abc import Callable

import msgspec
import structlog

from smsengine.config import CarrierConfig
from smsengine.engine.bind import EsmeBind
from smsengine.engine.link_frames import FrameReader, Orders, Outcomes, Start, frame
from smsengine.engine.pool import CarrierPool
from smsengine.smpp.concatenation import ReferenceRotor
from smsengine.logs import configure as configure_logs
from smsengine.runtime import tune as tune_runtime
from smsengine.smpp.pdu import DeliverSm

log = structlog.get_logger("smsengine.carrier_process")

STATE_EVERY_S = 0.5  # gauges go to the engine this often (and at once when a carrier goes up or down)
PRUNE_EVERY_S = 5.0  # ended messages are forgotten this often once none of their jobs is queued


class Ended:
    """Messages the engine said ended (failed, expired): their queued parts are skipped when a
    window slot would take them. An id is kept while any job of its message is still queued
    (`prune`, every PRUNE_EVERY_S, keeps only those), so however long a queue grows behind a slow
    or down carrier, no part of an ended message goes out from it."""

    def __init__(self) -> None:
        self.ids: set[int] = set()

    def add(self, message_ids: list[int]) -> None:
        self.ids.update(message_ids)

    def prune(self, queued: set[int]) -> None:
        self.ids &= queued


class RemoteJob:
    """A segment job as the carrier process knows it: the engine's job id, its message's id, the
    destination and the encoded submit_sm body. One object stands in for the Job, its InFlight
    and its MessageRecord where `CarrierPool` reads them (`job.inflight.final`, `.submitted`,
    `.record.type`, `.record.phone`, `.wire[job.seq - 1]`, `job.throttled_at`)."""

    __slots__ = ("id", "message", "phone", "wire", "type", "throttled_at")
    seq = 1
    submitted = ()
    ended = Ended()  # one for the process: message ids are the engine's, unique across carriers

    def __init__(self, job_id: int, message: int, phone: str, body: bytes, marketing: bool) -> None:
        self.id = job_id
        self.message = message
        self.phone = phone
        self.wire = (body,)
        self.type = "marketing" if marketing else "regular"
        self.throttled_at = 0.0

    @property
    def inflight(self) -> RemoteJob:
        return self

    @property
    def record(self) -> RemoteJob:
        return self

    @property
    def final(self) -> bool:
        return self.message in self.ended.ids


class Forwarder:
    """The pools' `LinkEvents` in the carrier process: each event goes into the next Outcomes
    frame, which leaves once per loop turn. `receipt` always says "recorded": whether the engine
    parked it comes back with the frame's durability (`ForwardingPool.durable`)."""

    def __init__(self, send: Callable[[Outcomes], None], index: dict[str, int]) -> None:
        self.send = send
        self.index = index  # carrier name → its index in the engine's list
        self.out = Outcomes(frame=1)
        self.receipt_key: str | None = None  # key of the receipt the deliver_sm being handled carried
        self.pending = False
        # submit_sm_resps reported in frames the engine has not confirmed durable yet, by frame:
        # looked through only for a receipt the engine parked (rare), so nothing is indexed here
        self.unconfirmed: deque[tuple[int, list[tuple[int, str, str]]]] = deque()

    def current(self) -> Outcomes:
        """The frame being gathered; it leaves at the end of this loop turn."""
        if not self.pending:
            self.pending = True
            asyncio.get_running_loop().call_soon(self.flush)
        return self.out

    def flush(self) -> None:
        self.pending = False
        out = self.out
        self.out = Outcomes(frame=out.frame + 1)
        if out.submitted:
            self.unconfirmed.append((out.frame, out.submitted))
        self.send(out)

    def resp_frame(self, key: str) -> int | None:
        """The frame a submit_sm_resp of this key was reported in, if not yet confirmed durable."""
        for number, submitted in reversed(self.unconfirmed):
            for _, _, reported in submitted:
                if reported == key:
                    return number
        for _, _, reported in self.out.submitted:
            if reported == key:
                return self.out.frame
        return None

    def confirmed(self, upto: int) -> None:
        unconfirmed = self.unconfirmed
        while unconfirmed and unconfirmed[0][0] <= upto:
            unconfirmed.popleft()

    def awaiting(self) -> int:
        """The frame number acks held now wait for (the frame being gathered)."""
        return self.current().frame

    # -- LinkEvents ------------------------------------------------------------------------------
    def submitted(self, carrier: str, job: RemoteJob, message_id: str, key: str) -> None:  # type: ignore[override]
        self.current().submitted.append((job.id, message_id, key))

    def refused(self, carrier: str, job: RemoteJob, status: int, transient: bool) -> None:
        self.current().refused.append((job.id, status, transient))

    def unanswered(self, carrier: str, job: RemoteJob, reason: str) -> None:
        self.current().unanswered.append((job.id, reason))

    def stranded(self, carrier: str, jobs: list[RemoteJob]) -> None:
        self.current().stranded.extend(job.id for job in jobs)

    def throttled_too_long(self, carrier: str, job: RemoteJob, waited: float) -> None:
        self.current().throttled.append((job.id, waited))

    def receipt(self, carrier: str, key: str, destination: str, stat: str, err: str) -> bool:
        self.current().receipts.append((self.index[carrier], key, destination, stat, err))
        self.receipt_key = key
        return True

    def reply(self, carrier: str, phone: str, text: str, complete: bool) -> None:  # type: ignore[override]
        # recorded by the engine, which confirms this frame durable only once it is
        self.current().replies.append((self.index[carrier], phone, text, complete))

    def dropped(self, job: RemoteJob) -> None:
        self.current().dropped.append(job.id)

    def state(self, pool: ForwardingPool) -> None:
        self.current().states.append(pool.state(time.monotonic(), pool.index))


class ForwardingPool(CarrierPool):
    """A carrier pool whose deliver_sm answers wait for the engine: each is held with the number of
    the Outcomes frame that reported what it carried, and sent once the engine says that frame is
    durable; an answer to a receipt the engine parked moves to the pool's parked answers (sent once
    its submit_sm_resp is reported and durable, or after PARKED_ACK_S)."""

    def __init__(self, config: CarrierConfig, index: int, forwarder: Forwarder, rotor: ReferenceRotor) -> None:
        super().__init__(config, forwarder, rotor, when_durable=self._never_called)  # type: ignore[arg-type]
        self.index = index
        self.forwarder = forwarder
        self.held: deque[tuple[int, EsmeBind, bytes, str | None]] = deque()  # (frame, bind, answer, receipt key)

    @staticmethod
    def _never_called(callback: Callable[[], None]) -> None:
        raise AssertionError("answers wait for the engine's Orders.durable, not a local store")

    def skipped(self, job: RemoteJob) -> None:  # type: ignore[override]
        self.forwarder.dropped(job)

    def on_deliver(self, pdu: DeliverSm) -> str | None:
        self.forwarder.receipt_key = None
        return super().on_deliver(pdu)

    def _ack_when_durable(self, bind: EsmeBind, ack: bytes) -> None:
        # the answer to a receipt carries its key (the engine may park it), taken once: an answer
        # released later from the parked ones, in the same read, carries none
        key, self.forwarder.receipt_key = self.forwarder.receipt_key, None
        self.held.append((self.forwarder.awaiting(), bind, ack, key))

    def durable(self, upto: int, parked: set[str]) -> None:
        """Frames up to `upto` are committed: send their answers, except to receipts in `parked`.
        A parked receipt's answer waits for its submit_sm_resp: for the frame that reported it, if
        one did meanwhile (the engine unparked the receipt when it acted on that frame), else in
        the pool's parked answers until that resp comes (or PARKED_ACK_S)."""
        held = self.held
        acks = self._acks
        later: list[tuple[int, EsmeBind, bytes, None]] = []
        while held and held[0][0] <= upto:
            _, bind, ack, key = held.popleft()
            if key is not None and key in parked:
                reported = self.forwarder.resp_frame(key)
                if reported is None:
                    CarrierPool.acknowledge(self, bind, ack, acks, key)  # into the parked answers
                elif reported <= upto:
                    acks.append((bind, ack))
                else:
                    later.append((reported, bind, ack, None))
            else:
                acks.append((bind, ack))
        if later:  # rare: kept in frame order with what is held (a sort of at most a deliver window)
            self.held = deque(sorted([*held, *later], key=lambda h: h[0]))
        if acks:
            self._send_acks()

    def _binds_changed(self) -> None:
        was_up = self.up
        super()._binds_changed()
        if self.up != was_up:
            self.forwarder.state(self)  # at once: the engine routes by it

    def return_queue(self) -> None:
        """The engine saw this carrier go down: what is queued goes back to be routed again."""
        if not self.up and self.queue:
            jobs = list(self.queue)
            self.queue.clear()
            self.events.stranded(self.name, jobs)


class CarrierProcess(asyncio.Protocol):
    """The carrier process's end of the socket: Start, then Orders in; Outcomes out."""

    def __init__(self) -> None:
        self.reader = FrameReader(self._frame)
        self.transport: asyncio.Transport | None = None
        self.pools: list[ForwardingPool] = []
        self.forwarder: Forwarder | None = None
        self.done: asyncio.Future = asyncio.get_running_loop().create_future()
        self._encode = msgspec.msgpack.Encoder().encode
        self._start = msgspec.msgpack.Decoder(Start).decode
        self._orders = msgspec.msgpack.Decoder(Orders).decode
        self._tasks: set[asyncio.Task] = set()

    # -- the socket ------------------------------------------------------------------------------
    def connection_made(self, transport: asyncio.BaseTransport) -> None:
        self.transport = transport  # type: ignore[assignment]

    def connection_lost(self, exc: Exception | None) -> None:
        # the engine is gone (or stopped us): drop the binds, as its crash would have
        if not self.done.done():
            self._spawn(self._finish(abort=True))

    def data_received(self, data: bytes) -> None:
        self.reader.feed(data)

    def send(self, outcomes: Outcomes) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(frame(self._encode(outcomes)))

    def _frame(self, payload: bytes) -> None:
        if self.forwarder is None:
            self._begin(self._start(payload))
        else:
            self._apply(self._orders(payload))

    # -- what the engine says ----------------------------------------------------------------------
    def _begin(self, start: Start) -> None:
        configure_logs(start.log_level)
        forwarder = self.forwarder = Forwarder(self.send, {c.name: i for i, c in enumerate(start.carriers)})
        rotor = ReferenceRotor()  # unused here: the engine encodes every message before it comes
        self.pools = [ForwardingPool(c, i, forwarder, rotor) for i, c in enumerate(start.carriers)]
        for pool in self.pools:
            pool.start()
        self._spawn(self._report_states())

    def _apply(self, orders: Orders) -> None:
        pools = self.pools
        if orders.ended:
            # their queued jobs are skipped (and reported dropped) when a window slot would take
            # them: no scan of every queue here, which a carrier failing messages under a large
            # backlog would repeat every loop turn
            RemoteJob.ended.add(orders.ended)
        if orders.durable:
            parked: list[set[str]] = [set() for _ in pools]
            for carrier, key in orders.parked:
                parked[carrier].add(key)
            for pool in pools:
                pool.durable(orders.durable, parked[pool.index])
            self.forwarder.confirmed(orders.durable)  # type: ignore[union-attr]
        for items, front in ((orders.retries, True), (orders.submits, False)):
            if items:
                by_pool: list[list[RemoteJob]] = [[] for _ in pools]
                for carrier, job_id, message, phone, body, marketing in items:
                    by_pool[carrier].append(RemoteJob(job_id, message, phone, body, marketing))
                for pool, jobs in zip(pools, by_pool):
                    if jobs:
                        pool.submit_many(jobs, front=front)  # type: ignore[arg-type]
        for carrier in orders.returns:  # after this frame's submits: routed before the news came
            pools[carrier].return_queue()
        for request, carrier, message_id in orders.queries:
            self._spawn(self._query(request, pools[carrier], message_id))
        if orders.command == "drain":
            self._spawn(self._drain())
        elif orders.command in ("stop", "abort"):
            self._spawn(self._finish(abort=orders.command == "abort"))

    async def _query(self, request: int, pool: ForwardingPool, message_id: str) -> None:
        state = await pool.query_state(message_id)
        self.forwarder.current().answers.append((request, *(state or ("", ""))))  # type: ignore[union-attr]

    async def _drain(self) -> None:
        await asyncio.gather(*(pool.drain(3600.0) for pool in self.pools))  # the engine bounds the wait
        self.forwarder.current().drained = True  # type: ignore[union-attr]

    async def _finish(self, abort: bool) -> None:
        await asyncio.gather(*(pool.abort() if abort else pool.stop() for pool in self.pools))
        if self.forwarder is not None and self.forwarder.pending:
            self.forwarder.flush()  # what the last answers said goes out before the socket closes
        if self.transport is not None:
            self.transport.close()
        if not self.done.done():
            self.done.set_result(None)

    async def _report_states(self) -> None:
        """Gauges now and then (a carrier going up or down is reported at once, by its pool); the
        engine takes a silence of SILENT_S for a hung process. Ended messages no job is queued
        for any more are forgotten."""
        pruned = time.monotonic()
        while True:
            for pool in self.pools:
                self.forwarder.state(pool)  # type: ignore[union-attr]
            if RemoteJob.ended.ids and time.monotonic() - pruned >= PRUNE_EVERY_S:
                pruned = time.monotonic()
                RemoteJob.ended.prune({job.message for pool in self.pools for job in pool.queue})
            await asyncio.sleep(STATE_EVERY_S)

    def _spawn(self, coro: object) -> None:
        task = asyncio.get_running_loop().create_task(coro)  # type: ignore[arg-type]
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


async def serve(fd: int) -> None:
    sock = socket.socket(fileno=fd)
    loop = asyncio.get_running_loop()
    _, process = await loop.connect_accepted_socket(CarrierProcess, sock)
    await process.done


def main() -> None:
    import uvloop

    if len(sys.argv) != 2:
        sys.exit("usage: python -m smsengine.engine.carrier_process FD")
    # a terminal's Ctrl-C (or a stop signal to the whole process group) is for the engine, which
    # then drains and stops this process in order; this process ends when the engine says so or
    # its socket closes (the engine died)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, signal.SIG_IGN)
    tune_runtime()  # as the engine's: every PDU allocates short-lived objects
    uvloop.install()
    asyncio.run(serve(int(sys.argv[1])))


if __name__ == "__main__":
    main()

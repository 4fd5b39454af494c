"""What a carrier's `Link` knows from its config alone, wherever its binds run (the engine's loop
or the carrier process): the wire form messages take, how its ids normalise, its retry policy."""

from __future__ import annotations

from smsengine.config import CarrierConfig
from smsengine.engine.jobs import InFlight
from smsengine.engine.wire import WireFormat
from smsengine.smpp.concatenation import ConcatMethod, ReferenceRotor
from smsengine.smpp.message_id import MessageIdFormat
from smsengine.smpp.vendor_tlvs import vendor_values


def _same(message_id: str) -> str:
    return message_id


class CarrierLink:
    """The config-bound half of a `Link`: `can_take`, `prepare`, `resp_key` and the settings the
    dispatcher reads. `CarrierPool` (binds on the loop) and `RemoteLink` (binds in the carrier
    process) add the binds."""

    def __init__(self, config: CarrierConfig, rotor: ReferenceRotor) -> None:
        self.config = config
        self.name = config.name
        self.wire = WireFormat(ConcatMethod(config.concat), rotor, vendor_values(config.tlvs))
        self.max_retries = config.max_retries
        self.retry_backoff_s = config.retry_backoff_s
        self.supports_query_sm = config.supports_query_sm
        # ids kept as given cost nothing to normalise: skip the call on the hot path
        plain = MessageIdFormat()
        ids = config.message_ids
        self.resp_key = _same if ids.submit_resp == plain else ids.resp_key
        self.receipt_key = _same if ids.receipt == plain else ids.receipt_key
        self.up = False  # some bind can submit; kept current as binds come and go

    def can_take(self, flight: InFlight) -> bool:
        return flight.concat is None or flight.concat is self.wire.concat or len(flight.seg.payloads) == 1

    def prepare(self, flight: InFlight, cache: dict | None = None) -> None:
        flight.carrier = self.name
        self.wire.prepare(flight, cache)

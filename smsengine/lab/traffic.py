"""The traffic of a scenario, planned from its seed before anything runs: the number population,
and the send requests (one text to a batch of numbers each) with the moment each is due.

Everything is drawn from `random.Random` seeded with strings of the scenario's seed, so the same
seed gives the same numbers, texts and order on every machine and run (string seeds hash with
SHA-512, independent of PYTHONHASHSEED).
"""

from __future__ import annotations

import math
import random

import msgspec

from smsengine.domain.numbers import MAINLAND_PREFIX
from smsengine.domain.text import Scheme, compose, segments_for
from smsengine.lab.scenario import Population, Scenario, Text, Traffic

_LATIN = ("your parcel is on its way and will arrive tomorrow between nine and noon please keep your phone"
          " nearby so the courier can reach you thank you for shopping with us ").split()
_CYRILLIC = "ваша посылка уже в пути и прибудет завтра утром пожалуйста держите телефон рядом спасибо".split()
_HAN = "您的包裹已发出预计明天上午送达请保持电话畅通感谢您的支持祝您生活愉快".replace("", " ").split()
UNSUBSCRIBE = " Reply TD to unsubscribe"


class Request(msgspec.Struct):
    """One POST /v1/sms/send: `at` seconds after the traffic starts."""

    index: int
    at: float
    phones: list[str]
    text: str
    type: str  # regular | marketing
    segments: int  # as planned (the engine's answer says what it counted)


def numbers(population: Population, seed: int) -> list[str]:
    """`size` distinct numbers, prefix + digits, drawn from the seed."""
    rng = random.Random(f"{seed}:population")
    free = population.digits - (len(population.prefix) - 1)
    return [f"{population.prefix}{n:0{free}d}" for n in rng.sample(range(10**free), population.size)]


def scheme_for(prefix: str) -> Scheme:
    return Scheme.DOMESTIC if prefix.startswith(MAINLAND_PREFIX) else Scheme.GSM


def text_of(index: int, kind: Text, marketing: bool, sign: str, scheme: Scheme) -> str:
    """A body unique to the request (its index) that, signed, is exactly `kind.segments` long."""
    words = _HAN if scheme is Scheme.DOMESTIC and kind.encoding == "ucs2" else (
        _CYRILLIC if kind.encoding == "ucs2" else _LATIN)
    head = f"#{index}: "
    tail = UNSUBSCRIBE if marketing else ""
    single, per_part = (160, 153) if scheme is Scheme.GSM and kind.encoding == "gsm7" else (70, 67)
    target = single - 8 if kind.segments == 1 else per_part * (kind.segments - 1) + per_part // 2
    body, i = head, index
    while len(compose(body + tail, sign, scheme)) < target:
        body += words[i % len(words)] + ("" if words is _HAN else " ")
        i += 1
    text = body.rstrip() + tail
    while segments_for(compose(text, sign, scheme), scheme) > kind.segments and len(body) > len(head):
        body = body[:-1]
        text = body.rstrip() + tail
    return text


def due_at(sent: int, traffic: Traffic) -> float:
    """Seconds after the start at which the `sent`-th message is due: the rate reached linearly
    over ramp_s, then held."""
    rate, ramp = traffic.rate, traffic.ramp_s
    if ramp > 0 and sent < rate * ramp / 2:
        return math.sqrt(2 * ramp * sent / rate)
    return sent / rate + ramp / 2


def plan(scenario: Scenario) -> tuple[list[str], list[Request]]:
    """(the population, the requests in order). A request carries one text to `batch` numbers
    (the last fewer); `duplicate_share` of its slots repeat a number already in it."""
    traffic = scenario.traffic
    population = numbers(scenario.population, scenario.seed)
    scheme = scheme_for(scenario.population.prefix)
    rng = random.Random(f"{scenario.seed}:traffic")
    weights = [t.weight for t in traffic.texts]
    requests: list[Request] = []
    sent = 0
    while sent < traffic.messages:
        size = min(traffic.batch, traffic.messages - sent)
        phones: list[str] = []
        for _ in range(size):
            if phones and rng.random() < traffic.duplicate_share:
                phones.append(rng.choice(phones))
            else:
                phones.append(rng.choice(population))
        kind = rng.choices(traffic.texts, weights)[0]
        marketing = rng.random() < traffic.marketing_share
        index = len(requests)
        text = text_of(index, kind, marketing, traffic.sign, scheme)
        segments = segments_for(compose(text, traffic.sign, scheme), scheme)
        requests.append(Request(index, due_at(sent, traffic), phones, text,
                                "marketing" if marketing else "regular", segments))
        sent += size
    return population, requests

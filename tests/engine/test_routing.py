"""Routing by prefix, weights and failover."""

from collections import Counter

from smsengine.config import RouteConfig, RouteTarget
from smsengine.engine.routing import Router


def routes():
    return [
        RouteConfig(prefix="+", targets=[RouteTarget("intl")]),
        RouteConfig(prefix="+86", targets=[RouteTarget("a", 3), RouteTarget("b", 1)]),
        RouteConfig(prefix="+86139", targets=[RouteTarget("c")]),
    ]


def test_longest_prefix_wins():
    router = Router(routes())
    assert router.candidates("+8613912345678")[0] == "c"
    assert router.candidates("+8613812345678")[0] in {"a", "b"}
    assert router.candidates("+14155550123") == ["intl"]
    assert Router(routes()[1:]).candidates("+14155550123") == []


def test_weights_are_exact():
    router = Router(routes())
    firsts = Counter(router.candidates("+8613800138000")[0] for _ in range(400))
    assert firsts == {"a": 300, "b": 100}


def test_failover_skips_carriers_that_are_down():
    down = {"a"}
    router = Router(routes(), is_up=lambda name: name not in down)
    assert all(router.candidates("+8613800138000") == ["b", "a"] for _ in range(10))
    down.clear()
    assert {router.candidates("+8613800138000")[0] for _ in range(8)} == {"a", "b"}

"""Callback destinations: only public addresses, unless the config allows private ones."""

import pytest

from smsengine.engine.destinations import PublicResolver, is_public, private_target


@pytest.mark.parametrize("address, public", [
    ("8.8.8.8", True), ("2001:4860:4860::8888", True),
    ("127.0.0.1", False), ("10.0.0.1", False), ("172.16.5.4", False), ("192.168.1.1", False),
    ("169.254.169.254", False), ("100.64.0.1", False), ("0.0.0.0", False), ("224.0.0.1", False),
    ("::1", False), ("fe80::1%eth0", False), ("fc00::1", False), ("::ffff:127.0.0.1", False),
    ("not-an-ip", False),
])
def test_only_globally_routable_addresses_are_public(address, public):
    assert is_public(address) is public


@pytest.mark.parametrize("url, refused", [
    ("http://127.0.0.1:8080/r", True), ("http://[::1]/r", True), ("http://localhost/r", True),
    ("http://LOCALHOST./r", True), ("http://api.localhost/r", True), ("http://169.254.169.254/latest", True),
    ("https://8.8.8.8/r", False), ("https://hooks.example.com/r", False),
])
def test_urls_naming_this_machine_or_a_private_network_are_refused(url, refused):
    assert (private_target(url) is not None) is refused


async def test_a_name_resolving_only_to_private_addresses_is_not_connected_to():
    resolver = PublicResolver()
    try:
        with pytest.raises(OSError, match="no public address"):
            await resolver.resolve("localhost", 80)
    finally:
        await resolver.close()

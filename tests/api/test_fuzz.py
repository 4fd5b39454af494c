"""Schemathesis from the served /openapi.json against a real engine over a real socket: no request
it generates gets a 5xx, and every answer matches the document (status, content type, schema).

Bounded for `make test` (a few examples per operation, identity and mode, derandomised: the same
requests every run); benchmarks/chaos_fuzz_http.py runs the same fuzzer longer and varied."""

import pytest

from tests.api.fuzzing import IDENTITIES, fuzz, served_rig

EXAMPLES = 8  # per operation × mode: ~300 requests and ~6 s for each identity on this machine


@pytest.fixture(scope="module")
def base_url(tmp_path_factory):
    with served_rig(tmp_path_factory.mktemp("fuzzed")) as url:
        yield url


@pytest.mark.parametrize("identity", [*IDENTITIES, "garbled"])
def test_fuzzed_requests_get_no_5xx_and_answers_match_the_document(base_url, identity):
    tally = fuzz(base_url, max_examples=EXAMPLES, identities=[identity])
    assert len(tally.operations) >= 18 and tally.requests >= 18 * EXAMPLES
    assert tally.server_error_count == 0 and tally.violation_count == 0, tally.report()
    if identity in ("operator", "account"):
        assert tally.statuses[200] > 0  # the credentials reached the handlers, not only 4xx

"""The engine's batch-fed Prometheus histogram counts exactly as one observation at a time would."""

from bisect import bisect_left

from hypothesis import given
from hypothesis import strategies as st

from smsengine.engine.metrics import _BUCKETS, BatchHistogram

# latencies anywhere, and exactly on the bucket bounds (Prometheus' buckets are "less or equal")
latencies = st.lists(st.one_of(st.sampled_from(_BUCKETS), st.floats(0, 7200, allow_nan=False)), max_size=300)


@given(st.lists(latencies, max_size=4))
def test_batches_count_every_value_in_its_le_bucket(batches):
    histogram = BatchHistogram("h", "test", _BUCKETS)
    expected = [0] * (len(_BUCKETS) + 1)
    for batch in batches:
        histogram.observe_many(batch)
        for value in batch:
            expected[bisect_left(_BUCKETS, value)] += 1
    assert histogram.counts == expected
    assert histogram.total == sum(sum(b) for b in batches)


def test_a_value_on_a_bound_is_in_that_bucket_and_the_rest_beyond_the_last_in_inf():
    histogram = BatchHistogram("h", "test", (0.1, 1.0))
    histogram.observe_many([0.1, 0.5, 1.0, 1.5, 0.0])
    assert histogram.counts == [2, 2, 1]
    samples = {(s.name, s.labels.get("le")): s.value for s in next(histogram.collect()).samples}
    assert samples[("h_bucket", "0.1")] == 2
    assert samples[("h_bucket", "1.0")] == 4
    assert samples[("h_bucket", "+Inf")] == 5

import numpy as np
import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

from liveeval.store.duck.idindex import IdIndex, hash_id, hash_ids

ids = st.text(min_size=0, max_size=80)


@settings(deadline=None)
@given(st.lists(ids, min_size=1, max_size=200))
def test_vectorised_hash_equals_the_scalar_hash(values):
    # Batches over 32 ids take the numpy path; both paths must agree bit for bit.
    padded = values * (40 // len(values) + 1)
    vectorised = hash_ids(pa.array(padded))
    assert vectorised.tolist() == [hash_id(v) for v in padded]


def test_hash_ignores_array_offsets_and_chunking():
    values = [f"id-{i}" for i in range(100)] + ["é" * 20, ""]
    whole = hash_ids(pa.array(values))
    sliced = hash_ids(pa.array(["x", *values]).slice(1))
    chunked = hash_ids(pa.chunked_array([values[:50], values[50:]]))
    assert (whole == sliced).all() and (whole == chunked).all()


def test_distinct_ids_do_not_collide_at_a_million():
    values = pa.array([f"m{i}" for i in range(1_000_000)])
    assert len(np.unique(hash_ids(values))) == 1_000_000


def test_ids_of_different_lengths_differ_even_with_zero_padding():
    assert hash_id("a") != hash_id("a\0") != hash_id("")


@settings(deadline=None)
@given(st.lists(st.lists(ids, max_size=60), max_size=30), st.lists(ids, max_size=50))
def test_index_answers_like_a_set(batches, probes):
    index, seen = IdIndex(), set()
    for batch in batches:
        index.add(hash_ids(pa.array(batch, pa.string())))
        seen.update(batch)
    asked = probes + list(seen)[:20]
    found = index.contains(hash_ids(pa.array(asked, pa.string())))
    assert found.tolist() == [p in seen for p in asked]


def test_index_merges_levels_as_it_grows():
    index = IdIndex()
    rng = np.random.default_rng(0)
    added = []
    for size in [5] * 2000 + [10_000, 3, 50_000]:
        hashes = rng.integers(0, 2**63, size).astype(np.uint64)
        index.add(hashes)
        added.append(hashes)
    everything = np.concatenate(added)
    assert index.contains(everything).all()
    assert len(index._levels) < 20
    assert not index.contains(rng.integers(0, 2**63, 1000).astype(np.uint64)).any()

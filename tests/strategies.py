"""Named Hypothesis strategies shared by the property tests."""

from __future__ import annotations

from hypothesis import strategies as st

#: Any unsigned 64-bit value (hashes, seeds).
uint64 = st.integers(min_value=0, max_value=2**64 - 1)
#: Any unsigned 32-bit value (murmur3 seeds, weights).
uint32 = st.integers(min_value=0, max_value=2**32 - 1)
#: Byte strings of length 0-300, the range the kernels' branches cover.
data_bytes = st.binary(min_size=0, max_size=300)
#: Text, hashed as UTF-8 (surrogates excluded: they have no UTF-8 form).
data_text = st.text(alphabet=st.characters(blacklist_categories=("Cs",)), min_size=0, max_size=120)


@st.composite
def unaligned_views(draw: st.DrawFn) -> memoryview:
    """Return a memoryview slice starting at a random (unaligned) offset."""
    raw = draw(st.binary(min_size=0, max_size=310))
    start = draw(st.integers(min_value=0, max_value=min(len(raw), 9)))
    stop = draw(st.integers(min_value=start, max_value=len(raw)))
    return memoryview(bytearray(raw))[start:stop]

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


# ---- hash policies (issue 4): request data, header pairs, cookies, addresses

#: Characters that steer the request parsers (cookie, query, XFF, addresses).
_PARSER_CHARS = ' ;=",&?.:[]%/\t0123456789abcdefABCDEF:xsu\udc80\xe9'
#: Any code point, lone surrogates included (they have no UTF-8 form).
any_chars = st.characters(exclude_categories=())
#: Request text as a server might hand it over: bytes (maybe invalid UTF-8), or str
#: (maybe with lone surrogates), biased towards the characters the parsers look at.
request_text = st.one_of(
    st.binary(max_size=24),
    st.text(alphabet=any_chars, max_size=24),
    st.text(alphabet=_PARSER_CHARS, max_size=24),
)
#: Header names: the ones the policies read (any case, str or bytes) or anything.
header_names = st.one_of(
    st.sampled_from(
        [
            "x-user",
            "X-User",
            b"x-user",
            b"X-USER",
            "cookie",
            b"cookie",
            "Cookie",
            "x-forwarded-for",
            b"X-Forwarded-For",
            "host",
            ":path",
            ":authority",
        ]
    ),
    request_text,
)
#: A header list: (name, value) pairs, sometimes with a malformed entry.
header_pairs = st.lists(
    st.one_of(
        st.tuples(header_names, request_text),
        st.sampled_from([("x-user",), None, 7, ("x-user", None), (b"cookie", 5)]),
    ),
    max_size=8,
)
#: Cookie header values built from cookie-ish pieces and random text.
cookie_strings = st.lists(
    st.one_of(
        st.text(alphabet=' ;="sc\t', max_size=12),
        st.sampled_from(["s=v", 's="v"', " s=", "s", ";", "c=s=1", '"s"=x']),
    ),
    max_size=6,
).map("".join)
#: Addresses: IP text with or without port, tuples, junk, or None.
addresses = st.one_of(
    st.none(),
    st.sampled_from(
        [
            "10.0.0.1:80",
            "10.0.0.1",
            "[2001:db8::1]:443",
            "::1",
            "[::ffff:1.2.3.4]:1",
            "fe80::1%eth0",
            ("10.0.0.1", 80),
            ("::1", None),
            ("/run/s.sock", None),
        ]
    ),
    request_text,
    st.tuples(request_text, st.one_of(st.none(), st.integers(-1, 70000), request_text)),
)
#: X-Forwarded-For values: comma-separated IPs, spaces and junk.
xff_values = st.lists(
    st.one_of(
        st.sampled_from(["203.0.113.9", " 10.0.0.1", "2001:db8::7 ", "::ffff:1.2.3.4", "", " "]),
        st.text(alphabet=_PARSER_CHARS, max_size=12),
    ),
    max_size=5,
).map(",".join)


# ---- weighted subsets (issue 5) --------------------------------------------
#: Subset names: short printable text (DestinationRule subset names).
subset_names = st.text(
    alphabet=st.characters(min_codepoint=33, max_codepoint=0x2FF), min_size=1, max_size=10
)


@st.composite
def subset_weights(draw: st.DrawFn, min_size: int = 1, max_size: int = 6) -> dict[str, int]:
    """Return subset name -> weight: uint32 weights, some zero, a non-zero fitting sum."""
    names = draw(st.lists(subset_names, min_size=min_size, max_size=max_size, unique=True))
    cap = (2**32 - 1) // len(names)
    small = st.integers(min_value=0, max_value=100)
    weights = [draw(st.one_of(small, st.integers(min_value=0, max_value=cap))) for _ in names]
    if not any(weights):
        weights[draw(st.integers(min_value=0, max_value=len(names) - 1))] = 1
    return dict(zip(names, weights))

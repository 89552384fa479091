"""Property tests: hashlb's IPv6 printing is glibc's ``inet_ntop`` (Envoy's), on every address."""

from __future__ import annotations

import ipaddress
import socket
import sys

import pytest

pytest.importorskip("hypothesis")

from hypothesis import example, given
from hypothesis import strategies as st

from hashlb import Host
from hashlb._address import canonical_address, ntop6

pytestmark = pytest.mark.skipif(
    not sys.platform.startswith("linux"), reason="socket.inet_ntop is glibc's only on Linux"
)

#: Addresses rich in zero runs, mapped and compatible forms: where printers differ.
groups = st.one_of(st.just(0), st.just(0xFFFF), st.integers(0, 0xFFFF))
packed_ipv6 = st.lists(groups, min_size=8, max_size=8).map(
    lambda ws: b"".join(w.to_bytes(2, "big") for w in ws)
)


@given(packed_ipv6)
@example(bytes(10) + b"\xff\xff" + bytes([10, 0, 0, 7]))
@example(bytes(12) + bytes([0, 1, 0, 0]))
@example(bytes(15) + b"\x01")
@example(bytes(16))
def test_ntop6_is_glibc_inet_ntop(packed: bytes) -> None:
    """ntop6 prints every 16-byte address exactly as the C library Envoy links does."""
    assert ntop6(packed) == socket.inet_ntop(socket.AF_INET6, packed)


@given(packed_ipv6, st.integers(0, 65535), st.sampled_from(["", "0", "00"]))
def test_any_spelling_canonicalises_to_one_key(packed: bytes, port: int, pad: str) -> None:
    """Upper case, exploded form and padded ports all give Envoy's one key."""
    exploded = ipaddress.IPv6Address(packed).exploded.upper()
    key = f"[{socket.inet_ntop(socket.AF_INET6, packed)}]:{port}"
    assert canonical_address(f"[{exploded}]:{pad}{port}") == key
    assert Host(f"[{exploded}]:{port}").key() == key


@given(st.integers(0, 2**32 - 1), st.integers(0, 65535))
def test_ipv4_prints_back_unchanged(ip: int, port: int) -> None:
    """A canonical dotted quad is its own key; the port loses its leading zeros."""
    text = socket.inet_ntop(socket.AF_INET, ip.to_bytes(4, "big"))
    assert canonical_address(f"{text}:{port}") == f"{text}:{port}"
    assert canonical_address(f"{text}:0{port}") == f"{text}:{port}"

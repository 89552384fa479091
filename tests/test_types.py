"""The shared value types of ``hashlb._types``: one ``Host`` for both twins."""

from __future__ import annotations

import pickle

import pytest

from hashlb import Host

from ._impl import Implementation


def test_host_cannot_be_reinitialised(impl: Implementation) -> None:
    """``Host.__init__`` on a built host raises TypeError and changes nothing."""
    host = Host("10.0.0.1:80", 3, hostname="a", labels={"version": "v1"})
    table = impl.Maglev([host, Host("10.0.0.2:80")], table_size=7)
    before = (hash(host), repr(host), table.lookup(12345))
    with pytest.raises(TypeError, match="immutable"):
        host.__init__("10.9.9.9:1")  # type: ignore[misc]
    with pytest.raises(TypeError, match="immutable"):
        Host.__init__(host, "10.9.9.9:1", 7)
    assert (hash(host), repr(host), table.lookup(12345)) == before
    assert table.hosts[0] is host and host.address == "10.0.0.1:80" and host.weight == 3


def test_host_fields_cannot_be_set_or_deleted() -> None:
    """Every field is read-only, including the private ones."""
    host = Host("10.0.0.1:80")
    for name in ("address", "weight", "labels", "_hash", "_key_bytes"):
        with pytest.raises(AttributeError, match="immutable"):
            setattr(host, name, "x")
        with pytest.raises(AttributeError, match="immutable"):
            delattr(host, name)
    assert host == Host("10.0.0.1:80")


def test_host_subclass_and_pickle_still_build() -> None:
    """A subclass initialises through the same guard; a pickled host round-trips."""

    class Named(Host):
        __slots__ = ()

    host = Named("10.0.0.1:80", 2, hash_key="k")
    assert (host.key(), host.weight, type(host)) == ("k", 2, Named)
    with pytest.raises(TypeError, match="immutable"):
        Named.__init__(host, "10.0.0.2:80")
    again = pickle.loads(pickle.dumps(Host("[::1]:80", 5, locality="z", labels={"a": "b"})))
    assert again == Host("[::1]:80", 5, locality="z", labels={"a": "b"})
    assert hash(again) == hash(Host("[::1]:80", 5, locality="z", labels={"a": "b"}))

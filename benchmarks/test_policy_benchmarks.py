"""Hash policies: request -> hash, on both twins.

Targets (issue 4), compiled twin, median per call:

* ``HashPolicy(Header("x-user")).hash(Request.from_asgi(scope))`` with 20
  headers <= 1.5 us;
* ``.hash(request)`` on a pre-built Request <= 400 ns.

Each round runs the operation 100 times (loop overhead included), so the
median divided by 100 is the cost per call.  A naive pure-Python baseline
(``dict(scope["headers"])`` + ``xxhash``) is timed in the same group.  Run::

    pytest benchmarks/test_policy_benchmarks.py --benchmark-group-by=group
"""

from __future__ import annotations

from typing import Any

import pytest
import xxhash

from tests._impl import Implementation

LOOPS = 100
HEADERS_20 = [(b"h-%02d" % i, b"value-%02d" % i) for i in range(19)]
HEADERS_20.insert(13, (b"x-user", b"alice"))
SCOPE: dict[str, Any] = {
    "type": "http",
    "method": "GET",
    "scheme": "https",
    "path": "/api/items",
    "raw_path": b"/api/items",
    "query_string": b"page=2&user=alice",
    "headers": HEADERS_20,
    "client": ("203.0.113.9", 51234),
    "server": ("10.0.0.2", 8443),
}
MAPPING_20 = {k.decode(): v.decode() for k, v in HEADERS_20}
XFF = [*HEADERS_20, (b"x-forwarded-for", b"198.51.100.7, 203.0.113.9, 10.0.0.1")]
COOKIES = [*HEADERS_20, (b"cookie", b"theme=dark; session=4f1c2a9e; lang=en")]


def _repeat(fn: Any, arg: Any) -> Any:
    """Return a closure calling fn(arg) LOOPS times."""

    def run() -> None:
        for _ in range(LOOPS):
            fn(arg)

    return run


@pytest.mark.benchmark(group="policy header from_asgi 20 headers x100")
def test_policy_header_from_asgi_20_headers(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(impl.Header("x-user"))
    from_asgi = impl.Request.from_asgi
    h = policy.hash

    def run() -> None:
        for _ in range(LOOPS):
            h(from_asgi(SCOPE))

    benchmark(run)


@pytest.mark.benchmark(group="policy header from_asgi 20 headers x100")
def test_naive_dict_header_from_asgi_20_headers(benchmark) -> None:  # type: ignore[no-untyped-def]
    xx = xxhash.xxh64_intdigest

    def run() -> None:
        for _ in range(LOOPS):
            v = dict(SCOPE["headers"]).get(b"x-user")
            if v is not None:
                xx(v)

    benchmark(run)


@pytest.mark.benchmark(group="policy header prebuilt 20 headers x100")
def test_policy_header_prebuilt_20_headers(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(impl.Header("x-user"))
    benchmark(_repeat(policy.hash, impl.Request.from_asgi(SCOPE)))


@pytest.mark.benchmark(group="policy header prebuilt 20 headers x100")
def test_policy_header_prebuilt_mapping_20_headers(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(impl.Header("x-user"))
    benchmark(_repeat(policy.hash, impl.Request(headers=MAPPING_20)))


@pytest.mark.benchmark(group="policy cookie prebuilt x100")
def test_policy_cookie_prebuilt_21_headers(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(impl.Cookie("session", ttl=3600, path="/"))
    benchmark(_repeat(policy.hash, impl.Request(headers=COOKIES)))


@pytest.mark.benchmark(group="policy source ip prebuilt x100")
def test_policy_source_ip_prebuilt(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(impl.SourceIP())
    benchmark(_repeat(policy.hash, impl.Request.from_asgi(SCOPE)))


@pytest.mark.benchmark(group="policy source ip prebuilt x100")
def test_policy_source_ip_xff_2_hops_21_headers(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(impl.SourceIP(xff_num_trusted_hops=2))
    benchmark(_repeat(policy.hash, impl.Request(headers=XFF, remote_address="10.0.0.3:4000")))


@pytest.mark.benchmark(group="policy query parameter prebuilt x100")
def test_policy_query_parameter_prebuilt(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(impl.QueryParameter("user"))
    benchmark(_repeat(policy.hash, impl.Request.from_asgi(SCOPE)))


@pytest.mark.benchmark(group="policy istio chain prebuilt x100")
def test_policy_four_methods_prebuilt(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(
        impl.Header("x-user"), impl.Cookie("session"), impl.SourceIP(), impl.QueryParameter("user")
    )
    benchmark(_repeat(policy.hash, impl.Request.from_asgi(SCOPE)))


@pytest.mark.benchmark(group="policy evaluate x100")
def test_policy_evaluate_header_prebuilt(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(impl.Header("x-user"))
    benchmark(_repeat(policy.evaluate, impl.Request.from_asgi(SCOPE)))


@pytest.mark.benchmark(group="policy evaluate x100")
def test_policy_evaluate_generated_cookie(benchmark, impl: Implementation) -> None:  # type: ignore[no-untyped-def]
    policy = impl.HashPolicy(impl.Cookie("session", ttl=3600, path="/"))
    benchmark(_repeat(policy.evaluate, impl.Request.from_asgi(SCOPE)))

"""gRPC's own ``ring_hash``, driven over loopback by real RPCs, lands where hashlb predicts.

Real grpcio servers listen on 127.0.0.1; a client process (with
``GRPC_EXPERIMENTAL_RING_HASH_SET_REQUEST_HASH_KEY=true``, read when grpc
starts) sends each key in the ``x-user`` header through a channel whose
service config selects ``ring_hash_experimental``.  Every answer names the
server that took the call; hashlb's :mod:`hashlb.grpc` ring must name the
same one, before and after a server goes down (gRPC then skips its entries:
the first live ``lookup(hash, attempt=k)``).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from concurrent import futures
from typing import Any

import grpc
import pytest

from hashlb import Request
from hashlb.grpc import RequestHashHeader, choose_ready, ring_config

from ._impl import Implementation

#: The client: one channel per configuration, one JSON request per line on stdin.
CLIENT = r"""
import json, sys
import grpc

channels = {}
for line in sys.stdin:
    job = json.loads(line)
    key = json.dumps(job["config"], sort_keys=True)
    if key not in channels:
        cfg = job["config"]
        lb = {"ring_hash_experimental": {"minRingSize": cfg["min"], "maxRingSize": cfg["max"],
                                         "requestHashHeader": cfg["header"]}}
        options = [("grpc.service_config", json.dumps({"loadBalancingConfig": [lb]}))]
        if cfg.get("cap") is not None:
            options.append(("grpc.lb.ring_hash.ring_size_cap", cfg["cap"]))
        target = "ipv4:" + ",".join(cfg["targets"])
        channels[key] = grpc.insecure_channel(target, options=options).unary_unary("/hashlb.Echo/Who")
    who = channels[key]
    out = []
    header = job["config"]["header"]
    for value in job["values"]:
        parts = value if isinstance(value, list) else [value]
        sent = [(header, bytes.fromhex(v) if header.endswith("-bin") else v) for v in parts]
        reply = who(b"", metadata=sent, wait_for_ready=True, timeout=20)
        out.append(reply.decode())
    print(json.dumps(out), flush=True)
"""

KEYS = [f"user-{i}" for i in range(300)]


class Backends:
    """N grpcio servers on 127.0.0.1, each answering with its own address."""

    def __init__(self, n: int) -> None:
        self.servers: list[Any] = []
        self.addresses: list[str] = []
        for _ in range(n):
            server = grpc.server(futures.ThreadPoolExecutor(max_workers=2))
            port = server.add_insecure_port("127.0.0.1:0")
            address = f"127.0.0.1:{port}"
            handler = grpc.method_handlers_generic_handler(
                "hashlb.Echo",
                {
                    "Who": grpc.unary_unary_rpc_method_handler(
                        lambda request, context, a=address: a.encode()
                    )
                },
            )
            server.add_generic_rpc_handlers((handler,))
            server.start()
            self.servers.append(server)
            self.addresses.append(address)

    def stop(self, i: int) -> None:
        self.servers[i].stop(0).wait(5)

    def close(self) -> None:
        for server in self.servers:
            server.stop(0)


class Client:
    """The client process; :meth:`ask` sends keys through one channel configuration."""

    def __init__(self) -> None:
        env = dict(os.environ, GRPC_EXPERIMENTAL_RING_HASH_SET_REQUEST_HASH_KEY="true")
        self.proc = subprocess.Popen(
            [sys.executable, "-c", CLIENT],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            env=env,
        )

    def ask(self, config: dict[str, Any], values: list[Any]) -> list[str]:
        assert self.proc.stdin is not None and self.proc.stdout is not None
        self.proc.stdin.write(json.dumps({"config": config, "values": values}) + "\n")
        self.proc.stdin.flush()
        line = self.proc.stdout.readline()
        assert line, f"the gRPC client exited with {self.proc.wait(10)}"
        return json.loads(line)  # type: ignore[no-any-return]

    def close(self) -> None:
        if self.proc.stdin is not None:
            self.proc.stdin.close()
        try:
            self.proc.wait(10)
        except subprocess.TimeoutExpired:
            self.proc.kill()
            self.proc.wait(10)
        if self.proc.stdout is not None:
            self.proc.stdout.close()


@pytest.fixture
def backends() -> Iterator[Backends]:
    b = Backends(5)
    yield b
    b.close()


@pytest.fixture
def client() -> Iterator[Client]:
    c = Client()
    yield c
    c.close()


def _predict(
    impl: Implementation, config: dict[str, Any], values: list[Any], live: Any
) -> list[str]:
    ring = impl.RingHash(
        **ring_config(
            config["targets"],
            min_ring_size=config["min"],
            max_ring_size=config["max"],
            **({"ring_size_cap": config["cap"]} if config.get("cap") is not None else {}),
        )
    )
    method = RequestHashHeader(config["header"])
    out = []
    for v in values:
        parts = v if isinstance(v, list) else [v]
        binary = config["header"].endswith("-bin")
        sent = [(config["header"], bytes.fromhex(p) if binary else p) for p in parts]
        h = method.hash(Request(headers=sent))
        assert h is not None
        host = choose_ready(ring, h, live)
        assert host is not None
        out.append(host.address)
    return out


@pytest.mark.parametrize(
    ("sizes", "cap"),
    [((1024, 4096), None), ((64, 64), None), ((8192, 8192), None), ((512, 512), 128)],
    ids=["defaults", "small", "capped-by-default", "capped-by-arg"],
)
def test_every_key_lands_where_hashlb_predicts(
    impl: Implementation, backends: Backends, client: Client, sizes: tuple[int, int], cap: Any
) -> None:
    """Ring sizes as configured, capped at ring_size_cap (default 4096): every RPC agrees."""
    config = {"min": sizes[0], "max": sizes[1], "cap": cap, "header": "x-user"}
    config["targets"] = backends.addresses
    got = client.ask(config, KEYS)
    assert got == _predict(impl, config, KEYS, lambda host: True)
    assert len(set(got)) == len(backends.addresses)  # the keys really spread


def test_repeated_addresses_merge_into_one_heavier_endpoint(
    impl: Implementation, backends: Backends, client: Client
) -> None:
    """gRPC merges a repeated address (weight = count, first position), unlike Envoy."""
    a = backends.addresses
    config = {"min": 256, "max": 256, "cap": None, "header": "x-user"}
    config["targets"] = [a[0], a[1], a[0], a[2], a[0], a[3]]
    got = client.ask(config, KEYS)
    assert got == _predict(impl, config, KEYS, lambda host: True)
    merged = ring_config(config["targets"], min_ring_size=256, max_ring_size=256)["hosts"]
    assert [(h.address, h.weight) for h in merged] == [(a[0], 3), (a[1], 1), (a[2], 1), (a[3], 1)]


def test_a_dead_server_is_skipped_to_the_next_live_entry(
    impl: Implementation, backends: Backends, client: Client
) -> None:
    """After a server stops, its keys move to the first live entry further on the ring."""
    config = {"min": 128, "max": 128, "cap": None, "header": "x-user"}
    config["targets"] = backends.addresses
    before = client.ask(config, KEYS)
    assert before == _predict(impl, config, KEYS, lambda host: True)
    dead = {backends.addresses[1], backends.addresses[3]}
    for i in (1, 3):
        backends.stop(i)
    expected = _predict(impl, config, KEYS, lambda host: host.address not in dead)
    deadline = time.monotonic() + 30
    while True:  # bounded: until gRPC has seen both connections fail, at most 30 s
        got = client.ask(config, KEYS)
        if got == expected or time.monotonic() > deadline:
            break
        time.sleep(0.2)
    assert got == expected
    assert not dead & set(got)
    moved = [k for k, b, g in zip(KEYS, before, got, strict=True) if b != g]
    assert moved and all(before[KEYS.index(k)] in dead for k in moved)


def test_joined_values_and_binary_headers(
    impl: Implementation, backends: Backends, client: Client
) -> None:
    """Empty, long and repeated values (joined with ","), and a -bin header hashed as the raw
    bytes the client sent."""
    config = {"min": 64, "max": 64, "cap": None, "header": "x-user"}
    config["targets"] = backends.addresses
    values: list[Any] = ["", "a,b", " padded ", "x" * 300, *KEYS[:40]]
    values += [[k, "second"] for k in KEYS[40:80]] + [["a", "b"], ["a,b"], ["", ""]]
    got = client.ask(config, values)
    assert got == _predict(impl, config, values, lambda host: True)
    assert got[-3] == got[-2]  # "a" then "b" is hashed as "a,b"
    config = dict(config, header="x-user-bin")
    binary = ["00ff10", "", "c3bc", *(k.encode().hex() + "00" for k in KEYS[:40])]
    assert client.ask(config, binary) == _predict(impl, config, binary, lambda host: True)
    method = RequestHashHeader("x-user")
    joined = method.hash(Request(headers=[("x-user", "a"), ("x-user", "b")]))
    assert joined == method.hash(Request(headers={"x-user": "a,b"}))
    assert RequestHashHeader("X-User").hash(Request(headers={"x-user": "a"})) is None
    assert method.hash(Request(headers={})) is None
    assert method.hash("not a request") is None

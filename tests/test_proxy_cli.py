"""The example proxy's command line, run as a subprocess: README flow, log lines, start errors.

Everything is real: ``examples/proxy/backend.py`` and
``examples/proxy/hashlb_proxy.py`` run as their own processes on 127.0.0.1
(``--listen 127.0.0.1:0``: each prints the port it bound), and the requests
go over loopback.  Every wait has a timeout and every process is stopped by
its own pid.
"""

from __future__ import annotations

import contextlib
import os
import queue
import re
import signal
import socket
import subprocess
import sys
import threading
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path

import pytest

pytest.importorskip("aiohttp")
pytest.importorskip("yaml")

pytestmark = pytest.mark.slow
ROOT = Path(__file__).resolve().parents[1]
PROXY_DIR = ROOT / "examples" / "proxy"
LOCAL_PODS = PROXY_DIR / "local-pods.yaml"
README = PROXY_DIR / "README.md"
DOC = ROOT / "docs" / "how-to" / "embed-in-a-proxy.rst"
MESH = ROOT / "examples" / "istio-canary"
WAIT = 30.0  # seconds any one process may take to start, answer or stop
#: The log line of one request, after the logging prefix (see the docs page).
LINE = re.compile(
    r"(?P<method>[A-Z]+) (?P<path>\S+) key=(?P<key>[0-9a-f]{16}|-) subset=(?P<subset>\S+) "
    r"endpoint=(?P<endpoint>\S+) status=(?P<status>\d{3}|-) time=\d+\.\dms"
    r"(?: error=(?P<error>.+))?"
)
PREFIX = re.compile(r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} (?P<level>[A-Z]+) hashlb\.proxy: ")

sys.path.insert(0, str(PROXY_DIR))


class Process:
    """A child process whose stderr lines are read by a thread (so waits can time out)."""

    def __init__(self, *args: str) -> None:
        self.proc = subprocess.Popen(
            [sys.executable, *args],
            cwd=ROOT,
            env={**os.environ, "PYTHONIOENCODING": "utf-8"},
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
        )
        self.lines: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        self._reader = threading.Thread(target=self._read, daemon=True)
        self._reader.start()

    def _read(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.lines.put(line.rstrip("\n"))
        self.lines.put(None)

    def wait_for(self, pattern: str) -> re.Match[str]:
        """The first new stderr line matching *pattern* (earlier lines are kept in ``seen``)."""
        for _ in range(10_000):
            line = self.lines.get(timeout=WAIT)
            if line is None:
                raise AssertionError(f"exited before {pattern!r}: {self.seen}")
            self.seen.append(line)
            found = re.search(pattern, line)
            if found:
                return found
        raise AssertionError(f"no {pattern!r} in {self.seen}")

    def stop(self) -> int:
        """SIGTERM, wait, collect what is left of stderr; return the exit status."""
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
        code = self.proc.wait(timeout=WAIT)
        self._close()
        while True:
            line = self.lines.get_nowait() if not self.lines.empty() else None
            if line is None:
                break
            self.seen.append(line)
        return code

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.wait(timeout=WAIT)
        self._close()

    def _close(self) -> None:
        self._reader.join(timeout=WAIT)
        if self.proc.stderr is not None and not self._reader.is_alive():
            self.proc.stderr.close()


@contextlib.contextmanager
def processes() -> Iterator[list[Process]]:
    started: list[Process] = []
    try:
        yield started
    finally:
        for p in started:
            p.kill()


def start_backend(started: list[Process], name: str) -> tuple[Process, int]:
    p = Process(str(PROXY_DIR / "backend.py"), "--name", name, "--listen", "127.0.0.1:0")
    started.append(p)
    port = int(p.wait_for(r"listening on http://127\.0\.0\.1:(\d+)").group(1))
    return p, port


def start_proxy(started: list[Process], *args: str) -> tuple[Process, int]:
    p = Process(str(PROXY_DIR / "hashlb_proxy.py"), *args, "--listen", "127.0.0.1:0")
    started.append(p)
    port = int(p.wait_for(r"hashlb proxy listening on http://127\.0\.0\.1:(\d+)").group(1))
    return p, port


def get(port: int, user: str, path: str = "/") -> tuple[int, str]:
    request = urllib.request.Request(f"http://127.0.0.1:{port}{path}", headers={"x-myval": user})
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as r:
            return r.status, r.read().decode()
    except urllib.error.HTTPError as e:
        with e:
            return e.code, e.read().decode()


def local_pods_with(ports: dict[str, int], tmp_path: Path) -> Path:
    """``local-pods.yaml`` with the free ports the backends got instead of 9001-9003."""
    text = LOCAL_PODS.read_text(encoding="utf-8")
    for name, port in ports.items():
        documented = {"safe-0": 9001, "safe-1": 9002, "risky-0": 9003}[name]
        text = text.replace(f"containerPort: {documented}}}", f"containerPort: {port}}}")
    path = tmp_path / "pods.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def readme_curls() -> list[tuple[str, str]]:
    """(user, answer) of each ``curl ... x-myval: USER`` session in the README."""
    return re.findall(
        r"^\$ curl -s -H 'x-myval: (\S+)' http://127\.0\.0\.1:8080/\n(\S+)$",
        README.read_text(encoding="utf-8"),
        re.MULTILINE,
    )


def shape(line: str) -> str:
    """A log line with the run-dependent parts (time, ports, hash, duration) made generic."""
    line = re.sub(r"key=[0-9a-f]{16}", "key=H", line)
    return re.sub(r"\d+(\.\d+)?", "N", line)


def documented_text_blocks(path: Path) -> list[str]:
    """The lines of every text block: ``.. code-block:: text`` (reST) or ```text (Markdown)."""
    text = path.read_text(encoding="utf-8")
    lines = re.findall(r"^```text\n(.*?)^```", text, re.MULTILINE | re.DOTALL)
    for block in re.findall(r"^\.\. code-block:: text\n\n((?:   .*\n|\n)+)", text, re.MULTILINE):
        lines.append("\n".join(line[3:] for line in block.splitlines()))
    return [line for block in lines for line in block.splitlines() if line.strip()]


# -- the README: what it says is what routing gives --------------------------------


def test_readme_answers_are_what_the_proxy_routes() -> None:
    """Each ``curl`` answer in the README is the backend the proxy's router picks."""
    import yaml
    from hashlb_proxy import YamlRouter

    from hashlb.policy import Request

    curls = readme_curls()
    assert {a for _, a in curls} == {"safe-0", "safe-1", "risky-0"}  # every backend shown
    pods = yaml.safe_load(LOCAL_PODS.read_text(encoding="utf-8"))["items"]
    name_of = {
        f"{p['status']['podIP']}:{p['spec']['containers'][0]['ports'][0]['containerPort']}": p[
            "metadata"
        ]["name"]
        for p in pods
    }
    assert sorted(name_of) == ["127.0.0.1:9001", "127.0.0.1:9002", "127.0.0.1:9003"]
    router = YamlRouter([str(MESH)], endpoints=[str(LOCAL_PODS)])
    assert not any(fake for m in router.endpoints().values() for _, _, fake in m)
    for user, answer in curls:
        route = router.route(
            Request(headers=[(b"host", b"127.0.0.1:8080"), (b"x-myval", user.encode())], path="/")
        )
        assert route.host is not None
        assert name_of[route.host.address] == answer, user


def test_readme_flow_runs_and_logs_one_line_per_request(tmp_path: Path) -> None:
    """backend.py x3 + hashlb_proxy.py --endpoints, as the README runs them (free ports)."""
    with processes() as started:
        backends = {n: start_backend(started, n) for n in ("safe-0", "safe-1", "risky-0")}
        pods = local_pods_with({n: port for n, (_, port) in backends.items()}, tmp_path)
        proxy, port = start_proxy(started, "-f", "examples/istio-canary/", "--endpoints", str(pods))
        subset_of = {"safe-0": "safe", "safe-1": "safe", "risky-0": "risky"}
        by_port = {str(p): n for n, (_, p) in backends.items()}
        for user, answer in readme_curls():
            for path in ("/", "/cart"):
                status, body = get(port, user, path)
                assert status == 200
                # the pod inside a subset follows the (free) ports; the subset does not
                assert subset_of[body.strip()] == subset_of[answer]
                found = PREFIX.match(proxy.wait_for(r"hashlb\.proxy: [A-Z]+ /").string)
                assert found is not None and found.group("level") == "INFO"
                entry = LINE.fullmatch(proxy.seen[-1][found.end() :])
                assert entry is not None, proxy.seen[-1]
                assert entry.group("method") == "GET" and entry.group("path") == path
                assert entry.group("status") == "200" and entry.group("error") is None
                assert entry.group("subset") == subset_of[answer]
                endpoint_port = entry.group("endpoint").rsplit(":", 1)[1]
                assert by_port[endpoint_port] == body.strip()

        # the README: stop risky-0 and its users get a 502, logged in one WARNING line
        risky, _ = backends["risky-0"]
        assert risky.stop() == 0
        risky_user = next(u for u, a in readme_curls() if a == "risky-0")
        status, body = get(port, risky_user)
        assert (status, body) == (502, "502 Bad Gateway\n")
        line = proxy.wait_for(r"hashlb\.proxy: ").string
        found = PREFIX.match(line)
        assert found is not None and found.group("level") == "WARNING"
        entry = LINE.fullmatch(line[found.end() :])
        assert entry is not None and entry.group("status") == "502"
        assert entry.group("error") == "backend failed: ClientConnectorError (ECONNREFUSED)"

        assert proxy.stop() == 0
        for name in ("safe-0", "safe-1"):
            assert backends[name][0].stop() == 0
        for p in started:
            assert not any("Traceback" in line for line in p.seen), p.seen
        logged = [line for line in proxy.seen if "hashlb.proxy: " in line]
        assert len(logged) == 2 * len(readme_curls()) + 1  # one line per request, no more
    # the log lines the README and the docs page show have the shape of the real ones
    real = {shape(line) for line in logged}
    for doc in (README, DOC):
        shown = [line for line in documented_text_blocks(doc) if "hashlb.proxy: " in line]
        assert shown, doc
        for line in shown:
            assert shape(line) in real, line


def test_synthetic_endpoints_are_warned_about() -> None:
    """Without --endpoints the example's Deployments have no pod IPs: the proxy says so."""
    with processes() as started:
        proxy, _ = start_proxy(started, "-f", "examples/istio-canary/", "--log-level", "warning")
        assert proxy.stop() == 0
    warnings = [line for line in proxy.seen if " WARNING hashlb.proxy: " in line]
    assert len(warnings) == 1
    assert "3 of 3 endpoints have synthetic addresses" in warnings[0]
    assert "--endpoints pods.yaml" in warnings[0]


# -- errors at start: one line, exit status 2 --------------------------------------


def run_script(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    """Run ``python ARGS`` from the repository root (bounded), capturing its output."""
    return subprocess.run(
        [sys.executable, *args],
        cwd=ROOT,
        env={**(os.environ if env is None else env), "PYTHONIOENCODING": "utf-8"},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def test_a_taken_port_is_one_error_line_and_exit_2() -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        listen = f"127.0.0.1:{port}"
        proc = run_script(
            str(PROXY_DIR / "hashlb_proxy.py"),
            *("-f", "examples/istio-canary/", "--endpoints", str(LOCAL_PODS)),
            *("--listen", listen),
        )
        backend = run_script(str(PROXY_DIR / "backend.py"), "--name", "x", "--listen", listen)
    assert proc.returncode == 2
    assert proc.stderr.splitlines() == [
        f"hashlb_proxy.py: error: cannot listen on {listen}: port {port} is already in use "
        "(stop what holds it, or pick another with --listen ADDRESS:PORT)"
    ]
    assert backend.returncode == 2
    assert backend.stderr.splitlines() == [
        f"backend.py: error: cannot listen on {listen}: port is already in use"
    ]
    # the docs page and the README show that line, for port 8080
    shown = [line.replace("8080", str(port)) for line in documented_text_blocks(DOC)]
    assert proc.stderr.splitlines()[0] in shown
    assert proc.stderr.splitlines()[0] in [
        line.replace("8080", str(port)) for line in documented_text_blocks(README)
    ]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("-f", "examples/no-such-dir/"), "examples/no-such-dir"),
        (("-f", "examples/istio-canary/", "--endpoints", "examples/istio-canary/"), "Pods"),
    ],
    ids=["missing-file", "endpoints-not-pods"],
)
def test_bad_yaml_is_one_error_line_and_exit_2(args: tuple[str, ...], message: str) -> None:
    proc = run_script(str(PROXY_DIR / "hashlb_proxy.py"), *args, "--listen", "127.0.0.1:0")
    assert proc.returncode == 2
    lines = proc.stderr.splitlines()
    assert len(lines) == 1 and lines[0].startswith("hashlb_proxy.py: error: "), lines
    assert message in lines[0]
    assert "Traceback" not in proc.stderr


def test_a_malformed_listen_address_is_a_usage_error() -> None:
    proc = run_script(str(PROXY_DIR / "hashlb_proxy.py"), "-f", str(MESH), "--listen", "127.0.0.1")
    assert proc.returncode == 2
    assert proc.stderr.splitlines()[-1] == (
        "hashlb_proxy.py: error: --listen: expected ADDRESS:PORT, got '127.0.0.1'"
    )
    assert "Traceback" not in proc.stderr


def test_sighup_swaps_in_the_reread_yaml(tmp_path: Path) -> None:
    """The canary ramp from the command line: edit the VirtualService, send SIGHUP."""
    mesh = tmp_path / "mesh"
    mesh.mkdir()
    for name in ("deployments.yaml", "destinationrule.yaml", "virtualservice.yaml"):
        (mesh / name).write_text((MESH / name).read_text(encoding="utf-8"), encoding="utf-8")
    with processes() as started:
        backends = {n: start_backend(started, n) for n in ("safe-0", "safe-1", "risky-0")}
        pods = local_pods_with({n: port for n, (_, port) in backends.items()}, tmp_path)
        proxy, port = start_proxy(started, "-f", str(mesh), "--endpoints", str(pods))
        users = [f"user-{i}" for i in range(20)]
        before = {u: get(port, u)[1].strip() for u in users}
        assert set(before.values()) >= {"safe-0", "safe-1"}
        vs = mesh / "virtualservice.yaml"
        text = vs.read_text(encoding="utf-8")
        assert text.count("weight: 90") == 1 and text.count("weight: 10") == 1
        vs.write_text(
            text.replace("weight: 90", "weight: 0").replace("weight: 10", "weight: 100"),
            encoding="utf-8",
        )
        proxy.proc.send_signal(signal.SIGHUP)
        proxy.wait_for(r"^reloaded: new router swapped in$")
        after = {u: get(port, u) for u in users}
        assert all(r == (200, "risky-0\n") for r in after.values()), after
        assert proxy.stop() == 0
    assert not any("Traceback" in line for line in proxy.seen)

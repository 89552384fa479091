"""Output files, for real: symlinks, FIFOs, devices, ``-``, ``/dev/stdout`` and broken pipes.

Every output option goes through one :class:`hashlb.cli.output.OutputSet`:
regular files are replaced atomically *through* symbolic links (keeping the
target's mode and owner), anything else is written directly after the run
succeeded, ``-`` is standard output, and a reader that stops early ends the
run quietly with exit status 141.  Each case runs the real command in a
subprocess; none depends on the twin.
"""

from __future__ import annotations

import json
import os
import stat
import subprocess
import sys
import threading
from pathlib import Path
from typing import Any

import pytest

from ._cli import EXAMPLE

SIM = ("simulate", "-f", str(EXAMPLE), "--users", "50")


@pytest.fixture
def dev(tmp_path: Path) -> Any:
    """Return ``dev(name)``: a path that behaves as ``/dev/NAME``, safe to test as root.

    As root, a regression (the rename this module guards against) would
    replace the machine's real ``/dev/null`` or ``/dev/stdout``; so root gets
    a private copy in *tmp_path* -- a character device made with ``mknod``
    or the same ``/proc/self/fd`` link -- that takes the same code path.
    Anyone else gets the real one, which they cannot replace.
    """
    devices = {"null": (1, 3), "full": (1, 7)}

    def make(name: str) -> Path:
        if os.geteuid() != 0:
            return Path("/dev") / name
        path = tmp_path / "dev" / name
        path.parent.mkdir(exist_ok=True)
        if not path.exists() and not path.is_symlink():
            if name in devices:
                os.mknod(path, 0o666 | stat.S_IFCHR, os.makedev(*devices[name]))
            else:  # stdout, stderr: /dev's own link into this process's descriptors
                path.symlink_to(os.readlink(f"/dev/{name}"))
        return path

    return make


def hashlb(
    *args: str | os.PathLike[str], cwd: Path, stdout: Any = subprocess.PIPE, **kw: Any
) -> subprocess.CompletedProcess[bytes]:
    """Run ``python -m hashlb ARGS`` on the suite's twin (bytes out)."""
    return subprocess.run(
        [sys.executable, "-m", "hashlb", *map(str, args)],
        cwd=cwd,
        stdout=stdout,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
        timeout=120,
        check=False,
        **kw,
    )


def ok(proc: subprocess.CompletedProcess[bytes]) -> None:
    assert proc.returncode == 0, proc.stderr.decode()[-2000:]
    assert b"Traceback" not in proc.stderr


def summary(path: Path) -> dict[str, Any]:
    data: dict[str, Any] = json.loads(path.read_text())
    assert data["schema"] == 1 and data["requests"] == 1000
    return data


def leftovers(*dirs: Path) -> list[str]:
    """Temporary files an output left behind."""
    return sorted(p.name for d in dirs for p in d.iterdir() if p.name.endswith(".tmp"))


def test_symlink_keeps_its_link_mode_and_owner(tmp_path: Path) -> None:
    """--json LINK replaces the link's target (atomically), not the link; mode and owner stay."""
    real = tmp_path / "real"
    real.mkdir()
    target = real / "summary.json"
    target.write_text("old")
    target.chmod(0o640)
    owner = (4321, 4321) if os.geteuid() == 0 else (os.getuid(), os.getgid())
    os.chown(target, *owner)  # as root: another user's file keeps its owner
    link = tmp_path / "link.json"
    link.symlink_to("real/summary.json")  # relative, as `ln -s` makes
    before = target.stat().st_ino
    ok(hashlb(*SIM, "--json", "link.json", "-q", cwd=tmp_path))
    assert link.is_symlink() and os.readlink(link) == "real/summary.json"
    summary(target)
    st = target.stat()
    assert stat.S_IMODE(st.st_mode) == 0o640
    assert (st.st_uid, st.st_gid) == owner
    assert st.st_ino != before  # replaced by rename, never truncated in place
    assert leftovers(tmp_path, real) == []


def test_link_chain_dangling_link_and_linked_directory(tmp_path: Path) -> None:
    """A chain of links, a dangling link (its target is created) and a linked directory."""
    (tmp_path / "d").mkdir()
    (tmp_path / "d" / "final.json").write_text("old")
    (tmp_path / "d" / "hop.json").symlink_to("final.json")
    (tmp_path / "chain.json").symlink_to("d/hop.json")
    (tmp_path / "dangling.jsonl").symlink_to("d/new.jsonl")
    (tmp_path / "linkdir").symlink_to("d", target_is_directory=True)
    ok(
        hashlb(
            *SIM,
            "--json",
            "chain.json",
            "--decisions",
            "dangling.jsonl",
            "--plot",
            "linkdir/p.png",
            "-q",
            cwd=tmp_path,
        )
    )
    assert (tmp_path / "chain.json").is_symlink() and (tmp_path / "d" / "hop.json").is_symlink()
    summary(tmp_path / "d" / "final.json")
    assert (tmp_path / "dangling.jsonl").is_symlink()
    assert len((tmp_path / "d" / "new.jsonl").read_text().splitlines()) == 1000
    assert (tmp_path / "linkdir").is_symlink()
    assert (tmp_path / "d" / "p.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    new = (tmp_path / "d" / "new.jsonl").stat()
    assert stat.S_IMODE(new.st_mode) == 0o666 & ~_umask()
    assert leftovers(tmp_path, tmp_path / "d") == []


def _umask() -> int:
    mask = os.umask(0o022)
    os.umask(mask)
    return mask


def _drain(path: Path, into: list[bytes]) -> threading.Thread:
    """Start a thread that opens *path* for reading and collects everything."""

    def read() -> None:
        with open(path, "rb") as f:
            into.append(f.read())

    t = threading.Thread(target=read, daemon=True)
    t.start()
    return t


def test_fifos_are_written_directly(tmp_path: Path) -> None:
    """--json FIFO and --decisions FIFO: each reader thread gets the output; FIFOs stay FIFOs."""
    j, d = tmp_path / "j.fifo", tmp_path / "d.fifo"
    os.mkfifo(j)
    os.mkfifo(d)
    got_j: list[bytes] = []
    got_d: list[bytes] = []
    threads = [_drain(j, got_j), _drain(d, got_d)]
    proc = hashlb(*SIM, "--json", j, "--decisions", d, cwd=tmp_path)
    for t in threads:
        t.join(timeout=60)
    ok(proc)
    assert json.loads(got_j[0])["requests"] == 1000
    assert len(got_d[0].decode().splitlines()) == 1000
    assert stat.S_ISFIFO(j.stat().st_mode) and stat.S_ISFIFO(d.stat().st_mode)
    assert b"stickiness:" in proc.stdout  # the report still goes to stdout


def test_failed_run_writes_nothing_anywhere(tmp_path: Path) -> None:
    """Bad input: a FIFO reader gets nothing, a linked file is untouched, no temporary file."""
    fifo = tmp_path / "out.fifo"
    os.mkfifo(fifo)
    reader = os.open(fifo, os.O_RDONLY | os.O_NONBLOCK)
    try:
        (tmp_path / "old.json").write_text("old")
        (tmp_path / "link.json").symlink_to("old.json")
        (tmp_path / "bad.yaml").write_text("kind: Frobnicator\n")
        proc = hashlb(
            "simulate",
            "-f",
            "bad.yaml",
            "--json",
            "link.json",
            "--decisions",
            fifo,
            "--plot",
            "-",
            cwd=tmp_path,
        )
        assert proc.returncode == 2
        assert proc.stderr.decode().count("\n") == 1 and b"unknown kind" in proc.stderr
        assert proc.stdout == b""
        assert os.read(reader, 100) == b""  # nobody ever wrote to the FIFO
    finally:
        os.close(reader)
    assert (tmp_path / "old.json").read_text() == "old"
    assert (tmp_path / "link.json").is_symlink()
    assert leftovers(tmp_path) == []


def test_dev_null_is_left_alone(tmp_path: Path, dev: Any) -> None:
    """--json /dev/null (as root, a rename would have replaced the device): nothing changes."""
    null = dev("null")
    before = os.stat(null)
    ok(hashlb(*SIM, "--json", null, "--decisions", null, cwd=tmp_path))
    after = os.stat(null)
    assert stat.S_ISCHR(after.st_mode)
    assert (after.st_ino, after.st_rdev) == (before.st_ino, before.st_rdev)
    assert leftovers(null.parent) == []


def test_dash_is_standard_output(tmp_path: Path) -> None:
    """'-' means stdout (no file named '-'); the report then stays off stdout."""
    proc = hashlb(*SIM, "--json", "-", cwd=tmp_path)
    ok(proc)
    assert json.loads(proc.stdout)["requests"] == 1000
    proc = hashlb(*SIM, "--decisions", "-", "--json", "s.json", cwd=tmp_path)
    ok(proc)
    lines = proc.stdout.decode().splitlines()
    assert len(lines) == 1000 and json.loads(lines[0])["request"] == 0
    summary(tmp_path / "s.json")
    assert not (tmp_path / "-").exists()
    proc = hashlb(
        "bench",
        "--hosts",
        "3",
        "--ring-sizes",
        "64",
        "--table-sizes",
        "101",
        "--keys",
        "1000",
        "--csv",
        "-",
        cwd=tmp_path,
    )
    ok(proc)
    assert proc.stdout.decode().splitlines()[0].startswith("algorithm,hosts,size,entries")
    assert len(proc.stdout.decode().splitlines()) == 3


def test_plot_to_standard_output(tmp_path: Path) -> None:
    """--plot - writes the PNG bytes to stdout (a pipe here; a terminal is refused)."""
    pytest.importorskip("matplotlib")
    proc = hashlb(*SIM, "--plot", "-", cwd=tmp_path)
    ok(proc)
    assert proc.stdout[:8] == b"\x89PNG\r\n\x1a\n"
    assert b"stickiness:" not in proc.stdout


def test_two_outputs_on_one_target_are_refused(tmp_path: Path, dev: Any) -> None:
    """Two outputs to stdout, or to one file under two names: refused before any work."""
    (tmp_path / "a.json").write_text("old")
    (tmp_path / "b.json").symlink_to("a.json")
    for args, message in [
        (("--json", "-", "--decisions", str(dev("stdout"))), "both write to standard output"),
        (
            ("--json", "a.json", "--decisions", "b.json"),
            "--decisions and --json both write 'a.json'",
        ),
        (("--json", ""), "--json: the path is empty"),
    ]:
        proc = hashlb(*SIM, *args, cwd=tmp_path)
        assert proc.returncode == 2 and message.encode() in proc.stderr, proc.stderr
        assert proc.stdout == b""
    assert (tmp_path / "a.json").read_text() == "old"


def test_dev_stdout_is_written_not_replaced(tmp_path: Path, dev: Any) -> None:
    """--json /dev/stdout: to a pipe, to a regular file (not replaced), and /dev/fd/N."""
    stdout = dev("stdout")
    proc = hashlb(*SIM, "--json", stdout, cwd=tmp_path)
    ok(proc)
    assert json.loads(proc.stdout)["requests"] == 1000
    assert stdout.is_symlink()  # the bug replaced /dev/stdout with a regular file
    out = tmp_path / "captured.txt"
    with open(out, "wb") as f:
        ino = os.fstat(f.fileno()).st_ino
        ok(hashlb(*SIM, "--json", stdout, cwd=tmp_path, stdout=f))
    assert out.stat().st_ino == ino and json.loads(out.read_text())["requests"] == 1000
    assert stdout.is_symlink()
    r, w = os.pipe()
    try:
        # The summary fits in the pipe's buffer, so nobody needs to read while it runs.
        proc = hashlb(*SIM, "--json", f"/dev/fd/{w}", "-q", cwd=tmp_path, pass_fds=(w,))
        os.close(w)
        w = -1
        with os.fdopen(r, "rb") as f:
            r = -1
            data = f.read()
    finally:
        for fd in (r, w):
            if fd >= 0:
                os.close(fd)
    ok(proc)
    assert json.loads(data)["requests"] == 1000


def _pipe_to_head(args: list[str], cwd: Path) -> tuple[int, bytes, bytes]:
    """Run ``hashlb ARGS | head -1`` with real processes; return (status, head's out, stderr)."""
    producer = subprocess.Popen(
        [sys.executable, "-m", "hashlb", *args],
        cwd=cwd,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        stdin=subprocess.DEVNULL,
    )
    assert producer.stdout is not None and producer.stderr is not None
    head = subprocess.Popen(["head", "-1"], stdin=producer.stdout, stdout=subprocess.PIPE)
    producer.stdout.close()  # head holds the only read end now
    first, _ = head.communicate(timeout=120)
    err = producer.stderr.read()
    producer.stderr.close()
    return producer.wait(timeout=120), first, err


def test_head_one_ends_quietly(tmp_path: Path) -> None:
    """`hashlb simulate ... | head -1`: exit 141, no traceback, and the files are still written."""
    code, first, err = _pipe_to_head(
        [*SIM, "--requests-per-user", "400", "--decisions", "-", "--json", "s.json"], tmp_path
    )
    assert json.loads(first)["request"] == 0
    assert (code, err) == (141, b"")
    assert json.loads((tmp_path / "s.json").read_text())["requests"] == 20000
    # The plain report, long enough (2,000 endpoints) to overflow the pipe buffer.
    (tmp_path / "big").mkdir()
    for p in EXAMPLE.glob("*.yaml"):
        text = (
            p.read_text()
            .replace("replicas: 2", "replicas: 2000")
            .replace("replicas: 1", "replicas: 1000")
        )
        (tmp_path / "big" / p.name).write_text(text)
    code, first, err = _pipe_to_head(["simulate", "-f", "big", "--users", "10"], tmp_path)
    assert first.startswith(b"hashlb simulate: ")
    assert (code, err) == (141, b"")


def test_closed_stdout_pipe(tmp_path: Path) -> None:
    """A pipe whose reader is already gone: exit 141 at the first write, nothing on stderr."""
    r, w = os.pipe()
    os.close(r)
    try:
        with os.fdopen(w, "wb") as out:
            proc = hashlb(*SIM, "--json", "-", cwd=tmp_path, stdout=out)
    except BrokenPipeError:  # pragma: no cover - closing our own end
        pass
    assert (proc.returncode, proc.stderr) == (141, b"")


def test_write_error_after_success_is_one_line(tmp_path: Path, dev: Any) -> None:
    """A device that refuses the bytes (/dev/full): one line, exit 1, the files still written."""
    full = dev("full")
    proc = hashlb(*SIM, "--json", "s.json", "--decisions", full, cwd=tmp_path)
    assert proc.returncode == 1
    assert proc.stderr.decode().strip() == (
        f"hashlb simulate: error: {full}: --decisions: cannot write: No space left on device"
    )
    summary(tmp_path / "s.json")
    assert stat.S_ISCHR(full.stat().st_mode)

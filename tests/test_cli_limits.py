"""Hostile and careless input to the command line: every count is capped, every refusal is clean.

Each refusal is one ``FILE:LINE: ...`` line (or one line naming the option),
exit status 2, no traceback and no output file.  The caps are defined once
in :mod:`hashlb._validate`; the cheap ones are hit for real, the expensive
ones with the cap lowered in-process (the code path is the same).

None of this depends on the twin (the refusals come before any table is
built), so these tests run on whichever twin the suite runs on; the one
test that builds tables asserts their sharing, not their contents.
"""

from __future__ import annotations

import os
import resource
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
import yaml

from hashlb import _source, _validate
from hashlb._validate import short
from hashlb.cli import _replay as cli_replay
from hashlb.cli import bench as cli_bench
from hashlb.cli import output as cli_output
from hashlb.cli import simulate as cli_simulate
from hashlb.cli import traffic as cli_traffic
from hashlb.istio import TableCache, build_engines, load_mesh, table_bytes
from hashlb.istio import _yaml as istio_yaml
from hashlb.istio import mesh as istio_mesh
from hashlb.istio import model as istio_model
from hashlb.istio import parse as istio_parse
from hashlb.istio import translate as istio_translate

from ._cli import EXAMPLE, run_in_process

#: The modules of hashlb.istio (each may import a cap from _validate).
ISTIO_MODULES = (istio_yaml, istio_model, istio_parse, istio_mesh, istio_translate)

MEMORY_LIMIT = 1 << 30  # address space of the CLI under test: a bomb would hit it


def _limit_memory() -> None:  # pragma: no cover - runs in the child
    resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))


def hashlb(
    *args: str | os.PathLike[str], cwd: Path, stdin: bytes = b""
) -> subprocess.CompletedProcess[str]:
    """Run ``python -m hashlb ARGS`` on the suite's twin, in 1 GiB of address space."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    proc = subprocess.run(
        [sys.executable, "-m", "hashlb", *map(str, args)],
        cwd=cwd,
        env=env,
        input=stdin,
        capture_output=True,
        timeout=120,
        check=False,
        preexec_fn=_limit_memory,
    )
    return subprocess.CompletedProcess(
        proc.args, proc.returncode, proc.stdout.decode(), proc.stderr.decode()
    )


def refusal(proc: subprocess.CompletedProcess[str]) -> str:
    """Assert a clean refusal (exit 2, one short stderr line, no stdout); return the line."""
    assert proc.returncode == 2, proc.stderr[-2000:]
    assert "Traceback" not in proc.stderr, proc.stderr[-2000:]
    lines = [x for x in proc.stderr.splitlines() if x.strip() and ": note: " not in x]
    assert len(lines) == 1, proc.stderr[-2000:]
    assert len(lines[0]) < 600, lines[0][:600]  # user data is never formatted in full
    assert proc.stdout == ""
    return lines[0]


@pytest.fixture
def set_cap(monkeypatch: pytest.MonkeyPatch) -> Callable[[str, int], None]:
    """Lower a cap in-process: in _validate (messages) and every module that uses it."""

    def set_(name: str, value: int) -> None:
        assert hasattr(_validate, name), name
        monkeypatch.setattr(_validate, name, value)
        for mod in (*ISTIO_MODULES, cli_simulate, cli_traffic, cli_replay):
            if hasattr(mod, name):
                monkeypatch.setattr(mod, name, value)

    return set_


DR = """\
apiVersion: networking.istio.io/v1beta1
kind: DestinationRule
metadata: {name: web}
spec:
  host: web
  trafficPolicy:
    loadBalancer:
      consistentHash: {httpHeaderName: x-user%(table)s}
  subsets:
%(subsets)s"""


def dr(subsets: int = 2, table: str = "") -> str:
    """A DestinationRule for host web with subsets v0..v{n-1} (label version)."""
    items = "".join(f"    - name: v{i}\n      labels: {{version: v{i}}}\n" for i in range(subsets))
    return DR % {"table": table, "subsets": items}


def pods(n: int = 2) -> str:
    """Pods web-0..web-{n-1}, pod i labelled version v{i}."""
    return "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web-{i}, labels: {{version: v{i}}}}}\n"
        f"status: {{podIP: 10.0.{i // 250}.{i % 250 + 1}}}\n"
        for i in range(n)
    )


def vs(routes: int = 1, dests: int = 2, match: bool = False) -> str:
    """A VirtualService with *routes* routes over subsets v0..v{dests-1}."""
    out = "---\napiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
    out += "metadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n"
    for r in range(routes):
        out += f"    - name: r{r}\n"
        if match:
            out += f"      match: [{{uri: {{prefix: /p{r}}}}}]\n"
        out += "      route:\n"
        for d in range(dests):
            out += f"        - destination: {{host: web, subset: v{d}}}\n          weight: 1\n"
    return out


def mesh_file(tmp_path: Path, text: str, name: str = "mesh.yaml") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


# --------------------------------------------------------------------------
# Item 9: the YAML alias bomb and its relatives.

#: /work/shared/repro/yaml_alias_bomb.yaml of issue #10 (559 bytes, 10**9 nodes).
ALIAS_BOMB = """\
apiVersion: v1
kind: ConfigMap
metadata: {name: c}
data:
  a0: &a0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol","lol"]
  a1: &a1 [*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0,*a0]
  a2: &a2 [*a1,*a1,*a1,*a1,*a1,*a1,*a1,*a1,*a1,*a1]
  a3: &a3 [*a2,*a2,*a2,*a2,*a2,*a2,*a2,*a2,*a2,*a2]
  a4: &a4 [*a3,*a3,*a3,*a3,*a3,*a3,*a3,*a3,*a3,*a3]
  a5: &a5 [*a4,*a4,*a4,*a4,*a4,*a4,*a4,*a4,*a4,*a4]
  a6: &a6 [*a5,*a5,*a5,*a5,*a5,*a5,*a5,*a5,*a5,*a5]
  a7: &a7 [*a6,*a6,*a6,*a6,*a6,*a6,*a6,*a6,*a6,*a6]
  a8: &a8 [*a7,*a7,*a7,*a7,*a7,*a7,*a7,*a7,*a7,*a7]
  ? *a8
  : x
"""


def test_alias_bomb_reproducer_is_refused(tmp_path: Path) -> None:
    """The 559-byte bomb (60 s and 2.1 GB before): refused at its line, in 1 GiB of memory."""
    assert len(ALIAS_BOMB.encode()) == 559
    path = mesh_file(tmp_path, ALIAS_BOMB, "yaml_alias_bomb.yaml")
    line = refusal(hashlb("simulate", "-f", path, "-q", cwd=tmp_path))
    assert "yaml_alias_bomb.yaml:9: YAML aliases stand for more than" in line
    assert "MAX_YAML_ALIAS_NODES = 100_000" in line


BOMBS = {
    # name: (YAML, the line of the refusal)
    "in-a-label": (
        "kind: Pod\nmetadata:\n  name: p\n  x: &a [1, 2, 3, 4, 5, 6, 7, 8, 9, 10]\n"
        + "".join(
            f"  x{i}: &a{i} [{', '.join(['*a' if i == 0 else f'*a{i - 1}'] * 10)}]\n"
            for i in range(8)
        )
        + "  labels: {v: *a7}\n",
        8,
    ),
    "merge-keys": (
        "a: &a {k0: 0, k1: 1, k2: 2, k3: 3, k4: 4, k5: 5, k6: 6, k7: 7, k8: 8, k9: 9}\n"
        + "".join(
            f"b{i}: &b{i} [{', '.join(['{<<: *a}' if i == 0 else f'*b{i - 1}'] * 10)}]\n"
            for i in range(8)
        ),
        5,
    ),
}


@pytest.mark.parametrize("case", sorted(BOMBS))
def test_alias_bomb_variants(tmp_path: Path, case: str) -> None:
    """Bombs in a value and through merge keys stop at the alias that crosses the budget."""
    text, line_no = BOMBS[case]
    proc = run_in_process("simulate", "-f", mesh_file(tmp_path, text), "-q", cwd=tmp_path)
    line = refusal(proc)
    assert f"mesh.yaml:{line_no}: YAML aliases stand for more than" in line, line


@pytest.fixture(params=["libyaml", "pure"])
def loader(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Run a loader test on libyaml's parser and on PyYAML's pure-Python one."""
    if request.param == "pure":
        monkeypatch.setattr(istio_yaml, "_Loader", istio_yaml._PyLoader)
    else:
        assert istio_yaml._CLoader is not None, "PyYAML without libyaml"
        monkeypatch.setattr(istio_yaml, "_Loader", istio_yaml._CLoader)
    return str(request.param)


YAML_REFUSALS = {
    # name: (YAML text, expected "LINE: message" fragment)
    "recursive-alias": ("a: &a [1, *a]\n", "1: recursive YAML alias *a (it is inside &a)"),
    "recursive-alias-in-mapping": ("a: &a\n  b: *a\n", "2: recursive YAML alias *a"),
    "undefined-alias": ("a: 1\nb: *nope\n", "2: undefined YAML alias *nope"),
    "deep-flow": ("a: " + "[" * 150 + "]" * 150 + "\n", "1: YAML nesting deeper than"),
    "deep-block": (
        "".join("  " * i + f"k{i}:\n" for i in range(150)) + "  " * 150 + "v\n",
        "101: YAML nesting deeper than MAX_YAML_DEPTH = 100 levels",
    ),
    "deep-through-aliases": (
        "a: &a " + "[" * 60 + "]" * 60 + "\nb: " + "[" * 43 + "*a" + "]" * 43 + "\n",
        "2: YAML nesting deeper than",
    ),
    "sequence-key": (
        "kind: Pod\n? [a, b]\n: c\n",
        "2: a mapping key must be a plain value, not a sequence",
    ),
    "mapping-key": (
        "kind: Pod\n? {a: b}\n: c\n",
        "2: a mapping key must be a plain value, not a mapping",
    ),
    "long-int-value": (
        "kind: Pod\nx: " + "9" * 5000 + "\n",
        "2: 'x': an integer of 5000 characters",
    ),
    "long-int-item": (
        "kind: Pod\nx: [1, " + "9" * 5000 + "]\n",
        "2: an integer of 5000 characters is too long",
    ),
    "long-int-key": ("kind: Pod\n? " + "9" * 5000 + "\n: 1\n", "2: an integer of 5000 characters"),
    "long-hex-int": ("kind: Pod\nx: 0x" + "f" * 100 + "\n", "2: 'x': an integer of 102 characters"),
    "control-character": (
        "kind: Pod\nx: a\x01b\n",
        "2: character U+0001 at column 5 is not allowed",
    ),
    "nul": ("kind: Pod\n\nx: \x00\n", "3: character U+0000 at column 4"),
}


@pytest.mark.parametrize("case", sorted(YAML_REFUSALS))
def test_yaml_refusals_name_the_line(loader: str, case: str) -> None:
    """Recursive/undefined aliases, depth, complex keys, long ints, control characters."""
    text, expected = YAML_REFUSALS[case]
    with pytest.raises(istio_yaml.InputError) as e:
        istio_yaml.load_yaml_documents(text, "f.yaml")
    assert f"f.yaml:{expected}" in str(e.value), str(e.value)
    assert len(str(e.value)) < 300


def test_depth_and_aliases_within_the_caps_load(loader: str) -> None:
    """Anchors that repeat small blocks, and nesting up to the cap, load as before."""
    text = (
        "base: &b {app: web, tier: front}\n"
        + "".join(f"p{i}: {{labels: *b, <<: *b, n: {i}}}\n" for i in range(50))
        + "deep: "
        + "[" * 99
        + "1"
        + "]" * 99
        + "\n"
    )
    ((doc, where),) = istio_yaml.load_yaml_documents(text, "ok.yaml")
    assert where.line == 1
    assert doc["p49"]["labels"] == {"app": "web", "tier": "front"}
    assert doc["p49"]["tier"] == "front" and doc["p49"]["n"] == 49
    assert doc.key_lines["p49"] == 51
    depth, x = 0, doc["deep"]
    while isinstance(x, list):
        depth, x = depth + 1, x[0]
    assert (depth, x) == (99, 1)


def test_node_and_alias_budgets_count_the_whole_run(
    set_cap: Callable[[str, int], None], tmp_path: Path
) -> None:
    """The budgets are per run: many files cannot add up to more than one large file."""
    set_cap("MAX_YAML_NODES", 500)
    one = "kind: Namespace\nmetadata: {name: n}\ndata: [" + ", ".join(["1"] * 100) + "]\n"
    for i in range(6):
        mesh_file(tmp_path, one, f"f{i}.yaml")  # 106 nodes each
    line = refusal(run_in_process("simulate", "-f", ".", "-q", cwd=tmp_path))
    assert "f4.yaml:3: the YAML input has more than MAX_YAML_NODES = 500 nodes" in line
    set_cap("MAX_YAML_NODES", 10**6)
    set_cap("MAX_YAML_ALIAS_NODES", 30)
    aliased = "kind: Namespace\na: &a [1, 2, 3, 4, 5, 6, 7, 8, 9]\nb: [*a, *a]\n"
    mesh_file(tmp_path, aliased, "f0.yaml")
    mesh_file(tmp_path, aliased, "f1.yaml")
    line = refusal(run_in_process("simulate", "-f", "f0.yaml", "-f", "f1.yaml", "-q", cwd=tmp_path))
    assert "f1.yaml:3: YAML aliases stand for more than MAX_YAML_ALIAS_NODES = 30 nodes" in line


def test_yaml_int_fields_name_file_line_and_field(tmp_path: Path) -> None:
    """Ints past Python's 4,300-digit limit, as YAML ints or decimal strings: FILE:LINE, field."""
    big = "9" * 5000
    deployment = (
        "apiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        f"  replicas: {big}\n  template: {{metadata: {{labels: {{app: web}}}}}}\n"
    )
    line = refusal(hashlb("simulate", "-f", mesh_file(tmp_path, deployment), "-q", cwd=tmp_path))
    assert line.endswith(
        "mesh.yaml:5: 'replicas': an integer of 5000 characters is too long (MAX_INT_DIGITS = 64)"
    ), line
    weight = vs().replace("weight: 1", f'weight: "{big}"', 1)
    line = refusal(
        run_in_process("simulate", "-f", mesh_file(tmp_path, dr() + pods() + weight), cwd=tmp_path)
    )
    assert "mesh.yaml:34: VirtualService 'web' route 'r0': weight: an integer of 5000" in line
    table = dr(table=f', maglev: {{tableSize: "{big}"}}')
    line = refusal(
        run_in_process("simulate", "-f", mesh_file(tmp_path, table + pods() + vs()), cwd=tmp_path)
    )
    assert "mesh.yaml:8: " in line and "'tableSize': an integer of 5000 characters" in line


def test_non_utf8_bom_and_byte_cap(tmp_path: Path, set_cap: Callable[[str, int], None]) -> None:
    """A bad byte names its line and column; a BOM is accepted; the byte cap covers stdin."""
    path = tmp_path / "latin1.yaml"
    path.write_bytes(b"kind: Pod\nmetadata:\n  name: caf\xe9\n")
    line = refusal(hashlb("simulate", "-f", path, cwd=tmp_path))
    assert line.endswith(
        "latin1.yaml:3: not UTF-8 text: byte 0xe9 at column 12 (invalid continuation byte)"
    ) or line.endswith(
        "latin1.yaml:3: not UTF-8 text: byte 0xe9 at column 12 (unexpected end of data)"
    ), line
    bom = tmp_path / "bom"
    bom.mkdir()
    (bom / "mesh.yaml").write_bytes(b"\xef\xbb\xbf" + (dr() + pods() + vs()).encode())
    proc = hashlb("simulate", "-f", bom, "--users", "3", "-q", cwd=tmp_path)
    assert proc.returncode == 0, proc.stderr
    set_cap("MAX_INPUT_BYTES", 1000)
    mesh_file(tmp_path, "kind: Namespace\n" + "#" * 1000)
    line = refusal(run_in_process("simulate", "-f", bom, "-f", "mesh.yaml", cwd=tmp_path))
    assert "mesh.yaml: the YAML input is larger than MAX_INPUT_BYTES = 1000 bytes" in line


def test_huge_file_and_device_are_refused_after_the_cap(tmp_path: Path) -> None:
    """A sparse 64 MiB + 1 file and /dev/zero are read only up to MAX_INPUT_BYTES."""
    huge = tmp_path / "huge.yaml"
    with open(huge, "wb") as f:
        f.truncate(_validate.MAX_INPUT_BYTES + 1)
    for path in (huge, Path("/dev/zero")):
        line = refusal(hashlb("simulate", "-f", path, cwd=tmp_path))
        assert f"{path}: the YAML input is larger than MAX_INPUT_BYTES = 67_108_864 bytes" in line


def test_unreadable_and_odd_paths(tmp_path: Path) -> None:
    """An unreadable file, a socket, a dangling link: one line each, never a traceback."""
    assert Path("/proc/self/mem").is_file()  # a regular file that read() refuses (EIO)
    line = refusal(hashlb("simulate", "-f", "/proc/self/mem", cwd=tmp_path))
    assert line.endswith("/proc/self/mem: cannot read: Input/output error"), line
    import socket

    sock_path = tmp_path / "s.yaml"
    with socket.socket(socket.AF_UNIX) as sock:
        sock.bind(str(sock_path))
        line = refusal(hashlb("simulate", "-f", sock_path, cwd=tmp_path))
    assert line.endswith("s.yaml: not a regular file, pipe or directory"), line
    (tmp_path / "dangling.yaml").symlink_to(tmp_path / "nowhere.yaml")
    line = refusal(hashlb("simulate", "-f", "dangling.yaml", cwd=tmp_path))
    assert "dangling.yaml: no such file or directory" in line


def test_directory_with_too_many_files(tmp_path: Path) -> None:
    """A directory with more than MAX_INPUT_FILES YAML files is refused without reading them."""
    d = tmp_path / "many"
    d.mkdir()
    for i in range(_validate.MAX_INPUT_FILES + 1):
        (d / f"f{i:04d}.yaml").write_text("kind: Namespace\n")
    for i in range(50):  # hidden and other files do not count
        (d / f".hidden{i}.yaml").write_text("")
        (d / f"notes{i}.txt").write_text("")
    line = refusal(hashlb("simulate", "-f", d, cwd=tmp_path))
    assert line.endswith(
        "many: more than MAX_INPUT_FILES = 1000 YAML files to read (every -f and --endpoints path together)"
    ), line
    (d / "f0000.yaml").unlink()  # exactly the cap: read (and rejected for what they hold)
    line = refusal(hashlb("simulate", "-f", d, cwd=tmp_path))
    assert "no VirtualService or DestinationRule in the input" in line


def test_stdin_and_pipes(tmp_path: Path) -> None:
    """-f - reads stdin once; --requests - too; -f accepts a FIFO (``-f <(cmd)``)."""
    text = (dr() + pods() + vs()).encode()
    proc = hashlb("simulate", "-f", "-", "--users", "4", "--json", "-", cwd=tmp_path, stdin=text)
    assert proc.returncode == 0, proc.stderr
    assert '"requests": 80' in proc.stdout
    line = refusal(hashlb("simulate", "-f", "-", "-f", "-", cwd=tmp_path, stdin=text))
    assert line.endswith("-: standard input ('-') can be read only once"), line
    line = refusal(hashlb("simulate", "-f", "-", "--requests", "-", cwd=tmp_path, stdin=text))
    assert "--requests - and -f - (or --endpoints -) both read standard input" in line
    mesh_file(tmp_path, dr() + pods() + vs())
    reqs = b'{"user": "a", "headers": {"x-user": "1"}}\n{"user": "b", "headers": {"x-user": "2"}}\n'
    proc = hashlb(
        "simulate", "-f", "mesh.yaml", "--requests", "-", "--json", "-", cwd=tmp_path, stdin=reqs
    )
    assert proc.returncode == 0, proc.stderr
    assert '"requests": 2' in proc.stdout and '"users": 2' in proc.stdout
    fifo = tmp_path / "mesh.fifo"
    os.mkfifo(fifo)
    writer = threading.Thread(target=fifo.write_bytes, args=(text,), daemon=True)
    writer.start()
    proc = hashlb("simulate", "-f", fifo, "--users", "4", "--json", "-", cwd=tmp_path)
    writer.join(timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert '"requests": 80' in proc.stdout


# --------------------------------------------------------------------------
# Item 10: the global budget, on the command line and in the YAML.


def test_request_counts_fail_fast(tmp_path: Path) -> None:
    """--requests-per-user 10**12 (ran forever) and friends: refused before the YAML is read."""
    cases = [
        (("--requests-per-user", str(10**12)), "--users 1000 x --requests-per-user 1000000000000"),
        (
            ("--users", "100000", "--requests-per-user", "101"),
            "= 10100000 requests, more than MAX_REQUESTS = 10_000_000",
        ),
        (("--users", str(2**20 + 1)), "--users 1048577 is more than MAX_USERS = 1_048_576"),
    ]
    for args, expected in cases:
        # -f names a file that does not exist: the count is refused first.
        line = refusal(hashlb("simulate", "-f", "missing.yaml", *args, cwd=tmp_path))
        assert expected in line, line
    proc = hashlb("simulate", "-f", EXAMPLE, "--users", "9" * 5000, cwd=tmp_path)
    assert proc.returncode == 2 and proc.stderr.startswith("usage: hashlb")
    assert "invalid positive integer" in proc.stderr and len(proc.stderr) < 2000


def test_jsonl_request_file_caps(tmp_path: Path, set_cap: Callable[[str, int], None]) -> None:
    """A --requests file: line length, nesting, long numbers, request and user counts."""
    mesh_file(tmp_path, dr() + pods() + vs())
    ok = '{"user": "u%d", "headers": {"x-user": "%d"}}\n'
    cases = [
        (
            '{"user": "a", "headers": {"x-user": ' + "1" * 5000 + "}}\n",
            "r.jsonl:3: a number of 5000 digits is too long (MAX_INT_DIGITS = 64)",
        ),
        (
            '{"user": ' + "[" * 100000 + "]" * 100000 + "}\n",
            "r.jsonl:3: malformed JSON: nested too deeply",
        ),
        (
            '{"user": "' + "x" * (_validate.MAX_REQUEST_LINE_BYTES + 1) + '"}\n',
            "r.jsonl:3: the line is longer than MAX_REQUEST_LINE_BYTES = 1_048_576 bytes",
        ),
        (
            '{"headers": {"x": {"deep": ' + "[" * 50 + "]" * 50 + "}}}\n",
            "r.jsonl:3: header 'x' must be a string, got {'deep': [[[...]]]}",
        ),
    ]
    for bad, expected in cases:
        (tmp_path / "r.jsonl").write_text(ok % (1, 1) + ok % (2, 2) + bad)
        line = refusal(
            run_in_process("simulate", "-f", "mesh.yaml", "--requests", "r.jsonl", cwd=tmp_path)
        )
        assert expected in line, line
    (tmp_path / "r.jsonl").write_text("".join(ok % (i, i) for i in range(10)))
    set_cap("MAX_REQUESTS", 5)
    line = refusal(
        run_in_process("simulate", "-f", "mesh.yaml", "--requests", "r.jsonl", cwd=tmp_path)
    )
    assert line.endswith("r.jsonl:6: more than MAX_REQUESTS = 5 requests"), line
    set_cap("MAX_REQUESTS", 100)
    set_cap("MAX_USERS", 3)
    line = refusal(
        run_in_process("simulate", "-f", "mesh.yaml", "--requests", "r.jsonl", cwd=tmp_path)
    )
    assert line.endswith("r.jsonl:4: more than MAX_USERS = 3 distinct users in the requests"), line


def test_long_user_names_are_kept_as_digests(tmp_path: Path) -> None:
    """Users are told apart by name; a long name costs 16 bytes, not its length."""
    mesh_file(tmp_path, dr() + pods() + vs())
    long_a, long_b = "a" * 5000, "a" * 4999 + "b"
    lines = [
        f'{{"user": "{u}", "headers": {{"x-user": "{u[-1]}"}}}}\n' for u in (long_a, long_b, long_a)
    ]
    (tmp_path / "r.jsonl").write_text("".join(lines))
    proc = run_in_process(
        "simulate", "-f", "mesh.yaml", "--requests", "r.jsonl", "--json", "-", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert '"users": 2' in proc.stdout and '"one_endpoint": 2' in proc.stdout
    assert cli_replay.user_key(long_a) != cli_replay.user_key(long_b)
    assert len(cli_replay.user_key(long_a)) == 16  # type: ignore[arg-type]


MESH_CAPS = {
    # name: (mesh YAML, expected fragment)
    "routes": (
        dr() + pods() + vs(routes=257, dests=1),
        "VirtualService 'web': more than MAX_ROUTES = 256 http routes",
    ),
    "subsets": (
        dr(subsets=65) + pods() + vs(),
        "DestinationRule 'web': more than MAX_SUBSETS = 64 subsets",
    ),
    "destinations-per-route": (
        dr(subsets=64) + pods(65) + vs(dests=65),
        "route 'r0': more than MAX_SUBSETS = 64 destinations",
    ),
    "match-conditions": (
        dr()
        + pods()
        + vs(routes=2).replace(
            "    - name: r1\n",
            "    - name: r1\n      match:\n        - headers:\n"
            + "".join(f"            h{i}: {{exact: x}}\n" for i in range(1025)),
        ),
        "more than MAX_MATCH_CONDITIONS = 1024 match conditions",
    ),
    "pods": (
        dr()
        + pods()
        + vs()
        + "".join(
            f"---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {{name: w{i}}}\nspec:\n"
            f"  replicas: 60000\n  template: {{metadata: {{labels: {{app: w{i}}}}}}}\n"
            for i in range(2)
        ),
        "Deployment 'w1': its 60000 replicas make more than MAX_PODS = 100_000 pods in the input",
    ),
}


@pytest.mark.parametrize("case", sorted(MESH_CAPS))
def test_mesh_caps_name_the_line(tmp_path: Path, case: str) -> None:
    """Routes, subsets, destinations, match conditions and pods over their caps: FILE:LINE."""
    text, expected = MESH_CAPS[case]
    line = refusal(run_in_process("simulate", "-f", mesh_file(tmp_path, text), "-q", cwd=tmp_path))
    assert line.startswith("hashlb simulate: error: ") and "mesh.yaml:" in line, line
    assert expected in line, line


def test_route_destination_and_endpoint_totals(
    tmp_path: Path, set_cap: Callable[[str, int], None]
) -> None:
    """The totals over every route: destinations and endpoints (lowered caps)."""
    mesh_file(tmp_path, dr(subsets=4) + pods(4) + vs(routes=3, dests=4, match=True))
    set_cap("MAX_DESTINATIONS", 10)
    line = refusal(run_in_process("simulate", "-f", "mesh.yaml", cwd=tmp_path))
    assert "route 'r2': the routes have more than MAX_DESTINATIONS = 10 destinations in all" in line
    set_cap("MAX_DESTINATIONS", 1024)
    set_cap("MAX_ROUTE_ENDPOINTS", 7)
    line = refusal(run_in_process("simulate", "-f", "mesh.yaml", cwd=tmp_path))
    assert "route 'r1': the route destinations have more than MAX_ROUTE_ENDPOINTS = 7" in line


def twenty_one_routes(table: int = 5000011) -> str:
    """The issue's case: 21 routes, each sending everything to one Maglev table of *table* slots."""
    text = dr(subsets=0, table=f", maglev: {{tableSize: {table}}}").replace("  subsets:\n", "")
    text += "".join(
        f"---\napiVersion: v1\nkind: Pod\nmetadata: {{name: web-{i}, labels: {{app: web}}}}\n"
        f"status: {{podIP: 10.0.0.{i + 1}}}\n"
        for i in range(3)
    )
    text += "---\napiVersion: networking.istio.io/v1beta1\nkind: VirtualService\n"
    text += "metadata: {name: web}\nspec:\n  hosts: [web]\n  http:\n"
    for r in range(21):
        text += f"    - name: r{r}\n      match: [{{uri: {{prefix: /p{r}}}}}]\n"
        text += "      route:\n        - destination: {host: web}\n"
    return text


def test_identical_tables_are_shared_between_routes(tmp_path: Path) -> None:
    """21 routes x one 5,000,011-slot Maglev (430 MB before): one table object for all."""
    mesh = load_mesh([str(mesh_file(tmp_path, twenty_one_routes()))])
    scenario = mesh.scenario()
    assert len(scenario.routes) == 21
    engines = build_engines(scenario, "envoy", 0)
    tables = {id(t) for e in engines for t in e.router.tables.values()}
    assert len(tables) == 1
    (table,) = {t for e in engines for t in e.router.tables.values()}
    assert table.table_size == 5000011
    assert all(e.router.hosts[0] is engines[0].router.hosts[0] for e in engines)
    # Each router still routes as a router built alone would.
    from hashlb.policy import Request

    alone = istio_translate.RouteEngine(scenario.routes[5], "envoy", 0)
    req = Request(headers={"x-user": "alice"})
    assert engines[5].route(req)[:2] == alone.route(req)[:2]


def test_table_cache_shares_by_value() -> None:
    """Same balancer, options and equal hosts: the same object; anything else: a new one."""
    from hashlb import Host

    cache = TableCache()
    a = [Host(f"10.0.0.{i}:80") for i in range(3)]
    b = [Host(f"10.0.0.{i}:80") for i in range(3)]  # equal, not identical
    t = cache.get("maglev", a, table_size=65537)
    assert cache.get("maglev", b, table_size=65537) is t
    assert cache.get("maglev", a, table_size=65521) is not t
    assert cache.get("maglev", a[:2], table_size=65537) is not t
    assert cache.factory("ring_hash")(a, min_ring_size=1024) is cache.get(
        "ring_hash", b, min_ring_size=1024
    )
    assert len(cache.tables) == 4


def test_total_table_memory_cap_refuses_before_building(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Three distinct 8,388,608-entry rings (96 MiB each) are over MAX_TABLE_BYTES: refused."""
    built: list[Any] = []
    monkeypatch.setattr(TableCache, "get", lambda *a, **k: built.append(a))
    text = (
        dr(subsets=3, table=", ringHash: {minimumRingSize: 8388608}")
        + pods(3)
        + vs(routes=3, dests=1, match=True)
    )
    text = text.replace("subset: v0}", "subset: v{R}}")
    for r in range(3):
        text = text.replace("subset: v{R}}", f"subset: v{r}}}", 1)
    line = refusal(run_in_process("simulate", "-f", mesh_file(tmp_path, text), cwd=tmp_path))
    assert (
        "mesh.yaml:" in line
        and "route 'r2': the ring and Maglev tables of the routes so far would take about 288 MiB"
        in line
    )
    assert "MAX_TABLE_BYTES = 268_435_456" in line
    assert built == []  # refused before any table was built
    assert table_bytes(("ring_hash", (("min_ring_size", 8388608),), (1, 2, 3))) == 12 * 8388608
    assert table_bytes(("maglev", (("table_size", 5000011),), (1, 2))) == 2 * 5000011


def test_plot_cap(tmp_path: Path) -> None:
    """--plot with more endpoints than MAX_PLOT_ENDPOINTS is refused before simulating."""
    pytest.importorskip("matplotlib")
    deployment = (
        "---\napiVersion: apps/v1\nkind: Deployment\nmetadata: {name: web}\nspec:\n"
        "  replicas: 201\n  template: {metadata: {labels: {version: v0}}}\n"
    )
    text = dr(subsets=1) + deployment + vs(dests=1)
    line = refusal(
        run_in_process("simulate", "-f", mesh_file(tmp_path, text), "--plot", "p.png", cwd=tmp_path)
    )
    assert (
        "--plot: the chart would have 201 endpoint bars, more than MAX_PLOT_ENDPOINTS = 200" in line
    )
    assert not (tmp_path / "p.png").exists()


BENCH = [
    (("--hosts", ",".join(["10"] * 17)), "17 values, more than MAX_BENCH_VALUES = 16"),
    (
        ("--keys", str(_validate.MAX_BENCH_KEYS + 1)),
        "--keys takes one count up to MAX_BENCH_KEYS = 20_000_000",
    ),
    (
        ("--hosts", ",".join(map(str, range(1, 17))), "--ring-sizes", "1,2,3,4,5"),
        "make 112 configurations, more than MAX_BENCH_CONFIGS = 64",
    ),
    (("--table-sizes", "9" * 60), "--table-sizes: " + "9" * 60 + " is not a prime <= 5000011"),
    (("--hosts", "9" * 5000), "invalid integer '999"),
]


@pytest.mark.parametrize("args,expected", BENCH)
def test_bench_sweep_caps(tmp_path: Path, args: tuple[str, ...], expected: str) -> None:
    """Bench list sizes, configurations, keys and huge numbers: refused at once."""
    proc = run_in_process("bench", *args, "-q", "--json", "b.json", cwd=tmp_path)
    assert proc.returncode == 2 and "Traceback" not in proc.stderr
    assert expected in proc.stderr, proc.stderr[:500]
    assert len(proc.stderr) < 2000
    assert not (tmp_path / "b.json").exists()


# --------------------------------------------------------------------------
# Messages never format unbounded values.


def test_short_is_bounded_for_any_value() -> None:
    """Huge strings, ints past the int-string limit, deep and wide containers, hostile reprs."""

    class Hostile:
        def __repr__(self) -> str:
            raise RuntimeError("no")

    cases: list[Any] = [
        "x" * 10**6,
        10**5000,
        -(10**5000),
        list(range(10**5)),
        {str(i): i for i in range(10**5)},
        [[[[[[["deep"]]]]]]],
        b"\x00" * 10**6,
        Hostile(),
        set(range(1000)),
    ]
    for value in cases:
        text = short(value)
        assert len(text) <= 120, text
    assert short(10**5000) == "<int of about 5001 digits>"
    assert short("abc") == "'abc'" and short(42) == "42" and short(None) == "None"
    assert short(Hostile()) == "<Hostile object>"
    ld = istio_yaml.LDict()
    ld.update({f"k{i}": i for i in range(1000)})
    assert short(ld).startswith("{'k0': 0, 'k1': 1,") and len(short(ld)) <= 120


def test_huge_names_are_truncated_in_errors(tmp_path: Path) -> None:
    """A 1 MB name or apiVersion in an error message is shown truncated, never whole."""
    name = "n" * 10**6
    text = (
        dr()
        .replace("metadata: {name: web}", f"metadata: {{name: {name}}}")
        .replace("v1beta1", "v9" + "x" * 10**6)
    )
    line = refusal(hashlb("simulate", "-f", mesh_file(tmp_path, text), cwd=tmp_path))
    assert "mesh.yaml:1: DestinationRule: unsupported apiVersion 'networking.istio.io/v9xxx" in line
    text = dr() + pods() + vs().replace("subset: v1}", f"subset: {name}}}")
    line = refusal(hashlb("simulate", "-f", mesh_file(tmp_path, text), cwd=tmp_path))
    assert "is not defined in DestinationRule 'web'" in line and "nnn...nnn" in line


def test_cli_source_has_no_unbounded_repr() -> None:
    """No CLI or hashlb.istio module formats a value with !r or repr() into a message (use short())."""
    for mod in (_source, *ISTIO_MODULES, cli_simulate, cli_traffic, cli_output, cli_bench):
        text = Path(mod.__file__ or "").read_text()
        assert "!r}" not in text.replace("{self.file!r}", ""), mod.__name__
        assert "json.dumps(value)" not in text


def test_loader_yaml_safe_tags_only(loader: str) -> None:
    """Only safe tags: a Python object tag is a malformed-YAML refusal with its line."""
    with pytest.raises(istio_yaml.InputError) as e:
        istio_yaml.load_yaml_documents(
            "a: 1\nb: !!python/object/apply:os.system ['true']\n", "t.yaml"
        )
    assert "t.yaml:2: malformed YAML" in str(e.value)
    assert isinstance(yaml.safe_load("a: 1"), dict)


def test_match_regex_is_linear_time_re2(tmp_path: Path) -> None:
    """A VirtualService regex match runs on RE2, as Envoy's: no catastrophic backtracking."""
    pytest.importorskip("re2")
    redos = vs(dests=1).replace(
        "      route:\n",
        "      match: [{headers: {x-user: {regex: '^(\\w+\\s?)*$'}}}]\n      route:\n",
        1,
    )
    mesh_file(tmp_path, dr(subsets=1) + pods(1) + redos)
    # 40 characters: 2**40 steps for a backtracking engine (the subprocess would time out).
    (tmp_path / "r.jsonl").write_text('{"user": "a", "headers": {"x-user": "' + "a" * 40 + '!"}}\n')
    proc = hashlb(
        "simulate", "-f", "mesh.yaml", "--requests", "r.jsonl", "--json", "-", cwd=tmp_path
    )
    assert proc.returncode == 0, proc.stderr
    assert '"unrouted": 1' in proc.stdout
    backref = redos.replace("'^(\\w+\\s?)*$'", "'(a)\\1'")
    mesh_file(tmp_path, dr(subsets=1) + pods(1) + backref)
    line = refusal(hashlb("simulate", "-f", "mesh.yaml", cwd=tmp_path))
    assert "match headers 'x-user': bad regex: invalid escape sequence: \\1" in line, line

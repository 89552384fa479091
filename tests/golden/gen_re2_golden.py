"""Generate ``re2_global_replace.json``: Envoy's ``regex_rewrite`` results from real RE2.

Each case is a (pattern, substitution, text) run through ``RE2::GlobalReplace``
by the small C++ oracle ``re2_oracle.cc`` (the call Envoy's
``Regex::Utility`` makes), so the file pins Envoy's behaviour independently
of hashlb's own replacement loop: empty matches, invalid UTF-8, multi-byte
characters, anchors, RE2-only syntax.  Patterns RE2 rejects are recorded
with ``"error": true``.  Needs ``g++`` and RE2's headers (Debian:
``apt-get install libre2-dev``).  Run from the repository root::

    python tests/golden/gen_re2_golden.py
"""

from __future__ import annotations

import json
import random
import subprocess
import tempfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
OUT = HERE / "re2_global_replace.json"

#: Hand-picked cases: the spec's vectors, empty-match rules, UTF-8 edges, RE2 syntax.
FIXED: list[tuple[str, str, bytes]] = [
    ("test", "replaced", b"test-value"),
    (r"^/(\w+)$", r"\1", b"/foo"),
    ("a*", "-", b"baaac"),
    ("", "-", b"abc"),
    ("", "-", "é€😀".encode()),
    ("", "-", b"\xff\xc3(\xed\xa0\x80\xf4\x90\x80\x80"),
    ("x*", "-", "a€".encode()),
    ("(a)|b", r"[\1]", b"ab"),
    ("(a)|(b)", r"[\2]", b"ab"),
    ("^", ">", b"ab"),
    ("$", "<", b"ab"),
    (r"\b", "|", b"ab cd"),
    ("a|", "-", b"bab"),
    (".", "-", b"a\xff\xc3\xa9"),
    (r"\C", "-", "é".encode()),
    ("(?i)TEST", "x", b"Test tEsT"),
    ("[[:alpha:]]+", r"\0\0", b"ab1cd"),
    (r"\pL", "_", "aé1".encode()),
    (r"(\w+)@(\w+)", r"\2 at \1", b"me@host, you@there"),
    (r"(\d+)", r"<\1\\>", b"a1b22"),
    (r"^(\w+\s?)*$", r"\0", b"a" * 24 + b"!"),
    ("a", "", b""),
    ("", "", b""),
    ("(a)", "\\1\\1", b"\x00a\x00"),
    ("(?s).", "#", b"a\nb"),
    (".", "#", b"a\nb"),
    (r"(?m)^", ">", b"a\nb"),
    ("a{2}", "-", b"aaaaa"),
    ("(a)\\1", "-", b"aa"),
    ("(?=a)", "-", b"a"),
    ("a{1001}", "-", b"a"),
    (r"\Z", "-", b"a"),
    ("(?P<user>\\w+)", r"[\1]", b"alice bob"),
]

_ATOMS = [
    "a", "b", ".", r"\w", r"\d", r"\s", r"\b", "^", "$", "é", "[a-c]", "[^a]",
    "(?:a|b)", "x", r"\pL", "[[:alpha:]]", "(?s:.)", r"\x{e9}", "(?i)a", r"\C",
]  # fmt: skip
_CHARS = [
    b"a", b"b", b"x", b" ", b"\n", "é".encode(), "€".encode(), "😀".encode(), b"\xff",
    b"\xc3", b"\xed\xa0\x80", b"\xf4\x90\x80\x80", b"\xc0\x80", b"1",
]  # fmt: skip


def _random_cases(n: int, seed: int = 10) -> list[tuple[str, str, bytes]]:
    rng = random.Random(seed)

    def pattern(depth: int = 0) -> str:
        k = rng.random()
        if depth > 2 or k < 0.35:
            return rng.choice(_ATOMS)
        if k < 0.5:
            return pattern(depth + 1) + pattern(depth + 1)
        if k < 0.6:
            return "(" + pattern(depth + 1) + ")"
        if k < 0.7:
            return pattern(depth + 1) + "|" + pattern(depth + 1)
        quant = rng.choice(["*", "+", "?", "*?", "+?", "??", "{0,2}"])
        return "(" + pattern(depth + 1) + ")" + quant

    out = []
    for _ in range(n):
        p = pattern()
        groups = p.count("(") - p.count("(?")
        choices = ["-", "<", r"\0", "\\\\", "é"] + [f"\\{g}" for g in range(1, groups + 1)]
        sub = "".join(rng.choice(choices) for _ in range(rng.randrange(0, 4)))
        text = b"".join(rng.choice(_CHARS) for _ in range(rng.randrange(0, 12)))
        out.append((p, sub, text))
    return out


def _hex(b: bytes) -> str:
    return b.hex() or "-"


def main() -> None:
    cases = FIXED + _random_cases(400)
    with tempfile.TemporaryDirectory() as tmp:
        exe = Path(tmp) / "re2_oracle"
        subprocess.run(
            ["g++", "-O1", "-std=c++17", str(HERE / "re2_oracle.cc"), "-o", str(exe), "-lre2"],
            check=True,
        )
        lines = "".join(f"{_hex(p.encode())} {_hex(s.encode())} {_hex(t)}\n" for p, s, t in cases)
        out = subprocess.run([str(exe)], input=lines, capture_output=True, text=True, check=True)
    results = out.stdout.split()
    assert len(results) == len(cases)
    rows = []
    for (p, s, t), r in zip(cases, results, strict=True):
        row: dict[str, object] = {"pattern": p, "substitution": s, "text": t.hex()}
        if r == "ERR":
            row["error"] = True
        else:
            row["expected"] = "" if r == "-" else r
        rows.append(row)
    doc = {
        "source": "RE2::GlobalReplace(&text, RE2(pattern, RE2::Quiet), substitution); "
        "tests/golden/re2_oracle.cc; text and expected are hex",
        "cases": rows,
    }
    OUT.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n")
    print(f"wrote {OUT} ({len(rows)} cases)")


if __name__ == "__main__":
    main()

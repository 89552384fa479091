"""The docs and the public docstrings cite Envoy's and Istio's sources, never internal notes.

Users have no "spec §N", no ``envoy-lb.md`` and no "seed notes": the docs pages
and every docstring ``help()`` shows for a public name point at Envoy's or
Istio's source files and docs instead.  The first line of a public docstring
(the summary ``help()`` and IDEs show) is plain text, without reST roles.

The ``KNOWN_*`` sets list what another change still has to convert (pages and
docstrings that change owns); each entry must still fail, so the sets only
shrink.
"""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Iterator
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
DOCS = ROOT / "docs"

#: Words that point at files a user does not have.
INTERNAL = re.compile(
    r"spec(-2)?\s*§"  # spec §4.2, spec-2 §14
    r"|\bspec-2\b"
    r"|\bspec\s+``"  # spec ``envoy-lb.md``
    r"|\bspec section\b"
    r"|\bthe spec\b|\bspec's\b"
    r"|envoy-lb(-2)?\.md"
    r"|\bseed notes?\b"
    r"|\(§\s*\d"  # a bare "(§14.1)"
    r"|(?-i:\bUNVERIFIED\b)",
    re.IGNORECASE,
)
#: A reST role in a summary line: :class:`X`, :meth:`~a.b`, :func:...
ROLE = re.compile(r":[a-z]+(:[a-z]+)?:`")

#: Pages (relative to docs/) another change owns and has not converted yet.
KNOWN_PAGES: frozenset[str] = frozenset()

#: Public docstrings whose text lives in files another change owns
#: (src/hashlb/_hashing_doc.py, _maglev_doc.py, _ring_doc.py, _policy_doc.py,
#: hashlb/istio/, hashlb/envoy/).
KNOWN_DOCSTRINGS: frozenset[str] = frozenset()

#: Summary lines with a reST role, in files another change owns (the same files).
KNOWN_ROLES: frozenset[str] = frozenset()

#: The modules whose names are public.
PUBLIC_MODULES = (
    "hashlb",
    "hashlb.bounded",
    "hashlb.cluster",
    "hashlb.errors",
    "hashlb.grpc",
    "hashlb.hashing",
    "hashlb.maglev",
    "hashlb.policy",
    "hashlb.request",
    "hashlb.ring",
    "hashlb.router",
    "hashlb.subset",
    "hashlb.versions",
    "hashlb.weighted",
    "hashlb.istio",
    "hashlb.envoy",
)


def _pages() -> list[str]:
    return sorted(str(p.relative_to(DOCS)) for p in DOCS.rglob("*.rst") if "_build" not in p.parts)


def _public(module: object) -> list[str]:
    names = getattr(module, "__all__", None)
    if names is None:
        names = [n for n in vars(module) if not n.startswith("_")]
    return sorted(names)


def _docstrings() -> Iterator[tuple[str, str]]:
    """Yield (dotted name, docstring) for every public module, name and member, once."""
    seen: set[int] = set()

    def visit(name: str, obj: object) -> Iterator[tuple[str, str]]:
        if id(obj) in seen:
            return
        seen.add(id(obj))
        doc = inspect.getdoc(obj)
        if doc:
            yield name, doc
        if inspect.isclass(obj):
            for attr, value in vars(obj).items():
                if attr.startswith("_") and attr != "__init__":
                    continue
                yield from visit(f"{name}.{attr}", value)

    for modname in PUBLIC_MODULES:
        module = importlib.import_module(modname)
        yield from visit(modname, module)
        for attr in _public(module):
            value = getattr(module, attr)
            if inspect.ismodule(value):
                continue
            yield from visit(f"{modname}.{attr}", value)


def _page_hits(page: str) -> list[str]:
    text = (DOCS / page).read_text(encoding="utf-8")
    return [
        f"{page}:{n}: {line.strip()}"
        for n, line in enumerate(text.splitlines(), 1)
        if INTERNAL.search(line)
    ]


@pytest.mark.parametrize("page", _pages())
def test_docs_page_has_no_internal_references(page: str) -> None:
    hits = _page_hits(page)
    if page in KNOWN_PAGES:
        assert hits, f"{page} is clean now: remove it from KNOWN_PAGES"
    else:
        assert not hits, "\n".join(hits)


def test_public_docstrings_have_no_internal_references() -> None:
    bad = {name for name, doc in _docstrings() if INTERNAL.search(doc)}
    assert bad - KNOWN_DOCSTRINGS == set(), sorted(bad - KNOWN_DOCSTRINGS)
    assert KNOWN_DOCSTRINGS - bad == set(), (
        f"clean now, remove from KNOWN_DOCSTRINGS: {sorted(KNOWN_DOCSTRINGS - bad)}"
    )


def _summary(doc: str) -> str:
    """The first line help() shows after a compiled class's ``name(sig)`` / ``--`` lines."""
    lines = [ln for ln in doc.splitlines() if ln.strip()]
    return lines[0] if lines else ""


def test_public_docstring_summaries_have_no_rest_roles() -> None:
    bad = {name for name, doc in _docstrings() if ROLE.search(_summary(doc))}
    assert bad - KNOWN_ROLES == set(), sorted(bad - KNOWN_ROLES)
    assert KNOWN_ROLES - bad == set(), (
        f"clean now, remove from KNOWN_ROLES: {sorted(KNOWN_ROLES - bad)}"
    )


def test_the_patterns_catch_what_they_must() -> None:
    for text in (
        "exactly (spec §9.1)",
        "(spec ``envoy-lb-2.md`` §14-15)",
        "spec-2 §16.2",
        "as the seed notes say",
        "a level (§14.1).",
        "Where the spec is silent",
    ):
        assert INTERNAL.search(text), text
    for text in (
        "``source/common/router/weighted_cluster_specifier.cc``",
        "RFC 9110 §7.6.1",
        "the Maglev paper (NSDI 2016, §3.4)",
        "spec:\n  host: x",
        "``spec.hosts``",
    ):
        assert not INTERNAL.search(text), text
    assert ROLE.search("Return the :class:`Host` chosen")
    assert not ROLE.search("Return the Host chosen (``Host``)")

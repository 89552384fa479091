"""Docstrings written once for both twins.

A twin pair exports the same names with the same docstrings (the parity
tests assert it).  Rather than write each twice, a unit keeps its public
docstrings in a plain module ``_<unit>_doc.py``: a mapping ``DOCS`` from a
dotted name in the twin's namespace (``"RingHash"``, ``"RingHash.lookup"``,
``"xxh64"``) to the text.  Each twin attaches them once, at the end of its
import: the pure twin with :func:`attach`, the compiled twin with
``attach_docs`` from ``_cpython.pxd``, which writes the C string tables
CPython reads a compiled object's docstring from (``_docslots.h``).

A text may begin with the ``name(signature)`` line and the ``--`` line that
CPython parses into ``__text_signature__`` (the convention is explained in
``docs/explanation/performance-model.rst``): compiled classes and
``binding(False)`` methods need it for :func:`inspect.signature`; it is
dropped wherever the signature comes from the code itself.

A name that does not resolve raises :class:`LookupError` at import: a
renamed method cannot silently lose its docstring.
"""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import Any

__all__ = ("assign", "attach", "public_names", "strip_signature", "targets")


def strip_signature(text: str) -> str:
    """Return *text* without a leading ``name(...)`` / ``--`` signature block."""
    head, sep, rest = text.partition("\n--\n\n")
    if sep and "\n" not in head and head.endswith(")") and "(" in head:
        return rest
    return text


def targets(namespace: Mapping[str, Any], docs: Mapping[str, str]) -> Iterator[tuple[Any, str]]:
    """Yield ``(object, text)`` for each entry of *docs*, resolved in *namespace*.

    A dotted name is looked up in the class ``__dict__`` itself: the raw
    descriptor (a property, a method descriptor, a classmethod).
    """
    for name, text in docs.items():
        first, *rest = name.split(".")
        try:
            obj = namespace[first]
            for attr in rest:
                obj = vars(obj)[attr]
        except (KeyError, TypeError):
            raise LookupError(f"docstring for {name!r}: no such object") from None
        yield obj, text


def assign(obj: Any, text: str) -> None:
    """Set *obj*'s ``__doc__`` (and a classmethod's or staticmethod's function's)."""
    doc = strip_signature(text)
    if isinstance(obj, (classmethod, staticmethod)):
        obj.__func__.__doc__ = doc
    obj.__doc__ = doc


def attach(namespace: Mapping[str, Any], docs: Mapping[str, str]) -> None:
    """Give the pure twin's objects in *namespace* their docstrings."""
    for obj, text in targets(namespace, docs):
        assign(obj, text)


def public_names(docs: Mapping[str, str], *also: str) -> tuple[str, ...]:
    """Return a compiled twin's ``__all__``: the names its docstring table documents, and *also*.

    The compiled twin takes its export list from the table both twins share
    instead of repeating the pure twin's literal (which mypy needs as written);
    ``tests/test_parity.py`` checks that the two are equal.  The order is
    ruff's (isort-style): constants, then classes, then functions.
    """
    names = {k for k in docs if "." not in k and not k.startswith("_")} | set(also)
    return tuple(sorted(names, key=lambda n: (0 if n.isupper() else 1 if n[0].isupper() else 2, n)))

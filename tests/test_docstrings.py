"""The docstrings both twins share: written once in ``_<unit>_doc.py``, attached at import."""

from __future__ import annotations

import importlib
import inspect
from typing import Any

import pytest

from hashlb._docstrings import attach, strip_signature, targets

from ._impl import Implementation, units


def _shared(unit: str) -> dict[str, str]:
    return importlib.import_module(f"hashlb._{unit}_doc").DOCS  # type: ignore[no-any-return]


def _resolve(mod: Any, name: str) -> Any:
    first, *rest = name.split(".")
    obj = getattr(mod, first)
    for attr in rest:
        obj = getattr(obj, attr)
    return obj


@pytest.mark.parametrize("unit", units())
def test_every_shared_docstring_is_attached(impl: Implementation, unit: str) -> None:
    """Each text of ``_<unit>_doc.py`` is the twin object's docstring, signature lines aside."""
    mod = impl.module(unit)
    docs = _shared(unit)
    assert docs, unit
    for name, text in docs.items():
        got = inspect.getdoc(_resolve(mod, name))
        assert got == inspect.cleandoc(strip_signature(text)), f"{unit}: {name}"


@pytest.mark.parametrize("unit", units())
def test_every_public_object_has_its_own_docstring(impl: Implementation, unit: str) -> None:
    """No exported name or public member is left without a docstring, or with a generic one."""
    mod = impl.module(unit)
    generic = {inspect.getdoc(property), inspect.getdoc(object), inspect.getdoc(type)}
    for name in mod.__all__:
        obj = getattr(mod, name)
        if not (callable(obj) or isinstance(obj, type)):
            continue  # a constant
        members = [(name, obj)]
        if isinstance(obj, type):
            members += [
                (f"{name}.{attr}", value)
                for attr, value in vars(obj).items()
                if not attr.startswith("_")
            ]
        for label, member in members:
            doc = inspect.getdoc(member)
            assert doc and doc not in generic, f"{unit}: {label} has no docstring of its own"
            assert not doc.startswith("attrgetter("), f"{unit}: {label} shows its getter's doc"


@pytest.mark.c_extension
@pytest.mark.parametrize("unit", units())
def test_compiled_signature_lines_become_text_signatures(unit: str) -> None:
    """A shared text's ``name(...)`` / ``--`` lines are the compiled object's signature."""
    mod = importlib.import_module(f"hashlb._{unit}_c")
    for name, text in _shared(unit).items():
        if strip_signature(text) == text:
            continue
        obj = _resolve(mod, name)
        head = text.partition("\n--\n\n")[0]
        sig = head[head.index("(") :]
        assert obj.__text_signature__ == sig, name  # CPython parsed the C string
        assert inspect.signature(obj).parameters, name
        assert "\n--\n" not in (obj.__doc__ or ""), f"{name}: signature lines left in __doc__"


def test_strip_signature() -> None:
    """Only a leading one-line ``name(...)`` and ``--`` are dropped."""
    assert strip_signature("f(a, b=1)\n--\n\nText.\n") == "Text.\n"
    assert strip_signature("Text.\n--\n\nMore.") == "Text.\n--\n\nMore."
    assert strip_signature("Text (with a parenthesis)\nand more") == (
        "Text (with a parenthesis)\nand more"
    )
    assert strip_signature("") == ""


def test_unknown_name_fails_loudly() -> None:
    """A renamed object cannot lose its docstring quietly: attaching raises."""

    class Table:
        def lookup(self) -> None: ...

    with pytest.raises(LookupError, match=r"'Table\.pick'"):
        attach({"Table": Table}, {"Table.pick": "Text."})
    with pytest.raises(LookupError, match="'Ring'"):
        list(targets({"Table": Table}, {"Ring": "Text."}))


def test_attach_reaches_properties_and_classmethods() -> None:
    """A property's and a classmethod's docstring are set on the object Python reads."""

    class Table:
        size = property(lambda self: 1)

        @classmethod
        def build(cls) -> None: ...

    attach(
        {"Table": Table},
        {"Table": "Table(n)\n--\n\nA table.", "Table.size": "Size.", "Table.build": "Build."},
    )
    assert Table.__doc__ == "A table."
    assert inspect.getdoc(Table.size) == "Size."
    assert Table.build.__doc__ == "Build."


@pytest.mark.c_extension
def test_compiled_docstrings_outlive_the_module_dict() -> None:
    """The C docstring tables own their texts: clearing the module's dict (as interpreter
    teardown does) leaves every static docstring readable."""
    import subprocess
    import sys

    code = (
        "import gc, hashlb._ring_c as m\n"
        "cls = m.RingHash\n"
        "want = (cls.__doc__, cls.lookup.__doc__, cls.hosts.__doc__)\n"
        "m.__dict__.clear(); gc.collect()\n"
        "junk = [bytes(range(256)) * 8 for _ in range(20000)]\n"
        "assert (cls.__doc__, cls.lookup.__doc__, cls.hosts.__doc__) == want\n"
        "print('ok')\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0 and proc.stdout.strip() == "ok", proc.stderr

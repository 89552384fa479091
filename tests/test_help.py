"""``help()`` reads well (#16): public module names, no reST markup in the first paragraph.

The dispatchers give the selected twin's objects the module users import
them from (``hashlb``, ``hashlb.policy``, ``hashlb.bounded``): ``help()``,
``repr()`` of the class and pickles name it.  The other twin keeps its
private module name, so its objects still pickle as what they are.
"""

from __future__ import annotations

import inspect
import pickle
import pydoc
import re
from typing import Any

import pytest

import hashlb
import hashlb.bounded
import hashlb.cluster
import hashlb.policy
from hashlb._docstrings import strip_signature

from ._impl import Implementation

#: reST markup that help() would show raw: a role, inline literals, interpreted text.
MARKUP = re.compile(r":[a-z:]+:`|``|`[^`\s][^`]*`")
MODULES = (hashlb, hashlb.policy, hashlb.cluster, hashlb.bounded)


def public_objects() -> list[tuple[str, Any]]:
    """Every class and function of the public modules' ``__all__``, once each."""
    seen: dict[int, tuple[str, Any]] = {}
    for module in MODULES:
        for name in module.__all__:
            obj = getattr(module, name)
            if inspect.isclass(obj) or inspect.isroutine(obj):
                seen.setdefault(id(obj), (f"{module.__name__}.{name}", obj))
    return list(seen.values())


def first_paragraph(obj: Any) -> str:
    return strip_signature(inspect.getdoc(obj) or "").split("\n\n")[0]


@pytest.mark.parametrize("name", [n for n, _ in public_objects()])
def test_help_names_a_public_module(name: str) -> None:
    """help(obj)'s first line names a module users import, never a private twin."""
    module, _, attr = name.rpartition(".")
    obj = getattr(__import__(module, fromlist=["_"]), attr)
    first = pydoc.render_doc(obj, renderer=pydoc.plaintext).splitlines()[0]
    home = first.rsplit(" in module ", 1)[-1]
    assert " in module " in first and not any(p.startswith("_") for p in home.split(".")), first
    assert hasattr(__import__(home, fromlist=["_"]), obj.__name__), (home, obj.__name__)
    assert not any(p.startswith("_") for p in obj.__module__.split("."))


@pytest.mark.parametrize("name", [n for n, _ in public_objects()])
def test_first_paragraph_has_no_rest_markup(name: str) -> None:
    """The summary help() shows first is plain text: no roles, no inline literals."""
    module, _, attr = name.rpartition(".")
    obj = getattr(__import__(module, fromlist=["_"]), attr)
    text = first_paragraph(obj)
    assert text, f"{name} has no docstring"
    assert not MARKUP.search(text), f"{name}: {text!r}"


def test_selected_twin_is_public_the_other_keeps_its_module(impl: Implementation) -> None:
    """The twin in use names hashlb; the other names its private module, and both pickle."""
    selected = impl.tag == hashlb.IMPLEMENTATION
    table = impl.Maglev([hashlb.Host("10.0.0.1:80"), hashlb.Host("10.0.0.2:80")], table_size=7)
    header = impl.Header("x-user")
    result = impl.HashResult(5)
    for obj, public in ((table, "hashlb"), (header, "hashlb"), (result, "hashlb.policy")):
        cls = type(obj)
        want = public if selected else cls.__module__
        assert cls.__module__ == want
        if not selected:
            assert re.fullmatch(rf"hashlb\._[a-z]+_{impl.tag}", cls.__module__), cls.__module__
        assert repr(cls) == f"<class '{want}.{cls.__name__}'>"
        back = pickle.loads(pickle.dumps(obj))
        assert type(back) is cls
    assert (
        f"in module {'hashlb' if selected else impl.module('maglev').__name__}"
        in (pydoc.render_doc(impl.Maglev, renderer=pydoc.plaintext).splitlines()[0])
    )


def test_twin_errors_still_name_their_class(impl: Implementation) -> None:
    """A method's repr and errors name its hashlb class, whatever its module is called."""
    assert repr(impl.Header("x-user")) == "Header('x-user', terminal=False)"

    class Mine(impl.Cookie):  # type: ignore[misc, name-defined]
        pass

    assert repr(Mine("s")).startswith("Cookie(")
    blank = impl.Header.__new__(impl.Header)
    assert repr(blank) == "<Header object (not initialised)>"
    with pytest.raises(TypeError, match="Header object is not initialised"):
        pickle.dumps(blank)

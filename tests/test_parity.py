"""The two twins export the same names, signatures and docstrings (cytoolz style)."""

from __future__ import annotations

import inspect
from typing import Any

import pytest

from ._impl import PY, C, units

pytestmark = pytest.mark.c_extension


def _params(obj: Any) -> list[tuple[str, Any, Any]]:
    """Return (name, kind, default) per parameter; annotations are not compared."""
    return [(p.name, p.kind, p.default) for p in inspect.signature(obj).parameters.values()]


def _public(obj: Any) -> dict[str, Any]:
    """Return the public members defined on a class or module."""
    if isinstance(obj, type):  # inherited members count: the other twin may not share the base
        names = [n for n in dir(obj) if not n.startswith("_")]
    else:
        names = list(obj.__all__)
    return {n: getattr(obj, n) for n in names}


@pytest.mark.parametrize("unit", units())
def test_same_exports(unit: str) -> None:
    """Both twin modules export the same ``__all__``."""
    assert C.module(unit).__all__ == PY.module(unit).__all__


@pytest.mark.parametrize("unit", units())
def test_same_signatures_and_docstrings(unit: str) -> None:
    """Every exported function/class (and its public methods) matches."""
    cmod, pmod = C.module(unit), PY.module(unit)
    for name in pmod.__all__:
        c_obj, p_obj = getattr(cmod, name), getattr(pmod, name)
        assert inspect.getdoc(c_obj) == inspect.getdoc(p_obj), f"{unit}.{name} docstring"
        if callable(p_obj) and not isinstance(p_obj, type):
            assert _params(c_obj) == _params(p_obj), f"{unit}.{name} signature"
        if isinstance(p_obj, type):
            assert _params(c_obj) == _params(p_obj), f"{unit}.{name}() signature"
            for attr, p_member in _public(p_obj).items():
                assert hasattr(c_obj, attr), f"{unit}.{name}.{attr} missing in the C twin"
                c_member = getattr(c_obj, attr)
                assert inspect.getdoc(c_member) == inspect.getdoc(p_member), (
                    f"{unit}.{name}.{attr} docstring"
                )
                if inspect.isfunction(p_member):
                    assert _params(c_member) == _params(p_member), f"{unit}.{name}.{attr} signature"

"""Run the docstring examples of every twin module (both implementations)."""

from __future__ import annotations

import doctest

import pytest

from ._impl import Implementation, units


@pytest.mark.parametrize("unit", units())
def test_docstring_examples(impl: Implementation, unit: str) -> None:
    """Every ``>>>`` example in the twin's docstrings runs and matches."""
    mod = impl.module(unit)
    result = doctest.testmod(mod, optionflags=doctest.ELLIPSIS, raise_on_error=False, verbose=False)
    assert result.failed == 0
    assert result.attempted > 0, f"{mod.__name__} has no docstring examples"

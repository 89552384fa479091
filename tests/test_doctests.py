"""Run the docstring examples of every twin module (both implementations)."""

from __future__ import annotations

import doctest
from types import ModuleType
from typing import Any

import pytest

from ._impl import Implementation, units


class TwinFinder(doctest.DocTestFinder):
    """A finder that keeps the examples of a twin's own objects whatever their module name.

    The dispatchers name the selected twin's classes and functions after the
    public module (``hashlb.Maglev``), which doctest would take for objects
    imported from elsewhere and skip.
    """

    def __init__(self, module: ModuleType) -> None:
        super().__init__()
        self._own = {id(getattr(module, n)) for n in getattr(module, "__all__", ())}

    def _from_module(self, module: Any, object: Any) -> bool:
        if id(object) in self._own or id(getattr(object, "__objclass__", None)) in self._own:
            return True
        return bool(super()._from_module(module, object))  # type: ignore[misc]


@pytest.mark.parametrize("unit", units())
def test_docstring_examples(impl: Implementation, unit: str) -> None:
    """Every ``>>>`` example in the twin's docstrings runs and matches."""
    mod = impl.module(unit)
    result = _run(mod)
    assert result.failed == 0
    assert result.attempted > 0, f"{mod.__name__} has no docstring examples"


def _run(mod: ModuleType) -> doctest.TestResults:
    """``doctest.testmod(mod)`` with :class:`TwinFinder`."""
    runner = doctest.DocTestRunner(optionflags=doctest.ELLIPSIS, verbose=False)
    for test in TwinFinder(mod).find(mod, mod.__name__, globs=dict(vars(mod))):
        runner.run(test)
    return runner.summarize(verbose=False)


def test_both_twins_find_the_same_examples() -> None:
    """The compiled and pure twins of a unit have equally many examples (none skipped)."""
    from ._impl import PY, C

    for unit in units():
        try:
            c = C.module(unit)
        except ImportError:  # pragma: no cover - a pure build
            pytest.skip("no compiled twin")
        py = PY.module(unit)
        count = [sum(len(t.examples) for t in TwinFinder(m).find(m, m.__name__)) for m in (c, py)]
        assert count[0] == count[1], (unit, count)

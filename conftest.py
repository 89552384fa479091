"""Root conftest: ``--c-extensions/--no-c-extensions`` and the ``impl`` fixture.

It serves both ``tests/`` and ``benchmarks/``; the facade itself lives in
``tests/_impl.py``.
"""

from __future__ import annotations

import argparse

import pytest

from tests._impl import PY, C, Implementation


def pytest_addoption(parser: pytest.Parser) -> None:
    """Add ``--c-extensions/--no-c-extensions``."""
    parser.addoption(
        "--c-extensions",
        action=argparse.BooleanOptionalAction,
        default=True,
        help="run the tests of the compiled twin (default: on)",
    )


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    """Deselect the compiled-twin tests under ``--no-c-extensions``."""
    if config.getoption("--c-extensions"):
        return
    keep, drop = [], []
    for item in items:
        (drop if item.get_closest_marker("c_extension") else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep


@pytest.fixture(
    scope="session",
    params=[pytest.param(C, marks=pytest.mark.c_extension, id="c"), pytest.param(PY, id="py")],
)
def impl(request: pytest.FixtureRequest) -> Implementation:
    """Return one implementation facade; every test using it runs twice."""
    return request.param  # type: ignore[no-any-return]

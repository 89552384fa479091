"""Root conftest: ``--c-extensions/--no-c-extensions`` and the ``impl`` fixture.

It serves both ``tests/`` and ``benchmarks/``; the facade itself lives in
``tests/_impl.py``.
"""

from __future__ import annotations

import argparse
import os

import pytest

from tests._impl import PY, C, Implementation


def pytest_configure(config: pytest.Config) -> None:
    """Register the Hypothesis profiles: ``ci`` under ``CI``, else ``dev``.

    ``HYPOTHESIS_PROFILE`` overrides the choice.  Registered here, once per
    run, rather than as a side effect of importing a test module.
    """
    try:
        from hypothesis import HealthCheck, settings
    except ImportError:  # pragma: no cover - hypothesis is in the test extra
        return
    settings.register_profile("dev", max_examples=100, deadline=None)
    settings.register_profile(
        "ci",
        max_examples=400,
        deadline=None,
        suppress_health_check=[HealthCheck.too_slow],
        derandomize=False,
        print_blob=True,
    )
    settings.load_profile(
        os.environ.get("HYPOTHESIS_PROFILE", "ci" if os.environ.get("CI") else "dev")
    )


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

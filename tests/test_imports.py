"""Guards: the right implementation is loaded, and every module imports alone."""

from __future__ import annotations

import importlib
import os
import pkgutil
import subprocess
import sys

import pytest

import hashlb
from hashlb import _compat

from ._impl import Implementation, units


def test_implementation_value() -> None:
    """hashlb.IMPLEMENTATION is "c" or "py" and agrees with the dispatchers."""
    assert hashlb.IMPLEMENTATION in {"c", "py"}
    assert hashlb.xxh64.__module__ == f"hashlb._hashing_{hashlb.IMPLEMENTATION}"


@pytest.mark.parametrize("unit", units())
def test_dispatchers_use_the_active_twin(unit: str) -> None:
    """Every dispatcher exports the very objects of the active twin (no partial fallback)."""
    dispatcher = importlib.import_module(f"hashlb.{unit}")
    twin = importlib.import_module(f"hashlb._{unit}_{hashlb.IMPLEMENTATION}")
    for name in twin.__all__:
        assert getattr(dispatcher, name) is getattr(twin, name), f"hashlb.{unit}.{name}"


def test_top_level_names_are_the_dispatched_ones() -> None:
    """``hashlb.X`` is the object its dispatcher chose."""
    for unit in units():
        dispatcher = importlib.import_module(f"hashlb.{unit}")
        for name in getattr(dispatcher, "__all__", ()):
            if hasattr(hashlb, name) and name != "IMPLEMENTATION":
                assert getattr(hashlb, name) is getattr(dispatcher, name), name


@pytest.mark.skipif(not os.environ.get("CI"), reason="the CI guard only runs with CI set")
def test_ci_loaded_the_expected_implementation() -> None:
    """In CI the compiled twin must be loaded unless HASHLB_NO_EXTENSIONS asks for pure."""
    expected = "py" if _compat.NO_EXTENSIONS else "c"
    assert expected == hashlb.IMPLEMENTATION, (
        f"CI expected the {expected!r} implementation, got {hashlb.IMPLEMENTATION!r}: "
        f"the compiled extension did not load ({_compat.EXTENSION_ERROR})"
    )


def test_compat_knows_every_unit() -> None:
    """``_compat.UNITS`` (what is imported on trial) is every ``_<unit>_py`` twin."""
    assert sorted(_compat.UNITS) == units()
    assert hashlb.IMPLEMENTATION == _compat.IMPLEMENTATION
    assert (_compat.EXTENSION_ERROR is None) == (hashlb.IMPLEMENTATION == "c")


@pytest.mark.c_extension
@pytest.mark.parametrize("unit", units())
def test_a_partial_build_uses_no_compiled_twin(unit: str) -> None:
    """If one compiled twin cannot be imported, every dispatcher takes its pure twin."""
    code = (
        "import sys\n"
        f"sys.modules['hashlb._{unit}_c'] = None  # as if this extension were missing\n"
        "import importlib, hashlb\n"
        "from hashlb import _compat\n"
        "mods = {importlib.import_module('hashlb.' + u).__dict__[n].__module__\n"
        "        for u in _compat.UNITS\n"
        "        for n in importlib.import_module('hashlb.' + u).__all__\n"
        "        if n not in ('IMPLEMENTATION', 'DEFAULT_TABLE_SIZE', 'MAX_TABLE_SIZE',\n"
        "                     'MAX_SHUFFLE_N')}\n"
        "print(hashlb.IMPLEMENTATION, sorted(mods), _compat.EXTENSION_ERROR)\n"
    )
    env = {k: v for k, v in os.environ.items() if k != "HASHLB_NO_EXTENSIONS"}
    out = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=env,
        check=True,
        timeout=60,
    ).stdout
    impl_name, _, rest = out.partition(" ")
    assert impl_name == "py"
    assert "_c'" not in rest.split("]")[0], out
    assert f"hashlb._{unit}_c" in rest, out


@pytest.mark.c_extension
def test_every_unit_compiled() -> None:
    """Every ``_<unit>_py`` has a loadable ``_<unit>_c`` twin (no partial builds)."""
    for unit in units():
        mod = __import__(f"hashlb._{unit}_c", fromlist=["_"])
        assert mod.__file__ is not None and not mod.__file__.endswith(".py")


@pytest.mark.c_extension
def test_c_preferred_by_default() -> None:
    """With HASHLB_NO_EXTENSIONS unset a fresh interpreter picks the C twin."""
    env = {k: v for k, v in os.environ.items() if k != "HASHLB_NO_EXTENSIONS"}
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hashlb; print(hashlb.IMPLEMENTATION, hashlb.xxh64.__module__)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["c", "hashlb._hashing_c"]


def test_run_time_switch_forces_pure() -> None:
    """HASHLB_NO_EXTENSIONS=1 at run time forces the pure twin."""
    env = dict(os.environ, HASHLB_NO_EXTENSIONS="1")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hashlb; print(hashlb.IMPLEMENTATION, hashlb.xxh64.__module__)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["py", "hashlb._hashing_py"]


@pytest.mark.parametrize(
    "module", sorted(m.name for m in pkgutil.walk_packages(hashlb.__path__, "hashlb."))
)
def test_module_imports_alone(module: str) -> None:
    """Each module imports in a fresh interpreter with warnings as errors."""
    subprocess.run([sys.executable, "-I", "-W", "error", "-c", f"import {module}"], check=True)


def test_version() -> None:
    """hashlb.__version__ is a PEP 440 string."""
    assert hashlb.__version__.count(".") == 2


def test_hash_methods_and_protocols_at_the_top_level(impl: Implementation) -> None:
    """hashlb exports every hash method and the Table/HashMethod protocols, which both
    twins' tables and methods satisfy."""
    pol = impl.module("policy")
    for name in ("Cookie", "Header", "QueryParameter", "SourceIP", "HashPolicy", "Request"):
        assert name in hashlb.__all__
        assert getattr(hashlb, name) is getattr(importlib.import_module("hashlb.policy"), name)
    hosts = [hashlb.Host("10.0.0.1:80"), hashlb.Host("10.0.0.2:80")]
    for table in (impl.Maglev(hosts), impl.RingHash(hosts)):
        assert isinstance(table, hashlb.Table)
    for method in (pol.Header("x"), pol.Cookie("s"), pol.SourceIP(), pol.QueryParameter("q")):
        assert isinstance(method, hashlb.HashMethod)
    assert not isinstance(object(), hashlb.Table)
    assert not isinstance(object(), hashlb.HashMethod)

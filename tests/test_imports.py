"""Guards: the right implementation is loaded, and every module imports alone."""

from __future__ import annotations

import importlib
import os
import pathlib
import pkgutil
import re
import subprocess
import sys
import types

import pytest

import hashlb
from hashlb import _compat

from ._impl import Implementation, units


def test_implementation_value() -> None:
    """hashlb.IMPLEMENTATION is "c" or "py" and agrees with the dispatchers."""
    assert hashlb.IMPLEMENTATION in {"c", "py"}
    twin = importlib.import_module(f"hashlb._hashing_{hashlb.IMPLEMENTATION}")
    assert hashlb.xxh64 is twin.xxh64
    assert hashlb.xxh64.__module__ == "hashlb"  # the selected twin's objects name hashlb


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
        "def twin(u, n):  # the twin module that defines hashlb.<u>.<n>\n"
        "    obj = importlib.import_module('hashlb.' + u).__dict__[n]\n"
        "    for t in ('c', 'py'):\n"
        "        mod = sys.modules.get(f'hashlb._{u}_{t}')\n"
        "        if mod is not None and getattr(mod, n, None) is obj:\n"
        "            return mod.__name__\n"
        "    return obj.__module__\n"
        "mods = {twin(u, n)\n"
        "        for u in _compat.UNITS\n"
        "        for n in importlib.import_module('hashlb.' + u).__all__\n"
        "        if n not in ('IMPLEMENTATION', 'DEFAULT_TABLE_SIZE', 'MAX_TABLE_SIZE',\n"
        "                     'MAX_SHUFFLE_N', 'Lease')}\n"
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
            "import hashlb, hashlb._hashing_c as c\n"
            "print(hashlb.IMPLEMENTATION, hashlb.xxh64 is c.xxh64, hashlb.xxh64.__module__)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["c", "True", "hashlb"]


def test_run_time_switch_forces_pure() -> None:
    """HASHLB_NO_EXTENSIONS=1 at run time forces the pure twin."""
    env = dict(os.environ, HASHLB_NO_EXTENSIONS="1")
    out = subprocess.run(
        [
            sys.executable,
            "-c",
            "import hashlb, hashlb._hashing_py as py\n"
            "print(hashlb.IMPLEMENTATION, hashlb.xxh64 is py.xxh64, hashlb.xxh64.__module__)",
        ],
        env=env,
        capture_output=True,
        text=True,
        check=True,
    ).stdout.split()
    assert out == ["py", "True", "hashlb"]


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


# ------------------------------------------- C twins share plain modules, never pure twins

_SRC = pathlib.Path(hashlb.__file__).parent
_PURE_TWIN = re.compile(r"_\w+_py")
_IMPORT_START = re.compile(r"^[ \t]*(?:from[ \t]+\S+[ \t]+c?import\b|c?import\b)", re.M)


def _import_statements(source: str) -> list[str]:
    """Return every ``import``/``cimport``/``from ... (c)import`` statement of *source*.

    A parenthesized or backslash-continued statement is joined into one string.
    """
    out = []
    for match in _IMPORT_START.finditer(source):
        end = source.find("\n", match.start())
        stmt = source[match.start() : len(source) if end < 0 else end]
        pos = end
        while pos >= 0 and (stmt.rstrip().endswith("\\") or ("(" in stmt and ")" not in stmt)):
            nxt = source.find("\n", pos + 1)
            stmt += source[pos : len(source) if nxt < 0 else nxt]
            pos = nxt
        out.append(stmt)
    return out


def _imported_modules(stmt: str) -> list[str]:
    """Return the dotted module names one import statement may load (aliases dropped)."""
    stmt = " ".join(stmt.replace("\\", " ").replace("(", " ").replace(")", " ").split())
    words = stmt.split(" ", 3)
    if words[0] == "from":  # from M (c)import a as b, c: M, and M.a, M.c (a may be a module)
        base = words[1]
        names = [n.split(" as ")[0].strip() for n in words[3].split(",") if n.strip()]
        sep = "" if base.endswith(".") else "."
        return [base] + [base + sep + n for n in names]
    rest = stmt.split(" ", 1)[1]  # (c)import a.b as c, d
    return [n.split(" as ")[0].strip() for n in rest.split(",") if n.strip()]


def _pure_twin_imports(source: str) -> list[str]:
    """Return the import statements of *source* that load a ``_*_py`` module."""
    return [
        s
        for s in _import_statements(source)
        if any(_PURE_TWIN.fullmatch(part) for m in _imported_modules(s) for part in m.split("."))
    ]


def test_the_import_scanner_finds_pure_twin_imports() -> None:
    """The source scanner below catches every import form (so its "none found" means something)."""
    bad = (
        "from hashlb import _policy_py as _py\n",
        "from hashlb._ring_py import _check_config\n",
        "from ._subset_py import (\n    _check_seed,\n    _check_u64,\n)\n",
        "from hashlb import (\n    _batch,\n    _bounded_py,\n)\n",
        "import hashlb._maglev_py\n",
        "    import hashlb._hashing_py as h\n",
        "cimport hashlb._ring_py\n",
        "from hashlb._policy_py cimport x\n",
        "from hashlb import \\\n    _policy_py\n",
    )
    for text in bad:
        assert _pure_twin_imports("x = 1\n" + text + "y = 2\n"), text
    good = (
        '"""The twin of ``_policy_py.py``."""\n'
        "from hashlb import _policy_config as _cfg\n"
        "from hashlb._batch import hash_buffer as _hash_buffer_py\n"
        "import hashlb._ring_c as _ring_py\n"
    )
    assert _pure_twin_imports(good) == []


@pytest.mark.parametrize("path", sorted(_SRC.glob("_*_c.pyx")), ids=lambda p: p.name)
def test_c_twin_source_imports_no_pure_twin(path: pathlib.Path) -> None:
    """No ``_*_c.pyx`` imports or cimports a ``_*_py`` module: both twins share plain modules."""
    assert _pure_twin_imports(path.read_text(encoding="utf-8")) == []


def test_every_unit_has_a_c_source() -> None:
    """The source guard above covers every unit's compiled twin."""
    assert sorted(p.name[1:-6] for p in _SRC.glob("_*_c.pyx")) == units()


@pytest.mark.c_extension
@pytest.mark.parametrize("unit", units())
def test_c_twin_holds_nothing_of_a_pure_twin(unit: str) -> None:
    """An imported ``_*_c`` module has no ``_*_py`` module, nor an object defined in one, in its globals."""
    mod = importlib.import_module(f"hashlb._{unit}_c")
    pure = re.compile(r"hashlb\._\w+_py")
    for name, value in vars(mod).items():
        if isinstance(value, types.ModuleType):
            assert not pure.fullmatch(value.__name__), f"_{unit}_c.{name} is {value.__name__}"
        owner = (
            getattr(value, "__module__", None) if not isinstance(value, types.ModuleType) else None
        )
        assert not (isinstance(owner, str) and pure.fullmatch(owner)), (
            f"_{unit}_c.{name} comes from {owner}"
        )

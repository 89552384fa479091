"""hashlb.istio is an optional part: PyYAML is its extra, the rest of hashlb works without it.

The subprocess tests hide PyYAML with ``sys.modules["yaml"] = None`` (what an
environment without the package looks like to ``import yaml``).
"""

from __future__ import annotations

import doctest
import importlib
import os
import pkgutil
import re
import subprocess
import sys
import warnings
from pathlib import Path

import pytest

import hashlb
import hashlb.istio

from ._cli import EXAMPLE, ROOT

#: Prepended to every child: PyYAML is not installed, as far as imports can tell.
NO_YAML = "import sys; sys.modules['yaml'] = None\n"
INSTALL = 'pip install "hashlb[istio]"'

#: The modules that need PyYAML: the istio package and the deprecated aliases into it.
NEEDS_YAML = re.compile(r"^hashlb\.istio(\.|$)|^hashlb\.cli\.(mesh|source)$")


def _child(code: str, *args: str) -> subprocess.CompletedProcess[str]:
    """Run *code* in a fresh interpreter without PyYAML (warnings are errors)."""
    env = dict(os.environ, PYTHONIOENCODING="utf-8")
    return subprocess.run(
        [sys.executable, "-W", "error", "-c", NO_YAML + code, *args],
        cwd=ROOT,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def _modules() -> list[str]:
    return sorted(m.name for m in pkgutil.walk_packages(hashlb.__path__, "hashlb."))


def test_the_yaml_shim_hides_pyyaml() -> None:
    """The shim works: ``import yaml`` fails in the child (so the tests below mean something)."""
    proc = _child("import yaml")
    assert proc.returncode == 1 and "ModuleNotFoundError" in proc.stderr, proc.stderr


def test_everything_outside_istio_imports_and_runs_without_pyyaml() -> None:
    """``import hashlb``, every module but hashlb.istio, a routed request and ``hashlb bench``."""
    modules = [m for m in _modules() if not NEEDS_YAML.match(m)]
    assert "hashlb.cli.simulate" in modules and "hashlb.cli.bench" in modules
    code = (
        "import importlib\n"
        "for name in sys.argv[1:]:\n"
        "    importlib.import_module(name)\n"
        "import hashlb\n"
        "from hashlb.policy import HashPolicy, Header, Request\n"
        "pods = [hashlb.Host('10.0.0.1:80', labels={'v': 'a'}),\n"
        "        hashlb.Host('10.0.0.2:80', labels={'v': 'b'})]\n"
        "r = hashlb.Router(pods, subsets={'a': {'v': 'a'}, 'b': {'v': 'b'}},\n"
        "                  weights={'a': 1, 'b': 1}, policy=HashPolicy(Header('x-user')))\n"
        "print(r.route(Request(headers={'x-user': 'alice'})).host.address)\n"
        "from hashlb.__main__ import main\n"
        "code = main(['bench', '--help'])\n"
        "assert code == 0, code\n"
        "assert sys.modules['yaml'] is None\n"
    )
    proc = _child(code, *modules)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.splitlines()[0] in ("10.0.0.1:80", "10.0.0.2:80")
    assert "usage: hashlb bench" in proc.stdout


def test_importing_hashlb_istio_without_pyyaml_says_what_to_install() -> None:
    """``import hashlb.istio`` raises ImportError naming the extra to install."""
    code = (
        "try:\n"
        "    import hashlb.istio\n"
        "except ImportError as e:\n"
        "    print(e)\n"
        "else:\n"
        "    raise SystemExit('imported')\n"
    )
    proc = _child(code)
    assert proc.returncode == 0, proc.stderr
    assert proc.stdout.strip() == f"hashlb.istio needs PyYAML: {INSTALL}"


def test_simulate_without_pyyaml_prints_one_line_and_exits_2() -> None:
    """``hashlb simulate`` without PyYAML: exit 2, one error line with the install command."""
    code = "from hashlb.__main__ import main\nsys.exit(main(['simulate', '-f', sys.argv[1]]))\n"
    proc = _child(code, str(EXAMPLE))
    assert proc.returncode == 2, proc.stderr
    assert proc.stdout == ""
    assert proc.stderr.splitlines() == [
        f"hashlb simulate: error: hashlb.istio needs PyYAML: {INSTALL}"
    ]


def test_hashlb_istio_public_api() -> None:
    """Every name of hashlb.istio.__all__ exists, is documented, and is the library's object."""
    assert len(set(hashlb.istio.__all__)) == len(hashlb.istio.__all__)
    for name in hashlb.istio.__all__:
        obj = getattr(hashlb.istio, name)
        if not isinstance(obj, str):
            assert obj.__doc__, name
            assert obj.__module__.startswith(("hashlb.istio", "hashlb._source")), name
    public = {n for n in vars(hashlb.istio) if not n.startswith("_")}
    public -= {
        "annotations",
        "locality",
        "mesh",
        "model",
        "parse",
        "translate",
        "xds",
    }  # submodules
    assert public == set(hashlb.istio.__all__)


def test_hashlb_istio_docstring_example() -> None:
    """The ``>>>`` example of hashlb.istio's docstring runs and matches."""
    result = doctest.testmod(hashlb.istio, optionflags=doctest.ELLIPSIS, verbose=False)
    assert result.failed == 0
    assert result.attempted > 0


@pytest.mark.parametrize(
    ("module", "name", "where"),
    [
        ("hashlb.cli.mesh", "load_mesh", "hashlb.istio"),
        ("hashlb.cli.mesh", "HashKey", "hashlb.istio"),
        ("hashlb.cli.source", "InputError", "hashlb.istio"),
        ("hashlb.cli.source", "load_yaml_documents", "hashlb.istio._yaml"),
    ],
)
def test_old_cli_modules_are_deprecated_aliases(module: str, name: str, where: str) -> None:
    """hashlb.cli.mesh / .source still give the moved objects, with a DeprecationWarning."""
    alias = importlib.import_module(module)  # quiet: the warning is per name
    with pytest.warns(DeprecationWarning, match=rf"{module}\.{name} is deprecated.*{where}"):
        obj = getattr(alias, name)
    assert obj is getattr(importlib.import_module(where), name)
    assert name in dir(alias)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(AttributeError, match="no attribute 'nope'"):
            alias.nope  # noqa: B018


def test_pyyaml_is_the_istio_extra() -> None:
    """PyYAML is not a core dependency; the istio, test, proxy and docs extras bring it."""
    text = (ROOT / "pyproject.toml").read_text()
    core = text.split("\ndependencies = [", 1)[1].split("\n]", 1)[0]
    assert "PyYAML" not in core
    extras = text.split("[project.optional-dependencies]", 1)[1].split("\n[", 1)[0]
    for extra in ("istio", "test", "proxy", "docs"):
        body = re.search(rf"^{extra} = \[(.*?)\]", extras, re.M | re.S)
        assert body is not None and '"PyYAML>=6.0"' in body.group(1), extra


def test_readme_main_command_installs_the_istio_extra() -> None:
    """The README's main command installs what ``hashlb simulate`` needs (the test extra has it)."""
    text = (ROOT / "README.md").read_text()
    assert 'pip install ".[test]" && hashlb simulate -f examples/istio-canary/' in text
    assert Path(EXAMPLE).is_dir()

"""Build and import the C limit of the columnar benchmarks (``_limit.pyx`` + ``_limit.h``).

``load()`` compiles the helper once into ``build/bench-limit/`` of the
checkout (with the flags ``setup.py`` gives hashlb's extensions, ``-O3``, and
hashlb's own headers on the include path) and imports it; None when Cython
or a C compiler is missing (a pure build), so the ratio benchmarks skip.
"""

from __future__ import annotations

import importlib.util
import pathlib
from types import ModuleType

HERE = pathlib.Path(__file__).resolve().parent
ROOT = HERE.parent
NAME = "hashlb_bench_limit"


def load() -> ModuleType | None:
    """Return the compiled C-limit module, building it when needed; None if it cannot be built."""
    build = ROOT / "build" / "bench-limit"
    try:
        from Cython.Build import cythonize
        from setuptools import Distribution, Extension
    except ImportError:
        return None
    ext = Extension(
        NAME,
        [str(HERE / "_limit.pyx")],
        include_dirs=[str(ROOT / "src" / "hashlb"), str(HERE)],
        extra_compile_args=["-O3"],
    )
    try:
        modules = cythonize(
            [ext],
            build_dir=str(build / "c"),
            quiet=True,
            compiler_directives={"language_level": 3, "boundscheck": False, "wraparound": False},
        )
        dist = Distribution({"name": NAME, "ext_modules": modules})
        cmd = dist.get_command_obj("build_ext")
        cmd.build_lib = str(build / "lib")  # type: ignore[attr-defined]
        cmd.build_temp = str(build / "tmp")  # type: ignore[attr-defined]
        cmd.ensure_finalized()
        cmd.run()
        path = cmd.get_ext_fullpath(NAME)  # type: ignore[attr-defined]
    except Exception:  # no compiler, no Python headers: no limit to compare with
        return None
    spec = importlib.util.spec_from_file_location(NAME, path)
    if spec is None or spec.loader is None:
        return None
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod

"""Build the Cython extensions; all metadata lives in pyproject.toml.

Every ``src/hashlb/_*_c.pyx`` becomes one extension module.  With
``HASHLB_NO_EXTENSIONS`` set (or off CPython) nothing is compiled and a
pure-Python package is built.  If compiling fails, the build fails: there is
no silent fallback.
"""

import os
import sys
from glob import glob

from setuptools import setup

NO_EXTENSIONS = bool(os.environ.get("HASHLB_NO_EXTENSIONS")) or sys.implementation.name != "cpython"

ext_modules = []
if NO_EXTENSIONS:
    print("*** hashlb: pure Python build (HASHLB_NO_EXTENSIONS) ***")
else:
    print("*** hashlb: accelerated build (Cython) ***")
    from Cython.Build import cythonize
    from setuptools import Extension

    debug = bool(os.environ.get("HASHLB_DEBUG_BUILD"))
    # Release builds carry no debug info or symbol table (the .so files are
    # about 7x smaller), unless CFLAGS asks for -g (the sanitizer job does).
    symbols = debug or "-g" in os.environ.get("CFLAGS", "").split()
    cflags = ["-O0", "-g"] if debug else ["-O3"] if symbols else ["-O3", "-g0"]
    ldflags = []
    if not symbols and sys.platform.startswith("linux"):
        ldflags = ["-s"]
    elif not symbols and sys.platform == "darwin":
        ldflags = ["-Wl,-S,-x"]
    extensions = [
        Extension(
            "hashlb." + os.path.basename(path)[:-4],
            [path],
            include_dirs=["src/hashlb"],
            # Every header and .pxd: setuptools then rebuilds an extension when
            # one changes, whatever Cython's own dependency tracking decides.
            depends=sorted(glob("src/hashlb/*.h") + glob("src/hashlb/*.pxd")),
            extra_compile_args=cflags,
            extra_link_args=ldflags,
        )
        for path in sorted(glob("src/hashlb/_*_c.pyx"))
    ]
    ext_modules = cythonize(
        extensions,
        compiler_directives={
            "language_level": 3,
            "embedsignature": False,  # the docstrings must equal the pure twin's
            "binding": True,  # inspect.signature works on compiled functions
            "boundscheck": False,
            "wraparound": False,
            "cdivision": True,
            "initializedcheck": False,
            "freethreading_compatible": True,
        },
        nthreads=int(os.environ.get("HASHLB_BUILD_JOBS", "0")),
    )

setup(ext_modules=ext_modules)

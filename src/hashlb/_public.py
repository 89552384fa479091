"""Public module names for the dispatched objects (``help()``, ``repr()``, pickle).

Each twin defines its objects in a private module (``hashlb._maglev_c``,
``hashlb._policy_py``); users import them from ``hashlb`` (or
``hashlb.policy``, ``hashlb.bounded``).  :func:`publish` gives the objects a
dispatcher selected the public module's name, so ``help(hashlb.Maglev)``
says ``class Maglev in module hashlb`` and a pickle names ``hashlb.Maglev``:

* a Python class or function takes ``__module__`` by assignment;
* a compiled (static) type's ``__module__`` is read from its C name
  (``tp_name``), which ``hashlb._hashing_c._set_type_name`` points at the
  public dotted name (``_typename.h``);
* a compiled function (a builtin or Cython function) takes ``__module__``
  by assignment.

Only the selected twin is renamed: the other keeps its private module name,
so its objects and pickles still name the classes they are (tests use both
twins in one process).  ``hashlb.IMPLEMENTATION`` says which twin is in use.
"""

from __future__ import annotations

from collections.abc import Iterable

__all__ = ("publish",)


def publish(module: str, objects: Iterable[object]) -> None:
    """Name *module* as the home of each class or function of *objects* from a private module.

    Objects already in a public module, and values that are neither classes
    nor functions (constants), are left alone.  Call at import only.
    """
    for obj in objects:
        if not (isinstance(obj, type) or callable(obj)):
            continue
        home = getattr(obj, "__module__", None)
        if not isinstance(home, str) or not home.startswith("hashlb._"):
            continue
        if isinstance(obj, type):
            # its private bases of the same module too (help() lists them beside it)
            bases = [b for b in obj.__mro__[1:-1] if b.__module__ == home]
            for cls in (obj, *bases):
                _rename(cls, module)
        else:
            obj.__module__ = module


def _rename(cls: type, module: str) -> None:
    if cls.__flags__ & (1 << 9):  # Py_TPFLAGS_HEAPTYPE: a Python class
        cls.__module__ = module
    else:  # a static type is a compiled one
        from ._hashing_c import _set_type_name

        _set_type_name(cls, f"{module}.{cls.__name__}")

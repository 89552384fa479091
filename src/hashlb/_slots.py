"""Read-only slot properties of the pure twins, and their "not initialised" error.

A plain Python module that every pure twin imports (the msgpack
``exceptions.py`` pattern): a pure-twin property that only returns a slot is
one of these helpers, instead of a ``try``/``except AttributeError`` written
once per property.  Its docstring comes, like every docstring the twins
share, from the unit's ``_<unit>_doc.py`` (``_docstrings.py``).
"""

from __future__ import annotations

import contextlib
import operator
import sys
from collections.abc import Callable, Iterable
from typing import Any

from ._validate import uninitialised

__all__ = ("checked_property", "slot_property", "uninitialised_getattr")


def slot_property(slot: str) -> Any:
    """Return a read-only property of the pure twins that reads *slot* (one C-level call).

    An unset *slot* (``__init__`` never ran) raises ``AttributeError``, which
    sends Python to the class's :func:`uninitialised_getattr` hook.
    """
    return property(operator.attrgetter(slot))


def checked_property(
    slot: str, cls: str | Callable[[object], TypeError], doc: str | None = None
) -> Any:
    """Return a read-only property that reads *slot*, for a class without the hook.

    An unset *slot* raises :func:`~hashlb._validate.uninitialised`'s
    ``TypeError`` for class *cls* from the getter itself (a class whose
    methods probe unset slots with ``hasattr`` keeps that probe cheap).  *cls*
    is a class name, or a function returning the error for the object (a
    twin whose error names the registered class of a subclassed object).
    *doc* is the docstring of a property outside the twins (a twin's comes
    from its ``_<unit>_doc.py``).
    """
    get = operator.attrgetter(slot)
    error: Callable[[object], TypeError]
    if isinstance(cls, str):
        name = cls

        def error(obj: object) -> TypeError:
            return uninitialised(obj, name)

    else:
        error = cls

    def fget(self: object) -> Any:
        try:
            return get(self)
        except AttributeError:
            raise error(self) from None

    prop = _CheckedProperty(fget)
    prop.__doc__ = doc  # a property subclass drops ``doc=`` before Python 3.12
    return prop


class _CheckedProperty(property):
    # The getter is generic (``-> Any``).  Its name's annotation in the class
    # body (``name: str = checked_property(...)``) moves to the getter: the
    # getter's return type is what documentation tools show as the property's
    # type, while a class-level annotation would also be read as the type of
    # an ``__init__`` parameter of the same name.

    def __set_name__(self, owner: type, name: str) -> None:
        annotations = owner.__dict__.get("__annotations__")  # noqa: RUF063 - the real dict
        hint = annotations.pop(name, None) if isinstance(annotations, dict) else None
        if hint is None or self.fget is None:
            return
        if isinstance(hint, str):  # ``from __future__ import annotations``
            with contextlib.suppress(Exception):  # a name defined later stays text
                hint = eval(hint, vars(sys.modules[owner.__module__]))
        self.fget.__annotations__ = {"return": hint}


def uninitialised_getattr(cls: str, names: Iterable[str]) -> Callable[[object, str], Any]:
    """Return a ``__getattr__`` for a pure-twin class whose properties use :func:`slot_property`.

    Python calls it only when normal lookup failed: for one of the public
    *names* that means the slot behind it is unset, so it raises
    :func:`~hashlb._validate.uninitialised`'s ``TypeError`` for class *cls*, as
    the compiled twin does; any other name is a plain ``AttributeError``.
    """
    public = frozenset(names)

    def __getattr__(self: object, name: str) -> Any:
        if name in public:
            raise uninitialised(self, cls)
        raise AttributeError(f"{type(self).__name__!r} object has no attribute {name!r}")

    return __getattr__

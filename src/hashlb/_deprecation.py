"""Deprecation paths shared by both twins (plain Python).

Options became keyword-only (``Cookie(name, *, ttl=...)``,
``SourceIP(*, xff_num_trusted_hops=...)``, ``Request(*, headers=...)``); for
one release the old positional forms still work through
:func:`positional_options`, with one ``DeprecationWarning`` text for both
twins.  A pure twin's ``__init__`` takes them as ``*args``;
:func:`keyword_signature` hides that ``*args`` so that ``inspect.signature``
shows the keyword-only call, as the compiled twin's text signature does.
"""

from __future__ import annotations

import inspect
import warnings
from collections.abc import Callable
from typing import Any, TypeVar

__all__ = ("keyword_signature", "positional_options")

_F = TypeVar("_F", bound=Callable[..., Any])


def positional_options(
    cls: str,
    before: str,
    args: tuple[Any, ...],
    options: tuple[tuple[str, object, object], ...],
    stacklevel: int,
) -> list[object]:
    """Return the option values, the deprecated positional *args* put in their place.

    :param cls: the class name, for the messages.
    :param before: the parameters still positional, as written in the call
        (``"name, "`` for ``Cookie``; ``""`` when there are none).
    :param args: the extra positional arguments given (not empty).
    :param options: ``(name, value given by keyword, default)`` per option,
        in the old positional order.
    :param stacklevel: ``warnings.warn``'s, so that the warning points at the caller.
    :raises TypeError: more *args* than options, or an option given both ways.
    """
    if len(args) > len(options):
        raise TypeError(
            f"{cls}() takes at most {len(options)} positional options "
            f"({', '.join(name for name, _, _ in options)}), got {len(args)}"
        )
    values = [given for _, given, _ in options]
    names = []
    for i, value in enumerate(args):
        name, given, default = options[i]
        if given is not default:
            raise TypeError(f"{cls}() got multiple values for argument {name!r}")
        values[i] = value
        names.append(name)
    call = ", ".join(f"{name}=..." for name in names)
    warnings.warn(
        f"passing {', '.join(names)} to {cls}() by position is deprecated; "
        f"use {cls}({before}{call})",
        DeprecationWarning,
        stacklevel=stacklevel + 1,
    )
    return values


def keyword_signature(init: _F) -> _F:
    """Return *init* with its ``*args`` (deprecated positional options) left out of its signature."""
    sig = inspect.signature(init)
    params = [p for p in sig.parameters.values() if p.kind is not p.VAR_POSITIONAL]
    init.__signature__ = sig.replace(parameters=params)  # type: ignore[attr-defined]
    return init

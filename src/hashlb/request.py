"""The request that hash policies read: headers, ``:path``, addresses.

Dispatcher for the compiled ``_request_c`` or the pure ``_request_py`` twin::

    from hashlb.request import Request

:class:`Request` is also importable as ``hashlb.Request`` and
``hashlb.policy.Request``.  The names are the twin's ``__all__``.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from ._compat import USE_EXTENSIONS

if TYPE_CHECKING or not USE_EXTENSIONS:
    from ._request_py import *  # noqa: F403
    from ._request_py import __all__ as __all__
else:
    from ._request_c import *  # noqa: F403
    from ._request_c import __all__ as __all__

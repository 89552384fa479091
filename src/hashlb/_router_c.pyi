# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._router_py import Route as Route
from ._router_py import _RouteCore as _RouteCore

__all__ = ("Route",)

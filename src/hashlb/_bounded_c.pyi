# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._bounded_py import MAX_SHUFFLE_N as MAX_SHUFFLE_N
from ._bounded_py import BoundedLoad as BoundedLoad
from ._bounded_py import Lease as Lease
from ._bounded_py import _mt19937 as _mt19937
from ._bounded_py import _probe_order as _probe_order

__all__ = ("MAX_SHUFFLE_N", "BoundedLoad", "Lease")

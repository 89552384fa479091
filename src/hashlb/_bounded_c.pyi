# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._bounded_py import MAX_SHUFFLE_N as MAX_SHUFFLE_N
from ._bounded_py import BoundedLoad as BoundedLoad
from ._bounded_py import Lease as Lease
from ._bounded_py import mt19937 as mt19937
from ._bounded_py import probe_order as probe_order

__all__ = ("MAX_SHUFFLE_N", "BoundedLoad", "Lease", "mt19937", "probe_order")

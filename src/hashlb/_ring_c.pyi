# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._ring_py import RingHash as RingHash

__all__ = ("RingHash",)

# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._keyindex_py import KeyIndex as KeyIndex

__all__ = ("KeyIndex",)

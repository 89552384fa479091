# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._subset_py import WeightedSubsetPicker as WeightedSubsetPicker

__all__ = ("WeightedSubsetPicker",)

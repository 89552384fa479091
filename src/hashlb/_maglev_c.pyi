# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._maglev_py import DEFAULT_TABLE_SIZE as DEFAULT_TABLE_SIZE
from ._maglev_py import MAX_TABLE_SIZE as MAX_TABLE_SIZE
from ._maglev_py import Maglev as Maglev

__all__ = ("DEFAULT_TABLE_SIZE", "MAX_TABLE_SIZE", "Maglev")

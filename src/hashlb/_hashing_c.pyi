# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._hashing_py import murmur2_64 as murmur2_64
from ._hashing_py import murmur3_64 as murmur3_64
from ._hashing_py import xxh64 as xxh64
from ._hashing_py import xxh64_list as xxh64_list
from ._hashing_py import xxh64_many as xxh64_many

__all__ = ("murmur2_64", "murmur3_64", "xxh64", "xxh64_list", "xxh64_many")

# Compiled only (hashlb._public): name a static type by its public dotted name.
def _set_type_name(cls: type, name: str) -> bool: ...

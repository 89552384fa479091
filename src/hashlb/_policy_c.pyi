# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._policy_py import *  # noqa: F403
from ._policy_py import __all__ as __all__

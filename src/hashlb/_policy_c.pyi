# The compiled twin has exactly the pure twin's API (tests/test_parity.py).
from ._policy_py import Cookie as Cookie
from ._policy_py import HashPolicy as HashPolicy
from ._policy_py import HashResult as HashResult
from ._policy_py import Header as Header
from ._policy_py import QueryParameter as QueryParameter
from ._policy_py import Request as Request
from ._policy_py import SourceIP as SourceIP

__all__ = (
    "Cookie",
    "HashPolicy",
    "HashResult",
    "Header",
    "QueryParameter",
    "Request",
    "SourceIP",
)

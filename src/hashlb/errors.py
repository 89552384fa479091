"""Exception types shared by both implementations.

Every error hashlb raises for bad configuration is a subclass of the builtin
``ValueError`` or ``TypeError``, so ``except ValueError`` keeps working.
"""

from __future__ import annotations

__all__ = ("ConfigError", "HashlbError")


class HashlbError(Exception):
    """Base class for hashlb-specific errors."""


class ConfigError(HashlbError, ValueError):
    """A configuration value is invalid; the message names the field."""

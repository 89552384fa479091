"""Positions in the inputs and the one-line input error (no YAML needed).

:class:`InputError` is what every bad input raises, in :mod:`hashlb.istio`
(YAML) and in the CLI (request files, output paths, ``hashlb bench``
options): ``str()`` is one line starting with ``FILE:LINE``.  It lives here,
outside :mod:`hashlb.istio`, so that the parts that read no YAML work
without PyYAML.
"""

from __future__ import annotations

__all__ = ("InputError", "Where")


class Where:
    """A position in an input file: ``FILE:LINE`` (1-based)."""

    __slots__ = ("file", "line")

    def __init__(self, file: str, line: int) -> None:
        self.file = file
        self.line = line

    def __str__(self) -> str:
        return f"{self.file}:{self.line}"

    def __repr__(self) -> str:
        return f"Where({self.file!r}, {self.line})"

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, Where):
            return NotImplemented
        return (self.file, self.line) == (other.file, other.line)

    def __hash__(self) -> int:
        return hash((Where, self.file, self.line))


class InputError(Exception):
    """Bad user input; ``str()`` is one line that starts with ``FILE:LINE``."""

    def __init__(self, where: Where | str | None, message: str) -> None:
        self.where = where
        self.message = " ".join(message.split())  # always exactly one line
        super().__init__(f"{where}: {self.message}" if where else self.message)

    def __reduce__(self) -> tuple[object, ...]:
        return (type(self), (self.where, self.message))

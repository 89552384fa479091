"""Read YAML and JSONL input, remembering where every value came from.

Every error the command line reports names ``FILE:LINE``.  To make that
possible, YAML is loaded into :class:`LDict` / :class:`LList` -- plain
``dict`` / ``list`` subclasses that also carry the file, the line of the node
itself and the line of each key or item.  Nothing here knows about Istio or
Kubernetes; :mod:`hashlb.cli.mesh` gives the values their meaning.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import yaml

__all__ = (
    "YAML_SUFFIXES",
    "InputError",
    "LDict",
    "LList",
    "Where",
    "expand_paths",
    "load_yaml_documents",
)

#: The file names a directory given to ``-f`` contributes (like ``kubectl -f DIR``).
YAML_SUFFIXES = (".yaml", ".yml", ".json")


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


class InputError(Exception):
    """Bad user input; ``str()`` is one line that starts with ``FILE:LINE``."""

    def __init__(self, where: Where | str | None, message: str) -> None:
        self.where = where
        self.message = " ".join(message.split())  # always exactly one line
        super().__init__(f"{where}: {self.message}" if where else self.message)


class LDict(dict[str, Any]):
    """A YAML mapping that remembers its position and the position of each key."""

    file: str = "<input>"
    line: int = 0
    key_lines: dict[str, int]

    def __init__(self) -> None:
        super().__init__()
        self.key_lines = {}

    @property
    def where(self) -> Where:
        """Return the position of the mapping itself."""
        return Where(self.file, self.line)

    def at(self, key: str) -> Where:
        """Return the position of *key* (or of the mapping if the key is absent)."""
        return Where(self.file, self.key_lines.get(key, self.line))


class LList(list[Any]):
    """A YAML sequence that remembers its position and the position of each item."""

    file: str = "<input>"
    line: int = 0
    item_lines: list[int]

    def __init__(self) -> None:
        super().__init__()
        self.item_lines = []

    @property
    def where(self) -> Where:
        """Return the position of the sequence itself."""
        return Where(self.file, self.line)

    def at(self, index: int) -> Where:
        """Return the position of item *index*."""
        if 0 <= index < len(self.item_lines):
            return Where(self.file, self.item_lines[index])
        return self.where


_BaseLoader: Any = getattr(yaml, "CSafeLoader", yaml.SafeLoader)


class _Loader(_BaseLoader):  # type: ignore[misc]
    """SafeLoader (libyaml when available) that builds LDict/LList with positions."""

    filename = "<input>"


def _construct_map(loader: Any, node: yaml.MappingNode) -> Iterator[LDict]:
    data = LDict()
    data.file = loader.filename
    data.line = node.start_mark.line + 1
    yield data
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            # Kubernetes and Istio keys are strings; keep others readable.
            key = str(key).lower() if isinstance(key, bool) else str(key)
        data[key] = loader.construct_object(value_node, deep=True)
        data.key_lines[key] = key_node.start_mark.line + 1


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> Iterator[LList]:
    data = LList()
    data.file = loader.filename
    data.line = node.start_mark.line + 1
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_lines.append(item.start_mark.line + 1)


_Loader.add_constructor("tag:yaml.org,2002:map", _construct_map)
_Loader.add_constructor("tag:yaml.org,2002:seq", _construct_seq)


def load_yaml_documents(text: str, filename: str) -> list[tuple[Any, Where]]:
    """Parse every document of a (multi-document) YAML text.

    Empty documents (``---`` followed by nothing) are skipped.

    :param text: the YAML text.
    :param filename: the name used in positions and error messages.
    :returns: ``(document, position)`` pairs; mappings are :class:`LDict`.
    :raises InputError: the YAML is malformed (the message names the line).
    """
    loader = _Loader(text)
    loader.filename = filename
    docs: list[tuple[Any, Where]] = []
    try:
        while loader.check_node():
            node = loader.get_node()
            if node is None:  # pragma: no cover - check_node() said there is one
                break
            where = Where(filename, node.start_mark.line + 1)
            doc = loader.construct_document(node)
            if doc is not None:
                docs.append((doc, where))
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = e.problem or e.context or "malformed YAML"
        if e.problem and e.context and e.context_mark is not None:
            problem += f" ({e.context} at line {e.context_mark.line + 1})"
        raise InputError(Where(filename, line), f"malformed YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise InputError(Where(filename, 1), f"malformed YAML: {e}") from None
    finally:
        loader.dispose()
    return docs


def expand_paths(paths: Sequence[str]) -> list[Path]:
    """Expand ``-f`` arguments: files as given, directories to their YAML files.

    A directory contributes its ``*.yaml``, ``*.yml`` and ``*.json`` files in
    name order, not recursively (as ``kubectl apply -f DIR`` does).

    :raises InputError: a path does not exist, or a directory has no YAML file.
    """
    out: list[Path] = []
    for raw in paths:
        p = Path(raw)
        if p.is_dir():
            found = sorted(
                q
                for q in p.iterdir()
                if q.is_file() and q.suffix.lower() in YAML_SUFFIXES and not q.name.startswith(".")
            )
            if not found:
                raise InputError(raw, "the directory has no .yaml, .yml or .json file")
            out.extend(found)
        elif p.is_file() or raw == "-":
            out.append(p)
        elif p.exists():
            raise InputError(raw, "not a regular file or directory")
        else:
            raise InputError(raw, f"no such file or directory ({os.strerror(2)})")
    return out

"""Read YAML input, remembering where every value came from.

Every input error names ``FILE:LINE``.  To make that
possible, YAML is loaded into :class:`LDict` / :class:`LList` -- plain
``dict`` / ``list`` subclasses that also carry the file, the line of the node
itself and the line of each key or item.  Nothing here knows about Istio or
Kubernetes; :mod:`hashlb.istio.parse` gives the values their meaning.

Input is hostile until proven otherwise.  One :class:`Budget` per run holds
every file to the caps of :mod:`hashlb._validate`: bytes read
(``MAX_INPUT_BYTES``), files (``MAX_INPUT_FILES``), YAML nodes with aliases
counted as what they stand for (``MAX_YAML_NODES``, and
``MAX_YAML_ALIAS_NODES`` for the alias bombs), nesting depth
(``MAX_YAML_DEPTH``) and integer length (``MAX_INT_DIGITS``).  The node
graph is composed here, iteratively, so the budget stops a bomb before
anything walks it; the refusal is an :class:`InputError` naming
``FILE:LINE``.
"""

from __future__ import annotations

import os
import re
import stat
import sys
from collections.abc import Callable, Iterator, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from .._source import InputError, Where
from .._validate import (
    MAX_INPUT_BYTES,
    MAX_INPUT_FILES,
    MAX_INT_DIGITS,
    MAX_YAML_ALIAS_NODES,
    MAX_YAML_DEPTH,
    MAX_YAML_NODES,
    cap,
)
from .._validate import short as _short

__all__ = (
    "YAML_SUFFIXES",
    "Budget",
    "InputError",
    "LDict",
    "LList",
    "Where",
    "charge_text",
    "decode_text",
    "expand_paths",
    "load_yaml_documents",
    "read_input",
    "read_stdin",
)

#: The file names a directory given to ``-f`` contributes (like ``kubectl -f DIR``).
YAML_SUFFIXES = (".yaml", ".yml", ".json")


class LDict(dict[str, Any]):
    """A YAML mapping that remembers its position and the position of each key."""

    file: str = "<input>"
    line: int = 0
    key_lines: dict[str, int]
    explicit_keys: set[str]

    def __init__(self) -> None:
        super().__init__()
        self.key_lines = {}
        self.explicit_keys = set()

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


class Budget:
    """What the inputs of one run have used so far, against the caps.

    One budget is shared by every file of a run, so that many small files
    cannot add up to more than one large one.
    """

    __slots__ = ("alias_nodes", "bytes", "files", "nodes", "stdin")

    def __init__(self) -> None:
        self.bytes = 0
        self.files = 0
        self.nodes = 0
        self.alias_nodes = 0
        self.stdin = False


_NO_KEY = object()
#: Characters YAML accepts in a stream (the printable set of YAML 1.1 / 1.2).
_UNPRINTABLE = re.compile("[^\t\n\r\x20-\x7e\x85\xa0-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


class _LongInt(Exception):
    """An integer scalar longer than MAX_INT_DIGITS (raised by the constructor)."""

    def __init__(self, node: yaml.ScalarNode) -> None:
        super().__init__()
        self.node = node


class _BoundedComposer:
    """SafeLoader (libyaml when available) that builds LDict/LList with positions.

    The node graph is composed here rather than by PyYAML's composer: without
    recursion, and within the run's :class:`Budget` -- nodes, nodes reached
    through aliases (each alias counted as the nodes it stands for), and
    nesting depth (aliases expanded) -- so that an alias bomb is refused
    before anything walks the values it stands for.
    """

    filename = "<input>"
    budget: Budget
    if TYPE_CHECKING:  # provided by the PyYAML parser and resolver classes

        def get_event(self) -> Any: ...
        def resolve(self, kind: Any, value: Any, implicit: Any) -> Any: ...

    def _where(self, event: Any) -> Where:
        return Where(self.filename, event.start_mark.line + 1)

    def _charge(self, event: Any, nodes: int, alias: bool) -> None:
        budget = self.budget
        budget.nodes += nodes
        if alias:
            budget.alias_nodes += nodes
            if budget.alias_nodes > MAX_YAML_ALIAS_NODES:
                raise InputError(
                    self._where(event),
                    f"YAML aliases stand for more than {cap('MAX_YAML_ALIAS_NODES')} nodes "
                    f"(alias *{_short(event.anchor, 40)[1:-1]} stands for {nodes}); "
                    "refusing what looks like an alias bomb",
                )
        if budget.nodes > MAX_YAML_NODES:
            raise InputError(
                self._where(event),
                f"the YAML input has more than {cap('MAX_YAML_NODES')} nodes "
                "(aliases counted as the nodes they stand for)",
            )

    def _too_deep(self, event: Any) -> InputError:
        return InputError(
            self._where(event), f"YAML nesting deeper than {cap('MAX_YAML_DEPTH')} levels"
        )

    def compose_bounded(self) -> yaml.Node:
        """Compose the next document (the next event starts it) within the budget."""
        get = self.get_event
        budget = self.budget
        resolve = self.resolve
        scalar_event, scalar_node, seq_node = yaml.ScalarEvent, yaml.ScalarNode, yaml.SequenceNode
        get()  # DOCUMENT-START
        # anchor -> [node, expanded size (-1 while the node is open), height]
        anchors: dict[str, list[Any]] = {}
        # open collections: [node, anchor, expanded size, height below, pending key]
        stack: list[list[Any]] = []
        while True:
            event = get()
            kind = type(event)
            if kind is scalar_event:
                budget.nodes += 1
                if budget.nodes > MAX_YAML_NODES:
                    self._charge(event, 0, False)
                tag = event.tag
                if tag is None or tag == "!":
                    tag = resolve(scalar_node, event.value, event.implicit)
                # No end mark: nothing reads it, and it is a tenth of a node's memory.
                node: Any = scalar_node(tag, event.value, event.start_mark, None, style=event.style)
                size = height = 1
                if event.anchor is not None:
                    anchors[event.anchor] = [node, 1, 1]
            elif kind is yaml.SequenceStartEvent or kind is yaml.MappingStartEvent:
                self._charge(event, 1, False)
                if len(stack) >= MAX_YAML_DEPTH:
                    raise self._too_deep(event)
                tag = event.tag
                seq = kind is yaml.SequenceStartEvent
                node_cls = yaml.SequenceNode if seq else yaml.MappingNode
                if tag is None or tag == "!":
                    tag = self.resolve(node_cls, None, event.implicit)
                node = node_cls(tag, [], event.start_mark, None, flow_style=event.flow_style)
                if event.anchor is not None:
                    anchors[event.anchor] = [node, -1, 0]
                stack.append([node, event.anchor, 1, 0, _NO_KEY])
                continue
            elif kind is yaml.SequenceEndEvent or kind is yaml.MappingEndEvent:
                node, anchor, size, below, _ = stack.pop()
                height = below + 1
                entry = anchors.get(anchor) if anchor is not None else None
                if entry is not None and entry[0] is node:
                    entry[1], entry[2] = size, height
            elif kind is yaml.AliasEvent:
                entry = anchors.get(event.anchor)
                name = _short(event.anchor, 40)[1:-1]
                if entry is None:
                    raise InputError(self._where(event), f"undefined YAML alias *{name}")
                node, size, height = entry
                if size < 0:
                    raise InputError(
                        self._where(event), f"recursive YAML alias *{name} (it is inside &{name})"
                    )
                self._charge(event, size, True)
                if len(stack) + height > MAX_YAML_DEPTH:
                    raise self._too_deep(event)
            else:  # pragma: no cover - the parser emits nothing else inside a document
                raise InputError(self._where(event), f"unexpected YAML event {kind.__name__}")
            if not stack:
                get()  # DOCUMENT-END
                root: yaml.Node = node
                return root
            parent = stack[-1]
            parent[2] += size
            if height > parent[3]:
                parent[3] = height
            if type(parent[0]) is seq_node:
                parent[0].value.append(node)
            elif parent[4] is _NO_KEY:
                parent[4] = node
            else:
                parent[0].value.append((parent[4], node))
                parent[4] = _NO_KEY


def _construct_map(loader: Any, node: yaml.MappingNode) -> Iterator[LDict]:
    data = LDict()
    data.file = loader.filename
    data.line = node.start_mark.line + 1
    yield data
    # Keys written in this mapping (not merged in by ``<<``): one may not repeat,
    # as kubectl's strict decoding says ("mapping key ... already defined").
    explicit = {id(k) for k, _ in node.value if k.tag != "tag:yaml.org,2002:merge"}
    loader.flatten_mapping(node)
    for key_node, value_node in node.value:
        if not isinstance(key_node, yaml.ScalarNode):
            kind = "mapping" if isinstance(key_node, yaml.MappingNode) else "sequence"
            raise InputError(
                Where(loader.filename, key_node.start_mark.line + 1),
                f"a mapping key must be a plain value, not a {kind}",
            )
        key = loader.construct_object(key_node, deep=True)
        if not isinstance(key, str):
            # Kubernetes and Istio keys are strings; keep others readable.
            key = str(key).lower() if isinstance(key, bool) else str(key)
        if id(key_node) in explicit:
            first = data.key_lines.get(key) if key in data.explicit_keys else None
            if first is not None:
                raise InputError(
                    Where(loader.filename, key_node.start_mark.line + 1),
                    f"duplicate key {_short(key)} (first at line {first})",
                )
            data.explicit_keys.add(key)
        try:
            data[key] = loader.construct_object(value_node, deep=True)
        except _LongInt as e:
            if e.node is not value_node:
                raise
            raise InputError(
                Where(loader.filename, value_node.start_mark.line + 1),
                f"{_short(key)}: {_long_int_message(e.node)}",
            ) from None
        data.key_lines[key] = key_node.start_mark.line + 1


def _construct_seq(loader: Any, node: yaml.SequenceNode) -> Iterator[LList]:
    data = LList()
    data.file = loader.filename
    data.line = node.start_mark.line + 1
    yield data
    for item in node.value:
        data.append(loader.construct_object(item, deep=True))
        data.item_lines.append(item.start_mark.line + 1)


def _construct_int(loader: Any, node: yaml.ScalarNode) -> int:
    if len(node.value) > MAX_INT_DIGITS:
        raise _LongInt(node)
    value: int = yaml.SafeLoader.construct_yaml_int(loader, node)
    return value


def _long_int_message(node: yaml.ScalarNode) -> str:
    return f"an integer of {len(node.value)} characters is too long ({cap('MAX_INT_DIGITS')})"


class _PyLoader(_BoundedComposer, yaml.SafeLoader):
    """The loader on PyYAML's pure-Python parser (used when libyaml is missing)."""


_CLoader: Any = (
    type("_CLoader", (_BoundedComposer, yaml.CSafeLoader), {"__doc__": "The loader on libyaml."})
    if hasattr(yaml, "CSafeLoader")
    else None
)
for _cls in (_PyLoader, _CLoader):
    if _cls is not None:
        _cls.add_constructor("tag:yaml.org,2002:map", _construct_map)
        _cls.add_constructor("tag:yaml.org,2002:seq", _construct_seq)
        _cls.add_constructor("tag:yaml.org,2002:int", _construct_int)
#: The loader in use: libyaml's parser when PyYAML has it, else the pure one.
_Loader: Any = _CLoader if _CLoader is not None else _PyLoader


def _check_printable(text: str, filename: str) -> None:
    """Refuse characters YAML does not allow, naming the line and column."""
    bad = _UNPRINTABLE.search(text)
    if bad is None:
        return
    pos = bad.start()
    line = text.count("\n", 0, pos) + 1
    column = pos - (text.rfind("\n", 0, pos) + 1) + 1
    raise InputError(
        Where(filename, line),
        f"character U+{ord(bad.group()):04X} at column {column} is not allowed in YAML "
        "(control characters must be escaped in a double-quoted string)",
    )


def load_yaml_documents(
    text: str, filename: str, budget: Budget | None = None
) -> list[tuple[Any, Where]]:
    """Parse every document of a (multi-document) YAML text.

    Empty documents (``---`` followed by nothing) are skipped.

    :param text: the YAML text.
    :param filename: the name used in positions and error messages.
    :param budget: the run's :class:`Budget` (default: a new one for this text).
    :returns: ``(document, position)`` pairs; mappings are :class:`LDict`.
    :raises InputError: the YAML is malformed or over a cap (the message
        names the line).
    """
    _check_printable(text, filename)
    loader = _Loader(text)
    loader.filename = filename
    loader.budget = budget if budget is not None else Budget()
    docs: list[tuple[Any, Where]] = []
    try:
        loader.get_event()  # STREAM-START
        while not loader.check_event(yaml.StreamEndEvent):
            node = loader.compose_bounded()
            where = Where(filename, node.start_mark.line + 1)
            doc = loader.construct_document(node)
            if doc is not None:
                docs.append((doc, where))
    except _LongInt as e:
        where = Where(filename, e.node.start_mark.line + 1)
        raise InputError(where, _long_int_message(e.node)) from None
    except yaml.MarkedYAMLError as e:
        mark = e.problem_mark or e.context_mark
        line = mark.line + 1 if mark is not None else 1
        problem = e.problem or e.context or "malformed YAML"
        if e.problem and e.context and e.context_mark is not None:
            problem += f" ({e.context} at line {e.context_mark.line + 1})"
        raise InputError(Where(filename, line), f"malformed YAML: {problem}") from None
    except yaml.YAMLError as e:
        raise InputError(Where(filename, 1), f"malformed YAML: {_short(str(e), 200)}") from None
    except RecursionError:  # pragma: no cover - MAX_YAML_DEPTH keeps far below the limit
        raise InputError(Where(filename, 1), "YAML nested too deeply") from None
    finally:
        loader.dispose()
    return docs


def decode_text(data: bytes, name: str) -> str:
    """Decode UTF-8 input (a leading BOM is dropped), naming the line of a bad byte.

    :raises InputError: *data* is not UTF-8.
    """
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as e:
        line = data.count(b"\n", 0, e.start) + 1
        column = e.start - (data.rfind(b"\n", 0, e.start) + 1) + 1
        raise InputError(
            Where(name, line),
            f"not UTF-8 text: byte 0x{data[e.start]:02x} at column {column} ({e.reason})",
        ) from None


def _over_bytes(name: str) -> InputError:
    return InputError(
        name,
        f"the YAML input is larger than {cap('MAX_INPUT_BYTES')} bytes "
        "(every -f and --endpoints file together)",
    )


def read_input(path: str | os.PathLike[str], budget: Budget, name: str | None = None) -> str:
    """Read one YAML input file (at most what the budget has left) as text.

    :raises InputError: the file cannot be read, is not UTF-8 or is over
        :data:`~hashlb._validate.MAX_INPUT_BYTES` with the earlier inputs.
    """
    name = name if name is not None else str(path)

    def read(size: int) -> bytes:
        with open(path, "rb") as f:
            return f.read(size)

    return _read_within_budget(read, name, budget)


def read_stdin(budget: Budget) -> str:
    """Read standard input as one YAML input (see :func:`read_input`)."""
    name = "<stdin>"
    stream = getattr(sys.stdin, "buffer", None)

    def read(size: int) -> bytes:
        if stream is not None:
            return bytes(stream.read(size))
        # a text-only stdin (e.g. replaced in-process)
        return sys.stdin.read(size).encode("utf-8", "surrogateescape")

    return _read_within_budget(read, name, budget)


def _read_within_budget(read: Callable[[int], bytes], name: str, budget: Budget) -> str:
    """Read at most what is left of :data:`MAX_INPUT_BYTES` (one byte more, to tell), decode it."""
    left = MAX_INPUT_BYTES - budget.bytes
    try:
        data = read(left + 1)
    except OSError as e:
        raise InputError(name, f"cannot read: {e.strerror or e}") from None
    budget.bytes += len(data)
    if len(data) > left:
        raise _over_bytes(name)
    return decode_text(data, name)


def charge_text(text: str, name: str, budget: Budget) -> None:
    """Charge an input given as text (not read from a file) to *budget*."""
    budget.bytes += len(text.encode("utf-8", "surrogatepass"))
    if budget.bytes > MAX_INPUT_BYTES:
        raise _over_bytes(name)


def _readable_kind(mode: int) -> bool:
    """Regular files, pipes (``<(cmd)``, FIFOs) and character devices can be read."""
    return stat.S_ISREG(mode) or stat.S_ISFIFO(mode) or stat.S_ISCHR(mode)


def _too_many_files(raw: str) -> InputError:
    return InputError(
        raw,
        f"more than {cap('MAX_INPUT_FILES')} YAML files to read "
        "(every -f and --endpoints path together)",
    )


def expand_paths(paths: Sequence[str], budget: Budget | None = None) -> list[Path]:
    """Expand ``-f`` arguments: files as given, directories to their YAML files.

    A directory contributes its ``*.yaml``, ``*.yml`` and ``*.json`` files in
    name order, not recursively (as ``kubectl apply -f DIR`` does).  A path
    may also be a pipe (``-f <(kubectl get ...)``) or ``-`` (standard
    input, once per run).

    :param budget: counts the files of the whole run against
        :data:`~hashlb._validate.MAX_INPUT_FILES` (default: these paths only).
    :raises InputError: a path does not exist or cannot be read, a directory
        has no YAML file, ``-`` is given twice, or there are too many files.
    """
    budget = budget if budget is not None else Budget()
    out: list[Path] = []
    for raw in paths:
        if raw == "-":
            if budget.stdin:
                raise InputError(raw, "standard input ('-') can be read only once")
            budget.stdin = True
            budget.files += 1
            if budget.files > MAX_INPUT_FILES:
                raise _too_many_files(raw)
            out.append(Path(raw))
            continue
        p = Path(raw)
        try:
            mode = p.stat().st_mode
        except FileNotFoundError:
            raise InputError(raw, "no such file or directory") from None
        except OSError as e:
            raise InputError(raw, f"cannot read: {e.strerror or e}") from None
        if stat.S_ISDIR(mode):
            found: list[Path] = []
            try:
                with os.scandir(p) as entries:
                    for entry in entries:
                        name = entry.name
                        if name.startswith(".") or not name.lower().endswith(YAML_SUFFIXES):
                            continue
                        try:
                            if not entry.is_file():
                                continue
                        except OSError:
                            continue
                        found.append(p / name)
                        if budget.files + len(found) > MAX_INPUT_FILES:
                            raise _too_many_files(raw)
            except OSError as e:
                raise InputError(raw, f"cannot read the directory: {e.strerror or e}") from None
            if not found:
                raise InputError(raw, "the directory has no .yaml, .yml or .json file")
            budget.files += len(found)
            out.extend(sorted(found))
        elif _readable_kind(mode):
            budget.files += 1
            if budget.files > MAX_INPUT_FILES:
                raise _too_many_files(raw)
            out.append(p)
        else:
            raise InputError(raw, "not a regular file, pipe or directory")
    return out

"""Reading Envoy configuration text, and the typed field access every parser of this package uses.

The input is a path, a file object, ``str``/``bytes`` text (JSON, or YAML
when it is not JSON) or an already-parsed ``dict``/``list``.  Values are
read by their proto3 JSON names: the proto field name (snake_case, what the
admin ``/config_dump`` prints) or its lowerCamelCase form (what
``istioctl proxy-config ... -o json`` prints), as Envoy's own JSON parser
accepts both.  Every error is an :class:`EnvoyConfigError` whose message
starts with the JSON path of the bad value.
"""

from __future__ import annotations

import json
import os
from collections.abc import Mapping
from functools import lru_cache
from typing import IO, Any

from .._validate import MAX_INPUT_BYTES, short
from ..errors import ConfigError

__all__ = (
    "EnvoyConfigError",
    "Source",
    "as_bool",
    "as_list",
    "as_object",
    "as_str",
    "as_uint",
    "duration_seconds",
    "enum_name",
    "get",
    "read_source",
)

#: What :func:`hashlb.envoy.load` reads.
Source = (
    str | bytes | bytearray | os.PathLike[str] | IO[str] | IO[bytes] | Mapping[str, Any] | list[Any]
)


class EnvoyConfigError(ConfigError):
    """Bad Envoy configuration: ``str()`` is ``"<JSON path>: <what is wrong>"``.

    :attr:`path` is the JSON path of the bad value (``configs[2].dynamic_active_clusters[4]
    .cluster.lb_policy``), :attr:`message` the rest, and :attr:`source` the
    input's name (a file name, ``"<text>"``, ``"<object>"``), which a caller
    such as the CLI puts in front.
    """

    def __init__(self, path: str, message: str, source: str | None = None) -> None:
        self.path = path
        self.message = " ".join(message.split())
        self.source = source
        super().__init__(f"{path}: {self.message}" if path else self.message)

    def __reduce__(self) -> tuple[object, ...]:
        return (EnvoyConfigError, (self.path, self.message, self.source))


def fail(path: str, message: str) -> EnvoyConfigError:
    """Return the error for the value at *path* (the caller raises it)."""
    return EnvoyConfigError(path or "<document>", message)


@lru_cache(maxsize=512)
def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def get(obj: Mapping[str, Any], name: str) -> Any:
    """Return field *name* of a message (snake_case or lowerCamelCase), or None."""
    value = obj.get(name)
    if value is None and "_" in name:
        value = obj.get(_camel(name))
    return value


def _kind(value: object) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return "a boolean"
    if isinstance(value, (int, float)):
        return "a number"
    if isinstance(value, str):
        return "a string"
    if isinstance(value, list):
        return "a list"
    if isinstance(value, Mapping):
        return "an object"
    return type(value).__name__


def as_object(value: object, path: str) -> Mapping[str, Any]:
    """Return *value* if it is a JSON object, else raise."""
    if isinstance(value, Mapping):
        return value
    raise fail(path, f"expected an object, got {_kind(value)}")


def as_list(value: object, path: str) -> list[Any]:
    """Return *value* if it is a JSON list (None: empty), else raise."""
    if value is None:
        return []
    if isinstance(value, list):
        return value
    raise fail(path, f"expected a list, got {_kind(value)}")


def as_str(value: object, path: str) -> str:
    """Return *value* if it is a string, else raise."""
    if isinstance(value, str):
        return value
    raise fail(path, f"expected a string, got {_kind(value)} {short(value, 40)}")


def as_bool(value: object, path: str) -> bool:
    """Return *value* (None: False) if it is a boolean, else raise."""
    if value is None:
        return False
    if isinstance(value, bool):
        return value
    raise fail(path, f"expected a boolean, got {_kind(value)} {short(value, 40)}")


def as_uint(value: object, path: str, maximum: int = 2**64 - 1) -> int:
    """Return an unsigned integer: a JSON number or, as proto3 JSON prints 64-bit values, a string.

    A ``{"value": n}`` wrapper is read as *n*.  Negative values, fractions
    and values above *maximum* are errors.
    """
    if isinstance(value, Mapping) and set(value) <= {"value"}:
        value = value.get("value", 0)
    number: int | None = None
    if isinstance(value, bool):
        number = None
    elif isinstance(value, int):
        number = value
    elif isinstance(value, float) and value.is_integer():
        number = int(value)
    elif isinstance(value, str):
        text = value.strip()
        body = text[1:] if text[:1] in "+-" else text
        if body.isdigit() and body.isascii() and len(body) <= 25:
            number = int(text)
    if number is None:
        raise fail(path, f"expected an unsigned integer, got {_kind(value)} {short(value, 40)}")
    if number < 0:
        raise fail(path, f"must not be negative, got {number}")
    if number > maximum:
        raise fail(path, f"must be at most {maximum}, got {short(number, 40)}")
    return number


def enum_name(value: object, path: str, names: Mapping[int, str]) -> str:
    """Return the name of an enum value given by name (case-insensitive) or number."""
    if isinstance(value, str):
        upper = value.upper()
        if upper in names.values():
            return upper
    elif isinstance(value, int) and not isinstance(value, bool) and value in names:
        return names[value]
    known = ", ".join(names.values())
    raise fail(path, f"unknown value {short(value, 60)} (known: {known})")


def duration_seconds(value: object, path: str) -> int:
    """Return the whole seconds of a ``google.protobuf.Duration``: ``"3600s"``, ``"1.5s"`` or ``{seconds}``."""
    if isinstance(value, Mapping):
        return as_uint(value.get("seconds", 0), path + ".seconds")
    if isinstance(value, str) and value.endswith("s"):
        whole, _, frac = value[:-1].partition(".")
        if (
            whole.isdigit()
            and whole.isascii()
            and len(whole) <= 12
            and (not frac or frac.isdigit())
        ):
            return int(whole)
    raise fail(path, f"expected a duration such as '3600s', got {short(value, 40)}")


def _decode(data: bytes | str, name: str) -> Any:
    """Parse JSON, or YAML when the text is not JSON."""
    if isinstance(data, bytes):
        try:
            text = data.decode("utf-8-sig")
        except UnicodeDecodeError as e:
            raise EnvoyConfigError(
                "", f"not UTF-8 text: byte 0x{data[e.start]:02x} at offset {e.start}", name
            ) from None
    else:
        text = data
    stripped = text.lstrip()
    if not stripped:
        raise EnvoyConfigError("", "empty input: expected JSON or YAML configuration", name)
    json_error = None
    if stripped[:1] in ("{", "["):
        try:
            return json.loads(text)
        except json.JSONDecodeError as e:
            json_error = f"not valid JSON: {e.msg} at line {e.lineno} column {e.colno}"
        except ValueError as e:  # an integer over Python's digit limit
            json_error = f"not valid JSON: {short(str(e), 80)}"
        except RecursionError:
            raise EnvoyConfigError("", "not valid JSON: nested too deeply", name) from None
    try:
        return _decode_yaml(text, name)
    except EnvoyConfigError:
        if json_error is None:
            raise
        raise EnvoyConfigError("", json_error, name) from None


def _decode_yaml(text: str, name: str) -> Any:
    try:
        from ..istio._yaml import load_yaml_documents
    except ImportError:
        raise EnvoyConfigError(
            "", 'not JSON, and reading YAML needs PyYAML: pip install "hashlb[istio]"', name
        ) from None
    from .._source import InputError

    try:
        docs = load_yaml_documents(text, name)
    except InputError as e:
        raise EnvoyConfigError("", f"neither JSON nor YAML: {e.message}", name) from None
    if len(docs) != 1:
        raise EnvoyConfigError("", f"expected one YAML document, got {len(docs)}", name)
    doc = docs[0][0]
    if not isinstance(doc, (Mapping, list)):
        raise EnvoyConfigError(
            "", f"neither JSON nor YAML configuration: a lone {_kind(doc)}", name
        )
    return doc


def _read_limited(stream: IO[Any], name: str) -> bytes | str:
    data = stream.read(MAX_INPUT_BYTES + 1)
    if len(data) > MAX_INPUT_BYTES:
        raise EnvoyConfigError("", f"larger than {MAX_INPUT_BYTES} bytes", name)
    if not isinstance(data, (str, bytes)):
        raise EnvoyConfigError("", f"the file object read {type(data).__name__}, not text", name)
    return data


def read_source(source: object) -> tuple[Any, str]:
    """Return the parsed document of *source* and the name errors give it."""
    if isinstance(source, (Mapping, list)):
        return source, "<object>"
    if isinstance(source, (bytes, bytearray)):
        if len(source) > MAX_INPUT_BYTES:
            raise EnvoyConfigError("", f"larger than {MAX_INPUT_BYTES} bytes", "<bytes>")
        return _decode(bytes(source), "<bytes>"), "<bytes>"
    if isinstance(source, str) and (source.lstrip()[:1] in ("{", "[") or "\n" in source):
        if len(source) > MAX_INPUT_BYTES:
            raise EnvoyConfigError("", f"larger than {MAX_INPUT_BYTES} bytes", "<text>")
        return _decode(source, "<text>"), "<text>"
    if isinstance(source, (str, os.PathLike)):
        name = os.fspath(source)
        try:
            with open(name, "rb") as f:
                data = _read_limited(f, name)
        except OSError as e:
            raise EnvoyConfigError("", f"cannot read: {e.strerror or e}", name) from None
        return _decode(data, name), name
    read = getattr(source, "read", None)
    if callable(read):
        name = str(getattr(source, "name", "<stream>"))
        return _decode(_read_limited(source, name), name), name  # type: ignore[arg-type]
    raise TypeError(
        "source must be a path, a file object, JSON/YAML text or a parsed dict/list, "
        f"not {type(source).__name__}"
    )

"""The file readers of :func:`hashlb.replay.read_requests`: Parquet, CSV and JSON lines
streamed as Arrow record batches of the wanted file columns (plain Python, pyarrow)."""

from __future__ import annotations

import io
from collections.abc import Iterable, Iterator, Sequence
from typing import Any

from ._source import InputError
from ._validate import MAX_REPLAY_CSV_BLOCK, MAX_REPLAY_JSON_BLOCK, cap
from ._validate import short as _short

__all__ = ("csv_batches", "jsonl_batches", "missing", "open_error", "parquet_batches")


def open_error(path: str, e: Exception) -> InputError:
    if isinstance(e, OSError) and e.strerror:
        return InputError(path, f"cannot read: {e.strerror}")
    return InputError(path, f"cannot read: {_short(str(e), 200)}")


def missing(path: str, names: Iterable[str], wanted: Sequence[str]) -> None:
    have = set(names)
    lacking = [c for c in wanted if c not in have]
    if lacking:
        shown = ", ".join(sorted(have))[:300]
        raise InputError(
            path, f"no column {lacking[0]!r} in the file (its columns: {shown or 'none'})"
        )


def parquet_batches(pa: Any, path: str, wanted: list[str], rows: int) -> Iterator[Any]:
    import pyarrow.parquet as pq

    try:
        # No pre-buffering: its read cache keeps every row group's bytes until the
        # file is closed (apache/arrow#39808), so memory would grow with the file.
        f = pq.ParquetFile(path, pre_buffer=False)
    except (OSError, pa.ArrowException) as e:
        raise open_error(path, e) from None
    missing(path, f.schema_arrow.names, wanted)

    def batches() -> Iterator[Any]:
        with f:
            try:
                yield from f.iter_batches(batch_size=rows, columns=wanted)
            except (OSError, pa.ArrowException) as e:
                raise open_error(path, e) from None

    return batches()


#: The first block size of a CSV reader: Arrow's default, not the batch's, for the
#: reader reads up to 32 blocks ahead (its memory follows the block, never the file).
#: A row longer than the block makes it reread the file in blocks 8x bigger (the
#: rows already yielded skipped), which then stay that size.
CSV_BLOCK = 1 << 20


def csv_batches(pa: Any, path: str, wanted: list[str], rows: int) -> Iterator[Any]:
    import pyarrow.csv as pcsv

    convert = pcsv.ConvertOptions(
        include_columns=wanted,
        column_types={c: pa.string() for c in wanted},  # "007" stays a user name
        strings_can_be_null=True,
        null_values=[""],
        # "" is an empty value (an empty cookie is not a missing one), an empty cell a null:
        # how pyarrow, polars and Python's csv module (QUOTE_NONNUMERIC/ALL) write them
        quoted_strings_can_be_null=False,
    )

    # A quoted value may hold a newline (a header value of a log can): Arrow then
    # splits blocks at row ends, not line ends (no measurable cost here).
    parse = pcsv.ParseOptions(newlines_in_values=True)

    def reader_from(block: int) -> tuple[Any, int]:
        """A reader from the first row, and its block size: *block* bytes, grown 8x at a
        time while a row is longer."""
        while True:
            read = pcsv.ReadOptions(block_size=block)
            try:
                reader = pcsv.open_csv(
                    path, read_options=read, parse_options=parse, convert_options=convert
                )
                return reader, block
            except (OSError, pa.ArrowException) as e:
                if not _straddles(e):
                    raise
                block = _grow(path, block)

    try:
        first = reader_from(CSV_BLOCK)
    except (OSError, pa.ArrowException) as e:
        text = str(e)
        if "include_columns" in text or "not exist" in text:
            with open(path, encoding="utf-8", errors="replace") as fh:
                head = fh.readline().rstrip("\r\n").split(",")
            missing(path, head, wanted)
        raise _csv_error(path, e) from None

    def batches() -> Iterator[Any]:
        (reader, block), done = first, 0
        try:
            while True:
                skip = done  # rows of a reread already yielded: dropped here, counted
                try:  # by the parser that yields them (Arrow's skip counts lines)
                    for batch in reader:
                        if skip >= batch.num_rows:
                            skip -= batch.num_rows
                            continue
                        for piece in _split(batch.slice(skip), rows):
                            done += piece.num_rows
                            yield piece
                        skip = 0
                    return
                except (OSError, pa.ArrowException) as e:
                    if not _straddles(e):
                        raise _csv_error(path, e) from None
                    reader.close()  # a row longer than the block: reread, bigger
                    reader, block = reader_from(_grow(path, block))
        except (OSError, pa.ArrowException) as e:
            raise _csv_error(path, e) from None
        finally:
            reader.close()

    return batches()


def _grow(path: str, block: int) -> int:
    """The next CSV block size after *block*, which a row did not fit in."""
    if block >= MAX_REPLAY_CSV_BLOCK:
        raise InputError(path, f"a row is longer than {cap('MAX_REPLAY_CSV_BLOCK')} bytes")
    return min(block * 8, MAX_REPLAY_CSV_BLOCK)


def _straddles(e: Exception) -> bool:
    """A CSV row longer than the reader's block: pyarrow's own message (a parse error
    quotes the bad row, which may hold any text)."""
    return str(e).startswith("straddling object straddles two block boundaries")


def _split(batch: Any, rows: int) -> Iterator[Any]:
    for start in range(0, batch.num_rows, rows):
        yield batch.slice(start, rows)


def jsonl_batches(pa: Any, path: str, wanted: list[str], rows: int) -> Iterator[Any]:
    import pyarrow.json as pjson

    try:
        f = open(path, "rb")  # noqa: SIM115 - closed by the generator
    except OSError as e:
        raise open_error(path, e) from None
    block = max(1 << 16, min(rows * 256, MAX_REPLAY_JSON_BLOCK))

    def batches() -> Iterator[Any]:
        rest = b""
        line = 1
        seen: set[str] = set()
        names: set[str] = set()
        try:
            while True:
                chunk = f.read(block)
                data = rest + chunk
                if not chunk:
                    rest = b""
                else:
                    cut = data.rfind(b"\n")
                    if cut < 0:
                        if len(data) > MAX_REPLAY_JSON_BLOCK:
                            raise InputError(
                                f"{path}:{line}",
                                f"a line is longer than {cap('MAX_REPLAY_JSON_BLOCK')} bytes",
                            )
                        rest = data
                        continue
                    data, rest = data[: cut + 1], data[cut + 1 :]
                if data.strip():
                    try:
                        table = pjson.read_json(io.BytesIO(data))
                    except pa.ArrowInvalid as e:
                        raise _bad_lines(path, line, data, e) from None
                    if len(names) < 64:  # the keys shown when a column is missing
                        names.update(table.column_names[:64])
                    seen.update(c for c in wanted if c in table.column_names)
                    cols = [
                        table[c] if c in table.column_names else pa.nulls(table.num_rows)
                        for c in wanted
                    ]
                    table = pa.table(cols, names=wanted)
                    yield from table.to_batches(max_chunksize=rows)
                line += data.count(b"\n")
                if not chunk:
                    break
        finally:
            f.close()
        if len(seen) < len(wanted):  # a key no line has: a misspelt column, not absent values
            missing(path, names | seen, wanted)

    return batches()


def _bad_lines(path: str, line: int, data: bytes, e: Exception) -> InputError:
    """The error of a block of lines Arrow refused, at the first line that is not a JSON object.

    Arrow's own message counts rows within its internal chunks, not lines of
    the file; when every line is a JSON object (the lines disagree on a
    column's type), the error points at the block's first line.
    """
    import json

    for i, text in enumerate(data.split(b"\n")):
        if not text.strip():
            continue
        try:
            obj = json.loads(text)
        except RecursionError:
            return InputError(f"{path}:{line + i}", "malformed JSON: nested too deeply")
        except ValueError as bad:
            return InputError(f"{path}:{line + i}", f"not JSON: {_short(str(bad), 120)}")
        if not isinstance(obj, dict):
            return InputError(f"{path}:{line + i}", "a line must be a JSON object")
    return InputError(f"{path}:{line}", f"in the lines from here: {_short(str(e), 200)}")


def _csv_error(path: str, e: Exception) -> InputError:
    """A CSV read error, naming the column Arrow numbers (``CSV column #N``) by its header."""
    import re

    found = re.search(r"CSV column #(\d+)", str(e))
    if found:
        try:
            with open(path, encoding="utf-8", errors="replace") as fh:
                head = fh.readline(1 << 16).rstrip("\r\n").split(",")
        except OSError:
            head = []
        i = int(found.group(1))
        if i < len(head):
            what = _short(str(e), 200)
            return InputError(path, f"cannot read column {head[i].strip(chr(34))!r}: {what}")
    return open_error(path, e)

"""JSON-lines input and output of genomes with their complexity (`proxystore arch complexity`)."""

from __future__ import annotations

import json
import sys
from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO, Any

from proxystore.errors import GenomeError
from proxystore.limits import (
    IMAGE_SIZE_RULE,
    MAX_CLASSES,
    MAX_IN_CHANNELS,
    integer_in,
    valid_image_size,
)
from proxystore.space.complexity import anynetx_complexity
from proxystore.space.genome import FIELDS, STAGE_FIELDS, Genome

REQUIRED = (*STAGE_FIELDS, "stem_width", "image_size", "num_classes")


class JsonlLineError(GenomeError):
    """A line of a JSONL input is not JSON, misses a key, or holds an invalid genome."""


def _positive_int(record: dict[str, Any], key: str, where: str) -> int:
    value = record[key]
    if isinstance(value, float) and value.is_integer() and abs(value) <= 2**53:
        value = int(value)  # 32.0 is 32; 1e30 is not an integer anyone meant
    if not integer_in(value, 1):
        raise JsonlLineError(f"{where}: {key} must be a positive integer, got {value!r}")
    return int(value)


def complexity_records(lines: Iterable[str | bytes], name: str = "<stdin>"
                       ) -> Iterator[dict[str, Any]]:
    """Yield each line's object with flops, params and acts added; blank lines are skipped.

    Each line holds depths, widths, bottleneck_ratios, group_widths, strides, stem_width,
    image_size and num_classes, optionally in_channels (default 3) and stem_type; other keys
    are passed through.

    Args:
        lines: the lines of a JSONL file, as text or as UTF-8 bytes.
        name: the file's name, for messages.

    Raises:
        JsonlLineError: naming the file and the first malformed line's number; every line is
            checked before its complexity is counted.
    """
    for number, text in enumerate(lines, start=1):
        where = f"{name}: line {number}"
        if isinstance(text, bytes):
            try:
                text = text.decode("utf-8")
            except UnicodeDecodeError:
                raise JsonlLineError(f"{where}: not UTF-8 text") from None
        if not text.strip():
            continue
        try:
            record = json.loads(text)
        except json.JSONDecodeError as error:
            raise JsonlLineError(f"{where}: not valid JSON ({error.msg})") from None
        except ValueError as error:  # an integer of more than 4300 digits
            raise JsonlLineError(f"{where}: not valid JSON ({str(error).split(';')[0]})"
                                 ) from None
        except RecursionError:  # brackets nested about a thousand deep
            raise JsonlLineError(f"{where}: not valid JSON (nested too deeply)") from None
        if not isinstance(record, dict):
            raise JsonlLineError(f"{where}: expected a JSON object, got "
                                 f"{type(record).__name__}")
        missing = [key for key in REQUIRED if key not in record]
        if missing:
            raise JsonlLineError(f"{where}: missing key(s) {', '.join(missing)}")
        try:
            genome = Genome.from_dict({k: record[k] for k in FIELDS if k in record})
        except GenomeError as error:
            raise JsonlLineError(f"{where}: {error}") from None
        image_size = _positive_int(record, "image_size", where)
        if not valid_image_size(image_size):
            raise JsonlLineError(f"{where}: image_size must be {IMAGE_SIZE_RULE}, "
                                 f"got {image_size!r}")
        num_classes = _positive_int(record, "num_classes", where)
        in_channels = _positive_int(record, "in_channels", where) if "in_channels" in record else 3
        for key, value, high in (("num_classes", num_classes, MAX_CLASSES),
                                 ("in_channels", in_channels, MAX_IN_CHANNELS)):
            if not integer_in(value, 1, high):
                raise JsonlLineError(f"{where}: {key} must be an integer from 1 to {high}, "
                                     f"got {value}")
        cx = anynetx_complexity(genome, image_size, num_classes, in_channels)
        yield {**record, **cx.as_dict()}


@contextmanager
def open_text(path: str | Path | None, mode: str = "r") -> Iterator[IO[Any]]:
    """Open a text file (binary with mode "rb"), or stdin/stdout for "-" or None."""
    if path is None or str(path) == "-":
        stream = sys.stdin if "r" in mode else sys.stdout
        yield stream.buffer if "b" in mode else stream
        return
    try:
        handle = open(path, mode, encoding=None if "b" in mode else "utf-8")  # noqa: SIM115
    except OSError as error:
        raise GenomeError(f"cannot open {path}: {error.strerror}") from None
    with handle:
        yield handle


def write_jsonl(records: Iterable[dict[str, Any]], handle: IO[str]) -> int:
    """Write one compact JSON object per line; return how many were written."""
    count = 0
    for record in records:
        handle.write(json.dumps(record, separators=(", ", ": ")) + "\n")
        count += 1
    return count

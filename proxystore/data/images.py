"""Image files of ImageFolder trees: the header check at registration, and the mode rule.

Header check (`inspect_file`, run on every file at `data add`): the file is not empty, PIL
identifies it, its size is at most MAX_SOURCE_PIXELS (a decompression bomb is refused before any
pixel is decoded), and it is whole: a PNG's chunks are read and their checksums verified up to
IEND, a JPEG must hold an end-of-image marker after its first scan, other formats are decoded.
Corruption inside a JPEG's compressed data is not found this way (that would cost a full decode
of every image); decoding such a file later fails with an error naming it.

Mode rule. Each file counts as grey (PIL modes 1, L, LA, I, I;16*, F, and palette images whose
palette is all grey) or colour (every other mode: RGB, RGBA, CMYK, colour palettes, ...). A
dataset is decoded as L when most of its kept files are grey and as RGB otherwise (a tie is RGB,
which loses nothing), unless the `mode` option says L or RGB. Converting one file: alpha is
dropped (not composited); colour to L is PIL's ITU-R 601-2 luma; 16-bit and 32-bit integer
images (I;16, I) are scaled by 1/257 (65,535 is white), 32-bit float images (F) are read as
[0, 1]; values outside those ranges are an error naming the file.
"""

from __future__ import annotations

import functools
import os
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

import numpy as np

from proxystore.errors import DataError
from proxystore.limits import MAX_SOURCE_PIXELS

MODES = ("L", "RGB")
GREY_MODES = {"1", "L", "LA", "La", "I", "I;16", "I;16L", "I;16B", "I;16N", "F"}
WIDE_MODES = {"I", "I;16", "I;16L", "I;16B", "I;16N"}
# The first file's mode decided a dataset's mode before the rule above; the fingerprint of a
# folder for which both rules give the same mode is what it always was.
LEGACY_GREY_MODES = {"1", "L", "LA", "I", "I;16", "F"}
JPEG_END = b"\xff\xd9"
JPEG_SCAN = 0xDA
STANDALONE_MARKERS = {0x01, *range(0xD0, 0xD9)}  # TEM, RSTn, SOI: no length field


@contextmanager
def own_pixel_limit() -> Iterator[None]:
    """Turn PIL's own decompression-bomb check off: MAX_SOURCE_PIXELS is checked instead, right
    after the header is read, with a message that gives the image's size."""
    from PIL import Image

    saved = Image.MAX_IMAGE_PIXELS
    Image.MAX_IMAGE_PIXELS = None
    try:
        yield
    finally:
        Image.MAX_IMAGE_PIXELS = saved


def _palette_is_grey(image: Any) -> bool:
    """Whether every entry of a palette image's palette is grey (read from the header)."""
    palette = getattr(image, "palette", None)
    raw = getattr(palette, "palette", None)
    mode = getattr(palette, "mode", "RGB") or "RGB"
    if not isinstance(raw, (bytes, bytearray)) or not mode.startswith("RGB"):
        return False
    step = len(mode)
    entries = np.frombuffer(bytes(raw[: len(raw) // step * step]), np.uint8).reshape(-1, step)
    return bool(len(entries)) and bool((entries[:, 0] == entries[:, 1]).all()
                                       and (entries[:, 1] == entries[:, 2]).all())


def is_grey(image: Any) -> bool:
    """Whether an opened PIL image counts as grey under the mode rule."""
    if image.mode in ("P", "PA"):
        return _palette_is_grey(image)
    return image.mode in GREY_MODES


def legacy_mode(path: str) -> str:
    """The mode the older first-file rule gives a folder whose first training file is `path`."""
    from PIL import Image

    try:
        with Image.open(path) as image:
            return "L" if image.mode in LEGACY_GREY_MODES else "RGB"
    except (OSError, ValueError, SyntaxError) as error:
        raise DataError(f"{path}: cannot open as an image: {error}") from None


def majority_mode(counts: Mapping[str, int]) -> str:
    """L when grey files (counts keyed "grey"/"colour") are the majority, else RGB."""
    return "L" if counts.get("grey", 0) > counts.get("colour", 0) else "RGB"


def _jpeg_problem(path: str) -> str | None:
    """Walk a JPEG's segments to its first scan; the file must end the image after it."""
    with open(path, "rb") as handle:
        handle.seek(-2, os.SEEK_END)
        if handle.read(2) == JPEG_END:
            return None  # the common case: one 2-byte read
        handle.seek(0)
        data = handle.read()
    pos = 2
    while pos + 4 <= len(data):
        if data[pos] != 0xFF:
            return "corrupt JPEG (bad segment marker)"
        marker = data[pos + 1]
        if marker == 0xFF:  # fill byte
            pos += 1
            continue
        if marker in STANDALONE_MARKERS:
            pos += 2
            continue
        length = int.from_bytes(data[pos + 2:pos + 4], "big")
        if marker == JPEG_SCAN:
            # Entropy-coded data never holds FF D9 (a data FF is followed by 00 or a restart
            # marker), so the first one after the scan header ends the image.
            if data.find(JPEG_END, pos + 2 + length) < 0:
                return "truncated JPEG (no end-of-image marker)"
            return None
        pos += 2 + length
    return "truncated JPEG (ends before its image data)"


@functools.cache
def _convertible(mode: str) -> bool:
    """Whether images of PIL `mode` convert to L and to RGB (LAB and La do not)."""
    from PIL import Image

    try:
        sample = Image.new(mode, (1, 1))
        return all(to_array(sample, target).shape[:2] == (1, 1) for target in MODES)
    except (ValueError, OSError):
        return False


def inspect_file(path: str) -> tuple[str, bool, str | None]:
    """Check one image file's header and integrity; return (PIL mode, grey, problem or None)."""
    from PIL import Image, UnidentifiedImageError

    try:
        if os.path.getsize(path) == 0:
            return "", False, "empty file (0 bytes)"
        with own_pixel_limit(), Image.open(path) as image:
            width, height = image.size
            mode, grey = image.mode, is_grey(image)
            if width < 1 or height < 1:
                return mode, grey, f"no pixels ({width} x {height})"
            if width * height > MAX_SOURCE_PIXELS:
                return mode, grey, (f"{width} x {height} pixels, over the limit of "
                                    f"{MAX_SOURCE_PIXELS:,} (a decompression bomb?)")
            if not _convertible(mode):
                return mode, grey, f"PIL mode {mode} cannot be converted to L or RGB"
            if image.format == "JPEG":
                return mode, grey, _jpeg_problem(path)
            if image.format == "PNG":
                image.verify()  # every chunk's CRC, up to IEND
            else:
                image.load()  # rare formats (bmp, tiff, webp, ppm): decode, bounded above
            return mode, grey, None
    except Image.DecompressionBombError as error:
        return "", False, f"over PIL's decompression-bomb limit ({error})"
    except UnidentifiedImageError:
        return "", False, "not an image PIL can read"
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as error:
        return "", False, f"unreadable ({error or type(error).__name__})"


def to_array(image: Any, mode: str) -> np.ndarray:
    """Return an opened PIL image as uint8 (H, W, C) in mode L or RGB under the mode rule."""
    if image.mode in WIDE_MODES or image.mode == "F":
        wide = np.asarray(image)
        floating = image.mode == "F"
        white = 1.0 if floating else 65535
        if not np.isfinite(wide).all() or wide.min() < 0 or wide.max() > white:
            kind = "32-bit float image" if floating else f"{image.mode} image"
            raise ValueError(f"{kind} with values outside [0, {white:g}]")
        grey = np.floor(wide.astype(np.float64) * (255.0 / white) + 0.5).astype(np.uint8)
        array = grey[..., None]
        return np.repeat(array, 3, axis=2) if mode == "RGB" else array
    if image.mode in ("P", "PA") and mode == "L":
        image = image.convert("RGB")  # through the palette's colours, then luma below
    array = np.asarray(image.convert(mode))
    return array[..., None] if array.ndim == 2 else array


def open_pixels(path: str, mode: str) -> np.ndarray:
    """Decode one file to uint8 (H, W, C) in `mode`; DataError names the file on any failure."""
    from PIL import Image, UnidentifiedImageError

    try:
        with own_pixel_limit(), Image.open(path) as image:
            width, height = image.size
            if width * height > MAX_SOURCE_PIXELS:
                raise DataError(f"{path}: {width} x {height} pixels, over the limit of "
                                f"{MAX_SOURCE_PIXELS:,}")
            return to_array(image, mode)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError(f"{path}: cannot decode: not an image PIL can read") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError) as error:
        raise DataError(f"{path}: cannot decode: {error or type(error).__name__}") from None

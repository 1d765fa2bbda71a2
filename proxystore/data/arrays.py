"""Images and labels held in arrays (.npz, IDX, torchvision): the pixel-scale and label rules.

Pixel scale. What value means white is decided by the array's dtype and the source's `scale`
option, never by the data: uint8 is kept as it is, uint16 is 16-bit (white 65,535, so a value
becomes round(v / 257)), other integer dtypes hold 8-bit values (white 255), floats lie in [0, 1].
`scale: S` declares another white (255 for floats in 0-255, 16 for sklearn-style digits); every
value then becomes round(v x 255 / S). A value that is NaN, infinite or outside [0, S] is refused,
naming the array and the first bad index, and so is a uint16 array whose values all fit in 8 bits
without a declared scale (8-bit values stored wide, or dark 16-bit images: only the user knows).

Labels. Integers (integral floats are read as integers) from 0 to MAX_CLASSES - 1. Without class
names the label space is 0 to the largest label and every label in it must occur (in train or
validation): a sparse space is refused, since its empty classes would count in the class count
that ImageNet-X matching compares. Class names declare the space, empty classes included.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from proxystore.errors import DataError
from proxystore.limits import MAX_CLASSES

SHOWN_MISSING = 10  # unused labels listed in a message, the rest counted


def _first(mask: np.ndarray) -> tuple[int, ...]:
    """The first True position of `mask` (in C order)."""
    flat = int(np.argmax(mask.reshape(-1)))
    return tuple(int(i) for i in np.unravel_index(flat, mask.shape))


def _shown(value: Any) -> str:
    value = value.item() if hasattr(value, "item") else value
    return f"{value:.6g}" if isinstance(value, float) else str(value)


def parse_scale(value: Any) -> int | float:
    """Check a `scale` option: a positive finite number; integral values become ints."""
    if isinstance(value, bool) or not isinstance(value, (int, float, np.integer, np.floating)):
        raise DataError(f"scale must be a positive number (the value of white), got {value!r}")
    number = float(value)
    if not (math.isfinite(number) and number > 0):
        raise DataError(f"scale must be a positive number (the value of white), got {value!r}")
    return int(number) if number.is_integer() else number


def default_scale(dtype: np.dtype) -> int | float:
    """White for an array of this dtype when no scale is given (see the module docstring)."""
    if dtype == np.uint16:
        return 65535
    return 1 if np.issubdtype(dtype, np.floating) else 255


def to_uint8(x: np.ndarray, what: str, name: str, scale: int | float | None) -> np.ndarray:
    """Return pixel array `x` as uint8 under the scale rule; DataError names the first bad value.

    Args:
        x: the images as stored (any layout).
        what: the source, for messages.
        name: the array's name (x_train, x_val), for messages.
        scale: the declared value of white, or None for the dtype's default.
    """
    floating = np.issubdtype(x.dtype, np.floating)
    if x.dtype == np.bool_ or not (floating or np.issubdtype(x.dtype, np.integer)):
        raise DataError(f"{what}: {name} holds {x.dtype} values; images must be integers or "
                        "floats")
    white = default_scale(x.dtype) if scale is None else scale
    if x.dtype == np.uint8 and white == 255:
        return x
    bad = (x < 0) | (x > white)
    if floating:
        bad |= ~np.isfinite(x)
    if bad.any():
        index = _first(bad)
        where = "[" + ", ".join(map(str, index)) + "]"
        value = x[index]
        if scale is not None:
            rule = f"in [0, {_shown(white)}] (scale: {_shown(white)})"
        elif floating:
            rule = "in [0, 1] (float images; give scale: 255 for floats in 0-255)"
        else:
            rule = f"in [0, {white}] for {x.dtype} images (or give scale: the value of white)"
        raise DataError(f"{what}: {name}{where} is {_shown(value)}: pixels must be finite and "
                        f"{rule}")
    if scale is None and x.dtype == np.uint16 and x.size and int(x.max()) <= 255:
        raise DataError(f"{what}: {name} is uint16 but no value exceeds 255: give scale: 255 "
                        "(8-bit values) or scale: 65535 (16-bit images)")
    if not floating and white == 255:
        return x.astype(np.uint8)
    # Floats in [0, 1] are rounded in their own dtype, as proxystore always did (fingerprints
    # of registered datasets stay the same); other scales in float64.
    wide = x * 255 if floating and white == 1 else x.astype(np.float64) * 255.0 / white
    return np.floor(wide + 0.5).astype(np.uint8)


def check_labels(labels: Any, n: int, what: str, name: str) -> np.ndarray:
    """Return one split's labels as int64, each an integer from 0 to MAX_CLASSES - 1.

    Args:
        labels: the labels as stored.
        n: the number of images they label.
        what: the source, for messages.
        name: the array's name (y_train, y_val), for messages.
    """
    y = np.asarray(labels).reshape(-1)
    if len(y) != n:
        raise DataError(f"{what}: {len(y)} labels for {n} images")
    rule = f"labels must be integers from 0 to {MAX_CLASSES - 1}"
    if y.dtype == np.bool_ or not (np.issubdtype(y.dtype, np.integer)
                                   or np.issubdtype(y.dtype, np.floating)):
        raise DataError(f"{what}: {name} holds {y.dtype} values: {rule}")
    bad = (y < 0) | (y > MAX_CLASSES - 1)
    if np.issubdtype(y.dtype, np.floating):
        bad |= ~np.isfinite(y) | (y != np.floor(y))
    if bad.any():
        i = int(np.argmax(bad))
        raise DataError(f"{what}: {name}[{i}] is {_shown(y[i])}: {rule}")
    return y.astype(np.int64)


def class_count(train: np.ndarray, val: np.ndarray, names: tuple[str, ...] | None,
                what: str) -> int:
    """The number of classes: the class names', else every label from 0 to the largest."""
    if names is not None and len(names) > MAX_CLASSES:
        raise DataError(f"{what}: {len(names)} class names; at most {MAX_CLASSES} classes")
    present = np.unique(np.concatenate([train, val]))
    top = int(present[-1]) + 1 if len(present) else 0
    if names is not None:
        if len(names) < top:
            raise DataError(f"{what}: {len(names)} class names for labels up to {top - 1}")
        return len(names)
    if len(present) < top:
        missing = np.setdiff1d(np.arange(top), present)
        shown = ", ".join(str(int(m)) for m in missing[:SHOWN_MISSING])
        more = ", ..." if len(missing) > SHOWN_MISSING else ""
        raise DataError(f"{what}: labels 0 to {top - 1} leave {len(missing)} of {top} unused "
                        f"({shown}{more}): number the classes 0 to {len(present) - 1}, or give "
                        f"class_names for all {top}")
    return top

"""Upper bounds on sizes a user gives (image size, sampled architectures), defined once.

They sit far above any study proxystore is meant for and are there so that a typo (an extra
zero, 1e9 for 1e3) is one line and exit 2 instead of a cache that fills the disk, a count that
overflows, or a sampler that runs for hours.
"""

from __future__ import annotations

import math
import operator
from typing import Any

# ImageNet studies train at <= 512 px; one uint8 RGB cache image of 4096 px is 50 MB (4096^2 x 3),
# so a decode cache at this size is already larger than any dataset proxystore works with.
MAX_IMAGE_SIZE = 4096
IMAGE_SIZE_RULE = f"an integer from 1 to {MAX_IMAGE_SIZE}"

# Seed 2 samples 500 architectures per design space; 100,000 (200 times that) is far more than
# a study trains, and is sampled in seconds.
MAX_SAMPLED_COUNT = 100_000
SAMPLED_COUNT_RULE = f"an integer from 1 to {MAX_SAMPLED_COUNT}"

# A worker's lease (`worker --lease`, `launch slurm --lease`). A heartbeat renews it every third
# of its length, and a worker looks for expired leases at most every 5 s
# (claims.REAP_INTERVAL_SECONDS), so a shorter lease returns no dead worker's cell sooner; it
# only lets the lease run out under a live worker whenever a heartbeat waits a moment on the
# database, and then two workers train the cell (at 0 s every claim expires at once). Dead
# workers on the same machine are put back at start anyway. A lease needs to outlast pauses
# between heartbeats, not a cell; past a day it only keeps a lost node's cells waiting.
MIN_LEASE_SECONDS = 5.0
MAX_LEASE_SECONDS = 24 * 3600.0
LEASE_RULE = f"a number of seconds from {MIN_LEASE_SECONDS:g} to {MAX_LEASE_SECONDS:g}"

# Attempts per cell (`worker --max-attempts`): 0 would fail every expired lease unseen.
MAX_ATTEMPTS = 100
ATTEMPTS_RULE = f"an integer from 1 to {MAX_ATTEMPTS}"

# Environment errors in a row after which a worker stops (`--max-env-errors`).
MAX_ENV_ERRORS = 1000
ENV_ERRORS_RULE = f"an integer from 1 to {MAX_ENV_ERRORS}"


def number_in(value: Any, low: float, high: float) -> bool:
    """Whether `value` is a finite int or float (not a bool, not a string) from `low` to `high`;
    the float counterpart of `integer_in`."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return False
    if isinstance(value, float) and not math.isfinite(value):
        return False
    return low <= value <= high


def integer_in(value: Any, low: int, high: int | None = None) -> bool:
    """Whether `value` is an integer (a numpy one too; not a bool or a float) from `low` to
    `high` (no upper bound when None). The one check behind every size bound of the package."""
    if isinstance(value, bool):
        return False
    try:
        number = operator.index(value)
    except TypeError:
        return False
    return low <= number and (high is None or number <= high)


def valid_image_size(value: Any) -> bool:
    """Whether `value` is an integer (not a bool or float) from 1 to MAX_IMAGE_SIZE pixels."""
    return integer_in(value, 1, MAX_IMAGE_SIZE)


def valid_sampled_count(value: Any) -> bool:
    """Whether `value` is an integer (not a bool or float) from 1 to MAX_SAMPLED_COUNT."""
    return integer_in(value, 1, MAX_SAMPLED_COUNT)

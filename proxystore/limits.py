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


def integer_in(value: Any, low: int | None = None, high: int | None = None) -> bool:
    """Whether `value` is an integer (a numpy one too; not a bool or a float) from `low` to
    `high` (no bound where None). The one check behind every integer the package takes in."""
    if isinstance(value, bool):
        return False
    try:
        number = operator.index(value)
    except TypeError:
        return False
    return (low is None or low <= number) and (high is None or number <= high)


def valid_image_size(value: Any) -> bool:
    """Whether `value` is an integer (not a bool or float) from 1 to MAX_IMAGE_SIZE pixels."""
    return integer_in(value, 1, MAX_IMAGE_SIZE)


def valid_sampled_count(value: Any) -> bool:
    """Whether `value` is an integer (not a bool or float) from 1 to MAX_SAMPLED_COUNT."""
    return integer_in(value, 1, MAX_SAMPLED_COUNT)

# ImageNet-21k has 21,841 classes; a label space 5 times larger is still a small head (100,000 x
# 4,096 weights). A label of 9e12 (a typo, or a hash used as a label) would otherwise size every
# classifier and confusion count at 9e12 and fail each cell with a 65 TiB allocation.
MAX_CLASSES = 100_000
CLASSES_RULE = f"an integer from 1 to {MAX_CLASSES}"

# One source image of a folder dataset: 8192 x 8192 pixels (a 200 MB RGB decode) is far above any
# training image; a 20000 x 20000 PNG of a few hundred kilobytes (a decompression bomb) is refused
# at registration before a pixel is decoded.
MAX_SOURCE_PIXELS = 8192 * 8192

# Specs nest a handful of levels (a subset's parent's parent is 6); 100 levels of YAML is a typo
# or an attack, refused before Python's recursion limit is reached.
MAX_NESTING = 100

# Seeds, counts and epochs are stored in 32-bit integer columns (runs.seed, subsets.seed,
# recipes.epochs, examples.index); a larger value passed `spec check` and then failed `fill`
# with an OverflowError. Every integer a spec or a data command carries has a bound here.
INT32_MAX = 2**31 - 1
MAX_SEED = INT32_MAX
SEED_RULE = f"an integer from 0 to {MAX_SEED}"
# Seed 2 trains 10-100 epochs, ImageNet recipes up to 600.
MAX_EPOCHS = 10_000
# Large-batch ImageNet training goes to 64k; a million is far beyond any one device or cluster.
MAX_BATCH_SIZE = 2**20
# Examples of one split, and so any count or per-class cap of a subset.
MAX_EXAMPLES = INT32_MAX
# Input channels a genome's complexity is counted at (datasets have 1 or 3).
MAX_IN_CHANNELS = 64
# Valid genomes the sampler scores before giving up on a band (its default is 20 million).
MAX_SAMPLER_DRAWS = 10**9

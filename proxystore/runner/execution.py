"""How cells are executed, never what they compute: torch.compile, CUDA graphs, and where
compiled graphs are cached."""

from __future__ import annotations

import os
from typing import Any

# Read once, before anything compiles: inductor writes its default into the environment on
# first use, after which the variable no longer says what the user chose.
_USER_INDUCTOR_DIR = os.environ.get("TORCHINDUCTOR_CACHE_DIR")


def train_options(compile: str | bool | None = None, cuda_graphs: bool = False,
                  device: str = "auto") -> dict[str, Any]:
    """Check the command line's execution options and return them as WorkerConfig wants them.

    Args:
        compile: a torch.compile mode (default, reduce-overhead, max-autotune, ...), or
            off/None.
        cuda_graphs: capture each training step in a CUDA graph.
        device: the workers' device (CUDA graphs need CUDA; "auto" is checked when a cell runs).

    Raises:
        ProxystoreError: an unknown mode, both options at once, or CUDA graphs on a CPU device.
    """
    from proxystore.errors import ProxystoreError
    from proxystore.train.loop import TrainOptions

    try:
        mode = TrainOptions(compile=compile or False, cuda_graphs=cuda_graphs).compile_mode
    except ValueError as error:
        raise ProxystoreError(f"--compile/--cuda-graphs: {error}") from None
    if cuda_graphs and device != "auto" and not str(device).startswith("cuda"):
        raise ProxystoreError(f"--cuda-graphs needs a CUDA device, not --device {device}")
    options: dict[str, Any] = {"compile": mode} if mode else {}
    if cuda_graphs:
        options["cuda_graphs"] = True
    return options


def compile_cache_dir(config: Any) -> str:
    """Where torch.compile keeps compiled graphs for this worker: beside the datasets' cache.

    Inductor's on-disk caches (FX graphs, AOT autograd) are keyed by the traced graph, so every
    cell of the same genome at the same input shape, precision and layout reuses the first
    cell's compilation, in this process, in its siblings, and (on a shared filesystem) on
    other machines. A $TORCHINDUCTOR_CACHE_DIR set before proxystore started wins.
    """
    from proxystore.data.cache import cache_dir

    root = config.cache_dir or str(cache_dir(config.db_url))
    return _chosen_inductor_dir() or os.path.join(root, "torch-compile")


def _chosen_inductor_dir() -> str | None:
    """$TORCHINDUCTOR_CACHE_DIR as the user chose it, or None.

    Inductor writes its own default (/tmp/torchinductor_USER) into the environment the first
    time it runs, and child processes inherit it from a parent that compiled (or merely
    imported torch's optimizers): that value is not a choice, so it doesn't count.
    """
    if not _USER_INDUCTOR_DIR:
        return None
    try:
        from torch._inductor.runtime.cache_dir_utils import default_cache_dir
    except ImportError:  # a torch without inductor: nothing to compare with
        return _USER_INDUCTOR_DIR
    if os.path.abspath(_USER_INDUCTOR_DIR) == os.path.abspath(default_cache_dir()):
        return None
    return _USER_INDUCTOR_DIR

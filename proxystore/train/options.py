"""`TrainOptions`: how a run executes, never what it computes (so never part of a cell's key).

No torch here: the command line and `runner.worker.WorkerConfig` build and carry these options
without importing the trainer.
"""

from __future__ import annotations

from dataclasses import dataclass

COMPILE_MODES = ("default", "reduce-overhead", "max-autotune", "max-autotune-no-cudagraphs")


@dataclass(frozen=True)
class TrainOptions:
    """How a run executes, without changing its result (so never part of a cell's key).

    `channels_last` None means on for CUDA, off elsewhere; `log_every` > 0 logs the training
    loss every that many steps (a host sync each time); `compile` wraps the model in
    torch.compile for training and evaluation, with a torch.compile mode name ("default",
    "reduce-overhead" (CUDA graphs through inductor), "max-autotune", ...; True means
    "default"; compile time is counted in wall_seconds); `cuda_graphs` captures the whole
    training step in a CUDA graph after `graph_warmup` eager steps (see `step.GraphedStep`;
    CUDA only, SGD or Adam, fp32 or bf16, not together with `compile`).
    """

    eval_batch_size: int = 1024
    channels_last: bool | None = None
    compile: bool | str = False
    log_every: int = 0
    cudnn_benchmark: bool = True
    cuda_graphs: bool = False
    graph_warmup: int = 3

    def __post_init__(self) -> None:
        mode = self.compile_mode
        if mode is not None and mode not in COMPILE_MODES:
            raise ValueError(f"compile: unknown mode {self.compile!r} "
                             f"(one of {', '.join(COMPILE_MODES)})")
        if mode is not None and self.cuda_graphs:
            raise ValueError("cuda_graphs and compile are exclusive: use compile="
                             "'reduce-overhead' for inductor's own CUDA graphs")
        if self.eval_batch_size < 1 or self.graph_warmup < 1:
            raise ValueError("eval_batch_size and graph_warmup must be at least 1")

    @property
    def compile_mode(self) -> str | None:
        """The torch.compile mode, or None for eager."""
        if self.compile is True:
            return "default"
        if self.compile in (False, None, "", "off", "eager"):
            return None
        return str(self.compile)

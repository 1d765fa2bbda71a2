"""Trainer throughput: proxystore's trainer against a pycls-style loop, on one device, one run.

Cases (issue 8):
  a  RegNetX-400MF at 224 px, 1000 classes, synthetic uint8 data resident on the device: training
     images/s in the steady state (epochs after the first), no augmentation on either side.
  b  a genome sampled in the 360-400 MF band (seed 2's prior, standard stem; --set
     b_genome_seed=N picks another) at 32 px, 10 classes, on a CIFAR-10-sized synthetic uint8
     dataset (50,000 x 3 x 32 x 32, 10,000 validation), 30 epochs with evaluation each epoch:
     wall time per cell, data to metrics, pad-crop and flip on both sides. --b-variants adds
     rows for other executions of the same cell (CUDA graphs, torch.compile): "ours" is always
     the trainer's defaults. --set baseline_epochs=N times N of the baseline's epochs and
     extrapolates its cell (first epoch + the mean later epoch for the rest), for a short lease.
  c  --per-gpu K: K processes each training case-b cells at once on the device: cells/hour.
  stream  the streaming loader alone (memory-mapped uint8 -> pinned buffers -> device): images/s
     for 1, 2, 4 gather threads and the default, beside case a's rate when both run.
  ops  one training step of case b's genome under the profiler: operators (and CUDA kernels)
     per step and host time per step, which bound a launch-bound step from below.
  grid (--grid) case a's throughput and a short case b for every combination of layout (NCHW,
     channels_last), precision (bf16, fp16; fp32 on the CPU), execution (eager,
     torch.compile's default and reduce-overhead modes, the trainer's own CUDA graphs; compile
     time counted in the first epoch) and --grid-batch sizes.

The baseline trains the way pycls does: a torch DataLoader over CPU float tensors with worker
processes (per-image flip/crop in the workers for case b), fp32, NCHW, `.item()` every step.

  python benchmarks/train_throughput.py --device cuda                   # a, b, c, stream, ops
  python benchmarks/train_throughput.py --device cuda --grid --cases a  # the grid only
  python benchmarks/train_throughput.py --tiny --device cpu             # CI, well under a minute
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from dataclasses import asdict, dataclass, replace
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from proxystore.space import Genome, SamplerConfig, named_genome, sample_genomes  # noqa: E402
from proxystore.train import precision as prec  # noqa: E402
from proxystore.train.data import TrainData  # noqa: E402
from proxystore.train.loop import TrainOptions, build_seeded, train  # noqa: E402
from proxystore.train.optim import build_optimizer  # noqa: E402
from proxystore.train.recipe import Recipe  # noqa: E402
from proxystore.train.step import GraphedStep, Step  # noqa: E402
from proxystore.train.stream import StreamedImages, batches, gather_threads  # noqa: E402


@dataclass(frozen=True)
class Sizes:
    """Every size the benchmark uses; --tiny shrinks them all."""

    a_image: int = 224
    a_classes: int = 1000
    a_batch: int = 128
    a_steps: int = 40          # training steps per epoch in case a
    b_image: int = 32
    b_classes: int = 10
    b_train: int = 50_000
    b_val: int = 10_000
    b_epochs: int = 30
    b_batch: int = 128
    eval_batch: int = 1024
    workers: int = 8           # baseline DataLoader worker processes (pycls's default)
    stream_images: int = 20_000
    b_genome_seed: int = 0     # which in-band sample case b trains
    baseline_epochs: int = 0   # >0: the baseline trains this many of a cell's epochs and its
    #                            wall time is extrapolated from them (a short lease)


TINY = Sizes(a_image=32, a_classes=10, a_batch=16, a_steps=4, b_image=16, b_train=192,
             b_val=64, b_epochs=2, b_batch=32, eval_batch=64, workers=1, stream_images=512)


def case_a_genome() -> Genome:
    """RegNetX-400MF, as fill builds it (proxystore.space, torchvision's RegNet underneath)."""
    return named_genome("RegNetX-400MF")


def case_b_genome(seed: int) -> Genome:
    """A genome drawn from seed 2's prior in the 360-400 MF band (complexity at 224 px)."""
    return sample_genomes(1, SamplerConfig(), seed=seed).genomes[0]


def describe(name: str, genome: Genome) -> str:
    """One line: the genome, its exact pycls complexity at 224 px/1000 classes and 32 px/10."""
    big, small = genome.complexity(224, 1000), genome.complexity(32, 10)
    return (f"{name}: {genome.name}; {big.flops / 1e6:.0f} MF at 224 px, "
            f"{small.flops / 1e6:.1f} MF at 32 px, {small.params / 1e6:.2f} M params (10 classes)")


def synthetic(n: int, image: int, classes: int, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Random uint8 images and labels (the content doesn't change the speed)."""
    rng = np.random.default_rng(seed)
    return (rng.integers(0, 256, (n, 3, image, image), dtype=np.uint8),
            rng.integers(0, classes, n, dtype=np.int64))


def warm_up() -> None:
    """Pay one-off costs before timing: torch.optim imports torch._dynamo on first use (~3 s)."""
    torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=0.1)


def sync(device: torch.device) -> None:
    """Wait for the device, so host timings include its work."""
    if device.type == "cuda":
        torch.cuda.synchronize(device)


# --- proxystore ------------------------------------------------------------------------------

def ours_cell(sizes: Sizes, device: torch.device, *, genome: Genome, image: int, classes: int,
              n_train: int, n_val: int, batch: int, epochs: int, augment: bool,
              precision: str = "auto", options: TrainOptions | None = None,
              seed: int = 0) -> dict:
    """One proxystore cell from uint8 arrays to metrics; returns timings."""
    x, y = synthetic(n_train, image, classes, seed)
    vx, vy = synthetic(n_val, image, classes, seed + 1)
    started = time.perf_counter()
    data = TrainData.from_arrays(x, y, vx, vy, np.arange(n_train), np.arange(n_val),
                                 [0.5] * 3, [0.25] * 3, {c: c for c in range(classes)},
                                 device)  # the identity map pins num_classes to `classes`
    recipe = Recipe(epochs=epochs, image_size=image, batch_size=batch, lr=0.05,
                    precision=precision, flip_prob=0.5 if augment else 0.0,
                    crop_padding=4 if augment else 0)
    model = build_seeded(lambda: genome.build(num_classes=classes), seed)
    options = options or TrainOptions(eval_batch_size=sizes.eval_batch)
    result = train(model, data, recipe, seed, device, options=options)
    wall = time.perf_counter() - started
    seen = (n_train // batch) * batch
    steady = min(m.seconds for m in result.epochs[1:]) if epochs > 1 else result.epochs[0].seconds
    return {"wall_s": wall, "images_per_s": seen / steady, "first_epoch_s":
            result.epochs[0].seconds, "steady_epoch_s": steady, "device_s": result.device_seconds,
            "top1": result.final_top1_error}


# --- the pycls-style baseline ----------------------------------------------------------------

class FloatImages(torch.utils.data.Dataset):
    """Normalised float32 CPU images; per-image pad-crop and flip in the worker, as pycls does."""

    def __init__(self, images: torch.Tensor, labels: torch.Tensor, augment: bool) -> None:
        self.images, self.labels, self.augment = images, labels, augment

    def __len__(self) -> int:
        return len(self.labels)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, torch.Tensor]:
        image = self.images[i]
        if self.augment:
            if torch.rand(()) < 0.5:
                image = image.flip(-1)
            padded = F.pad(image, (4, 4, 4, 4))
            dy, dx = torch.randint(0, 9, (2,)).tolist()
            image = padded[:, dy:dy + image.shape[1], dx:dx + image.shape[2]]
        return image, self.labels[i]


def baseline_loader(x: np.ndarray, y: np.ndarray, batch: int, workers: int, augment: bool,
                    shuffle: bool, device: torch.device) -> torch.utils.data.DataLoader:
    """A DataLoader over float CPU tensors with worker processes and pinned memory."""
    images = (torch.from_numpy(x).float() / 255 - 0.5) / 0.25
    return torch.utils.data.DataLoader(
        FloatImages(images, torch.from_numpy(y), augment), batch_size=batch, shuffle=shuffle,
        num_workers=workers, pin_memory=device.type == "cuda", drop_last=shuffle,
        persistent_workers=workers > 0)


def baseline_epoch(model: torch.nn.Module, loader, optimizer, device: torch.device,
                   max_steps: int | None = None) -> int:
    """One pycls-style training epoch (fp32, NCHW, .item() per step); returns images seen."""
    model.train()
    seen = 0
    for step, (images, labels) in enumerate(loader):
        if max_steps is not None and step >= max_steps:
            break
        images = images.to(device, non_blocking=True)
        labels = labels.to(device, non_blocking=True)
        logits = model(images)
        loss = F.cross_entropy(logits, labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        err = (logits.argmax(1) != labels).float().mean() * 100
        _ = loss.item(), err.item()  # pycls's meters read both every step
        seen += len(labels)
    return seen


def baseline_eval(model: torch.nn.Module, loader, device: torch.device) -> float:
    """pycls-style evaluation: top-1/top-5 errors read with .item() per batch."""
    model.eval()
    wrong = total = 0
    with torch.no_grad():
        for images, labels in loader:
            logits = model(images.to(device, non_blocking=True))
            labels = labels.to(device, non_blocking=True)
            top5 = logits.topk(min(5, logits.shape[1]), 1).indices
            wrong += (top5[:, 0] != labels).sum().item()
            _ = (~(top5 == labels[:, None]).any(1)).sum().item()
            total += len(labels)
    return wrong / total


def baseline_cell(sizes: Sizes, device: torch.device, *, genome: Genome, image: int,
                  classes: int, n_train: int, n_val: int, batch: int, epochs: int,
                  augment: bool, seed: int = 0) -> dict:
    """The same cell trained the pycls way; timings as for ours.

    With `sizes.baseline_epochs` below `epochs`, only that many epochs run (under the whole
    cell's learning-rate schedule) and `wall_s` is the measured part plus the mean later epoch
    for each epoch left; `measured_epochs` says so, and `top1` is then the partial run's.
    """
    x, y = synthetic(n_train, image, classes, seed)
    vx, vy = synthetic(n_val, image, classes, seed + 1)
    started = time.perf_counter()
    train_loader = baseline_loader(x, y, batch, sizes.workers, augment, True, device)
    val_loader = baseline_loader(vx, vy, batch, sizes.workers, False, False, device)
    model = build_seeded(lambda: genome.build(num_classes=classes), seed).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=0.05, momentum=0.9, nesterov=True,
                                weight_decay=5e-5)
    seconds, top1 = [], 1.0
    measured = min(epochs, sizes.baseline_epochs) if sizes.baseline_epochs > 0 else epochs
    for epoch in range(measured):
        for group in optimizer.param_groups:  # pycls sets a cosine lr once per epoch
            group["lr"] = 0.05 * 0.5 * (1 + np.cos(np.pi * epoch / epochs))
        sync(device)
        epoch_start = time.perf_counter()
        seen = baseline_epoch(model, train_loader, optimizer, device)
        top1 = baseline_eval(model, val_loader, device)
        sync(device)
        seconds.append(time.perf_counter() - epoch_start)
    steady = min(seconds[1:]) if measured > 1 else seconds[0]
    wall = time.perf_counter() - started
    row = {"wall_s": wall, "images_per_s": seen / steady, "first_epoch_s": seconds[0],
           "steady_epoch_s": steady, "top1": top1}
    if measured < epochs:
        later = seconds[1:] or seconds
        row["wall_s"] = wall + (epochs - measured) * sum(later) / len(later)
        row["measured_epochs"] = measured
    return row


# --- cases -----------------------------------------------------------------------------------

def case_a(sizes: Sizes, device: torch.device, baseline: bool,
           rows: dict[str, dict] | None = None, **variant) -> dict[str, dict]:
    """Pure model speed at 224 px (tiny: smaller), synthetic data resident on the device.

    Rows go into `rows` as they are measured (a time cap keeps the finished ones)."""
    rows = {} if rows is None else rows
    batch = variant.pop("batch", sizes.a_batch)
    common = dict(genome=case_a_genome(), image=sizes.a_image, classes=sizes.a_classes,
                  n_train=batch * sizes.a_steps, n_val=batch, batch=batch, epochs=3,
                  augment=False)
    rows["ours"] = ours_cell(sizes, device, **common, **variant)
    if baseline:
        rows["baseline"] = baseline_cell(sizes, device, **common)
    return rows


def case_b(sizes: Sizes, device: torch.device, baseline: bool, epochs: int | None = None,
           executions: tuple[str, ...] = ("eager",), rows: dict[str, dict] | None = None,
           **variant) -> dict[str, dict]:
    """A whole 32 px cell, 30 epochs with evaluation each epoch (tiny: smaller).

    "ours" is the trainer's defaults; each other name in `executions` (see EXECUTION) adds a
    row "ours NAME" for the same cell run that way, or its error, after the baseline (the
    ratio needs it most). Rows go into `rows` as they are measured.
    """
    rows = {} if rows is None else rows
    common = dict(genome=case_b_genome(sizes.b_genome_seed), image=sizes.b_image,
                  classes=sizes.b_classes, n_train=sizes.b_train, n_val=sizes.b_val,
                  batch=variant.pop("batch", sizes.b_batch), epochs=epochs or sizes.b_epochs,
                  augment=True)
    rows["ours"] = ours_cell(sizes, device, **common, **variant)
    print("b ours", json.dumps(rows["ours"]), flush=True)
    if baseline:
        rows["baseline"] = baseline_cell(sizes, device, **common)
        print("b baseline", json.dumps(rows["baseline"]), flush=True)
    for name in executions:
        if name == "eager":
            continue
        options = TrainOptions(eval_batch_size=sizes.eval_batch, compile=EXECUTION[name],
                               cuda_graphs=name == "graphs")
        try:
            rows[f"ours {name}"] = ours_cell(sizes, device, **common, options=options)
        except Exception as error:  # noqa: BLE001 - one failed execution, keep the others
            rows[f"ours {name}"] = {"error": f"{type(error).__name__}: {error}"[:160]}
        print(f"b ours {name}", json.dumps(rows[f"ours {name}"]), flush=True)
    return rows


def case_stream(sizes: Sizes, device: torch.device, model_rate: float | None = None
                ) -> dict[str, dict]:
    """The streaming loader alone: memmap gather -> pinned buffer -> device, images/s.

    One row per gather-thread count (1, 2, 4 and the loader's default, up to this machine's
    CPUs); `vs_model` is the loader's rate over case a's training rate when that was measured
    in the same run: at least 1 means streaming keeps up with the model.
    """
    x, _ = synthetic(sizes.stream_images, sizes.a_image, 2, 0)
    cpus = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count()
    counts = sorted({t for t in (1, 2, 4, gather_threads(device)) if t <= (cpus or 1)})
    rows = {}
    with tempfile.TemporaryDirectory() as folder:
        path = Path(folder) / "cache.u8"
        x.tofile(path)  # just written: in the page cache, as a cache read in the last epoch is
        images = np.memmap(path, dtype=np.uint8, mode="r", shape=x.shape)
        labels = torch.zeros(len(x), dtype=torch.long, device=device)
        steps = len(x) // sizes.a_batch
        order = np.random.default_rng(0).permutation(len(x))
        for threads in counts:
            sync(device)
            started = time.perf_counter()
            for _ in batches(StreamedImages(images, np.arange(len(x))), labels, order,
                             sizes.a_batch, steps, threads=threads):
                pass  # the copies are queued on the device's stream: the sync below waits
            sync(device)
            seconds = time.perf_counter() - started
            row = {"images_per_s": steps * sizes.a_batch / seconds, "wall_s": seconds}
            if model_rate:
                row["vs_model"] = row["images_per_s"] / model_rate
            default = " (default)" if threads == gather_threads(device) else ""
            rows[f"{threads} gather thread{'s' if threads > 1 else ''}{default}"] = row
    return rows


# Leaf operators that only allocate or re-describe memory: they launch no kernel.
METADATA_OPS = {"empty", "empty_strided", "empty_like", "view", "_unsafe_view", "as_strided",
                "t", "transpose", "permute", "reshape", "expand", "detach", "alias", "resize_",
                "set_", "unsqueeze", "squeeze", "select", "slice", "narrow", "lift_fresh",
                "_reshape_alias", "is_same_size", "result_type", "size", "stride"}


def case_ops(sizes: Sizes, device: torch.device) -> dict[str, dict]:
    """Operators, CUDA kernels and host time of one eager case-b training step (batch b_batch).

    A step whose GPU work is shorter than its launches is bound by them: kernels x the launch
    cost (a few microseconds each) is the floor that CUDA graphs remove.
    """
    from torch.profiler import ProfilerActivity, profile

    genome = case_b_genome(sizes.b_genome_seed)
    model = build_seeded(lambda: genome.build(num_classes=sizes.b_classes), 0).to(device)
    model = model.to(memory_format=torch.channels_last) if device.type == "cuda" else model
    recipe = Recipe(epochs=1, image_size=sizes.b_image, batch_size=sizes.b_batch, lr=0.05)
    optimizer = build_optimizer(list(model.parameters()), recipe, device)
    dtype = prec.resolve("auto", device)
    step = Step(model.train(), optimizer, None, dtype, 0.0,
                torch.zeros(2, dtype=torch.float64, device=device), sizes.b_classes)
    x = torch.randn(sizes.b_batch, 3, sizes.b_image, sizes.b_image, device=device)
    y = torch.randint(0, sizes.b_classes, (sizes.b_batch,), device=device)
    for _ in range(3):
        step(x, y)
    sync(device)
    activities = [ProfilerActivity.CPU] + ([ProfilerActivity.CUDA] if device.type == "cuda"
                                           else [])
    with profile(activities=activities) as prof:
        step(x, y)
        sync(device)
    events = prof.events()
    # An operator does work itself when everything it calls only describes memory.
    leaves = [e for e in events if e.device_type.name == "CPU" and e.name.startswith("aten::")
              and e.name[6:] not in METADATA_OPS
              and all(c.name[6:] in METADATA_OPS for c in e.cpu_children)]
    kernels = [e for e in events if e.device_type.name == "CUDA"]
    started = time.perf_counter()
    for _ in range(10):
        step(x, y)
    host_ms = (time.perf_counter() - started) / 10 * 1000  # launches only, on CUDA
    sync(device)
    row = {"leaf_ops": len(leaves), "cuda_kernels": len(kernels), "host_ms_per_step": host_ms}
    if device.type == "cuda":
        row["host_syncs"] = step_syncs(step, sizes, device)
    return {"ours": row}


def step_syncs(step: Step, sizes: Sizes, device: torch.device) -> str:
    """Run what the loop does per step (gather, normalise, crop/flip, step), eagerly and then
    replayed from a CUDA graph, with CUDA's sync debugging set to raise: "none" for each, or
    the first operation that made the host wait. (Capturing synchronises by design, so the
    graph is captured before the check.)"""
    from proxystore.train.augment import crop_flip, normalize

    x = torch.randint(0, 256, (4 * sizes.b_batch, 3, sizes.b_image, sizes.b_image),
                      dtype=torch.uint8, device=device)
    y = torch.randint(0, sizes.b_classes, (len(x),), device=device)
    order = torch.randperm(len(x), device=device)  # the loop moves it once per epoch
    mean = torch.full((3,), 0.5, device=device)
    std = torch.full((3,), 0.25, device=device)
    generator = torch.Generator(device=device)

    def steps(run: Callable[[torch.Tensor, torch.Tensor], object]) -> None:
        for images, labels in batches(x, y, order, sizes.b_batch, 4):
            inputs = crop_flip(normalize(images, mean, std), 4, 0.5, generator)
            run(inputs.contiguous(memory_format=torch.channels_last), labels)

    graphed = GraphedStep(step, 0.05)
    steps(lambda inputs, labels: graphed(inputs, labels, 0.05))  # warm-up and capture (syncs)
    sync(device)
    found = []
    for name, run in (("eager", step), ("graphed", lambda i, t: graphed(i, t, 0.04))):
        torch.cuda.set_sync_debug_mode("error")
        try:
            steps(run)
            found.append(f"{name} none")
        except RuntimeError as error:
            found.append(f"{name} {str(error).splitlines()[0][:160]}")
        finally:
            torch.cuda.set_sync_debug_mode("default")
    return "; ".join(found)


def case_c(sizes: Sizes, device: torch.device, ks: list[int], cells: int,
           rows: dict[str, dict] | None = None) -> dict[str, dict]:
    """K worker processes training case-b cells at once; cells/hour for each K.

    Rows go into `rows` as each K finishes; the workers never outlive this call (a time cap
    that interrupts it must not leave them training into the next measurement)."""
    rows = {} if rows is None else rows
    for k in ks:
        spec = json.dumps({"sizes": asdict(sizes), "device": str(device), "cells": cells,
                           "threads": max(1, torch.get_num_threads() // k)})
        procs = [subprocess.Popen([sys.executable, __file__, "--worker", spec],
                                  stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
                 for _ in range(k)]
        try:
            for proc in procs:  # everyone imported torch and built its data: start together
                assert proc.stdout.readline().strip() == "READY"
            for proc in procs:
                proc.stdin.write("GO\n")
                proc.stdin.flush()
            spans = [json.loads(proc.communicate()[0].strip().splitlines()[-1])
                     for proc in procs]
        finally:
            for proc in procs:
                proc.kill()
                proc.wait()
        wall = max(s["end"] for s in spans) - min(s["start"] for s in spans)
        rows[f"K={k}"] = {"cells_per_hour": k * cells * 3600 / wall, "wall_s": wall}
        print(f"c K={k}", json.dumps(rows[f"K={k}"]), flush=True)
    return rows


def worker(spec_json: str) -> None:
    """One --per-gpu process: wait for GO, train `cells` case-b cells, print the time span."""
    spec = json.loads(spec_json)
    torch.set_num_threads(spec["threads"])
    sizes, device = Sizes(**spec["sizes"]), torch.device(spec["device"])
    warm_up()
    print("READY", flush=True)
    sys.stdin.readline()
    start = time.time()
    for seed in range(spec["cells"]):
        case_b(sizes, device, baseline=False, seed=seed)
    print(json.dumps({"start": start, "end": time.time()}), flush=True)


# --grid-compile choices -> TrainOptions.compile ("graphs" is the trainer's own CUDA graphs).
EXECUTION = {"eager": False, "compile": "default", "reduce-overhead": "reduce-overhead",
             "graphs": False}


def grid(sizes: Sizes, device: torch.device, cases: list[str], args: argparse.Namespace,
         rows: dict[str, dict] | None = None) -> dict[str, dict]:
    """Every layout x precision x compile x batch combination chosen, for cases a and b.

    Each row goes into `rows` and is printed as soon as it is measured, so a run cut short
    still leaves its figures.
    """
    # bf16 on the CPU is 3-40x slower than fp32 (docs/benchmarks.md): not in a --tiny grid
    precisions = args.grid_precisions or (["bf16", "fp16"] if device.type == "cuda" else
                                          ["fp32"] if args.tiny else ["fp32", "bf16"])
    rows = {} if rows is None else rows
    for case in cases:
        for layout in args.grid_layouts:
            for precision in precisions:
                for mode in args.grid_compile:
                    for batch in args.grid_batch or [sizes.a_batch if case == "a"
                                                     else sizes.b_batch]:
                        options = TrainOptions(eval_batch_size=sizes.eval_batch,
                                               channels_last=layout == "nhwc",
                                               compile=EXECUTION[mode],
                                               cuda_graphs=mode == "graphs")
                        name = f"{case} {layout} {precision} {mode} b{batch}"
                        run = case_a if case == "a" else case_b
                        extra = {} if case == "a" else {"epochs": args.grid_epochs}
                        try:
                            rows[name] = run(sizes, device, False, precision=precision,
                                             options=options, batch=batch, **extra)["ours"]
                        except Exception as error:  # noqa: BLE001 - one bad combo, keep going
                            rows[name] = {"error": f"{type(error).__name__}: {error}"[:120]}
                        print("grid", name, json.dumps(rows[name]), flush=True)
    return rows


def cpu_name() -> str:
    """The CPU's model name (Linux /proc/cpuinfo), else the machine type."""
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.machine()


def environment(device: torch.device) -> dict[str, str]:
    """Device name and library versions for the table's header."""
    import torchvision

    name = torch.cuda.get_device_name(device) if device.type == "cuda" else cpu_name()
    return {"device": name, "torch": torch.__version__, "torchvision": torchvision.__version__,
            "cudnn": str(torch.backends.cudnn.version()), "threads": str(torch.get_num_threads()),
            "cpus": str(os.cpu_count())}


def table(results: dict[str, dict[str, dict]]) -> str:
    """A markdown table: one row per case and variant; the ratios are against the baseline of
    the same case in the same run (images/s in the steady state, and the whole cell's wall)."""
    lines = ["| case | variant | images/s | wall s (cell) | steady epoch s | cells/h "
             "| vs baseline (images/s) | vs baseline (cell) |",
             "|---|---|---:|---:|---:|---:|---:|---:|"]
    for case, rows in results.items():
        base = rows.get("baseline", {})
        for variant, row in rows.items():
            if "leaf_ops" in row:
                syncs = f", host syncs: {row['host_syncs']}" if "host_syncs" in row else ""
                lines.append(f"| {case} | {row['leaf_ops']} operators, {row['cuda_kernels']} "
                             f"CUDA kernels, {row['host_ms_per_step']:.2f} ms host per step"
                             f"{syncs} | | | | | | |")
                continue
            if "error" in row:
                lines.append(f"| {case} | {variant} | {row['error']} | | | | | |")
                continue
            speed = cell = ""
            if variant != "baseline" and base.get("images_per_s") and "images_per_s" in row:
                speed = f"{row['images_per_s'] / base['images_per_s']:.2f}x"
            if variant != "baseline" and base.get("wall_s") and "wall_s" in row:
                cell = f"{base['wall_s'] / row['wall_s']:.2f}x"
            if "vs_model" in row:
                speed, cell = f"{row['vs_model']:.2f}x case a", ""
            label = variant
            if "measured_epochs" in row:
                label += f" (cell extrapolated from {row['measured_epochs']} epochs)"
            cells = [f"{row[key]:,.1f}" if key in row else "" for key in
                     ("images_per_s", "wall_s", "steady_epoch_s", "cells_per_hour")]
            lines.append(f"| {case} | {label} | " + " | ".join(cells) + f" | {speed} | {cell} |")
    return "\n".join(lines)


def build_parser() -> argparse.ArgumentParser:
    """The command line (also checked against benchmarks/gpu_session.sh by the tests)."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--device", default="cuda" if torch.cuda.is_available() else "cpu")
    parser.add_argument("--tiny", action="store_true", help="CI sizes (CPU, < 1 minute)")
    parser.add_argument("--cases", default="a,b,c,stream,ops",
                        help="comma list of a,b,c,stream,ops")
    parser.add_argument("--per-gpu", type=int, nargs="+", default=None,
                        help="K values for case c (default 1 2 4 8; tiny: 1 2)")
    parser.add_argument("--cells", type=int, default=1, help="cells per process in case c")
    parser.add_argument("--b-variants", nargs="+", default=["eager"], choices=list(EXECUTION),
                        help="case b: also time the cell this way (row 'ours NAME')")
    parser.add_argument("--no-baseline", action="store_true")
    parser.add_argument("--grid", action="store_true", help="grid layouts/precision/compile")
    parser.add_argument("--grid-batch", type=int, nargs="+", default=None,
                        help="batch sizes (default: the case's)")
    parser.add_argument("--grid-epochs", type=int, default=3, help="epochs of case b in the grid")
    parser.add_argument("--grid-layouts", nargs="+", default=["nchw", "nhwc"],
                        choices=["nchw", "nhwc"])
    parser.add_argument("--grid-precisions", nargs="+", default=None,
                        choices=["fp32", "bf16", "fp16"],
                        help="default bf16 fp16 on CUDA, fp32 bf16 on the CPU "
                        "(fp32 with --tiny)")
    parser.add_argument("--grid-compile", nargs="+", default=["eager", "compile"],
                        choices=list(EXECUTION),
                        help="eager, compile (default mode), reduce-overhead, graphs (CUDA)")
    parser.add_argument("--threads", type=int, default=None, help="torch.set_num_threads")
    parser.add_argument("--set", nargs="*", default=[], metavar="FIELD=VALUE",
                        help="override a size, e.g. b_epochs=5 workers=4")
    parser.add_argument("--json", type=Path, default=None, help="write the results here")
    parser.add_argument("--worker", help=argparse.SUPPRESS)
    return parser


def main(argv: list[str] | None = None) -> dict:
    """Run the chosen cases, print the table, return the results."""
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.worker:
        worker(args.worker)
        return {}
    if args.threads:
        torch.set_num_threads(args.threads)
    sizes = TINY if args.tiny else Sizes()
    sizes = replace(sizes, **{k: int(v) for k, v in (s.split("=") for s in args.set)})
    device = torch.device(args.device)
    cases = args.cases.split(",")
    env = environment(device)
    warm_up()
    print(" ".join(f"{k}={v}" for k, v in env.items()), flush=True)
    print(describe("case a", case_a_genome()), flush=True)
    print(describe("case b", case_b_genome(sizes.b_genome_seed)), flush=True)
    results: dict[str, dict[str, dict]] = {}

    def save(interrupted: bool = False) -> None:
        """Write what is measured so far (after every case, and when a cap interrupts)."""
        if args.json:
            saved = {"environment": env, "sizes": asdict(sizes), "results": results}
            args.json.write_text(json.dumps(saved | ({"interrupted": True} if interrupted
                                                     else {}), indent=2))

    try:
        if args.grid:
            results["grid"] = {}
            grid(sizes, device, [c for c in cases if c in ("a", "b")], args, results["grid"])
        else:
            baseline = not args.no_baseline
            if "a" in cases:
                results["a (224 px model speed)"] = {}
                case_a(sizes, device, baseline, results["a (224 px model speed)"])
                save()
            if "b" in cases:
                results["b (32 px cell)"] = {}
                case_b(sizes, device, baseline, executions=tuple(args.b_variants),
                       rows=results["b (32 px cell)"])
                save()
            if "stream" in cases:
                model = results.get("a (224 px model speed)", {}).get("ours", {})
                results["stream (loader only)"] = case_stream(sizes, device,
                                                              model.get("images_per_s"))
                save()
            if "ops" in cases:
                results["ops (one case-b step)"] = case_ops(sizes, device)
                save()
            if "c" in cases:
                per_gpu = args.per_gpu or ([1, 2] if args.tiny else [1, 2, 4, 8])
                results["c (cells per device)"] = {}
                case_c(sizes, device, per_gpu, args.cells, results["c (cells per device)"])
    except KeyboardInterrupt:  # a time cap (timeout -s INT): keep what was measured
        print(table(results), flush=True)
        save(interrupted=True)
        print("interrupted: the table and JSON hold the cases measured before it", flush=True)
        raise SystemExit(130) from None
    print(table(results), flush=True)
    save()
    return results


if __name__ == "__main__":
    main()

"""Benchmark: vectorized AnyNetX sampler vs the one-genome-at-a-time loop, in one process.

Usage: PYTHONPATH=. python benchmarks/sampler.py [--count 500] [--loop-count 30] [--repeats 5]

Both draw from seed 2's prior restricted to 360-400 MF at 224 px (SamplerConfig defaults). The
loop is timed on fewer genomes (it needs ~1,200 raw draws per in-band genome) and compared per
in-band genome. The process is pinned to one core where the OS allows it.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time


def _cpu_name() -> str:
    try:
        with open("/proc/cpuinfo", encoding="utf-8") as handle:
            for line in handle:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown CPU"


def main() -> None:
    """Time both samplers and print a table."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=500)
    parser.add_argument("--loop-count", type=int, default=30)
    parser.add_argument("--repeats", type=int, default=5)
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {sorted(os.sched_getaffinity(0))[0]})

    import numpy as np

    from proxystore.space.sampler import SamplerConfig, sample_genomes, sample_genomes_loop

    config = SamplerConfig()
    sample_genomes(50, config, seed=99)  # warm up imports and numpy
    fast_times, fast_stats = [], []
    for seed in range(args.repeats):
        start = time.perf_counter()
        sample = sample_genomes(args.count, config, seed=seed)
        fast_times.append(time.perf_counter() - start)
        fast_stats.append(sample.stats)
    start = time.perf_counter()
    loop = sample_genomes_loop(args.loop_count, config, seed=0)
    loop_time = time.perf_counter() - start

    fast_median = statistics.median(fast_times)
    fast_per = fast_median / args.count
    loop_per = loop_time / args.loop_count
    rows = [
        (f"vectorized (median of {args.repeats})", args.count,
         statistics.median(s.scored for s in fast_stats), fast_median, fast_per),
        ("one-at-a-time loop", args.loop_count, loop.stats.scored, loop_time, loop_per),
    ]
    print(f"machine: {_cpu_name()}, 1 core pinned; python {platform.python_version()}, "
          f"numpy {np.__version__}")
    print(f"band {config.metric} {config.band[0]:.3g}-{config.band[1]:.3g} at "
          f"{config.image_size} px, {config.num_classes} classes")
    print(f"{'sampler':<28}{'in-band':>9}{'valid scored':>14}{'seconds':>10}"
          f"{'ms/genome':>11}{'est. s for ' + str(args.count):>16}")
    for name, n, scored, seconds, per in rows:
        print(f"{name:<28}{n:>9}{int(scored):>14,}{seconds:>10.3f}{per * 1e3:>11.3f}"
              f"{per * args.count:>16.2f}")
    print(f"vectorized min/max over runs: {min(fast_times):.3f} / {max(fast_times):.3f} s")
    print(f"acceptance: {fast_stats[0].band_acceptance:.4g} per valid genome, "
          f"~{fast_stats[0].raw_acceptance:.3g} per raw draw "
          f"(1 in {1 / fast_stats[0].raw_acceptance:,.0f})")
    print(f"speedup per in-band genome: {loop_per / fast_per:,.0f}x")


if __name__ == "__main__":
    main()

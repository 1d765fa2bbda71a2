"""The throughput benchmark runs end to end at tiny sizes on the CPU (CI never needs a GPU)."""

from __future__ import annotations

import importlib.util
import json
import sys

import pytest

from tests.helpers import REPO


@pytest.mark.slow
def test_tiny_benchmark_runs_every_case_and_reports_sane_numbers(tmp_path, capsys) -> None:
    spec = importlib.util.spec_from_file_location(
        "train_throughput", REPO / "benchmarks" / "train_throughput.py")
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up there
    spec.loader.exec_module(module)
    out = tmp_path / "bench.json"
    module.main(["--tiny", "--device", "cpu", "--threads", "1", "--json", str(out)])
    saved = json.loads(out.read_text())
    results = saved["results"]
    assert saved["environment"]["device"] and saved["environment"]["torch"]
    for case in ("a (224 px model speed)", "b (32 px cell)"):
        assert set(results[case]) == {"ours", "baseline"}
        for row in results[case].values():
            assert row["images_per_s"] > 0 and row["wall_s"] > 0
            assert 0.0 <= row["top1"] <= 1.0
    assert results["stream (loader only)"]["ours"]["images_per_s"] > 0
    cells = results["c (cells per device)"]
    assert set(cells) == {"K=1", "K=2"} and all(r["cells_per_hour"] > 0 for r in cells.values())
    printed = capsys.readouterr().out
    assert "| b (32 px cell) | baseline |" in printed and "torch=" in printed

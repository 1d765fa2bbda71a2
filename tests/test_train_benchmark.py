"""The throughput benchmark runs end to end at tiny sizes on the CPU (CI never needs a GPU)."""

from __future__ import annotations

import json

import pytest

from tests.helpers import REPO, load_benchmark


@pytest.mark.slow
def test_tiny_benchmark_runs_every_case_and_reports_sane_numbers(tmp_path, capsys) -> None:
    module = load_benchmark("train_throughput")
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
    stream = results["stream (loader only)"]
    assert "1 gather thread (default)" in stream  # the CPU's default: one thread
    model = results["a (224 px model speed)"]["ours"]["images_per_s"]
    for row in stream.values():  # each thread count, beside the model's rate from this run
        assert row["images_per_s"] > 0 and row["vs_model"] == row["images_per_s"] / model
    cells = results["c (cells per device)"]
    assert set(cells) == {"K=1", "K=2"} and all(r["cells_per_hour"] > 0 for r in cells.values())
    ops = results["ops (one case-b step)"]["ours"]
    assert ops["leaf_ops"] > 100 and ops["cuda_kernels"] == 0 and ops["host_ms_per_step"] > 0
    printed = capsys.readouterr().out
    assert "| b (32 px cell) | baseline |" in printed and "torch=" in printed
    assert "case b: " in printed and "MF at 224 px" in printed  # the sampled in-band genome
    band = printed.split("case b: ")[1].split(" MF at 224 px")[0].rsplit(" ", 1)[1]
    assert 360 <= int(band) <= 400


@pytest.mark.slow
def test_tiny_grid_records_a_row_per_combination_and_errors_as_rows(tmp_path) -> None:
    module = load_benchmark("train_throughput")
    results = module.main(["--tiny", "--device", "cpu", "--threads", "1", "--grid", "--cases",
                           "a", "--grid-layouts", "nchw", "nhwc", "--grid-precisions", "fp32",
                           "--grid-compile", "eager", "graphs"])["grid"]
    assert set(results) == {f"a {layout} fp32 {mode} b16" for layout in ("nchw", "nhwc")
                            for mode in ("eager", "graphs")}
    assert all(results[f"a {layout} fp32 eager b16"]["images_per_s"] > 0
               for layout in ("nchw", "nhwc"))
    assert "cuda_graphs needs a CUDA device" in results["a nchw fp32 graphs b16"]["error"]


def test_gpu_session_script_passes_only_flags_the_benchmark_accepts() -> None:
    """The GPU session runs unattended on a lent machine: a stale flag would waste the lease."""
    import dataclasses
    import shlex
    import subprocess

    script = REPO / "benchmarks" / "gpu_session.sh"
    subprocess.run(["bash", "-n", str(script)], check=True)  # the shell syntax
    module = load_benchmark("train_throughput")
    parser = module.build_parser()
    fields = {f.name for f in dataclasses.fields(module.Sizes)}
    text = script.read_text().replace("\\\n", " ")
    calls = [line.split('"${bench[@]}"', 1)[1].split("2>&1")[0]
             for line in text.splitlines() if '"${bench[@]}"' in line]
    assert len(calls) >= 5
    for call in calls:
        argv = [a.replace("$out", "/tmp/out") for a in shlex.split(call)]
        args = parser.parse_args(["--device", "cuda", *argv])
        assert {item.split("=")[0] for item in args.set} <= fields
    for other in ("precision_check.py",):
        assert f"benchmarks/{other}" in text and (REPO / "benchmarks" / other).exists()


def test_stream_gather_benchmark_times_each_way_on_the_same_file(tmp_path, capsys) -> None:
    module = load_benchmark("stream_gather")
    out = tmp_path / "gather.json"
    rates = module.main(["--images", "300", "--size", "16", "--batch", "32", "--threads", "1",
                         "3", "--repeats", "1", "--json", str(out)])
    assert list(rates) == ["buffered (mode=raise), 1 thread", "1 thread", "3 threads"]
    assert all(rate > 0 for rate in rates.values()) and json.loads(out.read_text()) == rates
    assert "| 3 threads |" in capsys.readouterr().out


def test_cell_overhead_benchmark_times_every_part_of_a_cell(tmp_path) -> None:
    module = load_benchmark("cell_overhead")
    rows = module.main(["--cells", "4", "--train", "600", "--val", "100", "--epochs", "3"])
    assert [r["mlflow"] for r in rows] == [False, True]
    for row in rows:
        parts = row["later_parts_s"]
        assert {"claim", "load inputs (all)", "subset indices (SQL)", "build network",
                "subset to device", "write result + epochs"} <= set(parts)
        assert ("MLflow log" in parts) == row["mlflow"]
        assert all(v > 0 for v in parts.values())
        # the parts are inside the cell, and the first cell also decoded the dataset
        assert row["later_cell_s"] > parts["load inputs (all)"] + parts["write result + epochs"]
        assert row["first_parts_s"]["decoded images (mmap)"] > parts["decoded images (mmap)"]


def test_study_estimate_prices_each_task_from_the_two_measured_rates(tmp_path) -> None:
    module = load_benchmark("study_estimate")
    runs = {"a (224 px model speed)": {"ours": {"images_per_s": 1000.0}},
            "b (32 px cell)": {"ours": {"images_per_s": 8000.0}, "baseline": {}},
            "c (cells per device)": {"K=1": {"cells_per_hour": 10.0},
                                     "K=4": {"cells_per_hour": 25.0}}}
    saved = tmp_path / "gpu.json"
    saved.write_text(json.dumps({"results": runs, "sizes": {"b_train": 50_000, "b_val": 10_000}}))
    out = module.main(["--spec", str(REPO / "jobs" / "imagenet_as_basis.yaml"),
                       "--from-json", str(saved)])
    rows = {r["task"]: r for r in out["rows"]}
    assert len(rows) == 14 and all(r["cells"] == 500 for r in rows.values())
    # case b's rate covered its evaluation too: a cifar10 cell costs what case b's epochs did,
    # over 2.5 (case c's gain); 224 px uses case a's rate as it is
    assert out["rates"].small == pytest.approx(8000 * (1 + 0.2 / 3))
    assert rows["cifar10"]["cell_s"] == pytest.approx(30 * 50_000 / 8000 / 2.5)
    assert rows["imagenet"]["cell_s"] == pytest.approx(10 * (1_281_167 + 50_000 / 3) / 1000)
    # in between, seconds per image are linear in the pixel count
    small = out["rates"].small
    t128 = 1 / small + (128 ** 2 - 32 ** 2) / (224 ** 2 - 32 ** 2) * (1 / 1000 - 1 / small)
    assert rows["powerline"]["cell_s"] == pytest.approx(20 * (6_400 + 1_600 / 3) * t128)
    assert out["device_days"] == pytest.approx(sum(r["hours"] for r in rows.values()) / 24)

"""The throughput benchmark runs end to end at tiny sizes on the CPU (CI never needs a GPU)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from tests.helpers import REPO, load_benchmark


@pytest.mark.slow
def test_gpu_session_rehearsed_on_the_cpu_reports_every_case_and_feeds_the_estimate(
        tmp_path) -> None:
    """Part q of the GPU session (the one call a 15-minute lease affords), as the lent machine
    will run it but on the CPU at tiny sizes: the shell driver and its time caps, every case's
    figures, the files it leaves, and the study estimate read from those files (parts 1-3's
    flags are checked below)."""
    env = {**os.environ, "GPU_SESSION_DEVICE": "cpu", "GPU_SESSION_TINY": "1",
           "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ['PATH']}"}
    done = subprocess.run(["bash", str(REPO / "benchmarks" / "gpu_session.sh"), "q",
                           str(tmp_path)], env=env, capture_output=True, text=True, timeout=1200)
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted(
        f"{name}.{ext}" for name in ("a", "b", "c", "precision", "grid")
        for ext in ("json", "log"))
    a, b, c = (json.loads((tmp_path / f"{n}.json").read_text()) for n in ("a", "b", "c"))
    assert a["environment"]["device"] and a["environment"]["torch"]
    for saved, case in ((a, "a (224 px model speed)"), (b, "b (32 px cell)")):
        rows = saved["results"][case]
        assert set(rows) == {"ours", "baseline"}  # no CUDA graphs row on the CPU
        for row in rows.values():
            assert row["images_per_s"] > 0 and row["wall_s"] > 0
            assert 0.0 <= row["top1"] <= 1.0
    stream = a["results"]["stream (loader only)"]
    assert "1 gather thread (default)" in stream  # the CPU's default: one thread
    model = a["results"]["a (224 px model speed)"]["ours"]["images_per_s"]
    for row in stream.values():  # each thread count, beside the model's rate from this run
        assert row["images_per_s"] > 0 and row["vs_model"] == row["images_per_s"] / model
    ops = a["results"]["ops (one case-b step)"]["ours"]
    assert ops["leaf_ops"] > 100 and ops["cuda_kernels"] == 0 and ops["host_ms_per_step"] > 0
    cells = c["results"]["c (cells per device)"]
    assert set(cells) == {"K=1", "K=2", "K=4", "K=8"}
    assert all(r["cells_per_hour"] > 0 for r in cells.values())
    assert c["sizes"]["b_epochs"] == 3  # short cells: the ratio between K is what counts
    grid = json.loads((tmp_path / "grid.json").read_text())["results"]["grid"]
    assert set(grid) == {f"{case} {layout} fp32 eager b{batch}" for layout in ("nchw", "nhwc")
                         for case, batch in (("a", 16), ("b", 32))}
    precision = json.loads((tmp_path / "precision.json").read_text())
    assert {r["precision"] for r in precision["runs"]} == {"fp32", "bf16"}
    log = (tmp_path / "b.log").read_text()
    assert "| b (32 px cell) | baseline |" in log and "torch=" in log
    assert "case b: " in log and "MF at 224 px" in log  # the sampled in-band genome
    band = log.split("case b: ")[1].split(" MF at 224 px")[0].rsplit(" ", 1)[1]
    assert 360 <= int(band) <= 400
    estimate = load_benchmark("study_estimate").main(
        ["--spec", str(REPO / "jobs" / "imagenet_as_basis.yaml"), "--device", "rehearsal",
         "--from-json", *(str(tmp_path / f"{n}.json") for n in ("a", "b", "c"))])
    assert len(estimate["rows"]) == 14 and estimate["device_days"] > 0


@pytest.mark.slow
def test_baseline_cell_is_extrapolated_from_its_measured_epochs(tmp_path) -> None:
    """A short lease times a few of the baseline's epochs: its cell is the measured part plus
    the mean later epoch for each one left, and the table says so."""
    module = load_benchmark("train_throughput")
    out = tmp_path / "b.json"
    rows = module.main(["--tiny", "--device", "cpu", "--threads", "1", "--cases", "b",
                        "--set", "b_epochs=4", "baseline_epochs=2", "--json", str(out)]
                       )["b (32 px cell)"]
    base = rows["baseline"]
    assert base["measured_epochs"] == 2 and "measured_epochs" not in rows["ours"]
    # measured: setup + epochs 1 and 2; then 2 more at epoch 2's length (the only later one)
    assert base["wall_s"] > base["first_epoch_s"] + 3 * base["steady_epoch_s"]
    assert json.loads(out.read_text())["results"]["b (32 px cell)"]["baseline"] == base
    assert "baseline (cell extrapolated from 2 epochs)" in module.table({"b": rows})


def test_a_capped_run_keeps_the_cases_it_measured(tmp_path, monkeypatch) -> None:
    """timeout -s INT ends a step at its cap: the JSON and table keep every finished case."""
    module = load_benchmark("train_throughput")
    monkeypatch.setattr(module, "case_a", lambda sizes, device, baseline, rows: rows.update(
        ours={"images_per_s": 5.0, "wall_s": 1.0}))

    def capped(*args, **kwargs):
        kwargs_rows = args[4] if len(args) > 4 else kwargs["rows"]
        kwargs_rows["K=1"] = {"cells_per_hour": 7.0, "wall_s": 2.0}
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "case_c", capped)
    out = tmp_path / "a.json"
    with pytest.raises(SystemExit) as stopped:
        module.main(["--device", "cpu", "--cases", "a,c", "--json", str(out)])
    assert stopped.value.code == 130
    saved = json.loads(out.read_text())
    assert saved["interrupted"] is True
    assert saved["results"]["a (224 px model speed)"]["ours"]["images_per_s"] == 5.0
    assert saved["results"]["c (cells per device)"] == {"K=1": {"cells_per_hour": 7.0,
                                                               "wall_s": 2.0}}


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
    assert len(calls) >= 9  # part q's four and parts 1-3's
    for call in calls:
        call = call.replace('"${b_variants[@]}"', "eager graphs")
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
    assert [r["mlflow"] for r in rows] == ["off", "up", "down"]
    for row in rows:
        parts = row["later_parts_s"]
        assert {"claim", "load inputs (all)", "subset indices (SQL)", "build network",
                "subset to device", "write result + epochs"} <= set(parts)
        assert ("MLflow hand-off" in parts) == (row["mlflow"] != "off")
        assert ("MLflow log (background thread)" in parts) == (row["mlflow"] != "off")
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


def test_a_cap_inside_case_b_keeps_the_rows_it_measured(tmp_path, monkeypatch) -> None:
    """The 30-epoch cell is the longest step: a cap during its baseline keeps our cell."""
    module = load_benchmark("train_throughput")
    monkeypatch.setattr(module, "ours_cell", lambda *a, **k: {"images_per_s": 9.0,
                                                              "wall_s": 3.0})

    def capped(*args, **kwargs):
        raise KeyboardInterrupt

    monkeypatch.setattr(module, "baseline_cell", capped)
    out = tmp_path / "b.json"
    with pytest.raises(SystemExit):
        module.main(["--device", "cpu", "--cases", "b", "--b-variants", "eager", "graphs",
                     "--json", str(out)])
    saved = json.loads(out.read_text())
    assert saved["interrupted"] is True
    assert saved["results"]["b (32 px cell)"] == {"ours": {"images_per_s": 9.0, "wall_s": 3.0}}

"""The precision check runs end to end on the CPU without a database, and its statistics hold."""

from __future__ import annotations

import json
import math
import subprocess
import sys
import textwrap

import pytest
from scipy import stats

from tests.helpers import REPO, load_benchmark

SCRIPT = REPO / "benchmarks" / "precision_check.py"
# What the GPU machine will not have: the check must run without any of it.
ABSENT = ("sqlalchemy", "alembic", "psycopg", "mlflow", "pandas", "timm", "yaml", "jsonschema",
          "fire", "submitit", "matplotlib", "tqdm")


@pytest.mark.slow
def test_tiny_check_on_digits_runs_without_database_libraries(tmp_path) -> None:
    out = tmp_path / "check.json"
    argv = ["--device", "cpu", "--threads", "1", "--seeds", "2", "--epochs", "1",
            "--train-n", "256", "--val-n", "128", "--json", str(out)]
    # Run main() as the script, in a fresh interpreter where the database stack can't import.
    program = textwrap.dedent(f"""
        import runpy, sys
        sys.modules.update(dict.fromkeys({ABSENT!r}))  # None: import fails, find_spec is None
        sys.argv = [{str(SCRIPT)!r}, *{argv!r}]
        runpy.run_path(sys.argv[0], run_name="__main__")
    """)
    done = subprocess.run([sys.executable, "-c", program], cwd=REPO, capture_output=True,
                          text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    saved = json.loads(out.read_text())
    assert saved["settings"]["train"] == 256 and saved["settings"]["val"] == 128
    assert [(r["precision"], r["seed"]) for r in saved["runs"]] == [
        ("fp32", 0), ("bf16", 0), ("fp32", 1), ("bf16", 1)]
    fp32, bf16 = saved["summary"]
    assert (fp32["precision"], bf16["precision"]) == ("fp32", "bf16")
    for row in (fp32, bf16):
        assert row["finished"] == 2 and 0.0 <= row["mean"] <= 1.0 and math.isfinite(row["std"])
    assert "vs_fp32" not in fp32
    assert bf16["vs_fp32"]["verdict"] in ("within seed noise", "outside seed noise")
    assert bf16["vs_fp32"]["low"] <= bf16["vs_fp32"]["diff"] <= bf16["vs_fp32"]["high"]
    assert "| fp32 | 2 (2) |" in done.stdout and "| bf16 | 2 (2) |" in done.stdout
    assert "torch=" in done.stdout


def test_welch_interval_matches_scipy_and_verdicts() -> None:
    compare = load_benchmark("precision_check").compare
    reference, other = [0.05, 0.07, 0.06, 0.08], [0.10, 0.12, 0.11]
    result = compare(reference, other)
    expected = stats.ttest_ind(other, reference, equal_var=False).confidence_interval(0.95)
    assert result["diff"] == pytest.approx(0.11 - 0.065)
    assert (result["low"], result["high"]) == pytest.approx((expected.low, expected.high))
    assert result["verdict"] == "outside seed noise"
    assert compare(reference, [0.06, 0.07, 0.065])["verdict"] == "within seed noise"
    same = compare([0.1, 0.1], [0.1, 0.1])
    assert (same["low"], same["high"], same["verdict"]) == (0.0, 0.0, "within seed noise")
    assert compare([0.1], [0.2])["verdict"] == "too few runs"

"""The analysis notebooks run top to bottom on a database filled through import-results."""

from __future__ import annotations

from pathlib import Path

import nbformat
import pytest
from analysis_data import fill
from nbclient import NotebookClient

from proxystore.db import open_database

ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture
def study_url(tmp_path, monkeypatch):  # type: ignore[no-untyped-def]
    url = f"sqlite:///{tmp_path / 'nb.db'}"
    database = open_database(url, create=True)
    fill(database, tmp_path, study="nbstudy", n_candidates=25)
    database.dispose()
    monkeypatch.setenv("PROXYSTORE_DB", url)
    monkeypatch.setenv("PROXYSTORE_STUDY", "nbstudy")
    monkeypatch.setenv("PYTHONPATH", str(ROOT))
    return url


@pytest.mark.parametrize("name", ["apr.ipynb", "proxy_quality.ipynb"])
def test_notebook_runs_and_draws(study_url, tmp_path, name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    NotebookClient(notebook, timeout=300, kernel_name="python3",
                   resources={"metadata": {"path": str(tmp_path)}}).execute()
    outputs = [o for cell in notebook.cells if cell.cell_type == "code" for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    images = [o for o in outputs if "image/png" in o.get("data", {})]
    assert len(images) >= 2, f"{name} drew {len(images)} figures"
    text = " ".join(str(o.get("text", "")) + str(o.get("data", {}).get("text/plain", ""))
                    for o in outputs)
    assert "no proxy tasks" not in text and "no target" not in text


@pytest.mark.parametrize("name", ["apr.ipynb", "proxy_quality.ipynb"])
def test_notebook_draws_with_the_packages_figures_not_a_copy(name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    code = "\n".join(cell.source for cell in notebook.cells if cell.cell_type == "code")
    assert "from proxystore.analysis.report import study_figures" in code
    for copied in ("plt.", "matplotlib.pyplot", ".scatter(", ".imshow(", "polyfit", ".plot("):
        assert copied not in code, copied


@pytest.mark.parametrize("name", ["apr.ipynb", "proxy_quality.ipynb"])
def test_notebook_is_committed_with_its_outputs_from_the_demo(name):
    notebook = nbformat.read(ROOT / "notebooks" / name, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert all(cell.execution_count for cell in code), "saved without running every cell"
    outputs = [o for cell in code for o in cell.outputs]
    assert not [o for o in outputs if o.output_type == "error"]
    assert len([o for o in outputs if "image/png" in o.get("data", {})]) >= 2
    html = " ".join(o.get("data", {}).get("text/html", "") for o in outputs)
    assert "<table" in html  # Table 2 or Table 3, drawn from the demo's results

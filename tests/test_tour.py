"""examples/tour.ipynb runs from top to bottom in a fresh Jupyter kernel (nbclient) on the MNIST
in ``$BNN_DATA_DIR``, and is stored without outputs."""

from __future__ import annotations

from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
TOUR = ROOT / "examples" / "tour.ipynb"


def test_the_tour_is_stored_without_outputs():
    import nbformat

    notebook = nbformat.read(TOUR, as_version=4)
    code = [cell for cell in notebook.cells if cell.cell_type == "code"]
    assert code and all(not cell.outputs and cell.execution_count is None for cell in code)


@pytest.mark.slow
def test_the_tour_runs(mnist_dir, tmp_path, monkeypatch):
    import nbformat
    from nbclient import NotebookClient

    monkeypatch.setenv("BNN_RUNS_DIR", str(tmp_path))
    monkeypatch.delenv("OMP_NUM_THREADS", raising=False)  # the kernel trains as a user's would
    monkeypatch.delenv("MKL_NUM_THREADS", raising=False)
    notebook = nbformat.read(TOUR, as_version=4)
    where = {"metadata": {"path": str(TOUR.parent)}}  # the notebook's folder, as Jupyter runs it
    client = NotebookClient(notebook, timeout=600, kernel_name="python3", resources=where)
    client.execute()
    outputs = {index: cell.outputs for index, cell in enumerate(notebook.cells) if cell.cell_type == "code"}
    errors = [output for cell in outputs.values() for output in cell if output.output_type == "error"]
    assert not errors
    assert len(list(tmp_path.iterdir())) == 3  # seed, its fixed run, the live run
    last = outputs[max(outputs)][0]
    assert last.data["text/plain"] == "np.True_"  # the reloaded run predicts as the trained one

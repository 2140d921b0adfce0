"""Re-execute the example notebooks in nbval's environment and save their outputs.

Run after editing a notebook (``make notebooks``), so the stored outputs that nbval
compares come from the same set-up as ``notebooks/conftest.py``: one real Jupyter
server with the extension (temp root), and the same environment variables::

    python notebooks/execute.py                    # all, in order (03 evaluates 01's model)
    python notebooks/execute.py 02_rest_from_python
"""

from __future__ import annotations

import os
import sys
import tempfile
import time
from pathlib import Path

import nbformat
from nbclient import NotebookClient

from eegtrain_jupyter.testing import ServerProcess

HERE = Path(__file__).resolve().parent


WIDGET_VIEW = "application/vnd.jupyter.widget-view+json"


def strip_widget_views(nb) -> None:
    """Drop outputs that are live widget views (and any saved widget state).

    Their models lived in the kernel that executed the notebook; opened later they can only
    show a dead text repr. A fresh open shows the cell without output until it is run.
    """
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = [o for o in cell.outputs if WIDGET_VIEW not in o.get("data", {})]
    nb.metadata.pop("widgets", None)


def main(names: list[str]) -> int:
    paths = [HERE / f"{name.removesuffix('.ipynb')}.ipynb" for name in names] or sorted(HERE.glob("0*.ipynb"))
    tmp = Path(tempfile.mkdtemp(prefix="eegtrain-nbexec-"))
    root = tmp / "root"
    root.mkdir()
    os.environ.update(
        {
            "EEGTRAIN_ROOT": str(root),
            "MPLBACKEND": "Agg",
            "PYTHONWARNINGS": "ignore::FutureWarning,ignore::DeprecationWarning",
        }
    )
    with ServerProcess(root, runtime_dir=tmp / "runtime") as server:
        os.environ.update(server.env())
        for path in paths:
            nb = nbformat.read(path, as_version=4)
            started = time.monotonic()
            NotebookClient(
                nb,
                timeout=900,
                kernel_name="python3",
                store_widget_state=False,
                resources={"metadata": {"path": str(HERE)}},
            ).execute()
            strip_widget_views(nb)
            nbformat.write(nb, path)
            print(f"{path.name}: executed in {time.monotonic() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))

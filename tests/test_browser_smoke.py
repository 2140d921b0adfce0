"""Smoke test of the browser harness: JupyterLab in headless Chromium renders an ipywidget
updated from a kernel thread and a bqplot line figure."""

from __future__ import annotations

import nbformat
import pytest
from browser_support import (
    JupyterLab,
    chromium_mark,
    launch_chromium,
    open_notebook,
    run_all_cells,
    screenshot,
)

pytestmark = [
    pytest.mark.browser,
    chromium_mark(),
]

SMOKE_CELLS = [
    "import threading, time\nimport ipywidgets as w\nimport bqplot as bq",
    (
        "bar = w.IntProgress(value=0, max=5, description='smoke')\n"
        "bar.add_class('smoke-progress')\n"
        "def tick():\n"
        "    for i in range(5):\n"
        "        time.sleep(0.2)\n"
        "        bar.value = i + 1\n"
        "threading.Thread(target=tick, daemon=True).start()\n"
        "bar"
    ),
    (
        "xs, ys = bq.LinearScale(), bq.LinearScale()\n"
        "line = bq.Lines(x=[1, 2, 3, 4], y=[1.0, 0.6, 0.4, 0.3], scales={'x': xs, 'y': ys}, marker='circle')\n"
        "fig = bq.Figure(marks=[line], axes=[bq.Axis(scale=xs, label='epoch'),"
        " bq.Axis(scale=ys, orientation='vertical', label='loss')], title='smoke',"
        " layout=w.Layout(width='420px', height='280px'))\n"
        "fig.add_class('smoke-figure')\n"
        "fig"
    ),
]


def test_lab_renders_ipywidget_and_bqplot(tmp_path):
    from playwright.sync_api import sync_playwright

    root = tmp_path / "root"
    root.mkdir()
    nb = nbformat.v4.new_notebook()
    nb.cells = [nbformat.v4.new_code_cell(src) for src in SMOKE_CELLS]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, root / "smoke.ipynb")

    with JupyterLab(root, tmp_path) as lab, sync_playwright() as pw:
        browser = launch_chromium(pw)
        try:
            page = browser.new_page(viewport={"width": 1280, "height": 900})
            open_notebook(page, lab, "smoke.ipynb")
            run_all_cells(page)
            bar = page.locator(".smoke-progress")
            bar.wait_for(timeout=60_000)
            page.wait_for_function(
                """() => { const b = document.querySelector('.smoke-progress .progress-bar');
                           return b && parseFloat(b.style.width) >= 99; }""",
                timeout=60_000,
            )
            fig = page.locator(".smoke-figure")
            fig.wait_for(timeout=60_000)
            page.wait_for_function(
                """() => Array.from(document.querySelectorAll('.smoke-figure path.line'))
                         .some(p => (p.getAttribute('d') || '').length > 10)""",
                timeout=60_000,
            )
            screenshot(page, "smoke.png")
        finally:
            browser.close()

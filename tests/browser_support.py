"""Helpers for driving JupyterLab in headless Chromium (Playwright) from pytest.

* :class:`JupyterLab` starts ``jupyter lab`` on loopback in an isolated temp root (its own
  runtime, config, settings and workspaces folders, no network look-ups) and stops it.
* :func:`launch_chromium` starts the system's Chromium (``chromium`` on ``PATH``, or
  ``$EEGTRAIN_CHROMIUM``; Playwright cannot download its own browser here).
  :func:`chromium_mark` skips a module without it, except under CI (``$CI`` set), where a
  missing browser is a broken install and its tests fail.
* :func:`open_notebook`, :func:`run_all_cells`, :func:`run_cell` and
  :func:`wait_kernel_idle` drive a notebook through the real UI.
"""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

import pytest

from eegtrain_jupyter.testing import ServerProcess


def find_chromium() -> str | None:
    """``$EEGTRAIN_CHROMIUM`` (when it is an executable), else ``chromium`` (or
    ``chromium-browser``) on ``PATH``; None when there is none."""
    override = os.environ.get("EEGTRAIN_CHROMIUM")
    if override:
        return override if os.path.isfile(override) and os.access(override, os.X_OK) else None
    return shutil.which("chromium") or shutil.which("chromium-browser")


CHROMIUM = find_chromium()
_NO_CHROMIUM = "needs Chromium: `chromium` on PATH (apt-get install -y chromium) or $EEGTRAIN_CHROMIUM" + (
    f" (not an executable: {os.environ['EEGTRAIN_CHROMIUM']})" if os.environ.get("EEGTRAIN_CHROMIUM") else ""
)
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--no-first-run",
    "--disable-quic",
    "--disable-sync",
    "--disable-dev-shm-usage",
]
REPO = Path(__file__).resolve().parents[1]
ARTIFACTS = REPO / "test-artifacts" / "browser"


def chromium_mark() -> pytest.MarkDecorator:
    """Skip the module when Chromium is missing, except under CI (``$CI`` set): there the tests
    run and :func:`launch_chromium` fails them (the rule of ``support.require``)."""
    return pytest.mark.skipif(CHROMIUM is None and not os.environ.get("CI"), reason=_NO_CHROMIUM)


class JupyterLab(ServerProcess):
    """A ``jupyter lab`` process serving ``root`` on 127.0.0.1 with a random token.

    Everything it writes (runtime files, settings, workspaces, the extension's runs) stays
    under ``home``, a temp folder; kernels inherit ``JUPYTER_RUNTIME_DIR`` so that
    ``list_running_servers()`` in a kernel finds exactly this server.
    """

    def __init__(self, root: Path, home: Path, *, log_path: Path | None = None):
        self.home = Path(home)
        settings = self.home / "user-settings"
        super().__init__(
            root,
            runtime_dir=self.home / "runtime",
            module="jupyterlab",
            log_path=log_path or (self.home / "jupyterlab.log"),
            env={
                "JUPYTER_CONFIG_DIR": str(self.home / "config"),
                "JUPYTER_DATA_DIR": str(self.home / "data"),
                "IPYTHONDIR": str(self.home / "ipython"),
                "JUPYTER_PLATFORM_DIRS": "1",
                "PYTHONUNBUFFERED": "1",
            },
            extra_args=[
                "--ServerApp.jpserver_extensions={'eegtrain_jupyter': True}",
                "--LabApp.news_url=None",
                "--LabApp.check_for_updates_class=jupyterlab.NeverCheckForUpdate",
                f"--LabApp.user_settings_dir={settings}",
                f"--LabApp.workspaces_dir={self.home / 'workspaces'}",
            ],
        )
        self.root = self.root_dir
        self._write_settings(settings)

    def lab_url(self, path: str = "") -> str:
        return f"{self.url}lab/tree/{path}?token={self.token}&reset"

    def api(self, method: str, path: str, body: Any = None, timeout: float = 10.0) -> Any:
        """Call the server's REST API with the token; returns parsed JSON (or None)."""
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(
            self.url + path,
            data=data,
            method=method,
            headers={"Authorization": f"token {self.token}", "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
        return json.loads(raw) if raw else None

    @staticmethod
    def _write_settings(settings: Path) -> None:
        """No news/update pop-ups (they would ask the network and cover the notebook)."""
        notif = settings / "@jupyterlab" / "apputils-extension"
        notif.mkdir(parents=True, exist_ok=True)
        (notif / "notification.jupyterlab-settings").write_text(
            json.dumps({"fetchNews": "false", "checkForUpdates": False, "doNotDisturbMode": True})
        )


def copy_notebooks(src: Path, dst: Path) -> Path:
    """Copy the ``*.ipynb`` of ``src`` into ``dst`` with outputs and execution counts cleared.

    Stored outputs would show stale prompts (``[1]:``) and dead widget views; a cleared copy
    makes "this cell ran" observable.
    """
    import nbformat

    dst.mkdir(parents=True, exist_ok=True)
    for path in sorted(Path(src).glob("*.ipynb")):
        nb = nbformat.read(path, as_version=4)
        for cell in nb.cells:
            if cell.cell_type == "code":
                cell.outputs, cell.execution_count = [], None
        nb.metadata.pop("widgets", None)
        nbformat.write(nb, dst / path.name)
    return dst


def launch_chromium(playwright):
    if CHROMIUM is None:
        pytest.fail(_NO_CHROMIUM)
    return playwright.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS, headless=True)


# -- notebook UI ---------------------------------------------------------------------------


def open_notebook(page, lab: JupyterLab, name: str, timeout: float = 90_000) -> None:
    """Open ``name`` in JupyterLab and wait until its kernel is connected and idle."""
    page.goto(lab.lab_url(name), wait_until="domcontentloaded", timeout=timeout)
    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell", timeout=timeout)
    wait_kernel_idle(page, timeout=timeout)


def wait_kernel_idle(page, timeout: float = 120_000) -> None:
    """Wait until the status bar reports a connected, idle kernel (``Python 3 (ipykernel) | Idle``).

    The toolbar's execution indicator says "idle" before any kernel is connected, so it is
    not enough right after opening a notebook.
    """
    page.wait_for_function(
        """() => Array.from(document.querySelectorAll('.jp-StatusBar-TextItem'))
                 .some(e => /\\|\\s*Idle\\s*$/.test(e.textContent || ''))""",
        timeout=timeout,
    )


def wait_cells_done(page, indices=None, timeout: float = 180_000) -> None:
    """Wait until the given code cells (all when None) show an execution count, not ``[*]``/``[ ]``."""
    page.wait_for_function(
        """(idx) => {
             const cells = Array.from(document.querySelectorAll(
                 '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell'));
             const pick = idx === null ? cells : idx.map(i => cells[i]);
             return pick.every(c => !c || !c.classList.contains('jp-CodeCell') ||
                 /\\[\\d+\\]/.test((c.querySelector('.jp-InputPrompt') || {}).textContent || ''));
           }""",
        arg=None if indices is None else list(indices),
        timeout=timeout,
    )


def _notebook(page):
    return page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").first


def cell_sources(page) -> list[str]:
    """The source text of every cell of the open notebook (as rendered by CodeMirror)."""
    return page.evaluate(
        """() => Array.from(document.querySelectorAll(
                '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell'))
             .map(c => { const e = c.querySelector('.cm-content');
                         return e ? e.innerText : (c.innerText || ''); })"""
    )


def _prompt(page, index: int) -> str:
    cell = _notebook(page).locator(".jp-Cell").nth(index)
    return (cell.locator(".jp-InputPrompt").first.text_content() or "").strip()


def run_cell(page, index: int, *, timeout: float = 180_000) -> None:
    """Select cell ``index`` (command mode), run it with Shift+Enter, wait for a new count."""
    cell = _notebook(page).locator(".jp-Cell").nth(index)
    cell.scroll_into_view_if_needed()
    before = _prompt(page, index)
    # click the prompt area: selects the cell without entering edit mode
    cell.locator(".jp-InputPrompt").first.click()
    page.keyboard.press("Escape")
    page.keyboard.press("Shift+Enter")
    page.wait_for_function(
        """([i, before]) => {
             const c = document.querySelectorAll(
                 '.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook .jp-Cell')[i];
             const t = ((c && c.querySelector('.jp-InputPrompt')) || {}).textContent || '';
             return /\\[\\d+\\]/.test(t) && t.trim() !== before;
           }""",
        arg=[index, before],
        timeout=timeout,
    )


def run_cells(page, indices, *, timeout: float = 180_000) -> None:
    """Run the given cells one after another (each waits for the previous one)."""
    for i in indices:
        run_cell(page, i, timeout=timeout)


def run_all_cells(page, timeout: float = 180_000) -> None:
    """Run > Run All Cells, then wait until every code cell has an execution count."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    wait_cells_done(page, None, timeout=timeout)


@contextlib.contextmanager
def shots_on_failure(page, name: str):
    """On an exception inside the block, save a full-page screenshot ``<name>-FAILED.png``."""
    try:
        yield
    except BaseException:
        with contextlib.suppress(Exception):
            screenshot(page, f"{name}-FAILED.png")
        raise


def screenshot(page_or_locator, name: str) -> Path:
    ARTIFACTS.mkdir(parents=True, exist_ok=True)
    path = ARTIFACTS / name
    page_or_locator.screenshot(path=str(path))
    return path

"""The training panel in a real browser: JupyterLab + headless Chromium, end to end.

1. Open ``01_quick_start.ipynb`` (a temp copy), run the cells up to the panel, pick the
   "quick" preset and 1 epoch, click Start and watch the run complete: badge, progress
   bar, metric labels and both bqplot figures (line paths with points).
2. Start a long fine-tuning run, close the browser tab mid-training, open the notebook in a new
   page, display the panel again: it re-attaches to the same, still-running run (server side,
   ``GET training/status``), follows its epochs, and its Stop ends the run, shown to the end.
3. The panel as a researcher uses it (issue 17): a stopped run names its checkpoint and folder;
   no sideways scrolling and every label visible at 700, 800 and 1600 px; re-running the panel cell
   three times leaves one poller thread; the shipped quick start opens without dead widget text;
   the dark theme keeps errors and axis titles readable.

Screenshots go to ``test-artifacts/browser/``. Skips only when Chromium is absent, and never under CI.
"""

from __future__ import annotations

import os
import re
import time
from pathlib import Path

import nbformat
import pytest
from browser_support import (
    REPO,
    JupyterLab,
    chromium_mark,
    copy_notebooks,
    launch_chromium,
    open_notebook,
    run_cells,
    screenshot,
    shots_on_failure,
    wait_kernel_idle,
)
from configs import FINETUNE, TINY

from eegtrain_jupyter.config.training import PRESETS

pytestmark = [
    pytest.mark.browser,
    pytest.mark.timeout(300),
    chromium_mark(),
]

NOTEBOOKS = Path(os.environ.get("EEGTRAIN_NOTEBOOKS_DIR", REPO / "notebooks"))
NOTEBOOK = "01_quick_start.ipynb"
PANEL = ".eegtrain-panel"
NUMBER = re.compile(r"^-?\d+(\.\d+)?%?$")
VIEWPORT = {"width": 1400, "height": 1900}
LONG_RUN = {
    "n_epochs": "100",
    **{k: str(FINETUNE[k]) for k in ("n_samples_per_class", "batch_size", "val_split")},
}
"""``configs.FINETUNE`` with 100 epochs (fine-tune preset: a trainable backbone): still running
whenever the tab is closed and reopened, however fast the machine; the test stops it."""


def panel_cells(path: Path) -> list[int]:
    """Indices of the code cells to run: every code cell up to the first that builds the panel."""
    nb = nbformat.read(path, as_version=4)
    cells = []
    for i, cell in enumerate(nb.cells):
        if cell.cell_type != "code":
            continue
        cells.append(i)
        if "TrainingPanel(" in cell.source:
            return cells
    raise AssertionError(f"{path.name} has no cell that builds a TrainingPanel")


@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    base = tmp_path_factory.mktemp("lab")
    root = copy_notebooks(NOTEBOOKS, base / "root")
    server = JupyterLab(root, base)
    server.start()
    try:
        yield server
    finally:
        try:
            if server.api("GET", "training/status").get("is_training"):
                server.api("POST", "training/stop")
                time.sleep(1)
        except Exception:
            pass
        server.stop()


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """Overrides pytest-jupyter's per-test loop (active suite-wide via conftest): here Playwright's
    sync API owns this thread's event loop for the whole module, and closing it per test fails."""
    return None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    """No in-process Jupyter server here (JupyterLab runs as a subprocess): nothing to clean up."""
    return


@pytest.fixture(scope="module")
def browser():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as pw:
        b = launch_chromium(pw)
        try:
            yield b
        finally:
            b.close()


def new_page(browser):
    page = browser.new_page(viewport=VIEWPORT)
    page.set_default_timeout(60_000)
    return page


def show_panel(page, lab: JupyterLab, name: str = NOTEBOOK):
    """Open the notebook, collapse the file browser, run the cells up to the panel; return it."""
    open_notebook(page, lab, name)
    collapse_sidebar(page)
    run_cells(page, panel_cells(lab.root / name))
    panel = page.locator(PANEL).last
    panel.wait_for(state="visible", timeout=60_000)
    # the first status poll has filled the badge
    panel.locator(".eegtrain-badge span").wait_for(timeout=30_000)
    return panel


def collapse_sidebar(page) -> None:
    current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
    if current.count():
        current.first.click()  # more room for the panel


def field_value(panel, name: str) -> str:
    return panel.locator(f".eegtrain-field-{name} input").input_value()


def set_field(panel, name: str, value: str, settle: float = 1.5) -> None:
    """Type ``value`` into a form field, then make sure the kernel kept it.

    An echo of an earlier change (a preset) on its way back from the kernel can overwrite
    what was typed, so the value is checked again after ``settle`` seconds and retyped.
    """
    box = panel.locator(f".eegtrain-field-{name} input")
    for _ in range(4):
        box.fill(value)
        box.press("Enter")
        box.press("Tab")
        panel.page.wait_for_timeout(settle * 1000)
        if box.input_value() == value:
            return
    raise AssertionError(f"field {name} shows {box.input_value()!r}, not {value!r}")


def choose_preset(panel, name: str) -> None:
    """Pick a preset and wait until the kernel has filled the form with it."""
    panel.locator(".eegtrain-preset select").select_option(name)
    for field, value in PRESETS[name].items():
        if isinstance(value, int) and not isinstance(value, bool):
            panel.page.wait_for_function(
                "([el, v]) => el.value === v",
                arg=[panel.locator(f".eegtrain-field-{field} input").element_handle(), str(value)],
                timeout=15_000,
            )


def badge_state(panel) -> str:
    return panel.locator(".eegtrain-badge span").inner_text().strip()


def wait_badge(panel, states, timeout: float) -> str:
    deadline = time.monotonic() + timeout
    state = None
    while time.monotonic() < deadline:
        state = badge_state(panel)
        if state in states:
            return state
        if state == "failed":
            raise AssertionError("training failed: " + panel.locator(".eegtrain-error").inner_text())
        time.sleep(0.5)
    raise AssertionError(f"badge still {state!r} after {timeout}s (wanted {states})")


def figure_marks(panel, css: str) -> dict:
    """Per line of the figure: the length of its path's ``d`` and how many point markers it has."""
    return panel.locator(f".{css}").evaluate(
        """fig => Array.from(fig.querySelectorAll('g.curve')).map(g => ({
                 d: ((g.querySelector('path.line') || {getAttribute: () => ''}).getAttribute('d') || '').length,
                 points: g.querySelectorAll('path.dot').length }))"""
    )


def assert_curves_drawn(panel, n_points: int) -> None:
    for css in ("eegtrain-loss-figure", "eegtrain-acc-figure"):
        marks = figure_marks(panel, css)
        assert len(marks) == 2, f"{css}: expected train and validation lines, got {marks}"
        for line in marks:
            assert line["d"] > 0, f"{css}: a line has an empty path: {marks}"
            assert line["points"] >= n_points, f"{css}: expected {n_points} points per line: {marks}"


def progress_percent(panel) -> float:
    style = panel.locator(".eegtrain-progress .progress-bar").get_attribute("style") or ""
    m = re.search(r"width:\s*([\d.]+)%", style)
    return float(m.group(1)) if m else 0.0


def test_panel_trains_in_the_browser(lab, browser):
    page = new_page(browser)
    with shots_on_failure(page, "trains"):
        _trains(page, lab)
    page.close()


def _trains(page, lab):
    t0 = time.monotonic()
    panel = show_panel(page, lab)
    assert badge_state(panel) == "idle"
    choose_preset(panel, "quick")
    set_field(panel, "n_epochs", "1")
    assert field_value(panel, "n_samples_per_class") == "100"
    assert panel.locator(".eegtrain-field-freeze_backbone input").is_checked()
    start = panel.locator("button.eegtrain-start")
    page.wait_for_function("b => !b.disabled", arg=start.element_handle(), timeout=10_000)
    screenshot(panel, "panel-before.png")
    t_panel = time.monotonic() - t0

    start.click()
    wait_badge(panel, {"preparing", "training", "completed"}, timeout=30)
    # the badge and the Stop button are two widget updates: the browser may show one a moment first
    stop = panel.locator("button.eegtrain-stop")
    deadline = time.monotonic() + 10
    while not (stop.is_enabled() or badge_state(panel) == "completed") and time.monotonic() < deadline:
        time.sleep(0.1)
    assert stop.is_enabled() or badge_state(panel) == "completed"
    wait_badge(panel, {"completed"}, timeout=150)
    t_train = time.monotonic() - t0 - t_panel

    # the last poll may still be on its way to the browser
    page.wait_for_function(
        "el => el.textContent.includes('epoch 1 / 1')",
        arg=panel.locator(".eegtrain-progress-label").element_handle(),
        timeout=10_000,
    )
    assert progress_percent(panel) == pytest.approx(100.0)
    for key in ("train-loss", "val-loss", "train-acc", "val-acc", "best-val-acc"):
        text = panel.locator(f".eegtrain-metric-{key}").inner_text().strip()
        assert NUMBER.match(text), f"metric {key} shows {text!r}"
    page.wait_for_function(
        """p => ['eegtrain-loss-figure', 'eegtrain-acc-figure'].every(c =>
               Array.from(p.querySelectorAll('.' + c + ' g.curve path.dot')).length >= 2)""",
        arg=panel.element_handle(),
        timeout=15_000,
    )
    assert_curves_drawn(panel, 1)
    status = lab.api("GET", "training/status")
    assert status["state"] == "completed" and status["current_epoch"] == 1
    assert (lab.root / "trained_models").is_dir()  # the server's trainer wrote into the temp root
    screenshot(panel, "panel-after.png")
    screenshot(page, "lab-after.png")
    print(f"panel shown in {t_panel:.1f}s, trained in {t_train:.1f}s")


def test_panel_reattaches_after_the_tab_closes(lab, browser):
    page = new_page(browser)
    panel = show_panel(page, lab)
    panel.get_by_text("Next run").wait_for()
    choose_preset(panel, "fine-tune")
    for name, value in LONG_RUN.items():
        set_field(panel, name, value)
    panel.locator(".eegtrain-field-device select").select_option(FINETUNE["device"])
    assert {name: field_value(panel, name) for name in LONG_RUN} == LONG_RUN
    assert not panel.locator(".eegtrain-field-freeze_backbone input").is_checked()
    start = panel.locator("button.eegtrain-start")
    page.wait_for_function("b => !b.disabled", arg=start.element_handle(), timeout=10_000)
    start.click()
    wait_badge(panel, {"preparing", "training"}, timeout=30)
    first = lab.api("GET", "training/status")
    assert first["is_training"], first
    run_id = first["run_id"]
    assert first["total_epochs"] == 100 and first["config"]["device"] == "cpu"

    page.close()  # the tab goes away mid-training; the run lives in the server process
    time.sleep(1)
    mid = lab.api("GET", "training/status")
    assert mid["run_id"] == run_id and mid["is_training"], mid

    page = new_page(browser)
    with shots_on_failure(page, "reattached"):
        panel = show_panel(page, lab)
        again = lab.api("GET", "training/status")
        assert again["run_id"] == run_id and again["is_training"], again["state"]  # 100 epochs: still going
        assert badge_state(panel) in {"preparing", "training"}
        assert run_id in panel.locator(".eegtrain-run").inner_text()
        assert panel.locator("button.eegtrain-stop").is_enabled()
        assert panel.locator("button.eegtrain-start").is_disabled()
        screenshot(panel, "panel-reattached.png")

        # the re-attached panel follows the run: two more epochs end and its epoch line says so
        target = again["current_epoch"] + 2
        deadline = time.monotonic() + 240
        while (now := lab.api("GET", "training/status"))["current_epoch"] < target:
            assert now["run_id"] == run_id and now["is_training"], now["state"]
            assert time.monotonic() < deadline, f"no progress past epoch {now['current_epoch']}"
            time.sleep(0.5)
        page.wait_for_function(
            "([el, n]) => { const m = el.textContent.match(/^epoch (\\d+) \\/ 100/); return m && +m[1] >= n; }",
            arg=[panel.locator(".eegtrain-progress-label").element_handle(), target],
            timeout=30_000,
        )
        # and its Stop ends the run, which it shows to the end
        panel.locator("button.eegtrain-stop").click()
        wait_badge(panel, {"stopped"}, timeout=120)
        final = lab.api("GET", "training/status")
        assert final["run_id"] == run_id and final["state"] == "stopped"
        done = final["current_epoch"]
        assert target <= done < 100
        page.wait_for_function(
            "([el, n]) => el.textContent.includes('epoch ' + n + ' / 100')",
            arg=[panel.locator(".eegtrain-progress-label").element_handle(), done],
            timeout=10_000,
        )
        page.wait_for_function(
            """([p, n]) => ['eegtrain-loss-figure', 'eegtrain-acc-figure'].every(c =>
                   Array.from(p.querySelectorAll('.' + c + ' g.curve path.dot')).length >= 2 * n)""",
            arg=[panel.element_handle(), done],
            timeout=15_000,
        )
        assert_curves_drawn(panel, done)
        screenshot(panel, "panel-reattached-done.png")
    page.close()


# -- the panel as a researcher uses it (issue 17) --------------------------------------------

STOP_RUN = {"n_epochs": "4", "n_samples_per_class": "100"}
"""Trainable backbone (fine-tune preset) on 2 x 100 windows: a few seconds per epoch on 2 cores."""

LAYOUT_PROBLEMS_JS = """
panel => {
  const out = panel.closest('.jp-OutputArea-output') || panel.parentElement;
  const box = out.getBoundingClientRect();
  const name = el => (el.className && el.className.baseVal !== undefined ? el.className.baseVal : el.className)
                     .toString().split(' ').filter(c => c.startsWith('eegtrain') || c.startsWith('widget')
                     || c.startsWith('jp-')).slice(0, 3).join('.') || el.tagName;
  const problems = [];
  const scrolls = el => {
    const cs = getComputedStyle(el);
    return el.scrollWidth > el.clientWidth + 1 && ['auto', 'scroll'].includes(cs.overflowX);
  };
  for (const el of [out, panel, ...panel.querySelectorAll('*')]) {
    if (scrolls(el)) problems.push('horizontal scrollbar: ' + name(el) + ' ' + el.scrollWidth + ' > ' + el.clientWidth);
  }
  for (const el of panel.querySelectorAll('.widget-hbox, .widget-vbox, .widget-gridbox, .widget-html, .widget-label, .widget-button, .widget-inline-hbox, .bqplot, input, select')) {
    const r = el.getBoundingClientRect();
    if (r.width === 0 || getComputedStyle(el).visibility === 'hidden') continue;
    if (r.right > box.right + 1 || r.left < box.left - 1) problems.push('outside the output area: ' + name(el) + ` ${Math.round(r.left)}-${Math.round(r.right)} vs ${Math.round(box.left)}-${Math.round(box.right)}`);
  }
  const notebook = document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-WindowedPanel-outer')
                   || document.querySelector('.jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook');
  if (notebook && notebook.scrollWidth > notebook.clientWidth + 1) problems.push('notebook scrolls sideways');
  return {problems, width: Math.round(box.width)};
}
"""

LABELS_VISIBLE_JS = """
panel => {
  const out = panel.closest('.jp-OutputArea-output') || panel.parentElement;
  const box = out.getBoundingClientRect();
  const hidden = [];
  const sel = '[class*="eegtrain-metric-"], .eegtrain-metrics .eegtrain-caption, .eegtrain-progress-label, '
            + '.eegtrain-batch-label, .eegtrain-badge, .eegtrain-legend, .eegtrain-loss-figure, .eegtrain-acc-figure';
  for (const el of panel.querySelectorAll(sel)) {
    if (!el.getClientRects().length) continue;  // in a tab not shown
    const r = el.getBoundingClientRect();
    const clipped = el.scrollWidth > el.clientWidth + 1 && getComputedStyle(el).overflowX !== 'visible';
    if (r.right > box.right + 1 || r.left < box.left - 1 || clipped) hidden.push(el.className + ': ' + el.textContent.trim());
  }
  return {hidden, metrics: panel.querySelectorAll('[class*="eegtrain-metric-"]').length};
}
"""


def assert_fits(panel, width: int) -> None:
    layout = panel.evaluate(LAYOUT_PROBLEMS_JS)
    assert not layout["problems"], f"at {width} px (output area {layout['width']} px): {layout['problems']}"
    labels = panel.evaluate(LABELS_VISIBLE_JS)
    assert labels["metrics"] == 7 and not labels["hidden"], f"at {width} px: cut off: {labels['hidden']}"


def test_stopped_run_says_what_it_wrote(lab, browser):
    page = new_page(browser)
    with shots_on_failure(page, "stopped"):
        panel = show_panel(page, lab)
        panel.get_by_text("Next run").wait_for()
        choose_preset(panel, "fine-tune")
        for name, value in STOP_RUN.items():
            set_field(panel, name, value)
        start = panel.locator("button.eegtrain-start")
        page.wait_for_function("b => !b.disabled", arg=start.element_handle(), timeout=10_000)
        start.click()
        wait_badge(panel, {"training"}, timeout=90)
        deadline = time.monotonic() + 150
        while lab.api("GET", "training/status")["current_epoch"] < 1:
            assert time.monotonic() < deadline, "no epoch finished"
            time.sleep(0.5)
        # one epoch numbering: the epoch bar names the epoch the batch line is in
        page.wait_for_function(
            """p => { const b = p.querySelector('.eegtrain-batch-label').textContent;
                      const e = p.querySelector('.eegtrain-progress-label').textContent;
                      const m = b.match(/^epoch (\\d+) /); return m && e.startsWith('epoch ' + m[1] + ' / 4'); }""",
            arg=panel.element_handle(),
            timeout=30_000,
        )
        panel.locator("button.eegtrain-stop").click()
        wait_badge(panel, {"stopped"}, timeout=60)
        status = lab.api("GET", "training/status")
        assert status["state"] == "stopped" and 1 <= status["current_epoch"] < 4
        outputs = panel.locator(".eegtrain-outputs")
        page.wait_for_function(
            "el => el.textContent.includes('checkpoint: epoch')", arg=outputs.element_handle(), timeout=10_000
        )
        text = outputs.inner_text()
        best = status["history"]["val_accs"].index(max(status["history"]["val_accs"])) + 1
        assert f"checkpoint: epoch {best}, val acc {max(status['history']['val_accs']):.1f}%" in text, text
        assert status["run_id"] in text  # the run folder, where this run's files are
        # the files it wrote (in its run folder) are named; the top-level ones were left alone
        assert status["files"] and status["published"] == {}
        for path in status["files"].values():  # by name: no wall of absolute paths
            assert Path(path).name in text and path not in text, (path, text)
        assert "top-level files" in text and "unchanged" in text
        screenshot(panel, "panel-stopped.png")
    page.close()


@pytest.mark.parametrize("width", [700, 800, 1600])
def test_panel_fits_the_width(lab, browser, width):
    if not lab.api("GET", "training/status")["run_id"]:  # run alone: have a finished run to show
        lab.api("POST", "training/start", TINY)
        deadline = time.monotonic() + 120
        while lab.api("GET", "training/status")["is_training"]:
            assert time.monotonic() < deadline
            time.sleep(0.5)
    page = browser.new_page(viewport={"width": width, "height": 2400})
    page.set_default_timeout(60_000)
    with shots_on_failure(page, f"width-{width}"):
        panel = show_panel(page, lab)
        panel.locator(".eegtrain-outputs").wait_for()
        page.wait_for_timeout(1500)  # bqplot relayouts after a resize (debounced)
        assert_fits(panel, width)
        # the other tabs fit too (runs table, search space and figures, model area)
        for tab in ("Runs", "Search", "Model", "Train"):
            panel.locator(".eegtrain-tabs .lm-TabBar-tab", has_text=tab).click()
            page.wait_for_timeout(1000)
            layout = panel.evaluate(LAYOUT_PROBLEMS_JS)
            assert not layout["problems"], f"tab {tab} at {width} px: {layout['problems']}"
            if width == 800 and tab != "Train":
                screenshot(panel, f"panel-{tab.lower()}-{width}.png")
        assert_fits(panel, width)
        # a wrong value is marked on its field and the disabled Start says why
        set_field(panel, "n_epochs", "abc", settle=1.0)
        # the message stands under its field (the first error in the form, whatever comes before it)
        panel.locator(".eegtrain-field-error", has_text="must be a number").first.wait_for(timeout=10_000)
        assert panel.locator(".eegtrain-field-n_epochs.eegtrain-invalid").count() == 1
        start = panel.locator("button.eegtrain-start")
        assert start.is_disabled() and "Epochs" in (start.get_attribute("title") or "")
        assert "Epochs" in panel.locator(".eegtrain-start-hint").inner_text()
        assert_fits(panel, width)
        screenshot(panel, f"panel-{width}.png")
        set_field(panel, "n_epochs", "2", settle=1.0)
    page.close()


def test_rerunning_the_panel_cell_leaves_one_poller(lab, browser):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from eegtrain_jupyter.widgets import TrainingPanel\npanel = TrainingPanel()\npanel"
        ),
        nbformat.v4.new_code_cell(
            "import threading\nfrom ipywidgets.widgets.widget import _instances\n"
            "from eegtrain_jupyter.widgets.panel import POLLER_THREAD_NAME, open_panels\n"
            "print('pollers', sum(t.name == POLLER_THREAD_NAME for t in threading.enumerate()),"
            " 'panels', len(open_panels()), 'models', len(_instances))"
        ),
    ]
    nbformat.write(nb, lab.root / "rerun.ipynb")
    page = new_page(browser)
    with shots_on_failure(page, "rerun"):
        open_notebook(page, lab, "rerun.ipynb")
        collapse_sidebar(page)

        def counts():
            run_cells(page, [1])
            text = page.locator(".jp-Notebook .jp-Cell").nth(1).locator(".jp-OutputArea-output").inner_text()
            m = re.search(r"pollers (\d+) panels (\d+) models (\d+)", text)
            assert m, text
            return tuple(map(int, m.groups()))

        run_cells(page, [0])
        first = counts()
        for _ in range(3):
            run_cells(page, [0])
        after = counts()
        assert first[:2] == (1, 1) and after[:2] == (1, 1), (first, after)
        assert after[2] == first[2], f"widget models grew from {first[2]} to {after[2]} after 3 re-runs"
        assert page.locator(PANEL).count() == 1
    page.close()


def test_shipped_quick_start_opens_clean(lab, browser):
    shipped = (NOTEBOOKS / NOTEBOOK).read_text()
    (lab.root / "shipped_quick_start.ipynb").write_text(shipped)  # as shipped: outputs kept
    page = new_page(browser)
    with shots_on_failure(page, "shipped"):
        open_notebook(page, lab, "shipped_quick_start.ipynb")
        page.wait_for_timeout(2000)  # widget outputs (if any) would render by now
        text = page.locator(".jp-NotebookPanel:not(.lm-mod-hidden) .jp-Notebook").inner_text()
        for dead in ("TrainingPanel(client=", "Error displaying widget", "model not found", "Loading widget"):
            assert dead not in text, f"a fresh open shows {dead!r}"
        screenshot(page, "shipped-quick-start.png")
    page.close()


def _contrast(fg, bg) -> float:
    def lum(rgb):
        c = [v / 255 for v in rgb[:3]]
        c = [v / 12.92 if v <= 0.03928 else ((v + 0.055) / 1.055) ** 2.4 for v in c]
        return 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2]

    a, b = sorted((lum(fg), lum(bg)), reverse=True)
    return (a + 0.05) / (b + 0.05)


COLORS_JS = """
panel => {
  const rgb = s => (s.match(/[\\d.]+/g) || []).map(Number);
  const background = el => {
    for (; el; el = el.parentElement) {
      const c = rgb(getComputedStyle(el).backgroundColor);
      if (c.length >= 3 && (c.length < 4 || c[3] > 0.5)) return c;
    }
    return [255, 255, 255];
  };
  const err = panel.querySelector('.eegtrain-field-error .eegtrain-error-text');
  const axis = panel.querySelector('.eegtrain-acc-figure text.axislabel');
  const line = panel.querySelector('.eegtrain-acc-figure g.curve path.line');
  return {
    error: err && rgb(getComputedStyle(err).color), errorBg: err && background(err),
    axis: axis && rgb(getComputedStyle(axis).fill), axisBg: axis && background(panel),
    help: rgb(getComputedStyle(panel.querySelector('.eegtrain-help')).color),
    theme: document.body.dataset.jpThemeLight,
  };
}
"""


def test_dark_theme_reads_well(lab, browser):
    themes = "lab/api/settings/@jupyterlab/apputils-extension:themes"
    lab.api("PUT", themes, {"raw": '{"theme": "JupyterLab Dark"}'})
    page = new_page(browser)
    try:
        with shots_on_failure(page, "dark"):
            panel = show_panel(page, lab)
            set_field(panel, "n_epochs", "500", settle=1.0)
            panel.locator(".eegtrain-field-error .eegtrain-error-text").first.wait_for()
            page.wait_for_timeout(1000)
            colors = panel.evaluate(COLORS_JS)
            assert colors["theme"] == "false", colors
            assert _contrast(colors["error"], colors["errorBg"]) >= 4.5, colors
            assert colors["axis"] and _contrast(colors["axis"], colors["axisBg"]) >= 4.5, colors
            assert colors["axis"][:3] != [255, 127, 14], "axis title takes the validation line's orange"
            screenshot(panel, "panel-dark.png")
            set_field(panel, "n_epochs", "2", settle=1.0)
    finally:
        page.close()
        lab.api("PUT", themes, {"raw": '{"theme": "JupyterLab Light"}'})


def test_panel_of_a_restarted_kernel_looks_disconnected(lab, browser):
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell(
            "from eegtrain_jupyter.widgets import TrainingPanel\npanel = TrainingPanel()\npanel"
        )
    ]
    nbformat.write(nb, lab.root / "restart.ipynb")
    page = new_page(browser)
    with shots_on_failure(page, "restart"):
        open_notebook(page, lab, "restart.ipynb")
        collapse_sidebar(page)
        run_cells(page, [0])
        panel = page.locator(PANEL).last
        panel.locator(".eegtrain-badge span").wait_for()
        assert "jupyter-widgets-disconnected" not in (panel.get_attribute("class") or "")
        page.get_by_role("menuitem", name="Kernel", exact=True).click()
        page.get_by_role("menuitem", name=re.compile(r"^Restart Kernel…")).first.click()
        page.locator(".jp-Dialog button.jp-mod-accept").click()
        page.wait_for_function(
            "p => p.classList.contains('jupyter-widgets-disconnected')",
            arg=panel.element_handle(),
            timeout=30_000,
        )
        notice = panel.evaluate("p => getComputedStyle(p, '::before').content")
        assert "Disconnected" in notice and "Re-run the cell" in notice, notice
        badge = panel.evaluate(
            """p => ({span: getComputedStyle(p.querySelector('.eegtrain-badge span')).display,
                      after: getComputedStyle(p.querySelector('.eegtrain-badge .widget-html-content'),
                                              '::after').content})"""
        )
        assert badge == {"span": "none", "after": '"disconnected"'}, badge
        stop_events = panel.locator("button.eegtrain-stop").evaluate("b => getComputedStyle(b).pointerEvents")
        assert stop_events == "none"
        wait_kernel_idle(page)
        screenshot(panel, "panel-disconnected.png")
    page.close()

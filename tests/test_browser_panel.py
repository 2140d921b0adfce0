"""The panel for a researcher's own recordings, in a real browser (JupyterLab + headless Chromium).

One JupyterLab server, one notebook, one kernel and one page for the whole module: each check
resizes the page (900 and 1600 px wide) instead of starting anew, and the module trains one tiny
EEGNet run on EDF recordings with non-standard channel names (plus one one-trial search). A check
per problem of the panel's review, each able to fail if the problem came back:

1. data errors stand beside "Check data";
2. every recording channel gets a suggestion, applied in JSON syntax, channels left out listed;
3. the files form: file pattern, annotation names with class drop-downs, channel table;
4. the form fits the choice: sections, folded Advanced and Distributed, fields of other models and
   sources hidden, Start near the top;
5. the result leads with the held-out test score;
6. Runs is a table: sortable headers, filter, check boxes, legend by model and run, fitted axes;
7. the Model tab follows the chosen run, downloads its files, predicts with window times, says a
   missing file is missing;
8. the Search tab: Stop, Start off while searching, the model and data it searches;
9. Delete asks first;
10. words: a cost hint from a plain run, the epoch label never drops, outputs by name, no word broken
    in a table, no bqplot console errors.

Screenshots go to ``test-artifacts/browser/`` (``panel25-*``).
"""

from __future__ import annotations

import json
import re
import time

import nbformat
import pytest
from browser_support import (
    JupyterLab,
    chromium_mark,
    launch_chromium,
    open_notebook,
    run_cells,
    screenshot,
    shots_on_failure,
    wait_kernel_idle,
)
from recordings import make_raw, write

pytestmark = [pytest.mark.browser, pytest.mark.timeout(600), chromium_mark()]

WIDTHS = [900, 1600]
HEIGHT = 1300
CHANNELS = ["A1-Cz", "A2-Cz", "C3f", "C3p", "C4f", "C4p", "O1", "ECG"]
"""A researcher's montage: reference-style names, 'f'/'p' suffixes, a non-EEG channel."""
FOLDER = "recordings/visual-attention-study-2026"
STEM = "sub-0{}_ses-01_task-eyesclosedrest_acq-highdensity_eeg"
"""Long folder and file names, as a study's are: the data summary's file table is wider than the notebook
at 900 px (its cells must not break words to fit)."""
GLOB = f"{FOLDER}/*.edf"
NOTEBOOK = "panel.ipynb"
PANEL = ".eegtrain-panel"


@pytest.fixture(autouse=True)
def jp_asyncio_loop():
    """Playwright's sync API owns this thread's event loop for the module (see test_browser_e2e)."""
    return None


@pytest.fixture(autouse=True)
def jp_server_cleanup():
    return


class Session:
    """The one page with the one panel, and what the module learned on the way."""

    def __init__(self, lab: JupyterLab, page):
        self.lab, self.page = lab, page
        self.panel = page.locator(PANEL).last
        self.console: list[str] = []
        self.labels: list[str] = []
        self.run_id: str | None = None
        self.trial_run: str | None = None

    def resize(self, width: int) -> None:
        self.page.set_viewport_size({"width": width, "height": HEIGHT})
        self.page.wait_for_timeout(800)  # JupyterLab and bqplot relayout (debounced)

    def tab(self, title: str) -> None:
        self.panel.locator(".eegtrain-tabs .lm-TabBar-tab", has_text=title).click()
        self.settle()

    def wait_text(self, locator, pattern: str, timeout: float = 30_000) -> str:
        """Wait until ``locator``'s text matches the regex ``pattern``; return the text."""
        self.page.wait_for_function(
            "([el, p]) => new RegExp(p).test(el.textContent)",
            arg=[locator.element_handle(), pattern],
            timeout=timeout,
        )
        return locator.inner_text()

    def fill(self, locator, value: str) -> None:
        """Type into a text box and let the kernel take it (Enter, then leave the box)."""
        box = locator.locator("input, textarea").first
        box.fill(value)
        box.press("Tab")
        self.settle()

    def settle(self) -> None:
        """Wait until the kernel has handled every click and edit sent so far (idle again)."""
        self.page.wait_for_timeout(300)
        wait_kernel_idle(self.page, timeout=180_000)
        self.page.wait_for_timeout(300)

    def shot(self, name: str) -> None:
        screenshot(self.page, f"panel25-{name}.png")


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    from playwright.sync_api import sync_playwright

    base = tmp_path_factory.mktemp("lab25")
    root = base / "root"
    for subject in (1, 2, 3, 4):
        raw = make_raw(subject, names=CHANNELS, n_blocks=6, block_s=4.0)
        write(raw, root / FOLDER, STEM.format(subject), "edf")
    nb = nbformat.v4.new_notebook()
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nb.cells = [
        nbformat.v4.new_code_cell("from eegtrain_jupyter.widgets import TrainingPanel\nTrainingPanel()")
    ]
    nbformat.write(nb, root / NOTEBOOK)
    lab = JupyterLab(root, base)
    lab.start()
    try:
        with sync_playwright() as pw:
            browser = launch_chromium(pw)
            page = browser.new_page(viewport={"width": 1600, "height": HEIGHT})
            page.set_default_timeout(60_000)
            s = Session(lab, page)
            page.on("console", lambda m: s.console.append(m.text) if m.type in ("error", "warning") else None)
            with shots_on_failure(page, "panel25-open"):
                open_notebook(page, lab, NOTEBOOK)
                current = page.locator(".jp-SideBar.jp-mod-left .lm-TabBar-tab.lm-mod-current")
                if current.count():
                    current.first.click()  # more room for the panel
                run_cells(page, [0])
                s.panel.wait_for(state="visible", timeout=60_000)
                s.panel.locator(".eegtrain-badge span").wait_for(timeout=30_000)
            yield s
            browser.close()
    finally:
        try:
            if lab.api("GET", "training/status").get("is_training"):
                lab.api("POST", "training/stop")
        except Exception:
            pass
        lab.stop()


def files_source(s: Session) -> None:
    """The files form with the recordings and their classes (no JSON typed)."""
    kind = s.panel.locator(".eegtrain-data-kind select")
    if kind.input_value() != "files":
        kind.select_option("files")
        s.settle()
    if s.panel.locator(".eegtrain-data-paths input").input_value() != GLOB:
        s.fill(s.panel.locator(".eegtrain-data-paths"), GLOB)
    if not s.panel.locator(".eegtrain-data-subject-pattern input").input_value():
        s.fill(s.panel.locator(".eegtrain-data-subject-pattern"), r"sub-(?P<subject>\d+)")


def check_data(s: Session) -> None:
    """Click "Check data" and wait for its answer (the first one starts the data worker: slow)."""
    summary = s.panel.locator(".eegtrain-data-summary .widget-html-content")
    # a mark the kernel's "checking…" line replaces: then the wait cannot see the previous answer
    summary.evaluate("el => { el.innerHTML = '<i class=\"eegtrain-probe\"></i>'; }")
    s.panel.locator("button.eegtrain-check-data").click()
    s.page.wait_for_function(
        "el => !el.querySelector('.eegtrain-probe') && !el.textContent.includes('checking')",
        arg=summary.element_handle(),
        timeout=180_000,
    )
    s.settle()


def label_classes(s: Session) -> None:
    """Name the classes and pick one per annotation, from the drop-downs the check filled."""
    if s.panel.locator(".eegtrain-data-label select").count() == 0:
        check_data(s)  # lists the annotation names
    if s.panel.locator(".eegtrain-data-classes input").input_value() != "relaxed, anxious":
        s.fill(s.panel.locator(".eegtrain-data-classes"), "relaxed, anxious")
    for annotation, cls in (("eyes_closed", "relaxed"), ("task", "anxious")):
        select = s.panel.locator(".eegtrain-data-labels").get_by_label(annotation, exact=True)
        if select.input_value() != cls:
            select.select_option(cls)
            s.settle()


def data_json(s: Session) -> dict:
    """The data section as the advanced JSON view shows it (read, never typed)."""
    return json.loads(s.panel.locator(".eegtrain-data-source textarea").input_value())


# -- 1 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", WIDTHS)
def test_1_data_errors_stand_beside_check_data(session, width):
    s = session
    s.resize(width)
    with shots_on_failure(s.page, f"panel25-1-{width}"):
        files_source(s)
        s.fill(s.panel.locator(".eegtrain-data-paths"), "nowhere/*.edf")
        check_data(s)
        error = s.panel.locator(".eegtrain-data-error")
        text = s.wait_text(error, r"\S")
        assert "nowhere" in text, text
        button = s.panel.locator("button.eegtrain-check-data").bounding_box()
        box = error.bounding_box()
        assert box and button and abs(box["y"] - button["y"]) < 150, (box, button)  # on the button's row
        assert s.panel.locator(".eegtrain-error").first.inner_text().strip() == ""  # nothing above the tabs
        s.shot(f"1-data-error-{width}")
        s.fill(s.panel.locator(".eegtrain-data-paths"), GLOB)


# -- 2 and 3 ------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", WIDTHS)
def test_2_every_channel_suggested_applied_as_json_left_out_listed(session, width):
    s = session
    s.resize(width)
    with shots_on_failure(s.page, f"panel25-2-{width}"):
        files_source(s)
        label_classes(s)
        check_data(s)
        summary = s.panel.locator(".eegtrain-data-summary").inner_text()
        apply = s.panel.locator("button.eegtrain-apply-suggestion")
        if width == WIDTHS[0]:  # the first time: nothing applied yet
            for name in ("A1-Cz", "A2-Cz", "C3f", "C3p", "C4f", "C4p"):
                assert re.search(rf"{re.escape(name)} \(could be \w+\)", summary), (name, summary)
            assert apply.is_visible()
        if apply.is_visible():
            apply.click()
            s.settle()
            check_data(s)
        channel_map = data_json(s)["channel_map"]  # JSON syntax: it parses
        assert channel_map == {
            "A1-Cz": "A1",
            "A2-Cz": "A2",
            "C3f": "FC3",
            "C3p": "CP3",
            "C4f": "FC4",
            "C4p": "CP4",
        }
        summary = s.wait_text(s.panel.locator(".eegtrain-data-summary"), r"left out \(1\)")
        assert "ECG" in summary and "channels (7)" in summary, summary
        s.shot(f"2-channels-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_3_files_form_names_classes_and_channels(session, width):
    s = session
    s.resize(width)
    with shots_on_failure(s.page, f"panel25-3-{width}"):
        files_source(s)
        labels = s.panel.locator(".eegtrain-data-label")
        assert labels.count() == 2 and "eyes_closed" in labels.first.inner_text()
        assert s.panel.locator(".eegtrain-data-channel").count() == len(CHANNELS)
        channels = s.panel.locator(".eegtrain-data-channels")
        assert channels.get_by_label("C3f", exact=True).input_value() == "FC3"
        data = data_json(s)
        assert data["paths"] == [GLOB] and data["labels"] == {
            "eyes_closed": "relaxed",
            "task": "anxious",
        }
        assert data["subject_pattern"] == r"sub-(?P<subject>\d+)"  # one backslash: no JSON escaping typed
        summary = s.panel.locator(".eegtrain-data-summary").inner_text()
        assert all(STEM.format(i) in summary for i in (1, 2, 3, 4)), summary  # the matching files
        s.shot(f"3-files-form-{width}")


# -- 4 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", WIDTHS)
def test_4_form_fits_the_choice(session, width):
    s = session
    s.resize(width)
    p = s.panel
    with shots_on_failure(s.page, f"panel25-4-{width}"):
        model = p.locator(".eegtrain-field-model select")
        if model.input_value() != "eegnet":
            model.select_option("eegnet")
            s.settle()
        headings = [t.strip() for t in p.locator(".eegtrain-section-heading").all_inner_texts()]
        assert headings[:4] == ["Data", "Model", "Training", "Evaluation"], headings
        folds = p.locator(".eegtrain-fold")
        assert folds.count() == 2
        assert "Advanced" in folds.nth(0).inner_text() and "Distributed" in folds.nth(1).inner_text()
        for name in ("nnodes", "rdzv_endpoint", "lr_schedule"):  # folded away
            assert not p.locator(f".eegtrain-field-{name}").is_visible(), name
        for name in (
            "freeze_backbone",
            "pretrained_weights",
            "n_samples_per_class",
        ):  # not for EEGNet on files
            assert not p.locator(f".eegtrain-field-{name}").is_visible(), name
        assert p.locator(".eegtrain-field-n_epochs").is_visible()
        start = p.locator("button.eegtrain-start").bounding_box()
        first = p.locator(".eegtrain-data-kind").bounding_box()
        top = p.bounding_box()
        assert start and first and top and start["y"] < first["y"] and start["y"] - top["y"] < 250, (
            start,
            top,
        )
        assert p.locator(".eegtrain-cost-hint").bounding_box()["y"] < first["y"]
        s.shot(f"4-form-{width}")


# -- the run ------------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def trained(session):
    """One tiny EEGNet run on the recordings, started from the form, every epoch label recorded."""
    s = session
    s.resize(WIDTHS[-1])
    p = s.panel
    with shots_on_failure(s.page, "panel25-train"):
        files_source(s)
        label_classes(s)
        if p.locator(".eegtrain-field-model select").input_value() != "eegnet":
            p.locator(".eegtrain-field-model select").select_option("eegnet")
            s.settle()
        for name, value in (("n_epochs", "2"), ("batch_size", "16")):
            s.fill(p.locator(f".eegtrain-field-{name}"), value)
        p.locator(".eegtrain-progress-label").evaluate(
            """el => { window.__labels = [];
                       new MutationObserver(() => window.__labels.push(el.textContent))
                         .observe(el, {subtree: true, childList: true, characterData: true}); }"""
        )
        start = p.locator("button.eegtrain-start")
        s.page.wait_for_function("b => !b.disabled", arg=start.element_handle(), timeout=20_000)
        start.click()
        deadline = time.monotonic() + 300
        while True:
            status = s.lab.api("GET", "training/status")
            if status["run_id"] and not status["is_training"] and status["state"] != "idle":
                break
            assert time.monotonic() < deadline, "the run did not end"
            time.sleep(1)
        assert status["state"] == "completed", status.get("error")
        s.wait_text(p.locator(".eegtrain-badge"), "completed")
        s.run_id = status["run_id"]
        s.page.wait_for_timeout(1000)
        s.labels = s.page.evaluate("window.__labels")
    return status


@pytest.mark.parametrize("width", WIDTHS)
def test_5_result_leads_with_the_test_score(session, trained, width):
    s = session
    s.resize(width)
    with shots_on_failure(s.page, f"panel25-5-{width}"):
        card = s.panel.locator(".eegtrain-test-card")
        text = s.wait_text(card, "balanced accuracy")
        report = trained["test_report"]
        assert f"{report['balanced_accuracy']:.1f}%" in text and f"{report['n']} windows" in text, text
        assert "subject" in text and "choose the epoch" in text
        below = [
            s.panel.locator(c).bounding_box()["y"] for c in (".eegtrain-metrics", ".eegtrain-acc-figure")
        ]
        assert card.bounding_box()["y"] < min(below)  # the test score first, then validation and curves
        s.shot(f"5-test-card-{width}")


# -- 6 and 9 ------------------------------------------------------------------------------------
def runs_rows(s: Session) -> int:
    return s.panel.locator(".eegtrain-runs-table .eegtrain-run-check").count()


def check_first_row(s: Session) -> None:
    box = s.panel.locator(".eegtrain-runs-table .eegtrain-run-check input").first
    if not box.is_checked():
        box.check()
        s.settle()


@pytest.mark.parametrize("width", WIDTHS)
def test_6_runs_is_a_sortable_filterable_table(session, trained, width):
    s = session
    s.resize(width)
    with shots_on_failure(s.page, f"panel25-6-{width}"):
        s.tab("Runs")
        table = s.panel.locator(".eegtrain-runs-table")
        table.wait_for(state="visible")
        headers = [h.strip(" ▲▼") for h in table.locator(".eegtrain-runs-header").all_inner_texts()]
        assert headers[:8] == [
            "model",
            "data",
            "test bal. acc",
            "best val",
            "epochs",
            "duration",
            "state",
            "kind",
        ], headers
        assert table.evaluate("t => t.scrollWidth <= t.clientWidth + 1"), "the runs table scrolls sideways"
        row = s.panel.locator(".eegtrain-runs-cell").all_inner_texts()
        assert "eegnet" in row and GLOB in row and "completed" in row and "run" in row, row
        assert f"{trained['test_report']['balanced_accuracy']:.1f}%" in row
        table.locator(".eegtrain-sort-model").click()
        s.wait_text(table.locator(".eegtrain-sort-model"), "[▲▼]")
        s.fill(s.panel.locator(".eegtrain-runs-filter"), "no-such-model")
        s.page.wait_for_function(
            "t => t.querySelectorAll('.eegtrain-run-check').length === 0", arg=table.element_handle()
        )
        s.fill(s.panel.locator(".eegtrain-runs-filter"), "eegnet")
        assert runs_rows(s) >= 1
        check_first_row(s)
        legend = s.wait_text(s.panel.locator(".eegtrain-runs-legend").first, "eegnet · ")
        assert trained["run_id"] in legend, legend
        ticks = s.panel.locator(".eegtrain-runs-figure").first.locator("g.axis .tick text")
        values = [float(t) for t in ticks.all_text_contents() if re.fullmatch(r"-?\d+(\.\d+)?", t.strip())]
        # both axes' ticks: epochs 1, 2 and the accuracy's, fitted to the curve (not 0 to 100 %)
        assert values and not (min(values) <= 0 and max(values) >= 100), values
        s.shot(f"6-runs-{width}")


@pytest.mark.parametrize("width", WIDTHS)
def test_9_delete_asks_first(session, trained, width):
    s = session
    s.resize(width)
    with shots_on_failure(s.page, f"panel25-9-{width}"):
        s.tab("Runs")
        check_first_row(s)
        s.panel.locator(".eegtrain-runs button", has_text="Delete").first.click()
        confirm = s.panel.locator(".eegtrain-delete-confirmation")
        confirm.wait_for(state="visible")
        assert "cannot be undone" in confirm.inner_text()
        s.shot(f"9-delete-{width}")
        confirm.locator("button", has_text="Cancel").click()
        confirm.wait_for(state="hidden")
        assert trained["run_id"] in [r["run_id"] for r in s.lab.api("GET", "training/runs")["runs"]]


# -- 7 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", WIDTHS)
def test_7_model_tab_follows_the_run_downloads_and_predicts(session, trained, width):
    s = session
    s.resize(width)
    with shots_on_failure(s.page, f"panel25-7-{width}"):
        s.tab("Runs")
        check_first_row(s)  # the run checked in Runs is the Model tab's
        s.tab("Model")
        area = s.panel.locator(".eegtrain-model-area")
        s.wait_text(area, re.escape(trained["run_id"]))
        links = area.locator("a.eegtrain-download")
        names = links.all_inner_texts()
        assert any(n.endswith(".pth") for n in names) and any("card" in n.lower() for n in names), names
        if width == WIDTHS[0]:  # export once: its ONNX file is a download too
            area.locator("button", has_text="ONNX").click()
            s.wait_text(area, "parity", timeout=180_000)
        s.wait_text(area.locator(".eegtrain-model-downloads"), r"\.onnx")
        links = area.locator("a.eegtrain-download").evaluate_all(
            "els => els.map(a => [a.getAttribute('download'), a.getAttribute('href')])"
        )
        models = [(name, href) for name, href in links if name.endswith((".pth", ".onnx"))]
        assert len(models) == 2, links
        for name, href in models:
            got = s.page.request.get(s.lab.url.rstrip("/") + href)  # with the browser's own session
            assert got.status == 200 and len(got.body()) > 1000, (name, href, got.status)
        path = area.locator(".eegtrain-predict-path input")
        path.fill(f"{FOLDER}/missing.edf")
        area.locator("button", has_text="Predict").click()
        error = s.wait_text(area.locator(".eegtrain-field-error"), "recording")
        assert "Invalid training configuration" not in error, error
        path.fill(f"{FOLDER}/{STEM.format(1)}.edf")
        area.locator("button", has_text="Predict").click()
        table = area.locator(".eegtrain-windows")
        table.wait_for(state="visible", timeout=60_000)
        rows = table.locator("tr").all_inner_texts()
        assert len(rows) >= 2 and "start" in rows[0] and re.search(r"\d+\.\d s", rows[1]), rows
        assert area.locator("a.eegtrain-predictions-csv").count() == 1
        assert area.locator(".eegtrain-field-error").inner_text().strip() == ""
        s.shot(f"7-model-{width}")


# -- 8 ------------------------------------------------------------------------------------------
@pytest.mark.parametrize("width", WIDTHS)
def test_8_search_tab_stops_and_says_what_it_searches(session, trained, width):
    s = session
    s.resize(width)
    p = s.panel
    with shots_on_failure(s.page, f"panel25-8-{width}"):
        s.tab("Search")
        start = p.locator("button", has_text="Start search")
        stop = p.locator("button.eegtrain-search-stop")
        if width == WIDTHS[0]:  # one trial of the form's config
            trials = p.locator(".eegtrain-search-trials input")
            trials.fill("1")
            trials.press("Tab")
            s.settle()
            # every state the two buttons pass through (a one-trial search may end within a second)
            p.locator(".eegtrain-search-message").evaluate(
                """(el, [a, b]) => { window.__buttons = [];
                     const note = () => window.__buttons.push([a.disabled, b.disabled]);
                     for (const x of [a, b]) new MutationObserver(note).observe(x, {attributes: true}); }""",
                [start.element_handle(), stop.element_handle()],
            )
            start.click()
            s.page.wait_for_function(
                "() => window.__buttons.some(([a, b]) => a && !b)", timeout=20_000
            )  # Stop on while the search runs, Start off
            deadline = time.monotonic() + 300
            while s.lab.api("GET", "training/search")["state"] in ("running", "stopping"):
                assert time.monotonic() < deadline, "the search did not end"
                time.sleep(1)
            search = s.lab.api("GET", "training/search")
            s.trial_run = search["trials"][0]["run_id"]
        s.page.wait_for_function("b => !b.disabled", arg=start.element_handle(), timeout=30_000)
        assert stop.is_disabled()
        text = p.locator(".eegtrain-search-message").inner_text()
        assert f"eegnet on {GLOB}" in text and "search None" not in text, text
        s.shot(f"8-search-{width}")


# -- 10 -----------------------------------------------------------------------------------------
WORD_BREAKS_JS = """
panel => {
  const broken = [];
  const cells = panel.querySelectorAll('td, th, .eegtrain-runs-cell .widget-html-content');
  for (const cell of cells) {
    if (!cell.getClientRects().length) continue;  // not shown
    const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
    for (let node = walker.nextNode(); node; node = walker.nextNode()) {
      const re = /[A-Za-z0-9]+/g; let m;  // a word: a line may end after '-' or '/', never inside one
      while ((m = re.exec(node.textContent))) {
        const range = document.createRange();
        range.setStart(node, m.index); range.setEnd(node, m.index + m[0].length);
        const tops = new Set(Array.from(range.getClientRects()).map(r => Math.round(r.top)));
        if (tops.size > 1) broken.push(m[0]);
      }
    }
  }
  return broken;
}
"""


@pytest.mark.parametrize("width", WIDTHS)
def test_10_words_say_what_happened(session, trained, width):
    s = session
    s.resize(width)
    p = s.panel
    with shots_on_failure(s.page, f"panel25-10-{width}"):
        # the epoch label never went back (the test phase keeps "2 / 2")
        seen = [int(m.group(1)) for t in s.labels for m in [re.search(r"epoch (\d+) / 2", t)] if m]
        assert seen and seen == sorted(seen), s.labels
        s.tab("Train")
        # the outputs line names files, not absolute paths
        outputs = p.locator(".eegtrain-outputs").inner_text()
        assert str(s.lab.root) not in outputs and ".pth" in outputs, outputs
        # the cost hint measures a plain run, not the search's trial
        hint = s.wait_text(p.locator(".eegtrain-cost-hint"), "from run")
        assert trained["run_id"] in hint and (s.trial_run is None or s.trial_run not in hint), hint
        # no word is broken over two lines in any table shown
        for tab in ("Train", "Runs", "Model", "Search"):
            s.tab(tab)
            broken = p.evaluate(WORD_BREAKS_JS)
            assert not broken, (tab, width, broken)
        s.tab("Train")
        s.shot(f"10-train-{width}")
        negative = [m for m in s.console if "negative" in m.lower() and "rect" in m.lower()]
        assert not negative, negative[:3]

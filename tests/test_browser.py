"""The course in a real JupyterLab, driven by a real (headless) browser.

Starts this environment's JupyterLab on 127.0.0.1 (free port, random token) and drives
Debian's Chromium through Playwright (``executable_path``; no browser download):

* notebook 00: Run All, the device picker renders as real buttons, a click on CPU and
  then on Auto changes the status line that the kernel writes; GPU is disabled (with a
  tooltip saying why) on a machine without GPU;
* notebook 04: Run All (it trains the encoders the fusion picker builds on), then in the
  picker press Train for parallel fusion: the test accuracy it shows must be one the
  lesson claims (at least 0.88, notebook 04's claim for parallel fusion), and its
  confusion matrix must fit beside the file browser in a 1280-pixel-wide window; then
  weighted fusion with learned weights trains and shows its weights.

Screenshots go to build/browser/. JupyterLab is shut down in every case. Everything the
server, kernels and browser write goes to a temporary folder (see tests/browser_lab.py).

Skipped when Chromium or Playwright is missing, except with ``CI=true``, where that is
a failure: CI (.ci/run) installs both.
"""

from __future__ import annotations

import importlib.metadata
import os
import re
import shutil
import sys
import tempfile
from contextlib import contextmanager
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
import browser_lab as bl  # noqa: E402

ROOT = Path(__file__).resolve().parent.parent

pytestmark = pytest.mark.slow  # left out of the fast lane, pytest -m "not slow"
SHOTS = ROOT / "build" / "browser"
NOTEBOOK_00 = "00_setup_and_tour.ipynb"
NOTEBOOK_04 = "04_fusion.ipynb"
#: the accuracy notebook 04 claims for parallel fusion on trained encoders
CLAIMED_PARALLEL_ACCURACY = 0.88
#: the narrow screen the lesson must fit: a 1280-pixel-wide window, file browser open
WINDOW = {"width": 1280, "height": 900}

#: Seconds to wait for: a kernel to start and connect; a Run All; a widget round trip.
KERNEL_TIMEOUT = 240
RUN_TIMEOUT = 600
CLICK_TIMEOUT = 60


def in_ci() -> bool:
    return os.environ.get("CI", "").strip().lower() in {"true", "1", "yes"}


def browser_or_skip() -> str:
    """Path of Chromium; skip (or fail in CI) when Chromium or Playwright is missing."""
    problems = []
    chromium = bl.find_chromium()
    if chromium is None:
        problems.append("Chromium is not installed (Debian/Ubuntu: apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        problems.append('Playwright is not installed (pip install -e ".[dev]")')
    if problems:
        reason = "browser test needs a browser: " + "; ".join(problems)
        if in_ci():
            pytest.fail(reason + ". CI=true, so this is a failure, not a skip.", pytrace=False)
        pytest.skip(reason)
    return chromium


def widget_versions() -> str:
    def version(dist: str) -> str:
        try:
            return importlib.metadata.version(dist)
        except importlib.metadata.PackageNotFoundError:
            return "not installed"

    return (
        f"kernel side ipywidgets {version('ipywidgets')}; front end jupyterlab_widgets "
        f"{version('jupyterlab_widgets')} in JupyterLab {version('jupyterlab')}"
    )


# ----------------------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def lab_tmp():
    tmp = Path(tempfile.mkdtemp(prefix="mmteach-browser-"))
    try:
        yield tmp
    finally:
        shutil.rmtree(tmp, ignore_errors=True)


@pytest.fixture(scope="module")
def lab(lab_tmp):
    """JupyterLab serving a temporary copy of notebooks/ (outputs cleared)."""
    chromium = browser_or_skip()
    root = lab_tmp / "lab"
    for name in (NOTEBOOK_00, NOTEBOOK_04):
        bl.copy_notebook_cleared(ROOT / "notebooks" / name, root / "notebooks" / name)
    server = bl.JupyterLab(root, lab_tmp)
    server.chromium = chromium
    try:
        server.start()
        yield server
    finally:
        server.stop()  # also when starting or a test failed


@pytest.fixture(scope="module")
def browser(lab, lab_tmp):
    """A headless Chromium profile kept in the temporary folder."""
    from playwright.sync_api import sync_playwright

    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        context = p.chromium.launch_persistent_context(
            str(lab_tmp / "chromium-profile"),
            executable_path=lab.chromium,
            headless=True,
            args=bl.CHROMIUM_ARGS,
            env=lab.env,
            viewport=WINDOW,
        )
        try:
            yield context
        finally:
            context.close()


@contextmanager
def screenshot_on_failure(page, lab, name: str):
    """On any failure: save a screenshot and append the end of JupyterLab's log to the error."""
    try:
        yield
    except Exception as exc:
        try:
            page.screenshot(path=str(SHOTS / f"{name}-FAILED.png"), full_page=True)
        except Exception:  # noqa: BLE001 - the original error matters more
            pass
        raise AssertionError(f"{exc}\n\n--- end of JupyterLab's log ---\n{lab.log()[-2000:]}") from exc


# ----------------------------------------------------------------------------- steps


@contextmanager
def notebook_page(browser, lab, relpath: str, name: str):
    """A page with the notebook open and its kernel idle; closed (kernels shut down) afterwards.

    Failures inside save a screenshot ``build/browser/<name>-FAILED.png``.
    """
    page = browser.new_page()
    try:
        with screenshot_on_failure(page, lab, name):
            open_notebook(page, lab, relpath)
            yield page
    finally:
        page.close()
        lab.shutdown_kernels()


def open_notebook(page, lab, relpath: str) -> None:
    """Open a notebook in ``page``; return once its kernel is connected and idle."""
    page.goto(lab.url(f"/lab/tree/{relpath}?reset"))  # ?reset: no tabs restored from before
    page.wait_for_function("() => window.jupyterapp !== undefined", timeout=KERNEL_TIMEOUT * 1000)
    # The execution indicator may say idle before the kernel is connected; Run All then
    # opens a kernel-selection dialog and never runs. Wait for the session's kernel.
    bl.wait_for(
        page,
        bl.JS_KERNEL_STATE,
        lambda s: bool(s) and s["connection"] == "connected" and s["status"] == "idle" and s["ready"],
        KERNEL_TIMEOUT,
        f"the kernel of {relpath} to be connected and idle",
    )


def run_all(page, what: str) -> dict:
    """Run > Run All Cells from the menu bar; wait until every code cell ran; fail on errors."""
    page.get_by_role("menuitem", name="Run", exact=True).click()
    page.get_by_role("menuitem", name="Run All Cells", exact=True).click()
    state = bl.wait_for(
        page,
        bl.JS_RUN_STATE,
        lambda s: bool(s["errors"]) or (s["done"] == s["n"] and s["running"] == 0 and s["kernel"] == "idle"),
        RUN_TIMEOUT,
        f"Run All of {what} to finish",
    )
    assert not state["errors"], f"Run All of {what} raised in the browser: {state['errors']}"
    return state


def widget_output(page, needle: str, selector: str, what: str):
    """The output area of the cell whose source contains ``needle``, once ``selector`` shows in it.

    Fails with a message about the ipywidgets front end when the widget does not render.
    """
    found = page.evaluate(bl.JS_CELL_INDEX, needle)
    assert found["index"] >= 0, f"no cell containing {needle!r}"
    cell = page.locator(f"[id='{found['panel']}'] .jp-Notebook .jp-Cell").nth(found["index"])
    output = cell.locator(".jp-OutputArea").first
    try:
        output.locator(selector).first.wait_for(state="visible", timeout=CLICK_TIMEOUT * 1000)
    except Exception as exc:  # noqa: BLE001 - playwright's TimeoutError
        try:
            shown = output.inner_text(timeout=5000).strip()[:600]
        except Exception:  # noqa: BLE001 - no output area at all
            shown = ""
        manager = page.evaluate(bl.JS_WIDGET_MANAGER)
        raise AssertionError(
            f"The {what} did not render as a widget in JupyterLab: the front end shows {shown!r} "
            f"instead of {selector!r}. This happens when the front end and the kernel disagree "
            f"about ipywidgets (or the widget manager is not loaded: "
            f"@jupyter-widgets/jupyterlab-manager loaded = {manager}); {widget_versions()}."
        ) from exc
    output.scroll_into_view_if_needed()
    return output


# ----------------------------------------------------------------------------- tests


def test_device_picker_in_notebook_00(browser, lab):
    with notebook_page(browser, lab, f"notebooks/{NOTEBOOK_00}", "00-device-picker") as page:
        state = run_all(page, NOTEBOOK_00)
        assert state["n"] > 5
        out = widget_output(page, "device_picker()", "button.widget-toggle-button", "device picker")
        buttons = {name: out.get_by_role("button", name=name, exact=True) for name in ("CPU", "GPU", "Auto")}
        for name, button in buttons.items():
            assert button.count() == 1, f"expected one {name!r} button in the device picker"
            assert button.evaluate("b => b.tagName") == "BUTTON"
        status = out.locator(".widget-html-content").last
        page.screenshot(path=str(SHOTS / "00-device-picker-after-run-all.png"))

        gpu = buttons["GPU"]
        if gpu.is_disabled():  # no GPU here: the button says why
            title = gpu.get_attribute("title") or ""
            assert title.startswith("Disabled") and "GPU" in title, title
        sequence = ["CPU", "Auto"] if gpu.is_disabled() else ["CPU", "GPU", "Auto"]
        assert "Selected" in status.inner_text()
        for name in sequence:
            before = status.inner_text()
            buttons[name].click()
            # The status line is rewritten by the kernel (DevicePicker.select): a round trip.
            page.wait_for_function(
                "([el, name]) => el.textContent.includes('Selected ' + name)",
                arg=[status.element_handle(), name],
                timeout=CLICK_TIMEOUT * 1000,
            )
            after = status.inner_text()
            assert after != before, (before, after)
            assert f"Selected {name}" in after, after
            assert f"mmteach.device.use('{name.lower()}')" in after, after
            assert "mod-active" in (buttons[name].get_attribute("class") or ""), f"{name} not pressed"
            others = [n for n in buttons if n != name]
            assert all("mod-active" not in (buttons[n].get_attribute("class") or "") for n in others)
            page.screenshot(path=str(SHOTS / f"00-device-picker-{name.lower()}.png"))
        assert "/CPU:0" in status.inner_text()


def accuracy_shown(out) -> float:
    """The test accuracy the fusion picker prints after a Train click."""
    text = out.inner_text()
    match = re.search(r"Test accuracy:\s*([01]\.\d\d)", text)
    assert match, text[:500]
    return float(match.group(1))


def test_fusion_picker_in_notebook_04(browser, lab):
    with notebook_page(browser, lab, f"notebooks/{NOTEBOOK_04}", "04-fusion-picker") as page:
        run_all(page, NOTEBOOK_04)
        out = widget_output(page, "fusion_picker(encoders", "button", "fusion picker")
        parallel = out.get_by_role("button", name="parallel", exact=True)
        assert "mod-active" in (parallel.get_attribute("class") or ""), "parallel is not the default"
        out.get_by_role("button", name="Train", exact=True).click()
        result = out.get_by_text("Test accuracy:")
        result.wait_for(timeout=RUN_TIMEOUT * 1000)
        accuracy = accuracy_shown(out)
        assert accuracy >= CLAIMED_PARALLEL_ACCURACY, (
            f"the picker shows parallel fusion at {accuracy:.2f}, below the {CLAIMED_PARALLEL_ACCURACY} "
            "that notebook 04 claims"
        )
        table = out.locator("table")
        assert table.count() == 1, "no confusion matrix under the accuracy"
        table.scroll_into_view_if_needed()
        page.screenshot(path=str(SHOTS / "04-fusion-picker-parallel.png"))

        # The confusion matrix fits: the file browser is open, and no column is cut off.
        assert page.locator("#filebrowser").is_visible(), "the file browser should be open"
        fit = table.evaluate(
            """t => {
                 const area = t.closest('.jp-OutputArea-output') || t.parentElement;
                 const cells = t.querySelectorAll('tr:first-child th');
                 return {table: t.getBoundingClientRect().right, area: area.getBoundingClientRect().right,
                         last: cells[cells.length - 1].getBoundingClientRect().right,
                         window: window.innerWidth, columns: cells.length - 1};
               }"""
        )
        assert fit["columns"] == 9, fit
        assert fit["last"] <= min(fit["area"], fit["window"]), f"the ninth column is cut off: {fit}"

        # Weighted fusion with learned weights trains too, and shows its weights.
        out.get_by_role("button", name="weighted", exact=True).click()
        learned = out.get_by_role("button", name="learned", exact=True)
        learned.wait_for(state="visible", timeout=CLICK_TIMEOUT * 1000)  # the Mode row appears
        learned.click()
        out.get_by_text("one learned weight per modality").wait_for(timeout=CLICK_TIMEOUT * 1000)
        out.get_by_role("button", name="Train", exact=True).click()
        out.get_by_text("learned weights").wait_for(timeout=RUN_TIMEOUT * 1000)
        assert 0.0 <= accuracy_shown(out) <= 1.0
        page.screenshot(path=str(SHOTS / "04-fusion-picker-weighted.png"))

"""The live task view in a real JupyterLab (headless Chromium via Playwright; issue #14).

A JupyterLab server (the same way ``tests/test_browser.py`` starts one) opens
``tests/data/live_view.ipynb``, a small notebook that shows a
``minirt.util.TaskStream`` in one cell and runs 20 sleeping tasks under
``minirt.util.progress`` in the next. While the cells run, the test reads the
view's counts (a Bokeh ``Div`` inside the widget) several times a second and
checks that

* the view changes while the tasks run (tasks seen running, then finished),
  and ends at "23 finished" (the 20 tasks, then 3 more with tqdm_ray bars);
* the chart is drawn (a visible ``<canvas>``) and the progress bar is a widget;
* bars made by ``minirt.experimental.tqdm_ray`` inside three tasks show up as
  three widget bars in the driver's cell, each complete;
* the page logs no JavaScript error and no cell shows a Python error.
"""

import json
import os
import re
import secrets
import shutil
import time
from pathlib import Path

import pytest

from test_browser import (CELL_STATE_JS, CHROMIUM, CHROMIUM_FLAGS, free_port, menu_run_all,
                          start_server, stop_server, wait_for_server)

REPO = Path(__file__).resolve().parents[1]
NOTEBOOK = REPO / "tests" / "data" / "live_view.ipynb"
RUN_TIMEOUT = 180

pytestmark = [pytest.mark.browser, pytest.mark.slow, pytest.mark.timeout(RUN_TIMEOUT + 180)]

SUMMARY_JS = """
() => {
  // Bokeh draws its Div inside shadow roots: search them all.
  const found = [];
  const visit = (root) => {
    root.querySelectorAll('.minirt-taskstream-summary').forEach((e) => found.push(e.innerText));
    root.querySelectorAll('*').forEach((e) => { if (e.shadowRoot) visit(e.shadowRoot); });
  };
  visit(document);
  return found;
}
"""


def prepare(root: Path) -> None:
    shutil.copy(NOTEBOOK, root / NOTEBOOK.name)
    settings = root / ".jupyter-test" / "settings" / "@jupyterlab"
    for plugin, values in {
        "notebook-extension/tracker": {"windowingMode": "none", "autoStartDefaultKernel": True},
        "apputils-extension/notification": {"fetchNews": "false", "checkForUpdates": False},
    }.items():
        path = settings / f"{plugin}.jupyterlab-settings"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(values))


def test_task_stream_changes_while_tasks_run(tmp_path):
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found (install Debian's chromium package)")
    sync_api = pytest.importorskip("playwright.sync_api")
    root = tmp_path / "nb"
    root.mkdir()
    prepare(root)
    port, token = free_port(), secrets.token_hex(16)
    log_path = tmp_path / "jupyter.log"
    shot = tmp_path / "live_view.png"
    console_errors, seen = [], []

    with open(log_path, "wb") as log:
        server = start_server(root, port, token, log)
        try:
            wait_for_server(server, port, token)
            with sync_api.sync_playwright() as pw:
                context = pw.chromium.launch_persistent_context(
                    str(tmp_path / "chromium-profile"), executable_path=CHROMIUM, headless=True,
                    args=list(CHROMIUM_FLAGS), viewport={"width": 1400, "height": 1000})
                try:
                    page = context.pages[0] if context.pages else context.new_page()
                    page.on("console", lambda m: console_errors.append(m.text) if m.type == "error" else None)
                    page.on("pageerror", lambda e: console_errors.append(str(e)))
                    page.set_default_timeout(60_000)
                    page.goto(f"http://127.0.0.1:{port}/lab/tree/{NOTEBOOK.name}?token={token}")
                    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
                    try:
                        page.locator(".jp-Dialog .jp-mod-accept").click(timeout=5_000)
                    except sync_api.TimeoutError:
                        pass
                    page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]',
                                           timeout=120_000)
                    menu_run_all(page)
                    deadline = time.monotonic() + RUN_TIMEOUT
                    while True:
                        texts = page.evaluate(SUMMARY_JS)
                        if texts and (not seen or seen[-1] != texts[0]):
                            seen.append(texts[0])
                        cells = page.evaluate(CELL_STATE_JS)
                        prompts = [c["prompt"] for c in cells if c["code"]]
                        idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').count() > 0
                        if idle and prompts and all(p not in ("", "[ ]:", "[*]:") for p in prompts):
                            break
                        if time.monotonic() > deadline:
                            page.screenshot(path=str(shot), full_page=True)
                            pytest.fail(f"the notebook did not finish in {RUN_TIMEOUT} s; "
                                        f"prompts: {prompts}; screenshot: {shot}")
                        time.sleep(0.15)
                    page.wait_for_timeout(800)               # the last update after the work
                    final = page.evaluate(SUMMARY_JS)
                    errors = {i: c["errors"] for i, c in enumerate(cells) if c["errors"]}
                    canvases = page.locator(".jp-OutputArea-output canvas")
                    box = None
                    if canvases.count():
                        canvases.first.scroll_into_view_if_needed()
                        box = canvases.first.bounding_box()
                    outputs = page.evaluate(
                        "() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
                        ".map(e => e.getAttribute('data-mime-type') + ': ' + e.innerText.slice(0, 200))")
                    progress_widgets = page.locator(".jp-OutputArea-output [class*='progress']").count()
                    bar_texts = page.evaluate(
                        r"() => Array.from(document.querySelectorAll('.jp-OutputArea-output'))"
                        r".map(e => e.innerText).filter(t => /steps.\d/.test(t))")
                    page.screenshot(path=str(shot))
                finally:
                    context.close()
        finally:
            stop_server(server)

    print(f"screenshot: {shot}\nstates seen: {json.dumps(seen, indent=1)}\n"
          f"outputs: {json.dumps(outputs, indent=1)}\nconsole: {console_errors}")
    assert not errors, f"cells show errors: {errors}"
    assert not console_errors, f"JavaScript errors in the page: {console_errors}"
    assert box and box["width"] > 200 and box["height"] > 100, "the view's chart was not drawn"
    assert progress_widgets >= 4, "progress() and tqdm_ray did not draw widget bars"
    # tqdm_ray: one bar per task, drawn by the driver, each at 10/10.
    assert len(bar_texts) == 3 and all("10/10" in t for t in bar_texts), bar_texts
    assert final and "23 finished" in final[0], final       # 20 work + 3 steps
    running = [t for t in seen if re.search(r"(?<!\d)[1-9]\d* running", t)]
    assert running, f"the view never showed a task running: {seen}"
    assert len(seen) >= 3, f"the view did not change while the tasks ran: {seen}"

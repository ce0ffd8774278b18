"""End-to-end checks that the course works the way a learner uses it: in JupyterLab.

Headless Debian Chromium, driven by Playwright, talks to real JupyterLab servers:

* ``test_course_script_opens_lesson_00``: ``scripts/course.sh --no-browser`` (as on a
  machine without a browser) prints a URL; opening it shows lesson 00 itself (not
  the Launcher), no "Jupyter news" notification, and no ``*.egg-info`` folder in the
  file browser. The server runs in the repository, as for a learner; nothing is run.
* ``test_run_all_twice[<lesson>]``: for every lesson, Run > Run All Cells reaches
  the last cell with no error shown, and a second Run All (without restarting the
  kernel: set-up cells must be idempotent) does too. Lesson 05 must also draw its
  Bokeh chart. One server serves all lessons, from a temporary copy of lessons/,
  util/ and images/ with the outputs cleared, so every output seen comes from this
  run and nothing lands in the repository. A screenshot of any failure is written
  to a temporary file and its path printed.

All lessons run in the browser (about 3 minutes per Run All pass of the whole
course on a 2-core machine, twice).
"""

import json
import os
import re
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))
from util.plots import CHROMIUM, CHROMIUM_FLAGS  # noqa: E402  (one list of flags for the repo)

LESSONS = sorted(p.name for p in (REPO / "lessons").glob("*.ipynb"))
CHART_LESSON = "05_tasks_revisited.ipynb"  # must draw at least one Bokeh chart
RUN_TIMEOUT = 300  # seconds for one Run All of one lesson (the slowest takes ~90 s alone)

pytestmark = [pytest.mark.browser, pytest.mark.slow]


def _need_browser():
    if not os.path.exists(CHROMIUM):
        pytest.skip(f"{CHROMIUM} not found (install Debian's chromium package)")
    return pytest.importorskip("playwright.sync_api")


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(state: Path) -> dict:
    """Jupyter's per-user folders moved under ``state`` (the venv's settings still apply)."""
    env = dict(os.environ)
    env.update(
        JUPYTER_CONFIG_DIR=str(state / "config"),
        JUPYTER_RUNTIME_DIR=str(state / "runtime"),
        JUPYTERLAB_SETTINGS_DIR=str(state / "settings"),
        JUPYTERLAB_WORKSPACES_DIR=str(state / "workspaces"),
        JUPYTER_PLATFORM_DIRS="1",
    )
    return env


def api(port, token, path, method="GET"):
    req = urllib.request.Request(f"http://127.0.0.1:{port}{path}?token={token}", method=method)
    with urllib.request.urlopen(req, timeout=10) as r:
        body = r.read()
    return json.loads(body) if body else None


def wait_for_server(proc, port, token, timeout=120):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise RuntimeError(f"jupyter lab exited early with code {proc.returncode}")
        try:
            api(port, token, "/api/status")
            return
        except OSError:
            time.sleep(0.5)
    raise TimeoutError(f"jupyter lab did not answer on port {port} within {timeout} s")


def stop_server(proc):
    if proc.poll() is None:
        try:
            os.killpg(proc.pid, signal.SIGTERM)  # the server and the kernels it started
        except ProcessLookupError:
            pass
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=10)


def launch(pw, profile):
    return pw.chromium.launch_persistent_context(
        str(profile), executable_path=CHROMIUM, headless=True, args=list(CHROMIUM_FLAGS),
        viewport={"width": 1400, "height": 1000})


def accept_kernel_dialog(page, sync_api):
    # Should JupyterLab still ask which kernel to use, take the one it proposes.
    try:
        page.locator(".jp-Dialog .jp-mod-accept").click(timeout=5_000)
    except sync_api.TimeoutError:
        pass


# --- the first minutes: scripts/course.sh -----------------------------------------------

def test_course_script_opens_lesson_00(tmp_path):
    sync_api = _need_browser()
    port = free_port()
    log_path = tmp_path / "course.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            ["bash", str(REPO / "scripts" / "course.sh"), "--no-browser", f"--port={port}",
             "--ServerApp.port_retries=0", "--ServerApp.ip=127.0.0.1"],
            cwd=tmp_path, env=isolated_env(tmp_path / "state"), stdout=log,
            stderr=subprocess.STDOUT, start_new_session=True)
        try:
            # What a learner does on a headless machine: copy the URL the script prints.
            deadline = time.monotonic() + 120
            urls = []
            while not urls and time.monotonic() < deadline and proc.poll() is None:
                time.sleep(0.5)
                urls = re.findall(r"http://127\.0\.0\.1:\d+/\S+token=[0-9a-f]+", log_path.read_text())
            assert urls, f"course.sh printed no URL with a token: {log_path.read_text()[-2000:]}"
            url = urls[-1]
            token = url.rsplit("token=", 1)[1]
            assert url.startswith(f"http://127.0.0.1:{port}/lab/tree/lessons/00_overview.ipynb?"), url
            wait_for_server(proc, port, token)
            listing = [item["name"] for item in api(port, token, "/api/contents/")["content"]]
            with sync_api.sync_playwright() as pw:
                context = launch(pw, tmp_path / "profile")
                try:
                    page = context.pages[0] if context.pages else context.new_page()
                    page.set_default_timeout(60_000)
                    page.goto(url)
                    page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
                    accept_kernel_dialog(page, sync_api)
                    title = page.locator(".lm-DockPanel .lm-TabBar-tab.lm-mod-current "
                                         ".lm-TabBar-tabLabel").first.inner_text()
                    launchers = page.locator(".jp-Launcher:visible").count()
                    page.wait_for_timeout(3_000)  # the news question used to pop up after a moment
                    toasts = page.locator(".Toastify__toast").all_inner_texts()
                    browser_names = page.locator(".jp-DirListing-itemName").all_inner_texts()
                    for session in api(port, token, "/api/sessions"):  # leave no kernel behind
                        api(port, token, f"/api/sessions/{session['id']}", method="DELETE")
                finally:
                    context.close()
        finally:
            stop_server(proc)
    assert title == "00_overview.ipynb", f"the page opened on {title!r}, not lesson 00"
    assert launchers == 0, "the Launcher is showing"
    assert not [t for t in toasts if "news" in t.lower()], f"a news notification appeared: {toasts}"
    assert "lessons" in listing and not [n for n in listing if n.endswith(".egg-info")], listing
    assert not [n for n in browser_names if "egg-info" in n], f"file browser shows {browser_names}"


def start_server(root: Path, port: int, token: str, log, state: Path | None = None):
    """Start ``jupyter lab`` over ``root`` on 127.0.0.1:``port`` (its own session, so that
    :func:`stop_server` ends it with its kernels); Jupyter's per-user state under ``state``."""
    cmd = [sys.executable, "-m", "jupyter", "lab", "--no-browser", "--ServerApp.ip=127.0.0.1",
           f"--ServerApp.port={port}", "--ServerApp.port_retries=0",
           f"--ServerApp.root_dir={root}", f"--IdentityProvider.token={token}"]
    if os.geteuid() == 0:  # CI machines run as root; JupyterLab refuses that unless told
        cmd.append("--ServerApp.allow_root=True")
    return subprocess.Popen(cmd, cwd=root, env=isolated_env(state or root / ".jupyter-test"),
                            stdout=log, stderr=subprocess.STDOUT, start_new_session=True)


def menu_run_all(page):
    """Run > Run All Cells, as a learner clicks it."""
    page.locator(".lm-MenuBar-itemLabel", has_text="Run").first.click()
    page.locator(".lm-Menu-itemLabel", has_text="Run All Cells").first.click()


# --- Run All, twice, for every lesson ------------------------------------------------------

@pytest.fixture(scope="module")
def lab(tmp_path_factory):
    """One JupyterLab server over a copy of the course; yields (port, token, root, tmp)."""
    tmp = tmp_path_factory.mktemp("lab")
    root = tmp / "course"
    root.mkdir()
    for name in ("lessons", "util", "images"):
        if (REPO / name).exists():
            shutil.copytree(REPO / name, root / name,
                            ignore=shutil.ignore_patterns(".ipynb_checkpoints", "__pycache__"))
    for nb_path in (root / "lessons").glob("*.ipynb"):
        nb = json.loads(nb_path.read_text(encoding="utf-8"))
        for cell in nb["cells"]:
            if cell["cell_type"] == "code":
                cell["outputs"], cell["execution_count"] = [], None
        nb_path.write_text(json.dumps(nb, indent=1), encoding="utf-8")
    state = tmp / "state"
    # For this server only: attach every cell to the page so that all outputs can be
    # inspected (the default leaves off-screen cells unrendered), and start kernels
    # without asking.
    plugin = state / "settings" / "@jupyterlab" / "notebook-extension" / "tracker.jupyterlab-settings"
    plugin.parent.mkdir(parents=True)
    plugin.write_text(json.dumps({"windowingMode": "none", "autoStartDefaultKernel": True}))
    port, token = free_port(), secrets.token_hex(16)
    log = open(tmp / "jupyter.log", "wb")
    proc = start_server(root, port, token, log, state)
    try:
        wait_for_server(proc, port, token)
        yield port, token, root, tmp
    finally:
        stop_server(proc)
        log.close()


# Runs in the page: one entry per notebook cell, in order.
CELL_STATE_JS = """
() => {
  const cells = Array.from(document.querySelectorAll('.jp-NotebookPanel .jp-Notebook .jp-Cell'));
  return cells.map((cell) => {
    const prompt = cell.querySelector('.jp-InputArea-prompt');
    const errors = Array.from(cell.querySelectorAll(
        '.jp-OutputArea-output[data-mime-type="application/vnd.jupyter.stderr"]'))
      .map((e) => e.innerText)
      .filter((t) => /Traceback|Error/.test(t));
    return {
      code: cell.classList.contains('jp-CodeCell'),
      prompt: prompt ? prompt.innerText.trim() : '',
      errors: errors.map((t) => t.slice(0, 800)),
    };
  });
}
"""


def _numbers(cells):
    """Execution numbers of the code cells (None where a cell has not run)."""
    out = []
    for c in cells:
        if c["code"]:
            m = re.fullmatch(r"\[(\d+)\]:", c["prompt"])
            out.append(int(m.group(1)) if m else None)
    return out


def run_all_and_wait(page, above: int, shot: Path):
    """Run > Run All Cells; wait until every code cell shows a number > ``above`` and the
    kernel is idle. Returns the cells' states."""
    menu_run_all(page)
    deadline = time.monotonic() + RUN_TIMEOUT
    while True:
        time.sleep(2)
        cells = page.evaluate(CELL_STATE_JS)
        numbers = _numbers(cells)
        idle = page.locator('.jp-Notebook-ExecutionIndicator[data-status="idle"]').count() > 0
        if idle and numbers and all(n is not None and n > above for n in numbers):
            return cells
        errors = {i: c["errors"] for i, c in enumerate(cells) if c["errors"]}
        if idle and errors and not all(n is not None and n > above for n in numbers):
            time.sleep(5)  # give Run All a moment: is it still going, or stopped at the error?
            if _numbers(page.evaluate(CELL_STATE_JS)) == numbers:
                page.screenshot(path=str(shot), full_page=True)
                pytest.fail(f"Run All stopped at an error: {errors}; screenshot: {shot}")
        if time.monotonic() > deadline:
            page.screenshot(path=str(shot), full_page=True)
            stuck = [i for i, n in enumerate(numbers) if n is None or n <= above]
            pytest.fail(f"Run All did not reach the end within {RUN_TIMEOUT} s: code cells not run "
                        f"{stuck}; errors shown: {errors}; screenshot: {shot}")


@pytest.mark.timeout(2 * RUN_TIMEOUT + 180)
@pytest.mark.parametrize("lesson", LESSONS)
def test_run_all_twice(lab, lesson):
    sync_api = _need_browser()
    port, token, root, tmp = lab
    shot = Path(tempfile.gettempdir()) / f"minirt-course-{Path(lesson).stem}-{os.getpid()}.png"
    n_cells = len(json.loads((root / "lessons" / lesson).read_text(encoding="utf-8"))["cells"])
    with sync_api.sync_playwright() as pw:
        context = launch(pw, tmp / f"profile-{Path(lesson).stem}")
        try:
            page = context.pages[0] if context.pages else context.new_page()
            page.set_default_timeout(60_000)
            page.goto(f"http://127.0.0.1:{port}/lab/tree/lessons/{lesson}?reset&token={token}")
            page.wait_for_selector(".jp-NotebookPanel .jp-Notebook .jp-Cell")
            accept_kernel_dialog(page, sync_api)
            page.wait_for_selector('.jp-Notebook-ExecutionIndicator[data-status="idle"]', timeout=120_000)

            first = run_all_and_wait(page, 0, shot)
            charts = 0
            if lesson == CHART_LESSON:
                canvases = page.locator(".jp-OutputArea-output canvas")
                for k in range(canvases.count()):
                    canvas = canvases.nth(k)
                    canvas.scroll_into_view_if_needed()
                    box = canvas.bounding_box()
                    if canvas.is_visible() and box and box["width"] > 100 and box["height"] > 100:
                        charts += 1
            second = run_all_and_wait(page, max(_numbers(first)), shot)
            if any(c["errors"] for c in first + second):
                page.screenshot(path=str(shot), full_page=True)
        finally:
            for session in api(port, token, "/api/sessions"):  # this lesson's kernel goes away
                api(port, token, f"/api/sessions/{session['id']}", method="DELETE")
            context.close()

    assert len(first) == n_cells, "the page does not show every cell of the notebook"
    for label, cells in (("first", first), ("second", second)):
        errors = {i: c["errors"] for i, c in enumerate(cells) if c["errors"]}
        assert not errors, f"{label} Run All: cells show errors (screenshot {shot}): {json.dumps(errors, indent=1)}"
    if lesson == CHART_LESSON:
        assert charts >= 1, f"no Bokeh chart was drawn in {lesson} (screenshot: {shot})"

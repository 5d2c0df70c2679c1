"""Helpers for tests/test_browser.py: a throwaway JupyterLab server and headless Chromium.

Everything the server, the kernel and the browser write (config, data, runtime,
settings, workspaces, caches, Chromium's profile) goes into one temporary folder:
HOME and the XDG folders point there too, so the test writes nothing into the real
home folder. The notebooks are copied there (outputs cleared), so JupyterLab's saves
never touch the repository's ``notebooks/``.

Not a test module (no ``test_`` prefix); imported by tests/test_browser.py.
"""

from __future__ import annotations

import json
import os
import secrets
import shutil
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

#: Where Debian's ``chromium`` package installs the browser.
CHROMIUM_CANDIDATES = ("/usr/bin/chromium", "/usr/bin/chromium-browser")

#: Chromium flags: headless, no sandbox (root in containers), and no network chatter.
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]

#: JupyterLab user settings for a quiet, deterministic session: no news or update
#: pop-ups over the widgets, no extension manager fetching from PyPI, no autosave,
#: and every cell attached to the page (no windowing), so locators find all cells.
LAB_SETTINGS = {
    "@jupyterlab/apputils-extension/notification.jupyterlab-settings": {
        "fetchNews": "false",
        "checkForUpdates": False,
        "doNotDisturbMode": True,
    },
    "@jupyterlab/extensionmanager-extension/plugin.jupyterlab-settings": {"enabled": False},
    "@jupyterlab/docmanager-extension/plugin.jupyterlab-settings": {"autosave": False},
    "@jupyterlab/notebook-extension/tracker.jupyterlab-settings": {"windowingMode": "none"},
}


def find_chromium() -> str | None:
    """Path of the system Chromium, or None."""
    for name in ("chromium", "chromium-browser"):
        found = shutil.which(name)
        if found:
            return found
    return next((p for p in CHROMIUM_CANDIDATES if os.access(p, os.X_OK)), None)


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def isolated_env(tmp: Path) -> dict[str, str]:
    """A copy of os.environ whose home-like folders all live under ``tmp``."""
    dirs = {
        "HOME": "home",
        "JUPYTER_CONFIG_DIR": "jupyter/config",
        "JUPYTER_DATA_DIR": "jupyter/data",
        "JUPYTER_RUNTIME_DIR": "jupyter/runtime",
        "JUPYTERLAB_SETTINGS_DIR": "jupyter/lab-settings",
        "JUPYTERLAB_WORKSPACES_DIR": "jupyter/lab-workspaces",
        "IPYTHONDIR": "ipython",
        "MPLCONFIGDIR": "matplotlib",
        "XDG_CONFIG_HOME": "xdg/config",
        "XDG_CACHE_HOME": "xdg/cache",
        "XDG_DATA_HOME": "xdg/data",
        "XDG_STATE_HOME": "xdg/state",
        "XDG_RUNTIME_DIR": "xdg/runtime",
        "KERAS_HOME": "keras",
        "MMTEACH_CACHE": "mmteach-cache",
    }
    env = dict(os.environ)
    for var, sub in dirs.items():
        path = tmp / sub
        path.mkdir(parents=True, exist_ok=True)
        env[var] = str(path)
    os.chmod(tmp / "xdg/runtime", 0o700)
    env.pop("JUPYTER_PATH", None)
    env["JUPYTER_PLATFORM_DIRS"] = "1"
    env["PYTHONNOUSERSITE"] = "1"
    env["TF_CPP_MIN_LOG_LEVEL"] = "2"
    return env


def write_lab_settings(settings_dir: Path) -> None:
    """Write :data:`LAB_SETTINGS` into a JupyterLab user-settings folder."""
    for rel, value in LAB_SETTINGS.items():
        path = settings_dir / rel
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(value, indent=2), encoding="utf-8")


def copy_notebook_cleared(src: Path, dst: Path) -> Path:
    """Copy a notebook without outputs or execution counts, so a run shows only fresh results."""
    import nbformat

    nb = nbformat.read(src, as_version=4)
    for cell in nb.cells:
        if cell.cell_type == "code":
            cell.outputs = []
            cell.execution_count = None
    nb.metadata.pop("widgets", None)
    dst.parent.mkdir(parents=True, exist_ok=True)
    nbformat.write(nb, dst)
    return dst


class JupyterLab:
    """This environment's JupyterLab, on 127.0.0.1 at a free port with a random token.

    Use as a context manager: the server is stopped on exit, whatever happened.

    Parameters
    ----------
    root_dir : folder JupyterLab serves
    tmp : folder for everything the server and its kernels write
    """

    def __init__(self, root_dir: Path, tmp: Path, startup_timeout: float = 120.0) -> None:
        self.root_dir, self.tmp = Path(root_dir), Path(tmp)
        self.startup_timeout = startup_timeout
        self.port = free_port()
        self.token = secrets.token_hex(16)
        self.env = isolated_env(self.tmp)
        self.log_path = self.tmp / "jupyterlab.log"
        self.proc: subprocess.Popen | None = None

    @property
    def base_url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def url(self, path: str) -> str:
        """``base_url + path`` with the token as query parameter."""
        sep = "&" if "?" in path else "?"
        return f"{self.base_url}{path}{sep}token={self.token}"

    def log(self) -> str:
        """The server's log so far (for failure messages)."""
        try:
            return self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""

    def start(self) -> JupyterLab:
        write_lab_settings(Path(self.env["JUPYTERLAB_SETTINGS_DIR"]))
        cmd = [
            sys.executable, "-m", "jupyterlab",
            "--no-browser",
            "--allow-root",
            "--ServerApp.ip=127.0.0.1",
            f"--ServerApp.port={self.port}",
            "--ServerApp.port_retries=0",
            f"--IdentityProvider.token={self.token}",
            f"--ServerApp.root_dir={self.root_dir}",
            "--LabApp.expose_app_in_browser=True",
            "--LabApp.news_url=",
            "--ServerApp.terminals_enabled=False",
        ]  # fmt: skip
        log = open(self.log_path, "wb")  # noqa: SIM115 - closed in stop()
        self._log_file = log
        self.proc = subprocess.Popen(
            cmd, cwd=self.root_dir, env=self.env, stdout=log, stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL, start_new_session=True,
        )  # fmt: skip
        deadline = time.monotonic() + self.startup_timeout
        while time.monotonic() < deadline:
            if self.proc.poll() is not None:
                code = self.proc.returncode
                tail = self.log()[-3000:]
                raise RuntimeError(f"JupyterLab exited with code {code} while starting:\n{tail}")
            try:
                with urllib.request.urlopen(self.url("/api/status"), timeout=5) as response:
                    if response.status == 200:
                        return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                pass
            time.sleep(0.5)
        raise RuntimeError(
            f"JupyterLab did not answer within {self.startup_timeout:.0f} s:\n{self.log()[-3000:]}"
        )

    def stop(self) -> None:
        """Stop the server and its kernels (its whole process group); idempotent."""
        proc, self.proc = self.proc, None
        if proc is not None and proc.poll() is None:
            try:
                # A polite shutdown first, so kernels are told to quit.
                req = urllib.request.Request(self.url("/api/shutdown"), method="POST")
                urllib.request.urlopen(req, timeout=5).close()
                proc.wait(timeout=15)
            except Exception:  # noqa: BLE001 - whatever failed, make sure it ends below
                pass
            for sig in (signal.SIGTERM, signal.SIGKILL):
                if proc.poll() is not None:
                    break
                try:
                    os.killpg(proc.pid, sig)
                except ProcessLookupError:
                    break
                try:
                    proc.wait(timeout=10)
                except subprocess.TimeoutExpired:
                    continue
        if proc is not None:
            # Kernels started by the server share its process group: end stragglers.
            try:
                os.killpg(proc.pid, signal.SIGKILL)
            except (ProcessLookupError, PermissionError):
                pass
        log = getattr(self, "_log_file", None)
        if log is not None and not log.closed:
            log.close()

    def shutdown_kernels(self) -> None:
        """Shut down every session's kernel (frees CPU and memory between tests)."""
        try:
            with urllib.request.urlopen(self.url("/api/sessions"), timeout=10) as response:
                sessions = json.load(response)
            for session in sessions:
                req = urllib.request.Request(self.url(f"/api/sessions/{session['id']}"), method="DELETE")
                urllib.request.urlopen(req, timeout=30).close()
        except (OSError, ValueError):  # the server is gone: nothing left to shut down
            pass

    def __enter__(self) -> JupyterLab:
        try:
            return self.start()
        except BaseException:
            self.stop()
            raise

    def __exit__(self, *exc) -> None:
        self.stop()


# ----------------------------------------------------------------------------- in the page

#: JavaScript run in the page: state of the current notebook's kernel.
JS_KERNEL_STATE = """() => {
  const app = window.jupyterapp;
  const w = app && app.shell.currentWidget;
  const ctx = w && w.sessionContext;
  const kernel = ctx && ctx.session && ctx.session.kernel;
  if (!kernel) return null;
  return {connection: kernel.connectionStatus, status: kernel.status, name: kernel.name,
          ready: ctx.isReady};
}"""

#: JavaScript run in the page: execution progress of the current notebook.
JS_RUN_STATE = """() => {
  const app = window.jupyterapp;
  const w = app.shell.currentWidget;
  const cells = w.content.widgets.filter(c => c.model.type === 'code');
  const out = {n: cells.length, done: 0, running: 0, errors: [], kernel: null};
  const k = w.sessionContext.session && w.sessionContext.session.kernel;
  out.kernel = k ? k.status : null;
  cells.forEach((c, i) => {
    const prompt = c.node.querySelector('.jp-InputPrompt');
    const text = prompt ? prompt.textContent : '';
    if (text.includes('*')) out.running += 1;
    else if (c.model.executionCount !== null) out.done += 1;
    for (const o of c.model.outputs.toJSON()) {
      if (o.output_type === 'error') out.errors.push(
        {cell: i, ename: o.ename, evalue: o.evalue, source: c.model.sharedModel.getSource().slice(0, 200)});
    }
  });
  return out;
}"""

#: JavaScript run in the page: DOM id of the current notebook panel and index (among its
#: cells) of the first cell whose source contains a text.
JS_CELL_INDEX = """(needle) => {
  const w = window.jupyterapp.shell.currentWidget;
  const index = w.content.widgets.findIndex(c => c.model.sharedModel.getSource().includes(needle));
  return {panel: w.id, index: index};
}"""

#: JavaScript run in the page: is the ipywidgets manager plugin loaded in the front end?
JS_WIDGET_MANAGER = """() => {
  const app = window.jupyterapp;
  return app.hasPlugin ? app.hasPlugin('@jupyter-widgets/jupyterlab-manager:plugin') : null;
}"""


def wait_for(page, js: str, ok, timeout: float, what: str, poll: float = 0.5, arg=None):
    """Evaluate ``js`` in ``page`` until ``ok(value)``; return the value or raise TimeoutError."""
    deadline = time.monotonic() + timeout
    value = None
    while time.monotonic() < deadline:
        value = page.evaluate(js) if arg is None else page.evaluate(js, arg)
        if ok(value):
            return value
        time.sleep(poll)
    raise TimeoutError(f"waited {timeout:.0f} s for {what}; last state: {value!r}")

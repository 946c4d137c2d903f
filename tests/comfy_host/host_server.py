"""The real ComfyUI host as a server on 127.0.0.1, for HTTP tests (``/object_info``, ``/prompt``, ...).

``HostServer`` starts ``main.py`` of a prepared tree through ``launcher.py`` in a child process on a
free loopback port, waits until ``/system_stats`` answers, and is always stopped by the pid it
started (``stop`` is idempotent; use it as a context manager).
"""

from __future__ import annotations

import json
import logging
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path
from typing import Any

LOG = logging.getLogger(__name__)
LAUNCHER = Path(__file__).with_name("launcher.py")


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def stop_process(proc: subprocess.Popen[bytes], timeout_s: float = 15.0) -> None:
    """Stop a child process by its pid: terminate, then kill if it has not exited within ``timeout_s``."""
    if proc.poll() is not None:
        return
    proc.terminate()
    try:
        proc.wait(timeout=timeout_s)
    except subprocess.TimeoutExpired:
        proc.kill()
        proc.wait(timeout=timeout_s)


class HostServer:
    """A running host server. ``log_text()`` returns everything it printed so far."""

    def __init__(self, tree: Path, log_path: Path, extra_args: tuple[str, ...] = ()) -> None:
        self.tree = tree
        self.log_path = log_path
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self._extra_args = extra_args
        self._proc: subprocess.Popen[bytes] | None = None

    def start(self, timeout_s: float = 120.0) -> HostServer:
        args = [sys.executable, str(LAUNCHER), str(self.tree), "--cpu", "--listen", "127.0.0.1",
                "--port", str(self.port), "--disable-auto-launch", *self._extra_args]
        with self.log_path.open("wb") as log:
            self._proc = subprocess.Popen(args, stdout=log, stderr=subprocess.STDOUT, cwd=self.tree)
        LOG.info("host server pid %d on %s", self._proc.pid, self.base_url)
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self._proc.poll() is not None:
                raise RuntimeError(f"host server exited with {self._proc.returncode}:\n{self.log_text()}")
            try:
                self.get_json("/system_stats")
                return self
            except (urllib.error.URLError, ConnectionError, TimeoutError):
                time.sleep(0.5)
        self.stop()
        raise TimeoutError(f"host server did not answer within {timeout_s} s:\n{self.log_text()}")

    def stop(self) -> None:
        """Stop the server by the pid this object started (terminate, then kill)."""
        proc, self._proc = self._proc, None
        if proc is not None:
            stop_process(proc)

    def __enter__(self) -> HostServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    @property
    def pid(self) -> int | None:
        return None if self._proc is None else self._proc.pid

    def log_text(self) -> str:
        return self.log_path.read_text(errors="replace") if self.log_path.exists() else ""

    def request(self, path: str, payload: Any = None, timeout_s: float = 30.0) -> tuple[int, bytes]:
        """GET (or POST when ``payload`` is given, as JSON) ``path``; return (status, raw body)."""
        data = None if payload is None else json.dumps(payload).encode()
        req = urllib.request.Request(self.base_url + path, data=data,
                                     headers={"Content-Type": "application/json"})
        try:
            with urllib.request.urlopen(req, timeout=timeout_s) as resp:
                return resp.status, resp.read()
        except urllib.error.HTTPError as err:
            return err.code, err.read()

    def get_json(self, path: str) -> Any:
        status, body = self.request(path)
        if status != 200:
            raise RuntimeError(f"GET {path} answered {status}: {body[:2000]!r}")
        return json.loads(body)

    def queue_prompt(self, prompt: dict[str, Any]) -> tuple[int, Any]:
        """``POST /prompt`` with an API-format prompt; (status, decoded JSON answer)."""
        status, body = self.request("/prompt", {"prompt": prompt, "client_id": "pose-transfer-tests"})
        return status, json.loads(body)

    def wait_history(self, prompt_id: str, timeout_s: float = 120.0) -> dict[str, Any]:
        """Poll ``/history/<prompt_id>`` until the prompt finished; return its history entry."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            history = self.get_json(f"/history/{prompt_id}")
            entry = history.get(prompt_id)
            if entry:  # the host adds the entry once the prompt finished, successfully or not
                return entry
            time.sleep(0.2)
        tail = self.log_text()[-4000:]
        raise TimeoutError(f"prompt {prompt_id} did not finish within {timeout_s} s:\n{tail}")

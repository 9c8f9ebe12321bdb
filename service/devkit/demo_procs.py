"""Child processes of the demo (the IO API emulator and io-bridge itself), and nothing left behind.

Each child runs in its own session (so a terminal's Ctrl-C reaches only the demo, which then
stops the children in order: the service first so it drains, then the emulator, then the broker),
logs to a file, and is recorded in a pid file under the demo's home. A later demo stops whatever
a killed earlier one left there (:func:`stop_stale`), checking the command line first so a
recycled pid is never signalled.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from service.devkit.kafka_local import pid_alive


class DemoError(RuntimeError):
    """A part of the demo could not start or finish; the message says which and why."""


def free_port() -> int:
    """A TCP port nothing listens on at 127.0.0.1 right now."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def command_line(pid: int) -> str:
    """The pid's command line ('' when it is gone or unreadable)."""
    try:
        raw = Path(f"/proc/{pid}/cmdline").read_bytes()
    except OSError:
        return ""
    return raw.replace(b"\0", b" ").decode("utf-8", "replace")


def signal_group(pid: int, sig: signal.Signals) -> None:
    """Send ``sig`` to the process group led by ``pid`` and to ``pid`` itself."""
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


def terminate(pid: int, grace_s: float) -> None:
    """SIGTERM the group, SIGKILL it after ``grace_s``; return once the pid is gone."""
    signal_group(pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    while pid_alive(pid) and time.monotonic() < deadline:
        time.sleep(0.05)
    if pid_alive(pid):
        signal_group(pid, signal.SIGKILL)
        while pid_alive(pid):
            time.sleep(0.05)


def stop_stale(pid_file: Path, marker: str) -> int | None:
    """Stop the process a previous run recorded in ``pid_file`` if it still runs ``marker``."""
    try:
        pid = int(pid_file.read_text().split()[0])
    except (OSError, ValueError, IndexError):
        pid_file.unlink(missing_ok=True)
        return None
    stopped = None
    if pid_alive(pid) and marker in command_line(pid):
        terminate(pid, grace_s=10.0)
        stopped = pid
    pid_file.unlink(missing_ok=True)
    return stopped


@dataclass
class Child:
    """One child process with its log file and pid file."""

    name: str
    argv: Sequence[str]
    env: Mapping[str, str]
    log_path: Path
    pid_path: Path
    cwd: Path | None = None
    proc: subprocess.Popen[bytes] | None = field(default=None, repr=False)

    @property
    def pid(self) -> int | None:
        return self.proc.pid if self.proc is not None else None

    def start(self) -> None:
        self.log_path.parent.mkdir(parents=True, exist_ok=True)
        self.pid_path.parent.mkdir(parents=True, exist_ok=True)
        with self.log_path.open("wb") as log:
            self.proc = subprocess.Popen(
                list(self.argv),
                env=dict(self.env),
                cwd=self.cwd,
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
            )
        self.pid_path.write_text(f"{self.proc.pid}\n")

    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def stop(self, grace_s: float) -> int | None:
        """Stop (gracefully first); return the exit code, None if it never started."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            signal_group(self.proc.pid, signal.SIGTERM)
            try:
                self.proc.wait(grace_s)
            except subprocess.TimeoutExpired:
                signal_group(self.proc.pid, signal.SIGKILL)
        code = self.proc.wait()
        self.pid_path.unlink(missing_ok=True)
        return code

    def log_tail(self, lines: int = 30) -> str:
        try:
            text = self.log_path.read_text(errors="replace")
        except OSError:
            return "(no log)"
        return "\n".join(text.splitlines()[-lines:])


async def wait_http(
    url: str, timeout_s: float, alive: Callable[[], bool], what: str, log_tail: Callable[[], str]
) -> None:
    """Poll ``url`` until it answers 200; fail fast if the process behind it exits."""
    deadline = time.monotonic() + timeout_s
    async with httpx.AsyncClient(timeout=2.0) as client:
        while time.monotonic() < deadline:
            if not alive():
                raise DemoError(f"{what} exited during start-up:\n{log_tail()}")
            with contextlib.suppress(httpx.HTTPError):
                if (await client.get(url)).status_code == 200:
                    return
            await asyncio.sleep(0.2)
    raise DemoError(f"{what} not ready at {url} after {timeout_s:.0f}s:\n{log_tail()}")

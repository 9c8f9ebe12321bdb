"""The demo's child processes: started in their own session, stopped for sure, no leftovers."""

from __future__ import annotations

import signal
import sys
import time
from pathlib import Path

import pytest

from service.devkit.demo_procs import (
    Child,
    DemoError,
    command_line,
    free_port,
    stop_stale,
    wait_http,
)
from service.devkit.kafka_local import pid_alive

SLEEPER = "import time, sys; print('up', flush=True); time.sleep(float(sys.argv[1]))"
STUBBORN = (
    "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN);"
    " print('up', flush=True); time.sleep(60)"
)


def child(tmp_path: Path, code: str, *args: str, name: str = "sleeper") -> Child:
    argv = [sys.executable, "-c", code, *args]
    return Child(name, argv, {}, tmp_path / f"{name}.log", tmp_path / f"{name}.pid")


def wait_for_log(c: Child, text: str) -> None:
    deadline = time.monotonic() + 10
    while text not in c.log_tail() and time.monotonic() < deadline:
        time.sleep(0.02)


def test_a_child_writes_its_pid_file_and_log_and_stops_gracefully(tmp_path: Path) -> None:
    """SIGTERM ends it; the pid file is removed; the log holds its output."""
    c = child(tmp_path, SLEEPER, "60")
    c.start()
    assert c.pid is not None
    assert c.running()
    assert int(c.pid_path.read_text()) == c.pid
    wait_for_log(c, "up")
    assert c.stop(grace_s=5) == -signal.SIGTERM
    assert not c.running()
    assert not c.pid_path.exists()
    assert c.log_tail() == "up"


def test_a_child_that_ignores_sigterm_is_killed_after_the_grace_period(tmp_path: Path) -> None:
    """Nothing is left behind even when the child does not cooperate."""
    c = child(tmp_path, STUBBORN)
    c.start()
    wait_for_log(c, "up")
    began = time.monotonic()
    assert c.stop(grace_s=0.5) == -signal.SIGKILL
    assert time.monotonic() - began < 5
    assert c.pid is not None
    assert not pid_alive(c.pid)


def test_a_stale_pid_file_stops_only_a_process_running_the_expected_command(
    tmp_path: Path,
) -> None:
    """A left-over child is stopped; a pid now used by something else is left alone."""
    c = child(tmp_path, SLEEPER, "60")
    c.start()
    wait_for_log(c, "up")  # exec'd: its command line is its own
    assert c.pid is not None
    assert stop_stale(c.pid_path, "no-such-marker") is None
    assert c.running()
    c.pid_path.write_text(f"{c.pid}\n")
    assert stop_stale(c.pid_path, "time.sleep") == c.pid
    assert not c.pid_path.exists()
    assert c.proc is not None
    c.proc.wait(5)
    assert stop_stale(tmp_path / "missing.pid", "x") is None


def test_the_command_line_of_a_gone_process_is_empty(tmp_path: Path) -> None:
    """``/proc/<pid>/cmdline`` of an exited, reaped process reads as ''."""
    c = child(tmp_path, SLEEPER, "0")
    c.start()
    assert c.proc is not None
    c.proc.wait(10)
    assert c.pid is not None
    assert command_line(c.pid) == ""
    c.stop(grace_s=1)


async def test_waiting_for_http_fails_fast_with_the_log_when_the_process_dies(
    tmp_path: Path,
) -> None:
    """A child that exits during start-up is reported with its log, not after the timeout."""
    c = child(tmp_path, "print('boom: bad config')")
    c.start()
    assert c.proc is not None
    c.proc.wait(10)
    began = time.monotonic()
    with pytest.raises(DemoError, match="boom: bad config"):
        await wait_http(f"http://127.0.0.1:{free_port()}/", 30, c.running, "thing", c.log_tail)
    assert time.monotonic() - began < 5
    c.stop(grace_s=1)


async def test_waiting_for_http_times_out_with_the_address(tmp_path: Path) -> None:
    """Nothing answers: the error names the URL."""
    url = f"http://127.0.0.1:{free_port()}/readyz"
    with pytest.raises(DemoError, match="not ready at"):
        await wait_http(url, 0.5, lambda: True, "thing", lambda: "")

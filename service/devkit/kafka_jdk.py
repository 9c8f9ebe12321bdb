"""The JDK tools the local broker needs, and the launcher's one error type."""

from __future__ import annotations

import shutil


class KafkaLaunchError(RuntimeError):
    """The broker could not be resolved, formatted or started; the message carries its log."""


def jdk_tool(name: str) -> str:
    """The path of ``java``, ``keytool``...: the JDK must be on PATH (17+)."""
    path = shutil.which(name)
    if path is None:
        raise KafkaLaunchError(f"{name} (JDK 17+) is not on PATH")
    return path

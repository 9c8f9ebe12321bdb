"""The local broker's secured mode: SASL users and a throwaway TLS certificate authority.

``BrokerSecurity`` says who may connect (PLAIN, SCRAM-SHA-256 and SCRAM-SHA-512 credentials per
user); ``write_tls`` makes a CA and a broker certificate for 127.0.0.1/localhost with keytool,
which ships with the JDK the broker needs anyway. Used by ``service.devkit.kafka_local``.
"""

from __future__ import annotations

import re
import shutil
import subprocess
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from service.devkit.kafka_jdk import KafkaLaunchError, jdk_tool

SCRAM_MECHANISMS = ("SCRAM-SHA-256", "SCRAM-SHA-512")
READINESS_MECHANISM = "SCRAM-SHA-512"  # proves the SCRAM credentials written at format time
TLS_VALIDITY_DAYS = 30
KEYTOOL_OPTS = ["-J-XX:TieredStopAtLevel=1", "-J-XX:+UseSerialGC"]
# Names and passwords go unquoted into StorageTool's SCRAM_CREDENTIAL syntax and quoted into a
# JAAS line; this alphabet needs no escaping in either.
_CREDENTIAL = re.compile(r"[A-Za-z0-9._-]{1,64}")


@dataclass(frozen=True)
class BrokerSecurity:
    """Secured mode: a SASL_SSL client listener and the users allowed on it.

    Every user gets PLAIN (JAAS), SCRAM-SHA-256 and SCRAM-SHA-512 (formatted into the metadata
    log) credentials. ``store_password`` guards the generated PKCS12 key and trust stores.
    """

    users: Mapping[str, str] = field(default_factory=lambda: {"io-bridge": "io-bridge-secret"})
    store_password: str = "io-bridge-local-store"  # noqa: S105 - guards throwaway test stores

    def __post_init__(self) -> None:
        if not self.users:
            raise ValueError("BrokerSecurity needs at least one user")
        for value in (*self.users, *self.users.values(), self.store_password):
            if not _CREDENTIAL.fullmatch(value):
                raise ValueError(f"use 1-64 characters of [A-Za-z0-9._-], not {value!r}")

    @property
    def default_user(self) -> str:
        """The first user: the launcher's own readiness check and ``client.env`` use it."""
        return next(iter(self.users))

    def plain_jaas_users(self) -> str:
        """``user_NAME="PASSWORD"`` options of PlainLoginModule, one per user."""
        return " ".join(f'user_{name}="{pw}"' for name, pw in self.users.items())

    def scram_format_args(self) -> list[str]:
        """StorageTool ``format`` arguments that create every user's SCRAM credentials."""
        return [
            arg
            for mechanism in SCRAM_MECHANISMS
            for name, pw in self.users.items()
            for arg in ("--add-scram", f"{mechanism}=[name={name},password={pw}]")
        ]


def write_tls(tls_dir: Path, store_password: str) -> None:
    """A throwaway CA and a broker certificate it signs, for 127.0.0.1 and localhost.

    Writes ``broker.p12`` (the broker's key and its chain), ``truststore.p12`` and ``ca.pem``
    (the CA certificate alone). keytool ships with the JDK the broker needs anyway; the CA's
    private key is deleted once it has signed, so nothing can issue another certificate.
    """
    shutil.rmtree(tls_dir, ignore_errors=True)
    tls_dir.mkdir(parents=True)
    keystore, truststore = str(tls_dir / "broker.p12"), str(tls_dir / "truststore.p12")
    ca_pem = str(tls_dir / "ca.pem")
    store = ["-storetype", "PKCS12", "-storepass", store_password]
    key = ["-keyalg", "EC", "-groupname", "secp256r1", "-validity", str(TLS_VALIDITY_DAYS)]
    ca = ["-dname", "CN=io-bridge local test CA", "-ext", "bc:c", "-ext", "ku:c=keyCertSign"]
    broker = ["-dname", "CN=localhost", "-signer", "ca", "-ext", "san=ip:127.0.0.1,dns:localhost"]
    broker += ["-ext", "ku:c=digitalSignature", "-ext", "eku=serverAuth"]
    first = [
        ["-genkeypair", "-alias", "ca", *key, *ca, "-keystore", keystore],
        ["-genkeypair", "-alias", "broker", *key, *broker, "-keystore", keystore],
        ["-exportcert", "-rfc", "-alias", "ca", "-file", ca_pem, "-keystore", keystore],
    ]
    # Then, independent of each other (so side by side): drop the CA's key, build the truststore.
    last = [
        ["-delete", "-alias", "ca", "-keystore", keystore],
        ["-importcert", "-noprompt", "-alias", "ca", "-file", ca_pem, "-keystore", truststore],
    ]
    for step in first:
        _keytool([step], store)
    _keytool(last, store)


def _keytool(steps: list[list[str]], store: list[str]) -> None:
    """Run keytool once per step, all at the same time; fail with the output of a failed one."""
    keytool = jdk_tool("keytool")
    procs = [
        subprocess.Popen(
            [keytool, *KEYTOOL_OPTS, *step, *store],
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            text=True,
        )
        for step in steps
    ]
    outputs = [proc.communicate()[0] for proc in procs]
    for step, proc, output in zip(steps, procs, outputs, strict=True):
        if proc.returncode != 0:
            raise KafkaLaunchError(f"keytool {step[0]} failed:\n{output}")

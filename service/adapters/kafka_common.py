"""Connection settings shared by every aiokafka client io-bridge builds (security, ids).

What each ``IOB_KAFKA_SECURITY_PROTOCOL`` needs (docs/SECURITY.md has the whole story)::

    protocol         TLS   SASL   settings it reads
    PLAINTEXT        -     -      (none)
    SSL              yes   -      IOB_KAFKA_SSL_CAFILE, else the system's CA store
    SASL_PLAINTEXT   -     yes    IOB_KAFKA_SASL_MECHANISM (PLAIN when unset), _USERNAME, _PASSWORD
    SASL_SSL         yes   yes    all of the above

TLS always verifies the broker's certificate chain and that the certificate names the host
in the bootstrap address (aiokafka's ``create_ssl_context`` enforces ``check_hostname``).
Settings that the chosen protocol would silently ignore (credentials without SASL, a CA file
without TLS) are refused, so a forgotten protocol can never downgrade to an open connection.
"""

from __future__ import annotations

import ssl
from pathlib import Path
from typing import Any

from aiokafka.helpers import create_ssl_context

from service.config import Settings
from service.errors import ConfigurationError

TLS_PROTOCOLS = frozenset({"SSL", "SASL_SSL"})
SASL_PROTOCOLS = frozenset({"SASL_PLAINTEXT", "SASL_SSL"})


def connection_config(settings: Settings) -> dict[str, Any]:
    """bootstrap servers, client id, TLS and SASL options for aiokafka constructors.

    Raises :class:`ConfigurationError` for incomplete or contradictory security settings,
    before any connection is tried.
    """
    _check_unused(settings)
    protocol = settings.kafka_security_protocol
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": protocol,
    }
    if protocol in TLS_PROTOCOLS:
        config["ssl_context"] = tls_context(settings.kafka_ssl_cafile)
    if protocol in SASL_PROTOCOLS:
        config |= sasl_options(settings)
    return config


def tls_context(cafile: str | None) -> ssl.SSLContext:
    """A verifying client context trusting ``cafile`` (PEM), or the system's CAs when None."""
    if cafile is not None and not Path(cafile).is_file():
        raise ConfigurationError(f"IOB_KAFKA_SSL_CAFILE={cafile}: no such file")
    try:
        context: ssl.SSLContext = create_ssl_context(cafile=cafile)
    except ssl.SSLError as exc:
        raise ConfigurationError(f"IOB_KAFKA_SSL_CAFILE={cafile}: not a PEM CA: {exc}") from exc
    return context


def sasl_options(settings: Settings) -> dict[str, Any]:
    """aiokafka's SASL options; its ``sasl_plain_*`` names serve SCRAM as well as PLAIN."""
    password = settings.kafka_sasl_password
    secret = password.get_secret_value() if password is not None else ""
    if not settings.kafka_sasl_username or not secret:
        raise ConfigurationError(
            f"IOB_KAFKA_SECURITY_PROTOCOL={settings.kafka_security_protocol} needs "
            "IOB_KAFKA_SASL_USERNAME and IOB_KAFKA_SASL_PASSWORD"
        )
    return {
        "sasl_mechanism": settings.kafka_sasl_mechanism or "PLAIN",
        "sasl_plain_username": settings.kafka_sasl_username,
        "sasl_plain_password": secret,
    }


def _check_unused(settings: Settings) -> None:
    protocol = settings.kafka_security_protocol
    sasl_set = [
        name
        for name, value in (
            ("MECHANISM", settings.kafka_sasl_mechanism),
            ("USERNAME", settings.kafka_sasl_username),
            ("PASSWORD", settings.kafka_sasl_password),
        )
        if value is not None
    ]
    if sasl_set and protocol not in SASL_PROTOCOLS:
        names = ", ".join(f"IOB_KAFKA_SASL_{name}" for name in sasl_set)
        raise ConfigurationError(
            f"{names} set but IOB_KAFKA_SECURITY_PROTOCOL={protocol} does not use SASL "
            "(did you mean SASL_SSL?)"
        )
    if settings.kafka_ssl_cafile is not None and protocol not in TLS_PROTOCOLS:
        raise ConfigurationError(
            f"IOB_KAFKA_SSL_CAFILE set but IOB_KAFKA_SECURITY_PROTOCOL={protocol} does not use "
            "TLS (did you mean SSL or SASL_SSL?)"
        )

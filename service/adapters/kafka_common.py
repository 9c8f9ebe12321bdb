"""Connection settings shared by every aiokafka client io-bridge builds (security, ids)."""

from __future__ import annotations

from typing import Any

from aiokafka.helpers import create_ssl_context

from service.config import Settings


def connection_config(settings: Settings) -> dict[str, Any]:
    """bootstrap servers, client id, TLS and SASL options for aiokafka constructors."""
    config: dict[str, Any] = {
        "bootstrap_servers": settings.kafka_bootstrap_servers,
        "client_id": settings.client_id,
        "security_protocol": settings.kafka_security_protocol,
    }
    if settings.kafka_security_protocol in {"SSL", "SASL_SSL"}:
        config["ssl_context"] = create_ssl_context(cafile=settings.kafka_ssl_cafile)
    if settings.kafka_security_protocol.startswith("SASL"):
        password = settings.kafka_sasl_password
        config |= {
            "sasl_mechanism": settings.kafka_sasl_mechanism or "PLAIN",
            "sasl_plain_username": settings.kafka_sasl_username,
            "sasl_plain_password": password.get_secret_value() if password else None,
        }
    return config

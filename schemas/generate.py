"""Writes the JSON Schema of every topic payload and the AsyncAPI 3.0 document for all topics.

``python -m schemas.generate`` regenerates ``schemas/json/*.schema.json`` and
``schemas/asyncapi.json`` from the pydantic models; ``tests/contract/test_schemas.py`` fails when
the committed files differ from what the models generate.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel

from schemas.events import ClassificationReady, DatasetFailed, PredictionReady, SalesUpdated
from service.config import Settings

HERE = Path(__file__).resolve().parent
JSON_DIR = HERE / "json"
ASYNCAPI = HERE / "asyncapi.json"


def _topics() -> list[tuple[str, str, type[BaseModel], str, str]]:
    """(channel id, default topic, payload model, CloudEvents type, direction)."""
    s = Settings()
    return [
        (
            "salesUpdated",
            s.topic_sales_updated,
            SalesUpdated,
            "com.visma.erp.sales-updated.v1",
            "receive",
        ),
        (
            "predictionReady",
            s.topic_prediction_ready,
            PredictionReady,
            "com.visma.io-bridge.prediction-ready.v1",
            "send",
        ),
        (
            "classificationReady",
            s.topic_classification_ready,
            ClassificationReady,
            "com.visma.io-bridge.classification-ready.v1",
            "send",
        ),
        (
            "datasetFailed",
            s.topic_dataset_failed,
            DatasetFailed,
            "com.visma.io-bridge.dataset-failed.v1",
            "send",
        ),
    ]


def json_schemas() -> dict[str, dict[str, Any]]:
    """File name → JSON Schema (validation mode for input, serialization mode for outputs)."""
    out: dict[str, dict[str, Any]] = {}
    for _, topic, model, ce_type, direction in _topics():
        mode: Literal["validation", "serialization"] = (
            "validation" if direction == "receive" else "serialization"
        )
        schema = model.model_json_schema(by_alias=True, mode=mode)
        schema["$id"] = f"urn:io-bridge:schema:{ce_type}"
        schema["x-topic"] = topic
        out[f"{ce_type.rsplit('.', 2)[-2].split('.')[-1]}.v1.schema.json"] = schema
    return out


def asyncapi() -> dict[str, Any]:
    """The AsyncAPI 3.0 document: channels, messages (CloudEvents binary headers), operations."""
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for channel, topic, model, ce_type, direction in _topics():
        message = f"{channel}Message"
        mode: Literal["validation", "serialization"] = (
            "validation" if direction == "receive" else "serialization"
        )
        messages[message] = {
            "name": ce_type,
            "contentType": "application/json",
            "headers": _ce_headers(ce_type),
            "payload": model.model_json_schema(
                by_alias=True,
                mode=mode,
                ref_template="#/components/schemas/{model}",
            ),
            "bindings": {"kafka": {"key": {"type": "string", "description": "tenantId"}}},
        }
        channels[channel] = {
            "address": topic,
            "messages": {message: {"$ref": f"#/components/messages/{message}"}},
        }
        operations[f"{direction}{channel[0].upper()}{channel[1:]}"] = {
            "action": direction,
            "channel": {"$ref": f"#/channels/{channel}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "io-bridge",
            "version": "1.0.0",
            "description": "ERP sales-updated events in; IO prediction, classification and "
            "dataset-failed events out. Keys are tenantIds; outputs are CloudEvents 1.0 in "
            "binary mode (ce_* headers), inputs may be plain JSON or CloudEvents.",
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages, "schemas": _defs(messages)},
    }


def _ce_headers(ce_type: str) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {
            "ce_specversion": {"type": "string", "const": "1.0"},
            "ce_id": {"type": "string", "description": "deterministic: same inputs, same id"},
            "ce_source": {"type": "string"},
            "ce_type": {"type": "string", "const": ce_type},
            "ce_subject": {"type": "string", "description": "tenantId/datasetId"},
            "ce_time": {"type": "string", "format": "date-time"},
            "content-type": {"type": "string", "const": "application/json"},
        },
    }


def _defs(messages: dict[str, Any]) -> dict[str, Any]:
    """Hoist every payload's $defs into components/schemas (where the $refs point)."""
    defs: dict[str, Any] = {}
    for message in messages.values():
        defs |= message["payload"].pop("$defs", {})
    return dict(sorted(defs.items()))


def rendered() -> dict[Path, str]:
    files = {JSON_DIR / name: _dump(schema) for name, schema in json_schemas().items()}
    files[ASYNCAPI] = _dump(asyncapi())
    return files


def _dump(doc: dict[str, Any]) -> str:
    return json.dumps(doc, indent=2, sort_keys=True) + "\n"


def main() -> int:
    JSON_DIR.mkdir(exist_ok=True)
    for path, text in rendered().items():
        path.write_text(text)
        print(f"wrote {path.relative_to(HERE.parent)}")  # noqa: T201 - a CLI
    return 0


if __name__ == "__main__":
    sys.exit(main())

"""The committed JSON Schemas and AsyncAPI document are what the models generate today."""

from __future__ import annotations

import json

from jsonschema import Draft202012Validator

from schemas.generate import ASYNCAPI, rendered


def test_generated_schema_files_are_up_to_date() -> None:
    """Run `python -m schemas.generate` after changing a payload model."""
    stale = [
        str(p.name) for p, text in rendered().items() if not p.exists() or p.read_text() != text
    ]
    assert stale == []


def test_every_schema_is_a_valid_json_schema_and_asyncapi_names_all_topics() -> None:
    """Each schema passes the 2020-12 meta-schema; AsyncAPI has four channels and operations."""
    for path, text in rendered().items():
        if path != ASYNCAPI:
            Draft202012Validator.check_schema(json.loads(text))
    doc = json.loads(rendered()[ASYNCAPI])
    assert doc["asyncapi"].startswith("3.")
    assert len(doc["channels"]) == 4
    assert {op["action"] for op in doc["operations"].values()} == {"send", "receive"}

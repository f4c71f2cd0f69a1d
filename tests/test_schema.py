"""The published report schema is generated from the models and must not drift."""

import json
from pathlib import Path

import jsonschema

from spyproof.schema import SCHEMAS, render

DOCS = Path(__file__).resolve().parents[1] / "docs" / "schema"


def test_committed_schemas_match_models():
    for name in SCHEMAS:
        committed = (DOCS / name).read_text(encoding="utf-8")
        assert committed == render(name), f"{name} drifted: run `make schema` and commit"


def test_schema_is_valid_draft_2020_12():
    schema = json.loads((DOCS / "report.schema.json").read_text())
    jsonschema.Draft202012Validator.check_schema(schema)
    assert "files" in schema["properties"]
    assert schema["properties"]["schema_version"]["default"]

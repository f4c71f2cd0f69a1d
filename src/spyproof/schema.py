"""Generate the published JSON Schemas from the models: python -m spyproof.schema DIR."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from spyproof.agreement.model import AGREEMENT_SCHEMA_VERSION, Agreement
from spyproof.models import SCHEMA_VERSION, Report

# file -> (model, version, mode): the report is output (serialization), the agreement is
# input a person writes (validation: what the loader accepts)
SCHEMAS = {
    "report.schema.json": (Report, SCHEMA_VERSION, "serialization"),
    "agreement.schema.json": (Agreement, AGREEMENT_SCHEMA_VERSION, "validation"),
}


def render(name: str) -> str:
    model, version, mode = SCHEMAS[name]
    schema = model.model_json_schema(mode=mode)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://spyproof.dev/schema/{version}/{name}"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "docs/schema")
    out.mkdir(parents=True, exist_ok=True)
    for name in SCHEMAS:
        (out / name).write_text(render(name), encoding="utf-8")
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

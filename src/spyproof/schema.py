"""Generate the published JSON Schemas from the models: python -m spyproof.schema DIR."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from spyproof.models import SCHEMA_VERSION, Report

SCHEMAS = {"report.schema.json": Report}


def render(model: type) -> str:
    schema = model.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://spyproof.dev/schema/{SCHEMA_VERSION}/report.schema.json"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    out = Path(argv[1] if len(argv) > 1 else "docs/schema")
    out.mkdir(parents=True, exist_ok=True)
    for name, model in SCHEMAS.items():
        (out / name).write_text(render(model), encoding="utf-8")
        print(out / name)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

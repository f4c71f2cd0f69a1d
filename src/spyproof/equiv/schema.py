"""The published JSON Schema of ``equiv/report.json``:
``python -m spyproof.equiv.schema docs/schema`` writes ``docs/schema/equiv.schema.json``
(a test fails when it drifts from the models)."""

from __future__ import annotations

import json
import sys
from pathlib import Path

from spyproof.equiv.model import EQUIV_SCHEMA_VERSION, EquivReport

SCHEMA_FILE = "equiv.schema.json"


def render_schema() -> str:
    schema = EquivReport.model_json_schema(mode="serialization")
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = f"https://spyproof.dev/schema/{EQUIV_SCHEMA_VERSION}/{SCHEMA_FILE}"
    return json.dumps(schema, indent=2, sort_keys=True) + "\n"


def main(argv: list[str]) -> int:
    target = Path(argv[1] if len(argv) > 1 else "docs/schema") / SCHEMA_FILE
    target.parent.mkdir(parents=True, exist_ok=True)
    target.write_text(render_schema(), encoding="utf-8")
    print(target)
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

"""``examday schema``: the scenario JSON Schema, so editors autocomplete scenario files."""

from __future__ import annotations

import json

from ..scenario.models import Scenario

HELP = "print the scenario JSON Schema (for editors)"
EXAMPLE = "examday schema > scenario.schema.json"


def add_arguments(p) -> None:
    pass


def scenario_schema() -> dict:
    schema = Scenario.model_json_schema()
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "examday scenario"
    return schema


def run(args) -> int:
    print(json.dumps(scenario_schema(), indent=2))
    return 0

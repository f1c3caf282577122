"""``examday schema``: the JSON Schema of scenario *files*, so editors check and autocomplete them.

The pydantic models describe a scenario after template expansion; a file may
also hold ``templates:`` and list entries with ``template:``/``count:``. The
schema here is the models' schema (every field described by its attribute
docstring, units as patterns) widened to exactly that file grammar
(``simulator.scenario.templates``), and SLO names as a pattern.
"""

from __future__ import annotations

import copy
import json

from ..scenario.loader import SLO_NAME
from ..scenario.models import Scenario, unit_pattern
from ..units import _DURATION_UNITS

HELP = "print the scenario JSON Schema (for editors)"
EXAMPLE = "examday schema > scenario.schema.json"

_CONTROL = {
    "template": {"type": "string", "description": "Name of a shape under templates.sites / templates.classrooms "
                                                  "to copy; the entry's own keys are laid over it."},
    "count": {"type": "integer", "minimum": 0, "description": "Number of copies; name them with {n} (1-based, "
                                                              "e.g. 'grundskola-{n:02d}') or {letter} (A, B, ...)."},
}


def add_arguments(p) -> None:
    pass


def _entry(defs: dict, name: str, title: str) -> dict:
    """``name`` as a list entry: its own keys, or ``template``/``count`` with the keys optional."""
    d = copy.deepcopy(defs[name])
    required = d.pop("required", [])
    d["properties"].update(copy.deepcopy(_CONTROL))
    d["anyOf"] = [{"required": ["template"]}, {"required": required}]
    d["title"] = title
    return d


def _shape(defs: dict, name: str, title: str) -> dict:
    """``name`` as a template shape: any of its keys, none required."""
    d = copy.deepcopy(defs[name])
    d.pop("required", None)
    d["title"] = title
    d["description"] = f"A reusable {name.lower()} shape: any {name.lower()} keys, none required."
    return d


def scenario_schema() -> dict:
    schema = Scenario.model_json_schema()
    defs = schema["$defs"]
    defs["ClassroomEntry"] = _entry(defs, "Classroom", "Classroom or classroom template entry")
    defs["SiteEntry"] = _entry(defs, "Site", "Site or site template entry")
    defs["ClassroomShape"] = _shape(defs, "Classroom", "Classroom template")
    defs["SiteShape"] = _shape(defs, "Site", "Site template")
    for site in ("SiteEntry", "SiteShape"):
        defs[site]["properties"]["classrooms"]["items"] = {"$ref": "#/$defs/ClassroomEntry"}
    schema["properties"]["sites"]["items"] = {"$ref": "#/$defs/SiteEntry"}
    tpl = defs["Templates"]["properties"]
    tpl["classrooms"]["additionalProperties"] = {"$ref": "#/$defs/ClassroomShape"}
    tpl["sites"]["additionalProperties"] = {"$ref": "#/$defs/SiteShape"}
    slo = schema["properties"]["slo"]
    slo["propertyNames"] = {"pattern": SLO_NAME.pattern}
    slo["additionalProperties"] = {"anyOf": [
        {"type": "string", "pattern": unit_pattern(_DURATION_UNITS), "examples": ["5 min"]},
        {"type": "string", "pattern": r"^\s*(?:[0-9]+(?:\.[0-9]*)?|\.[0-9]+)\s*%?\s*$", "examples": ["95 %"]},
        {"type": "number", "minimum": 0}]}
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "examday scenario"
    return schema


def run(args) -> int:
    print(json.dumps(scenario_schema(), indent=2))
    return 0

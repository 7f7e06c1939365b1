"""The JSON Schema of the spec language, for editors (yaml-language-server) and tools.

Generated from the pydantic models, then sharpened with what pydantic cannot know: the
columns each built-in op accepts (an if/then per op, so editors complete and check them) and
that a variant file (``extends:``) needs none of the otherwise required keys."""

from __future__ import annotations

import json

from .models import RESERVED_ROW_KEYS, Spec
from .registry import builtin_ops

SCHEMA_ID = "https://archc.dev/schema/archc.schema.json"

_TYPES = {
    "int": {"type": "integer"},
    "int2": {"type": "integer"},  # or a [height, width] pair: see _column
    "float": {"type": "number"},
    "bool": {"type": "boolean"},
    "str": {"type": "string"},
    "floats": {"type": "array", "items": {"anyOf": [{"type": "number"}, {"type": "string"}]}},
    "ints": {"type": "array", "items": {"anyOf": [{"type": "integer"}, {"type": "string"}]}},
}
_EXPR = {"type": "string", "description": "an expression, e.g. make_divisible(32 * width)"}


def _column(param) -> dict:
    base = dict(_TYPES[param.type])
    if param.choices:
        base = {"enum": list(param.choices)}
    if param.minimum is not None and param.type in ("int", "float"):
        base["minimum"] = param.minimum
    if param.maximum is not None and param.type in ("int", "float"):
        base["maximum"] = param.maximum
    if param.type == "int2" and not param.choices:
        base["minimum"] = param.minimum
        item = {k: v for k, v in base.items() if v is not None}
        base = {"anyOf": [item, {"type": "array", "items": item, "minItems": 2,
                                 "maxItems": 2, "description": "[height, width]"}]}
    options = [base] if param.type in ("str", "floats", "ints") else [base, _EXPR]
    if param.type == "str" and param.choices:
        options.append({"type": "string", "description": "a block parameter's name"})
    doc = param.doc + ("" if param.required else f" (default: {param.default!r})")
    return {"anyOf": options, "description": doc}


def _op_rules() -> list[dict]:
    rules = []
    for name, op in sorted(builtin_ops().items()):
        props = {key: True for key in RESERVED_ROW_KEYS}
        props.update({p.name: _column(p) for p in op.params})
        required = [p.name for p in op.params if p.required]
        then = {"properties": props, "additionalProperties": False}
        if required:
            then["required"] = required
        rules.append({"if": {"properties": {"op": {"const": name}}, "required": ["op"]},
                      "then": then})
    return rules


def json_schema() -> dict:
    """The schema as a dict (deterministic)."""
    schema = Spec.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["$id"] = SCHEMA_ID
    required = schema.pop("required", [])
    # A variant states only what differs from its base.
    schema["anyOf"] = [{"required": ["extends"]}, {"required": required}]
    row = schema["$defs"]["Row"]
    ops = sorted(builtin_ops())
    row["properties"]["op"] = {
        "anyOf": [{"enum": ops}, {"type": "string", "pattern": "^[a-z_][a-z0-9_]*$",
                                  "description": "a block defined under 'blocks:'"}],
        "description": "Operator or block type of the row.",
    }
    row["allOf"] = _op_rules()
    return schema


def schema_text() -> str:
    """The committed form: sorted keys, two-space indent, trailing newline."""
    return json.dumps(json_schema(), indent=2, sort_keys=True) + "\n"

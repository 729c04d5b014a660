"""Quick acceptance of JSON documents by a small subset of JSON Schema.

``compile_schema`` turns a schema that uses only ``type``, ``const`` (a string),
``properties``, ``required``, ``items`` (one schema) and ``patternProperties`` into a plain
Python predicate, a few microseconds per document where ``jsonschema`` takes tens. Any other
keyword makes it return None: such schemas are left to ``jsonschema``.

The predicate is never more permissive than ``jsonschema``: what it accepts, ``jsonschema``
accepts. It may refuse a few documents that ``jsonschema`` accepts (an integer written as
``1.0``, a number that is not a plain ``int`` or ``float``), so a refusal is only a reason to
ask ``jsonschema``, never an answer by itself.
"""

from __future__ import annotations

import re
from typing import Any, Callable, Dict, List, Optional

Check = Callable[[Any], bool]

SUPPORTED = frozenset({"type", "const", "properties", "required", "items", "patternProperties"})


def _is_number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _is_integer(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


TYPES: Dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "null": lambda v: v is None,
    "boolean": lambda v: isinstance(v, bool),
    "number": _is_number,
    "integer": _is_integer,
}


def compile_schema(schema: Any) -> Optional[Check]:
    """A predicate that accepts only documents valid under ``schema``; None when ``schema``
    uses more than the supported subset."""
    if not isinstance(schema, dict) or not schema.keys() <= SUPPORTED:
        return None
    checks: List[Check] = []

    if "type" in schema:
        names = schema["type"] if isinstance(schema["type"], list) else [schema["type"]]
        if not all(isinstance(n, str) and n in TYPES for n in names):
            return None
        tests = [TYPES[n] for n in names]
        checks.append(tests[0] if len(tests) == 1 else lambda v: any(test(v) for test in tests))

    if "const" in schema:
        const = schema["const"]
        if not isinstance(const, str):
            return None
        checks.append(lambda v: isinstance(v, str) and v == const)

    if "required" in schema:
        required = schema["required"]
        if not isinstance(required, list) or not all(isinstance(k, str) for k in required):
            return None
        checks.append(lambda v: not isinstance(v, dict) or all(k in v for k in required))

    if "properties" in schema:
        if not isinstance(schema["properties"], dict):
            return None
        properties: Dict[str, Check] = {}
        for key, sub in schema["properties"].items():
            check = compile_schema(sub)
            if check is None:
                return None
            properties[key] = check
        pairs = list(properties.items())

        def check_properties(v: Any) -> bool:
            if isinstance(v, dict):
                for key, check in pairs:
                    if key in v and not check(v[key]):
                        return False
            return True

        checks.append(check_properties)

    if "patternProperties" in schema:
        if not isinstance(schema["patternProperties"], dict):
            return None
        patterns = []
        for pattern, sub in schema["patternProperties"].items():
            check = compile_schema(sub)
            if check is None:
                return None
            patterns.append((re.compile(pattern), check))

        def check_patterns(v: Any) -> bool:
            if not isinstance(v, dict):
                return True
            for key, value in v.items():
                if not isinstance(key, str):
                    return False  # not JSON: left to jsonschema
                for regex, check in patterns:
                    if regex.search(key) and not check(value):
                        return False
            return True

        checks.append(check_patterns)

    if "items" in schema:
        item = compile_schema(schema["items"])
        if item is None:
            return None
        checks.append(lambda v: not isinstance(v, list) or all(item(x) for x in v))

    if not checks:
        return lambda v: True
    if len(checks) == 1:
        return checks[0]
    return lambda v: all(check(v) for check in checks)


def all_of(*checks: Optional[Check]) -> Optional[Check]:
    """A predicate accepting what every one of ``checks`` accepts; None if any is None."""
    found = [c for c in checks if c is not None]
    if len(found) != len(checks):
        return None
    return lambda v: all(check(v) for check in found)

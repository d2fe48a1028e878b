"""JSON Schema of the policy language, with each check's params schema attached.

Editors (VS Code's YAML extension, JetBrains) use it for completion and validation:
`# yaml-language-server: $schema=policy.schema.json`.
"""

from __future__ import annotations

from typing import Any

from ..controls.registry import CheckRegistry, default_registry
from .model import PolicyDocument


def policy_json_schema(registry: CheckRegistry | None = None) -> dict[str, Any]:
    registry = registry or default_registry()
    schema = PolicyDocument.model_json_schema(by_alias=True)
    schema["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    schema["title"] = "mrm-gate policy (apiVersion mrm-gate/v1)"
    control = schema["$defs"]["Control"]
    names = registry.names()
    control["properties"]["check"]["anyOf"] = [{"enum": names}, {"type": "null"}]
    branches = []
    for name in names:
        chk = registry.get(name)
        params = chk.params.model_json_schema(by_alias=True)
        defs = params.pop("$defs", {})
        for key, value in defs.items():
            schema["$defs"].setdefault(f"{name}.{key}", value)
        params = _rebase_refs(params, name)
        params["description"] = chk.summary
        branches.append({"if": {"properties": {"check": {"const": name}}, "required": ["check"]},
                         "then": {"properties": {"params": params}}})
    control["allOf"] = branches
    return schema


def _rebase_refs(node: Any, prefix: str) -> Any:
    if isinstance(node, dict):
        return {k: (f"#/$defs/{prefix}.{v.split('/')[-1]}" if k == "$ref" else
                    _rebase_refs(v, prefix)) for k, v in node.items()}
    if isinstance(node, list):
        return [_rebase_refs(x, prefix) for x in node]
    return node

"""Custom resources (Strimzi, Altinity) validated against the operators' own CRD schemas.

The CRDs are not kept in this repository: pass folders that hold them (the operators'
release bundles: Strimzi's packaging/install/cluster-operator/04*-Crd-*.yaml, Altinity's
deploy/helm/clickhouse-operator/crds/*.yaml). Each custom resource of the rendered manifests
is checked against the openAPIV3Schema of its kind and served version, with unknown fields
refused as the API server's strict field validation (kubectl's default) refuses them.

Run: .venv/bin/python deploy/checks/crds.py RENDERED.yaml CRD_DIR [CRD_DIR ...]
Exit 0 when every custom resource of a known kind is valid, 1 otherwise; kinds without a CRD
in the folders are listed as unchecked.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

import jsonschema  # type: ignore[import-untyped]  # no stubs installed
import yaml  # type: ignore[import-untyped]  # no stubs installed

CORE_GROUPS = {"", "apps", "batch", "policy", "networking.k8s.io", "rbac.authorization.k8s.io"}


def load_crds(folders: list[Path]) -> dict[tuple[str, str], dict[str, Any]]:
    """(apiVersion, kind) -> the JSON schema of that version."""
    schemas: dict[tuple[str, str], dict[str, Any]] = {}
    for folder in folders:
        for path in sorted(folder.rglob("*.yaml")):
            for doc in yaml.safe_load_all(path.read_text()):
                if not isinstance(doc, dict) or doc.get("kind") != "CustomResourceDefinition":
                    continue
                spec = doc["spec"]
                for version in spec.get("versions", []):
                    schema = version.get("schema", {}).get("openAPIV3Schema")
                    if version.get("served") and schema:
                        schemas[(f"{spec['group']}/{version['name']}", spec["names"]["kind"])] = strict(schema)
    return schemas


def strict(schema: Any) -> Any:
    """The schema with unknown fields refused wherever the CRD declares its fields."""
    if isinstance(schema, list):
        return [strict(item) for item in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: strict(value) for key, value in schema.items()}
    if out.get("x-kubernetes-int-or-string"):
        out.pop("type", None)
        out.setdefault("anyOf", [{"type": "integer"}, {"type": "string"}])
    if ("properties" in out and "additionalProperties" not in out
            and not out.get("x-kubernetes-preserve-unknown-fields")):
        out["additionalProperties"] = False
    return out


def check(rendered: Path, folders: list[Path]) -> tuple[list[str], set[str], int]:
    """(problems, kinds without a CRD, resources checked)."""
    schemas = load_crds(folders)
    problems: list[str] = []
    unchecked: set[str] = set()
    checked = 0
    for doc in yaml.safe_load_all(rendered.read_text()):
        if not isinstance(doc, dict):
            continue
        api, kind = doc.get("apiVersion", ""), doc.get("kind", "")
        if (api.rpartition("/")[0] if "/" in api else "") in CORE_GROUPS:
            continue
        schema = schemas.get((api, kind))
        if schema is None:
            unchecked.add(f"{api} {kind}")
            continue
        checked += 1
        body = {k: v for k, v in doc.items() if k != "metadata"}  # metadata is the API server's
        for error in jsonschema.Draft7Validator(schema).iter_errors(body):
            where = "/".join(str(p) for p in error.absolute_path)
            problems.append(f"{kind} {doc['metadata']['name']}: {where}: {error.message[:200]}")
    return problems, unchecked, checked


def main(argv: list[str]) -> int:
    if len(argv) < 3:
        print(__doc__, file=sys.stderr)
        return 2
    problems, unchecked, checked = check(Path(argv[1]), [Path(a) for a in argv[2:]])
    for problem in problems:
        print(f"crds: {problem}", file=sys.stderr)
    for kind in sorted(unchecked):
        print(f"crds: no CRD given for {kind}: not checked", file=sys.stderr)
    print(f"crds: {checked} custom resources checked, {len(problems)} problem(s)")
    return 1 if problems or not checked else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))

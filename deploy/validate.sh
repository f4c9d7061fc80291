#!/usr/bin/env bash
# Validates deploy/ offline, with what installs here (no container engine, no cluster, no
# schema downloads at run time). Exit 0 when every check that could run passed; a check whose
# tool is missing says so and is counted as skipped, never as passed.
#
#   bash deploy/validate.sh
#
# 1. The kustomize renderings (base, overlays/national), by kubectl's built-in kustomize.
# 2. Core Kubernetes kinds, strict schema validation (unknown fields refused) against the
#    Kubernetes 1.33 JSON schemas of the PyPI package kubernetes-validate.
# 3. Strimzi and Altinity custom resources against the operators' CRD schemas, if
#    UCWATCH_CRD_DIRS names folders holding them (colon-separated; see deploy/README.md,
#    Validation); without them, the structural checks of tests/unit/test_deploy.py.
# 4. The compose file, with the loader of `docker compose config` (compose-go): the docker
#    compose plugin if present, else compose-go built once from the Go module proxy.
# 5. The ClickHouse cluster DDL (deploy/checks/clickhouse_ddl.py) on chDB.
# 6. tests/unit/test_deploy.py.
set -uo pipefail
REPO=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
PY=${PYTHON:-$REPO/.venv/bin/python}
CACHE=${UCWATCH_VALIDATE_CACHE:-$HOME/.cache/ucwatch/validate}
K8S_VERSION=${UCWATCH_K8S_VERSION:-1.33.0}
WORK=$(mktemp -d)
trap 'rm -rf "$WORK"' EXIT
passed=() failed=() skipped=()
step() { echo; echo "== $*"; }
ok() { passed+=("$1"); echo "ok: $1"; }
bad() { failed+=("$1"); echo "FAILED: $1"; }
skip() { skipped+=("$1"); echo "skipped: $1"; }

step "1. kustomize"
if command -v kubectl >/dev/null; then
    for target in base overlays/national; do
        out="$WORK/$(basename "$target").yaml"
        if kubectl kustomize "$REPO/deploy/k8s/$target" > "$out"; then
            ok "kustomize $target ($(grep -c '^kind:' "$out") objects)"
        else bad "kustomize $target"; fi
    done
else skip "kustomize (no kubectl)"; fi

step "2. core kinds (kubernetes-validate, strict, Kubernetes $K8S_VERSION)"
if "$PY" -c 'import kubernetes_validate' 2>/dev/null && ls "$WORK"/*.yaml >/dev/null 2>&1; then
    for rendered in "$WORK"/*.yaml; do
        if "$PY" -m kubernetes_validate --strict --quiet --no-warn -k "$K8S_VERSION" "$rendered"; then
            ok "core kinds of $(basename "$rendered" .yaml)"
        else bad "core kinds of $(basename "$rendered" .yaml)"; fi
    done
else skip "core kinds (needs kubectl and: .venv/bin/pip install kubernetes-validate==1.37.0)"; fi

step "3. custom resources against the operators' CRDs"
if [[ -n ${UCWATCH_CRD_DIRS:-} ]] && ls "$WORK"/*.yaml >/dev/null 2>&1; then
    IFS=: read -r -a crd_dirs <<< "$UCWATCH_CRD_DIRS"
    for rendered in "$WORK"/*.yaml; do
        if "$PY" "$REPO/deploy/checks/crds.py" "$rendered" "${crd_dirs[@]}"; then
            ok "custom resources of $(basename "$rendered" .yaml)"
        else bad "custom resources of $(basename "$rendered" .yaml)"; fi
    done
else skip "CRD schemas (set UCWATCH_CRD_DIRS; the structural checks run in step 6)"; fi

step "4. compose"
compose_config=()
if docker compose version >/dev/null 2>&1; then
    compose_config=(docker compose config --quiet -f)
elif command -v go >/dev/null; then
    checker="$CACHE/compose-config"
    if [[ ! -x $checker ]]; then
        mkdir -p "$CACHE/src" && cp "$REPO/deploy/checks/compose_config.go" "$CACHE/src/main.go"
        (cd "$CACHE/src" && printf 'module composeconfig\n\ngo 1.24\n' > go.mod \
            && GOFLAGS=-mod=mod go get github.com/compose-spec/compose-go/v2@v2.16.2 >/dev/null 2>&1 \
            && GOFLAGS=-mod=mod go build -o "$checker" .) || echo "could not build compose-go's loader"
    fi
    [[ -x $checker ]] && compose_config=("$checker")
fi
if (( ${#compose_config[@]} )); then
    # The env files and secrets the file names must exist: made in a copy, then thrown away.
    cp -r "$REPO/deploy/compose" "$WORK/compose" && rm -f "$WORK"/compose/secrets/*.{env,password,pem,crt,key,jaas,json}
    if bash "$WORK/compose/make-secrets.sh" >/dev/null 2>&1 \
        && (cd "$WORK/compose" && "${compose_config[@]}" compose.yaml >/dev/null); then
        ok "compose.yaml (${compose_config[0]##*/})"
    else bad "compose.yaml"; fi
else skip "compose.yaml (no docker compose plugin and no Go)"; fi

step "5. ClickHouse cluster DDL on chDB"
if "$PY" "$REPO/deploy/checks/clickhouse_ddl.py" ucwatch; then ok "ClickHouse DDL"; else bad "ClickHouse DDL"; fi

step "6. tests/unit/test_deploy.py"
if (cd "$REPO" && "$PY" -m pytest -q tests/unit/test_deploy.py); then ok "test_deploy"; else bad "test_deploy"; fi

echo
echo "validate: ${#passed[@]} passed, ${#failed[@]} failed, ${#skipped[@]} skipped"
for s in "${skipped[@]}"; do echo "  skipped: $s"; done
for f in "${failed[@]}"; do echo "  FAILED: $f"; done
(( ${#failed[@]} == 0 ))

#!/usr/bin/env bash
# Makes the files compose.yaml reads from secrets/ for a single host: a private CA, the
# broker's and the registry's certificates, a random SCRAM password per Kafka principal,
# ClickHouse passwords (hashes for the server, DSNs for the clients). Existing files are
# kept, so running it again only fills what is missing. Needs openssl and python3.
#   bash deploy/compose/make-secrets.sh            (then: docker compose -f deploy/compose/compose.yaml up -d)
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/secrets"
umask 077
random() { python3 -c 'import secrets; print(secrets.token_hex(24))'; }
sha256() { printf '%s' "$1" | sha256sum | cut -d' ' -f1; }
if [[ ! -f ca.key ]]; then
    openssl req -x509 -newkey rsa:3072 -nodes -days 825 -subj "/CN=ucwatch single-host CA" \
        -keyout ca.key -out ca.crt 2>/dev/null
fi
cp ca.crt kafka-ca.crt && cp ca.crt registry-ca.crt
for host in kafka registry; do
    [[ -f $host.pem ]] && continue
    openssl req -newkey rsa:3072 -nodes -subj "/CN=$host" -keyout "$host.key" -out "$host.csr" 2>/dev/null
    openssl x509 -req -in "$host.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
        -extfile <(printf 'subjectAltName=DNS:%s,DNS:localhost' "$host") -out "$host.crt" 2>/dev/null
    openssl pkcs8 -topk8 -nocrypt -in "$host.key" -out "$host.pk8"
    cat "$host.pk8" "$host.crt" > "$host.pem"
    rm -f "$host.csr" "$host.pk8"
done
cp kafka.pem kafka-server.pem
while read -r name _; do
    [[ -z $name || $name == \#* ]] && continue
    [[ -f kafka-$name.password ]] || random > "kafka-$name.password"
done < ../principals.txt
if [[ ! -f clickhouse.env ]]; then
    sink=$(random) analyst=$(random)
    printf 'CLICKHOUSE_SINK_PASSWORD_SHA256=%s\nCLICKHOUSE_ANALYST_PASSWORD_SHA256=%s\n' \
        "$(sha256 "$sink")" "$(sha256 "$analyst")" > clickhouse.env
    printf 'UCWATCH_CLICKHOUSE_DSN=http://ucwatch_sink:%s@clickhouse:8123\n' "$sink" > sink.env
    printf 'UCWATCH_CLICKHOUSE_DSN=http://ucwatch_analyst:%s@clickhouse:8123\nUCWATCH_CLICKHOUSE_ANALYST_DSN=http://ucwatch_analyst:%s@clickhouse:8123\n' \
        "$analyst" "$analyst" > console.env
fi
[[ -f kafka-registry.jaas ]] || printf 'APICURIO_KAFKA_COMMON_SASL_JAAS_CONFIG=org.apache.kafka.common.security.scram.ScramLoginModule required username="ucwatch-registry" password="%s";\n' \
    "$(tr -d '\n' < kafka-ucwatch-registry.password)" > kafka-registry.jaas
[[ -f console-users.json ]] || echo '{}' > console-users.json
# Owner root, group 10001, mode 0640: the containers run with that group (compose.yaml,
# group_add), and each sees only the files its service lists under `secrets:`.
chmod 0640 ./*
chgrp 10001 ./* 2>/dev/null || echo "make-secrets: could not give the files group 10001 (not root?): do it before starting" >&2
chmod 0644 README.md
chmod 0600 ca.key ca.srl 2>/dev/null || true  # the CA key signs; no container needs it
echo "secrets in $(pwd)"

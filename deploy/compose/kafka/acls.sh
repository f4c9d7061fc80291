#!/usr/bin/env bash
# One-shot (compose service kafka-setup): the ACLs of principals.txt and the ingestion
# topics, as ucwatch-admin.
# Idempotent: adding an ACL that exists changes nothing.
set -euo pipefail
CLIENT=/tmp/admin.properties
cat > "$CLIENT" <<PROPS
security.protocol=SASL_SSL
sasl.mechanism=SCRAM-SHA-512
sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="ucwatch-admin" password="$(tr -d '\n' < /run/secrets/kafka-ucwatch-admin.password)";
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/kafka-ca.crt
PROPS
chmod 600 "$CLIENT"
while read -r name rules; do
    [[ -z $name || $name == \#* || -z ${rules:-} ]] && continue
    for rule in $rules; do
        IFS=: read -r type resource pattern operations <<< "$rule"
        args=()
        for op in ${operations//,/ }; do args+=(--operation "$op"); done
        /opt/kafka/bin/kafka-acls.sh --bootstrap-server kafka:9093 --command-config "$CLIENT" --add \
            --allow-principal "User:$name" "--$type" "$resource" --resource-pattern-type "$pattern" "${args[@]}" >/dev/null
    done
    echo "acls: $name"
done < /ucwatch/principals.txt

# The agencies' ingestion topics (not in ucwatch's settings yet; `ucwatch topics create`, run
# by the compose service topics, makes the others), co-partitioned with ucwatch.lifecycle.
for agency in cbp ice orr prs eoir; do
    /opt/kafka/bin/kafka-topics.sh --bootstrap-server kafka:9093 --command-config "$CLIENT" --create --if-not-exists \
        --topic "ucwatch.ingest.$agency" --partitions 6 --replication-factor 1 --config retention.ms=315360000000 >/dev/null
done
echo "topics: ucwatch.ingest.{cbp,ice,orr,prs,eoir}"

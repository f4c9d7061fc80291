#!/usr/bin/env bash
# Single-host Kafka (KRaft, one node that is broker and controller) for compose.yaml:
# SASL_SSL with SCRAM-SHA-512 on 9093 for every client, the controller on loopback only.
# The first start formats the storage with a SCRAM credential per principal of
# principals.txt, each password read from /run/secrets/kafka-<principal>.password.
set -euo pipefail
CONF=/tmp/server.properties
DATA=/var/lib/kafka/data
secret() { tr -d '\n' < "/run/secrets/$1"; }
ADMIN_PASSWORD=$(secret kafka-ucwatch-admin.password)
cat > "$CONF" <<PROPS
process.roles=broker,controller
node.id=1
controller.quorum.bootstrap.servers=127.0.0.1:9095
controller.listener.names=CONTROLLER
listeners=SASL_SSL://0.0.0.0:9093,CONTROLLER://127.0.0.1:9095
advertised.listeners=SASL_SSL://kafka:9093
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:PLAINTEXT
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="ucwatch-admin" password="$ADMIN_PASSWORD";
ssl.keystore.type=PEM
ssl.keystore.location=/run/secrets/kafka-server.pem
ssl.truststore.type=PEM
ssl.truststore.location=/run/secrets/kafka-ca.crt
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
# ANONYMOUS is the node itself on the loopback controller listener, unreachable from outside.
super.users=User:ucwatch-admin;User:ANONYMOUS
allow.everyone.if.no.acl.found=false
auto.create.topics.enable=false
log.dirs=$DATA
offsets.topic.replication.factor=1
transaction.state.log.replication.factor=1
transaction.state.log.min.isr=1
PROPS
chmod 600 "$CONF"
if [[ ! -f $DATA/meta.properties ]]; then
    scram=()
    while read -r name _; do
        [[ -z $name || $name == \#* ]] && continue
        scram+=(--add-scram "SCRAM-SHA-512=[name=$name,password=$(secret "kafka-$name.password")]")
    done < /ucwatch/principals.txt
    /opt/kafka/bin/kafka-storage.sh format --standalone -t "$(/opt/kafka/bin/kafka-storage.sh random-uuid)" \
        -c "$CONF" "${scram[@]}"
fi
exec /opt/kafka/bin/kafka-server-start.sh "$CONF"

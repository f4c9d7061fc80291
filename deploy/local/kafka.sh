#!/usr/bin/env bash
# Local Apache Kafka (KRaft, no ZooKeeper) for ucwatch development and tests.
#
# Usage: deploy/local/kafka.sh COMMAND [ARGS]
#   fetch                         resolve the Kafka jars into the cache (once)
#   start [--brokers 1|3] [--secure] [--timeout S]
#                                 fetch if needed, configure, format (first time only),
#                                 start the node(s) and wait until they serve clients.
#                                 Without --secure: PLAINTEXT, no authentication (demo only).
#                                 --secure (fixed at the first start of a home folder): TLS
#                                 and SASL/SCRAM-SHA-512, ACLs, one principal per agency and
#                                 role; CA, certificates and passwords made in the home folder
#   stop                          stop every node (SIGTERM, SIGKILL after 60 s)
#   status                        one line per node; exit 0 all running, 1 some, 3 none
#   stop-node N | start-node N    stop / start one node of the running setup
#   bootstrap                     print the bootstrap string of the current setup
#   client-env PRINCIPAL          (--secure) print UCWATCH_KAFKA_* settings for a principal,
#                                 e.g. export $(deploy/local/kafka.sh client-env ucwatch-worker)
#   reset                         stop, then delete the home folder (not the cache)
#
# Environment:
#   UCWATCH_KAFKA_HOME   configs, data, logs, pid files
#                        (default <repo>/.ucwatch/kafka; one node-N subfolder per node)
#   UCWATCH_KAFKA_PORT   first broker port (default 9092). Brokers listen on PORT..PORT+n-1,
#                        their controllers on PORT+1000..PORT+1000+n-1, all on 127.0.0.1.
#   UCWATCH_KAFKA_CACHE  jar cache (default $HOME/.cache/ucwatch/kafka-4.4.0)
#   UCWATCH_PYTHON       (--secure) the Python with ucwatch installed that creates the
#                        ACLs and ingestion topics (default <repo>/.venv/bin/python)
# See deploy/local/README.md.
set -euo pipefail

KAFKA_VERSION=4.4.0
SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
REPO_DIR=$(cd "$SCRIPT_DIR/../.." && pwd)
POM="$SCRIPT_DIR/kafka-pom.xml"
LOG4J2_CONFIG="$SCRIPT_DIR/log4j2.yaml"
CACHE_DIR=${UCWATCH_KAFKA_CACHE:-$HOME/.cache/ucwatch/kafka-$KAFKA_VERSION}
LIB_DIR="$CACHE_DIR/libs"
FETCH_MARKER="$CACHE_DIR/fetch-complete"
KAFKA_HOME_DIR=${UCWATCH_KAFKA_HOME:-$REPO_DIR/.ucwatch/kafka}
SETUP_FILE="$KAFKA_HOME_DIR/setup.env"     # brokers / port / cluster id of this home folder
CONTROLLER_OFFSET=1000
STOP_TIMEOUT=60
START_TIMEOUT=90
# --secure: TLS material and passwords in the home folder (docs/security.md).
TLS_DIR="$KAFKA_HOME_DIR/tls"
CREDENTIALS_DIR="$KAFKA_HOME_DIR/credentials"
ADMIN=ucwatch-admin
BROKER_PRINCIPAL=ucwatch-broker   # the nodes' certificate (CN), on the controller listener only
# Must equal ucwatch.core.kafka_acls.PRINCIPALS (a unit test compares them).
PRINCIPALS=(ucwatch-admin ucwatch-agency-cbp ucwatch-agency-ice ucwatch-agency-orr ucwatch-agency-prs
    ucwatch-agency-eoir ucwatch-worker ucwatch-ticker ucwatch-sink ucwatch-notifier ucwatch-console
    ucwatch-analyst)

die() { echo "kafka.sh: $*" >&2; exit 1; }
say() { echo "kafka.sh: $*"; }

usage() {
    sed -n '2,/^set -euo/{/^set -euo/d;s/^# \{0,1\}//;p}' "${BASH_SOURCE[0]}"
}

require_java() {
    command -v java >/dev/null 2>&1 \
        || die "java not found on PATH; install a JDK 17+ (e.g. apt-get install openjdk-17-jdk-headless)"
}

# ----------------------------------------------------------------------------- fetch

pom_digest() { sha256sum "$POM" | cut -d' ' -f1; }

fetched() { [[ -f $FETCH_MARKER && $(cat "$FETCH_MARKER") == "$(pom_digest)" ]]; }

cmd_fetch() {
    require_java
    if fetched; then
        [[ ${1:-} == quiet ]] || say "jars already in $LIB_DIR ($(find "$LIB_DIR" -name '*.jar' | wc -l) jars)"
        return 0
    fi
    command -v mvn >/dev/null 2>&1 \
        || die "mvn not found on PATH; install Maven 3.8+ (e.g. apt-get install maven) to fetch Kafka"
    mkdir -p "$CACHE_DIR"
    # One fetch at a time per cache folder (parallel test runs share the cache).
    exec 8>"$CACHE_DIR/.fetch.lock"
    flock 8
    if fetched; then
        exec 8>&-
        [[ ${1:-} == quiet ]] || say "jars already in $LIB_DIR"
        return 0
    fi
    local tmp="$CACHE_DIR/libs.tmp.$$" started=$SECONDS
    rm -rf "$tmp"
    say "fetching Kafka $KAFKA_VERSION jars with Maven into $LIB_DIR ..."
    # -q leaves only errors; sed strips the colour codes Maven prints even in batch mode.
    if ! mvn -q -B -f "$POM" dependency:copy-dependencies \
            -DoutputDirectory="$tmp" -DincludeScope=runtime 2>&1 | sed -e $'s/\x1b\\[[0-9;]*m//g'; then
        rm -rf "$tmp"
        die "mvn could not resolve the Kafka jars (see the output above; network or ~/.m2 settings?)"
    fi
    compgen -G "$tmp/kafka_2.13-$KAFKA_VERSION.jar" >/dev/null \
        || { rm -rf "$tmp"; die "mvn finished but kafka_2.13-$KAFKA_VERSION.jar is missing in $tmp"; }
    rm -rf "$LIB_DIR"
    mv "$tmp" "$LIB_DIR"
    pom_digest >"$FETCH_MARKER"
    exec 8>&-
    say "fetched $(find "$LIB_DIR" -name '*.jar' | wc -l) jars in $((SECONDS - started)) s"
}

# ----------------------------------------------------------------------------- setup

load_setup() {   # sets BROKERS PORT CLUSTER_ID SECURE from the home folder; fails when absent
    [[ -f $SETUP_FILE ]] || return 1
    SECURE=0   # homes made before --secure existed have no SECURE line
    # shellcheck disable=SC1090
    source "$SETUP_FILE"
    [[ $SECURE =~ ^[01]$ ]] || die "$SETUP_FILE is damaged; run reset"
    [[ ${BROKERS:-} =~ ^[13]$ && ${PORT:-} =~ ^[0-9]+$ ]] || die "$SETUP_FILE is damaged; run reset"
}

node_dir() { echo "$KAFKA_HOME_DIR/node-$1"; }
broker_port() { echo $((PORT + $1 - 1)); }
controller_port() { echo $((PORT + CONTROLLER_OFFSET + $1 - 1)); }

bootstrap() {
    local n out=""
    for ((n = 1; n <= BROKERS; n++)); do out+="${out:+,}127.0.0.1:$(broker_port "$n")"; done
    echo "$out"
}

write_config() {   # write_config N
    local n=$1 dir voters="" i rf isr
    dir=$(node_dir "$n")
    for ((i = 1; i <= BROKERS; i++)); do voters+="${voters:+,}$i@127.0.0.1:$(controller_port "$i")"; done
    if ((BROKERS == 3)); then rf=3 isr=2; else rf=1 isr=1; fi
    mkdir -p "$dir/data"
    (umask 077; : >"$dir/server.properties") && chmod 600 "$dir/server.properties"   # --secure: it holds the admin's password
    cat >"$dir/server.properties" <<EOF
# Written by deploy/local/kafka.sh on every start; edits are lost.
process.roles=broker,controller
node.id=$n
controller.quorum.voters=$voters
$(if ((SECURE)); then secure_listeners "$n"; else plaintext_listeners "$n"; fi)
log.dirs=$dir/data
# Topics are created explicitly (ucwatch topics create) with their partition counts; a
# silently auto-created one-partition topic would hide a misconfigured name.
auto.create.topics.enable=false
num.partitions=1
default.replication.factor=$rf
min.insync.replicas=$isr
offsets.topic.replication.factor=$rf
transaction.state.log.replication.factor=$rf
transaction.state.log.min.isr=$isr
group.initial.rebalance.delay.ms=0
num.network.threads=2
num.io.threads=4
EOF
}

plaintext_listeners() {
    cat <<EOF
listeners=PLAINTEXT://127.0.0.1:$(broker_port "$1"),CONTROLLER://127.0.0.1:$(controller_port "$1")
advertised.listeners=PLAINTEXT://127.0.0.1:$(broker_port "$1")
controller.listener.names=CONTROLLER
listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT
inter.broker.listener.name=PLAINTEXT
EOF
}

secure_listeners() {   # clients: SASL_SSL + SCRAM; controllers: TLS with the nodes' certificate
    cat <<EOF
listeners=SASL_SSL://127.0.0.1:$(broker_port "$1"),CONTROLLER://127.0.0.1:$(controller_port "$1")
advertised.listeners=SASL_SSL://127.0.0.1:$(broker_port "$1")
controller.listener.names=CONTROLLER
listener.security.protocol.map=SASL_SSL:SASL_SSL,CONTROLLER:SSL
inter.broker.listener.name=SASL_SSL
sasl.enabled.mechanisms=SCRAM-SHA-512
sasl.mechanism.inter.broker.protocol=SCRAM-SHA-512
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=org.apache.kafka.common.security.scram.ScramLoginModule required username="$ADMIN" password="$(<"$CREDENTIALS_DIR/$ADMIN.password")";
ssl.keystore.type=PEM
ssl.keystore.location=$TLS_DIR/broker.pem
ssl.truststore.type=PEM
ssl.truststore.location=$TLS_DIR/ca.crt
# Only a node (its certificate, signed by this CA) may talk to the controllers.
listener.name.controller.ssl.client.auth=required
ssl.principal.mapping.rules=RULE:^CN=([a-z0-9-]+)\$/\$1/,DEFAULT
authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer
super.users=User:$ADMIN;User:$BROKER_PRINCIPAL
allow.everyone.if.no.acl.found=false
EOF
}

make_secrets() {   # CA, the nodes' certificate, a password per principal; keeps what exists
    command -v openssl >/dev/null 2>&1 || die "openssl not found on PATH; --secure needs it for the certificates"
    # Keys, passwords and every child's data: for this user only.
    chmod 700 "$KAFKA_HOME_DIR"
    (
        umask 077
        mkdir -p "$TLS_DIR" "$CREDENTIALS_DIR"
        cd "$TLS_DIR"
        if [[ ! -f ca.crt ]]; then
            openssl req -x509 -newkey rsa:2048 -nodes -days 825 -subj "/CN=ucwatch local CA" \
                -keyout ca.key -out ca.crt 2>/dev/null || die "openssl could not make the CA"
            rm -f broker.pem
        fi
        if [[ ! -f broker.pem ]]; then
            openssl req -newkey rsa:2048 -nodes -subj "/CN=$BROKER_PRINCIPAL" -keyout broker.key \
                -out broker.csr 2>/dev/null || die "openssl could not make the broker key"
            openssl x509 -req -in broker.csr -CA ca.crt -CAkey ca.key -CAcreateserial -days 825 \
                -extfile <(printf 'subjectAltName=IP:127.0.0.1,DNS:localhost\nextendedKeyUsage=serverAuth,clientAuth\n') \
                -out broker.crt 2>/dev/null || die "openssl could not sign the broker certificate"
            openssl pkcs8 -topk8 -nocrypt -in broker.key -out broker.pk8
            cat broker.pk8 broker.crt >broker.pem
            rm -f broker.csr broker.pk8
        fi
        chmod 644 ca.crt
        local name
        for name in "${PRINCIPALS[@]}"; do
            [[ -s $CREDENTIALS_DIR/$name.password ]] || openssl rand -hex 24 >"$CREDENTIALS_DIR/$name.password"
        done
    )
}

scram_args() {   # fills SCRAM_ARGS: the credentials written into the metadata at format time
    local name
    SCRAM_ARGS=()
    for name in "${PRINCIPALS[@]}"; do
        SCRAM_ARGS+=(--add-scram "SCRAM-SHA-512=[name=$name,password=$(<"$CREDENTIALS_DIR/$name.password")]")
    done
}

python_bin() {
    local py=${UCWATCH_PYTHON:-$REPO_DIR/.venv/bin/python}
    [[ -x $py ]] || py=$(command -v python3) || die "no Python found; set UCWATCH_PYTHON to one with ucwatch installed"
    echo "$py"
}

apply_acls() {   # the ACLs and the agencies' ingestion topics, as the admin (idempotent)
    local py out rf=1
    ((BROKERS == 3)) && rf=3
    py=$(python_bin)
    if ! out=$("$py" -m ucwatch.core.kafka_acls --bootstrap "$(bootstrap)" --credentials "$CREDENTIALS_DIR" \
            --ca "$TLS_DIR/ca.crt" --replication-factor "$rf" 2>&1); then
        echo "$out" >&2
        die "the ACLs could not be created (the nodes keep running; run start again to retry, or stop)"
    fi
    say "$out"
}

jvm_opts() {   # jvm_opts HEAP: fills the JVM_OPTS array
    JVM_OPTS=("-Xmx$1" -Xms128m -XX:+UseG1GC -XX:MaxGCPauseMillis=20
        -XX:InitiatingHeapOccupancyPercent=35 -XX:+ExitOnOutOfMemoryError
        -Djava.awt.headless=true "-Dlog4j2.configurationFile=$LOG4J2_CONFIG" -cp "$LIB_DIR/*")
}

kafka_tool() {   # kafka_tool ARGS... : a short-lived Kafka tool in the foreground
    jvm_opts 256m
    java "${JVM_OPTS[@]}" "$@"
}

format_node() {
    local n=$1 dir
    dir=$(node_dir "$n")
    [[ -f $dir/data/meta.properties ]] && return 0
    say "formatting storage of node $n"
    SCRAM_ARGS=()
    ((SECURE)) && scram_args
    kafka_tool kafka.tools.StorageTool format -t "$CLUSTER_ID" -c "$dir/server.properties" \
        "${SCRAM_ARGS[@]+"${SCRAM_ARGS[@]}"}" \
        >"$dir/format.log" 2>&1 || { cat "$dir/format.log" >&2; die "formatting node $n failed"; }
}

# ----------------------------------------------------------------------------- processes

node_pid() {   # prints the pid of node N when it runs; status 1 otherwise
    local pidfile pid
    pidfile="$(node_dir "$1")/kafka.pid"
    [[ -f $pidfile ]] || return 1
    pid=$(<"$pidfile")
    [[ $pid =~ ^[0-9]+$ ]] || return 1
    # The pid must still be our java process (pids are reused after a reboot or crash).
    [[ -r /proc/$pid/cmdline ]] || return 1
    tr '\0' ' ' <"/proc/$pid/cmdline" | grep -qF -- "$(node_dir "$1")/server.properties" || return 1
    echo "$pid"
}

port_open() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

node_ready() {   # the broker accepts connections and has logged its start
    local dir
    dir=$(node_dir "$1")
    port_open "$(broker_port "$1")" || return 1
    grep -qE 'Kafka Server started|Transition from STARTING to STARTED' "$dir/server.log" 2>/dev/null
}

check_ports_free() {   # node N's ports must not be served by anything else
    local p
    for p in "$(broker_port "$1")" "$(controller_port "$1")"; do
        port_open "$p" && die "port $p (node $1) is already in use by another process;" \
            "set UCWATCH_KAFKA_PORT (and UCWATCH_KAFKA_HOME) to run elsewhere"
    done
    return 0
}

launch_node() {   # start node N in the background; does not wait
    local n=$1 dir heap pid
    dir=$(node_dir "$n")
    if pid=$(node_pid "$n"); then
        say "node $n already running (pid $pid, port $(broker_port "$n"))"
        return 0
    fi
    check_ports_free "$n"
    if ((BROKERS == 3)); then heap=384m; else heap=512m; fi
    [[ -f $dir/server.log ]] && mv -f "$dir/server.log" "$dir/server.log.1"
    # setsid + nohup: the node survives the terminal or the Python caller that started it.
    # Output goes to the log file only, so no caller pipe is held open.
    jvm_opts "$heap"
    (
        # Close every inherited descriptor but 0-2 (our locks, a caller's pipes).
        for fd in /proc/$BASHPID/fd/*; do
            fd=${fd##*/}
            if ((fd > 2)); then eval "exec $fd>&-"; fi
        done
        exec setsid nohup java "${JVM_OPTS[@]}" kafka.Kafka "$dir/server.properties" \
            >"$dir/server.log" 2>&1 </dev/null
    ) &
    echo $! >"$dir/kafka.pid"
    say "node $n starting (pid $!, broker 127.0.0.1:$(broker_port "$n"), controller port $(controller_port "$n"), heap $heap)"
}

wait_ready() {   # wait_ready TIMEOUT N...
    local timeout=$1 n pending deadline=$((SECONDS + $1))
    shift
    pending=("$@")
    while ((${#pending[@]})); do
        local still=()
        for n in "${pending[@]}"; do
            # Until the starting subshell has exec'd java, its pid is alive but not yet "ours".
            if ! node_pid "$n" >/dev/null && ! kill -0 "$(cat "$(node_dir "$n")/kafka.pid" 2>/dev/null)" 2>/dev/null; then
                echo "kafka.sh: node $n exited during start; last lines of $(node_dir "$n")/server.log:" >&2
                tail -n 40 "$(node_dir "$n")/server.log" >&2 || true
                rm -f "$(node_dir "$n")/kafka.pid"
                exit 1
            fi
            node_ready "$n" || still+=("$n")
        done
        pending=("${still[@]+"${still[@]}"}")
        ((${#pending[@]})) || break
        if ((SECONDS >= deadline)); then
            for n in "${pending[@]}"; do
                echo "kafka.sh: node $n not ready after $timeout s; last lines of $(node_dir "$n")/server.log:" >&2
                tail -n 40 "$(node_dir "$n")/server.log" >&2 || true
            done
            die "start timed out (the nodes keep running; see the logs, or run stop)"
        fi
        sleep 0.5
    done
}

pid_alive() {   # running and not a zombie
    local stat
    stat=$(cat "/proc/$1/stat" 2>/dev/null) || return 1
    stat=${stat##*) }
    [[ ${stat%% *} != Z ]]
}

stop_nodes() {   # SIGTERM all given nodes, wait, SIGKILL the stragglers
    local n pid pids=() nodes=() deadline=$((SECONDS + STOP_TIMEOUT)) killed=0 i alive
    for n in "$@"; do
        if pid=$(node_pid "$n"); then
            kill -TERM "$pid" 2>/dev/null || true
            pids+=("$pid") nodes+=("$n")
            say "stopping node $n (pid $pid)"
        fi
    done
    while :; do
        alive=()
        for i in "${!pids[@]}"; do pid_alive "${pids[$i]}" && alive+=("$i"); done
        ((${#alive[@]})) || break
        if ((SECONDS >= deadline)); then
            ((killed)) && die "node(s) still alive after SIGKILL: pid(s) $(for i in "${alive[@]}"; do printf '%s ' "${pids[$i]}"; done)"
            for i in "${alive[@]}"; do
                say "node ${nodes[$i]} did not stop within $STOP_TIMEOUT s; killing it (SIGKILL)"
                kill -KILL "${pids[$i]}" 2>/dev/null || true
            done
            killed=1 deadline=$((SECONDS + 10))
        fi
        sleep 0.5
    done
    for n in "$@"; do rm -f "$(node_dir "$n")/kafka.pid"; done
    ((${#pids[@]})) && say "stopped node(s) ${nodes[*]}" || true
}

# ----------------------------------------------------------------------------- commands

cmd_start() {
    local brokers="" timeout=$START_TIMEOUT n secure=""
    while (($#)); do
        case $1 in
            --brokers) brokers=${2:-}; shift 2 || die "--brokers needs a value" ;;
            --brokers=*) brokers=${1#*=}; shift ;;
            --timeout) timeout=${2:-}; shift 2 || die "--timeout needs a value" ;;
            --timeout=*) timeout=${1#*=}; shift ;;
            --secure) secure=1; shift ;;
            *) die "start: unknown argument '$1' (usage: start [--brokers 1|3] [--secure] [--timeout S])" ;;
        esac
    done
    [[ -z $brokers || $brokers =~ ^[13]$ ]] || die "--brokers must be 1 or 3"
    [[ $timeout =~ ^[0-9]+$ ]] || die "--timeout must be a number of seconds"
    local port=${UCWATCH_KAFKA_PORT:-9092}
    [[ $port =~ ^[0-9]+$ ]] && ((port >= 1024 && port + CONTROLLER_OFFSET + 2 <= 65535)) \
        || die "UCWATCH_KAFKA_PORT=$port is not a usable port (1024..$((65535 - CONTROLLER_OFFSET - 2)))"

    if load_setup; then
        # This home folder already holds a setup; its size is fixed by the formatted data.
        if [[ -n $brokers && $brokers != "$BROKERS" ]]; then
            die "$KAFKA_HOME_DIR holds a $BROKERS-broker setup; run reset first (deletes its data)" \
                "or use another UCWATCH_KAFKA_HOME"
        fi
        # The SCRAM credentials are written at format time, so a home stays what it was made.
        if [[ -n $secure ]] && ((!SECURE)); then
            die "$KAFKA_HOME_DIR holds an insecure (PLAINTEXT) setup; run reset first (deletes its data)" \
                "or use another UCWATCH_KAFKA_HOME"
        fi
        local running=0
        for ((n = 1; n <= BROKERS; n++)); do node_pid "$n" >/dev/null && running=$((running + 1)); done
        if ((running == BROKERS)); then
            say "already running ($BROKERS node(s)); bootstrap: $(bootstrap)"
            say_mode
            return 0
        fi
        if ((running == 0)); then
            PORT=$port   # nothing runs, so the port may change
        elif [[ $port != "$PORT" && -n ${UCWATCH_KAFKA_PORT:-} ]]; then
            say "nodes run on port $PORT; ignoring UCWATCH_KAFKA_PORT=$port"
        fi
    else
        BROKERS=${brokers:-1} PORT=$port CLUSTER_ID="" SECURE=${secure:-0}
    fi

    for ((n = 1; n <= BROKERS; n++)); do
        node_pid "$n" >/dev/null || check_ports_free "$n"
    done
    mkdir -p "$KAFKA_HOME_DIR"
    if [[ -z ${CLUSTER_ID:-} ]]; then
        CLUSTER_ID=$(kafka_tool kafka.tools.StorageTool random-uuid 2>/dev/null | tail -n 1)
        [[ $CLUSTER_ID =~ ^[A-Za-z0-9_-]{22}$ ]] || die "could not create a cluster id ($CLUSTER_ID)"
    fi
    printf 'BROKERS=%s\nPORT=%s\nCLUSTER_ID=%s\nSECURE=%s\n' "$BROKERS" "$PORT" "$CLUSTER_ID" "$SECURE" >"$SETUP_FILE"
    if ((SECURE)); then make_secrets; fi
    say_mode

    local started=$SECONDS nodes=()
    for ((n = 1; n <= BROKERS; n++)); do
        node_pid "$n" >/dev/null && continue
        write_config "$n"
        format_node "$n"
        nodes+=("$n")
    done
    for n in "${nodes[@]}"; do launch_node "$n"; done
    wait_ready "$timeout" "${nodes[@]}"
    if ((SECURE)); then apply_acls; fi
    say "ready after $((SECONDS - started)) s; bootstrap: $(bootstrap)"
}

say_mode() {   # which kind of setup this home folder is, at every start
    if ((SECURE)); then
        say "secured: TLS (CA $TLS_DIR/ca.crt), SASL/SCRAM-SHA-512, ACLs; a client's settings: client-env PRINCIPAL"
    else
        echo "kafka.sh: WARNING: insecure: PLAINTEXT, no authentication, no ACLs; any local process may read and write every topic as anyone (demo only; start --secure for TLS, SCRAM and ACLs)" >&2
    fi
}

cmd_client_env() {
    load_setup || die "no Kafka set up in $KAFKA_HOME_DIR"
    ((SECURE)) || die "$KAFKA_HOME_DIR is an insecure (PLAINTEXT) setup: no principals; only UCWATCH_KAFKA_BOOTSTRAP=$(bootstrap)"
    local name=${1:-}
    [[ -n $name && -f $CREDENTIALS_DIR/$name.password ]] \
        || die "client-env needs a principal: ${PRINCIPALS[*]}"
    printf '%s\n' "UCWATCH_KAFKA_BOOTSTRAP=$(bootstrap)" "UCWATCH_KAFKA_SECURITY_PROTOCOL=SASL_SSL" \
        "UCWATCH_KAFKA_SASL_MECHANISM=SCRAM-SHA-512" "UCWATCH_KAFKA_SASL_USERNAME=$name" \
        "UCWATCH_KAFKA_SASL_PASSWORD_FILE=$CREDENTIALS_DIR/$name.password" \
        "UCWATCH_KAFKA_CA_LOCATION=$TLS_DIR/ca.crt"
}

cmd_stop() {
    if ! load_setup; then
        say "nothing set up in $KAFKA_HOME_DIR; nothing to stop"
        return 0
    fi
    local nodes=() n
    for ((n = 1; n <= BROKERS; n++)); do nodes+=("$n"); done
    local any=0
    for n in "${nodes[@]}"; do node_pid "$n" >/dev/null && any=1; done
    if ((!any)); then
        for n in "${nodes[@]}"; do rm -f "$(node_dir "$n")/kafka.pid"; done
        say "not running"
        return 0
    fi
    stop_nodes "${nodes[@]}"
}

cmd_status() {
    if ! load_setup; then
        echo "no Kafka set up in $KAFKA_HOME_DIR"
        return 3
    fi
    local n pid running=0
    for ((n = 1; n <= BROKERS; n++)); do
        if pid=$(node_pid "$n"); then
            running=$((running + 1))
            printf 'node %s: running  pid %-7s broker 127.0.0.1:%s  controller port %s\n' \
                "$n" "$pid" "$(broker_port "$n")" "$(controller_port "$n")"
        else
            printf 'node %s: stopped  pid %-7s broker 127.0.0.1:%s  controller port %s\n' \
                "$n" "-" "$(broker_port "$n")" "$(controller_port "$n")"
        fi
    done
    echo "bootstrap: $(bootstrap)   home: $KAFKA_HOME_DIR   $( ((SECURE)) && echo "secured (SASL_SSL)" || echo "insecure (PLAINTEXT)")"
    ((running == BROKERS)) && return 0
    ((running == 0)) && return 3
    return 1
}

node_arg() {   # validates N against the current setup
    load_setup || die "no Kafka set up in $KAFKA_HOME_DIR; run start first"
    [[ ${1:-} =~ ^[0-9]+$ ]] && (($1 >= 1 && $1 <= BROKERS)) \
        || die "node must be a number from 1 to $BROKERS"
}

cmd_stop_node() {
    node_arg "${1:-}"
    if ! node_pid "$1" >/dev/null; then
        rm -f "$(node_dir "$1")/kafka.pid"
        say "node $1 is not running"
        return 0
    fi
    stop_nodes "$1"
}

cmd_start_node() {
    node_arg "${1:-}"
    local timeout=${2:-$START_TIMEOUT} pid
    if pid=$(node_pid "$1"); then
        say "node $1 already running (pid $pid)"
        return 0
    fi
    cmd_fetch quiet
    local started=$SECONDS
    write_config "$1"
    format_node "$1"
    launch_node "$1"
    wait_ready "$timeout" "$1"
    say "node $1 ready after $((SECONDS - started)) s; bootstrap: $(bootstrap)"
}

cmd_reset() {
    [[ -n $KAFKA_HOME_DIR && $KAFKA_HOME_DIR != / && $KAFKA_HOME_DIR != "$HOME" && $KAFKA_HOME_DIR != "$REPO_DIR" ]] \
        || die "refusing to delete $KAFKA_HOME_DIR"
    if [[ ! -e $KAFKA_HOME_DIR ]]; then
        say "$KAFKA_HOME_DIR does not exist; nothing to reset"
        return 0
    fi
    # Delete only a folder this script made: setup.env / node-N folders and nothing else.
    local entry
    for entry in "$KAFKA_HOME_DIR"/* "$KAFKA_HOME_DIR"/.[!.]*; do
        [[ -e $entry ]] || continue
        case ${entry##*/} in
            setup.env | .lock | node-[0-9]* | tls | credentials) ;;
            *) die "refusing to delete $KAFKA_HOME_DIR: it holds ${entry##*/}, which kafka.sh did not create" ;;
        esac
    done
    cmd_stop
    rm -rf "$KAFKA_HOME_DIR"
    say "deleted $KAFKA_HOME_DIR (the jar cache $CACHE_DIR is kept)"
}

lock_home() {   # one mutating command at a time per home folder (parallel test sessions)
    [[ ${1:-} == create ]] && mkdir -p "$KAFKA_HOME_DIR"
    [[ -d $KAFKA_HOME_DIR ]] || return 0
    exec 9>"$KAFKA_HOME_DIR/.lock"
    flock 9
}

main() {
    local cmd=${1:-}
    (($#)) && shift
    case $cmd in
        fetch) cmd_fetch ;;
        start) require_java; cmd_fetch quiet; lock_home create; cmd_start "$@" ;;
        stop) lock_home; cmd_stop ;;
        status) cmd_status ;;
        stop-node) lock_home; cmd_stop_node "$@" ;;
        start-node) require_java; lock_home; cmd_start_node "$@" ;;
        bootstrap) load_setup || die "no Kafka set up in $KAFKA_HOME_DIR"; bootstrap ;;
        client-env) cmd_client_env "$@" ;;
        reset) lock_home; cmd_reset ;;
        -h | --help | help) usage ;;
        "") usage >&2; exit 2 ;;
        *) echo "kafka.sh: unknown command '$cmd'" >&2; usage >&2; exit 2 ;;
    esac
}

main "$@"

#!/usr/bin/env bash
# Local Apicurio Registry (Confluent-compatible schema registry API) built from Maven Central only.
#
#   registry.sh fetch    build the runnable registry into the cache (once; needs Maven + network)
#   registry.sh start    start it on 127.0.0.1:$PORT (fetches first if needed), wait until the
#                        ccompat API answers, print its base URL on stdout
#   registry.sh stop     stop it
#   registry.sh status   print the base URL and exit 0 if running, else exit 3
#   registry.sh url      print the base URL
#
# Environment:
#   UCWATCH_REGISTRY_CACHE   cache dir            (default: $HOME/.cache/ucwatch/apicurio)
#   UCWATCH_REGISTRY_PORT    HTTP port            (default: 8081)
#   UCWATCH_REGISTRY_M2      Maven local repo for the build (default: $CACHE/m2)
#   UCWATCH_REGISTRY_TIMEOUT seconds to wait for the API at start (default: 120)
#   UCWATCH_REGISTRY_JAVA    java binary (default: $JAVA_HOME/bin/java, else java); Java 17 works
#   UCWATCH_REGISTRY_XMX     max heap (default: 512m)
#   UCWATCH_REGISTRY_TLS_CERT, UCWATCH_REGISTRY_TLS_KEY  (PEM) serve HTTPS only, with this
#                            certificate and key (Quarkus's own TLS); the URL is then https://
#   UCWATCH_REGISTRY_TLS_CA  the CA that signed it, for the start-up check (default: the system's)
#
# Storage is in-memory (H2): every start is an empty registry; everything is lost at stop.
# The build pom + one Java source live in apicurio/ next to this script (see its README).
set -euo pipefail

SCRIPT_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)
BUILD_SRC="$SCRIPT_DIR/apicurio"
CACHE=${UCWATCH_REGISTRY_CACHE:-$HOME/.cache/ucwatch/apicurio}
PORT=${UCWATCH_REGISTRY_PORT:-8081}
M2=${UCWATCH_REGISTRY_M2:-$CACHE/m2}
TIMEOUT=${UCWATCH_REGISTRY_TIMEOUT:-120}
XMX=${UCWATCH_REGISTRY_XMX:-512m}
if [[ -n ${UCWATCH_REGISTRY_JAVA:-} ]]; then JAVA=$UCWATCH_REGISTRY_JAVA
elif [[ -n ${JAVA_HOME:-} && -x ${JAVA_HOME}/bin/java ]]; then JAVA=$JAVA_HOME/bin/java
else JAVA=java; fi

APP_DIR="$CACHE/app"
RUNNER="$APP_DIR/apicurio-registry-runner.jar"
RUN_DIR="$CACHE/run-$PORT"
PIDFILE="$RUN_DIR/registry.pid"
LOG="$RUN_DIR/registry.log"
TLS_CERT=${UCWATCH_REGISTRY_TLS_CERT:-}
TLS_KEY=${UCWATCH_REGISTRY_TLS_KEY:-}
TLS_CA=${UCWATCH_REGISTRY_TLS_CA:-}
if [[ -n $TLS_CERT || -n $TLS_KEY ]]; then
    [[ -f $TLS_CERT && -f $TLS_KEY ]] || { echo "registry.sh: UCWATCH_REGISTRY_TLS_CERT and _KEY must both name files" >&2; exit 1; }
    SCHEME=https
    # HTTPS on PORT only; the plain HTTP listener is not opened (insecure-requests=disabled).
    LISTEN=(-Dquarkus.http.ssl-port="$PORT" -Dquarkus.http.port=0 -Dquarkus.http.insecure-requests=disabled
        -Dquarkus.http.ssl.certificate.files="$TLS_CERT" -Dquarkus.http.ssl.certificate.key-files="$TLS_KEY")
    CURL_TLS=(${TLS_CA:+--cacert "$TLS_CA"})
else
    SCHEME=http
    LISTEN=(-Dquarkus.http.port="$PORT")
    CURL_TLS=()
fi
BASE_URL="$SCHEME://127.0.0.1:$PORT/apis/ccompat/v7"

log() { echo "registry.sh: $*" >&2; }

fetch() {
    if [[ -f $RUNNER && -d $APP_DIR/lib ]]; then
        log "already built: $RUNNER"
        return 0
    fi
    [[ -f $BUILD_SRC/pom.xml ]] || { log "missing $BUILD_SRC/pom.xml"; exit 1; }
    command -v mvn >/dev/null || { log "mvn not found"; exit 1; }
    local build="$CACHE/build"
    rm -rf "$build"
    mkdir -p "$build" "$M2"
    cp -r "$BUILD_SRC/." "$build/"
    log "building Apicurio Registry in $build (Maven repo $M2); log: $build/build.log"
    if ! (cd "$build" && mvn -B -ntp -Dmaven.repo.local="$M2" package >build.log 2>&1); then
        log "build failed; last lines of $build/build.log:"
        grep -E 'ERROR|BUILD' "$build/build.log" | head -20 >&2 || tail -20 "$build/build.log" >&2
        exit 1
    fi
    rm -rf "$APP_DIR.tmp" && mkdir -p "$APP_DIR.tmp"
    cp "$build/target/apicurio-registry-runner.jar" "$APP_DIR.tmp/"
    cp -r "$build/target/lib" "$APP_DIR.tmp/lib"
    rm -rf "$APP_DIR" && mv "$APP_DIR.tmp" "$APP_DIR"
    rm -rf "$build"
    log "built: $RUNNER"
}

running_pid() {
    [[ -f $PIDFILE ]] || return 1
    local pid
    pid=$(cat "$PIDFILE")
    [[ -n $pid ]] && kill -0 "$pid" 2>/dev/null || return 1
    echo "$pid"
}

api_up() { curl -sf -o /dev/null --max-time 2 "${CURL_TLS[@]+"${CURL_TLS[@]}"}" "$BASE_URL/subjects"; }

start() {
    if pid=$(running_pid); then
        log "already running (pid $pid)"
        echo "$BASE_URL"
        return 0
    fi
    [[ -f $RUNNER ]] || fetch
    if (exec 3<>"/dev/tcp/127.0.0.1/$PORT") 2>/dev/null; then
        log "port $PORT is already in use by another process"
        exit 1
    fi
    mkdir -p "$RUN_DIR"
    # setsid: own session, so the server survives the calling shell and is stopped only by 'stop'
    setsid "$JAVA" -Xmx"$XMX" \
        -Dquarkus.http.host=127.0.0.1 "${LISTEN[@]}" \
        -Dquarkus.datasource.jdbc.min-size=2 -Dquarkus.datasource.jdbc.initial-size=2 \
        -jar "$RUNNER" </dev/null >"$LOG" 2>&1 &
    echo $! >"$PIDFILE"
    local pid deadline=$((SECONDS + TIMEOUT))
    pid=$(cat "$PIDFILE")
    until api_up; do
        if ! kill -0 "$pid" 2>/dev/null; then
            log "registry exited during start-up; last lines of $LOG:"
            tail -20 "$LOG" >&2
            rm -f "$PIDFILE"
            exit 1
        fi
        if ((SECONDS >= deadline)); then
            log "API did not answer within ${TIMEOUT}s; stopping it (log: $LOG)"
            stop
            exit 1
        fi
        sleep 0.5
    done
    log "running (pid $pid), log: $LOG"
    echo "$BASE_URL"
}

stop() {
    local pid
    if ! pid=$(running_pid); then
        rm -f "$PIDFILE"
        log "not running"
        return 0
    fi
    kill "$pid" 2>/dev/null || true
    for _ in $(seq 1 40); do
        kill -0 "$pid" 2>/dev/null || break
        sleep 0.5
    done
    if kill -0 "$pid" 2>/dev/null; then
        log "pid $pid did not stop after 20s; killing it"
        kill -9 "$pid" 2>/dev/null || true
    fi
    rm -f "$PIDFILE"
    log "stopped"
}

status() {
    local pid
    if pid=$(running_pid) && api_up; then
        log "running (pid $pid)"
        echo "$BASE_URL"
        return 0
    fi
    log "not running"
    return 3
}

case ${1:-} in
    fetch) fetch ;;
    start) start ;;
    stop) stop ;;
    status) status ;;
    url) echo "$BASE_URL" ;;
    *) echo "usage: $0 fetch|start|stop|status|url" >&2; exit 2 ;;
esac

"""`ucwatch demo`: the whole path so far, on one machine, in a fresh environment.

1. start a dedicated local Kafka (its own folder under <data_dir>/demo, port 19092, so a
   developer's broker is left alone), after resetting what an earlier demo left;
2. create the topics;
3. simulate a calibrated synthetic history and write it as JSON Lines, as an agency export;
4. publish the file with the same code as `ucwatch produce`;
5. read the topic back, decode every record, and compare counts per event type;
6. run a detection worker over the history, tick the clock to the end of the simulated
   window, and summarize the alerts and notifications it wrote;
7. land everything in the embedded ClickHouse with `ucwatch sink`, run an analyst's query
   while it runs (through the sink's query service), and compare the rows with the topics;
8. print the oversight report as of the end of the window, and compare its figures with
   the simulator's own ground truth;
9. open the operations console on the demo's data: a sink serving queries (for the
   child's page and the dashboard), a demo user (name and password printed), `ucwatch
   console` on a free loopback port; check /readyz and that the queue, fetched by a
   logged-in session, lists every open alert of the alerts topic;
10. stop the console, the sink and the broker (unless --keep-running, to explore further).
"""

from __future__ import annotations

import dataclasses
import json
import os
import re
import secrets
import shutil
import socket
import subprocess
import sys
import time
from collections import Counter
from collections.abc import Iterable, Iterator
from datetime import UTC, datetime
from typing import Any

import httpx
from prometheus_client.parser import text_string_to_metric_families

from ucwatch.analysts.query_service import endpoint_path
from ucwatch.analysts.report import COUNTS as REPORT_COUNTS
from ucwatch.app import kafka_local
from ucwatch.console.roles import Role
from ucwatch.console.users import UserStore, users_path
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.kafka_admin import client_config, ensure_topics, wait_for_kafka
from ucwatch.core.progress import wait_until_caught_up
from ucwatch.core.settings import KafkaSettings, Settings
from ucwatch.core.topic_reader import read_to_end
from ucwatch.producers.run import produce_files
from ucwatch.schemas.catalog import default_catalog
from ucwatch.schemas.registry import EmbeddedRegistry
from ucwatch.schemas.serde import Decoder
from ucwatch.simulate import Simulation, SimulationConfig, write_jsonl
from ucwatch.sinks.clickhouse import connect
from ucwatch.streams.ticks import Ticker
from ucwatch.streams.worker import worker_environment

DEMO_PORT = 19092
WINDOW_END = datetime(2023, 10, 1, tzinfo=UTC)
"""The end of the simulated FY2019-2023 window: the clock is ticked to it."""
CONTROL_NAMESPACE = "gov.ucwatch.control."
"""Avro namespace of ucwatch's own records on the lifecycle topic (schemas/avro/control):
the clock ticks and the source watermarks. Neither is an event: the sink does not land them
in `events`, and they have no event_type."""


def run_demo(settings: Settings, *, children: int, seed: int, keep_running: bool = False) -> ExitCode:
    demo_dir = (settings.data_dir / "demo").resolve()
    kafka_home = demo_dir / "kafka"
    os.environ["UCWATCH_KAFKA_HOME"] = str(kafka_home)
    os.environ["UCWATCH_KAFKA_PORT"] = str(DEMO_PORT)
    _step(1, f"fresh local Kafka in {kafka_home} (port {DEMO_PORT})")
    if kafka_home.exists():
        kafka_local.run(["reset"], settings)
    if demo_dir.exists():
        shutil.rmtree(demo_dir)
    if kafka_local.run(["start"], settings) != 0:
        print("demo: Kafka did not start; see the log above")
        return ExitCode.UNREACHABLE
    try:
        settings = dataclasses.replace(
            settings, data_dir=demo_dir,
            kafka=KafkaSettings(bootstrap=kafka_local.bootstrap_servers(1, DEMO_PORT)))
        return _run(settings, children, seed, keep_running)
    finally:
        if keep_running:
            print(f"\nKafka keeps running at {settings.kafka.bootstrap}; stop it with "
                  f"UCWATCH_KAFKA_HOME={kafka_home} UCWATCH_KAFKA_PORT={DEMO_PORT} ucwatch kafka stop")
        else:
            _step(10, "stopping the demo's Kafka")
            kafka_local.run(["stop"], settings)


def _run(settings: Settings, children: int, seed: int, keep_running: bool = False) -> ExitCode:
    _step(2, "creating topics")
    ensure_topics(wait_for_kafka(settings), settings)

    _step(3, f"simulating {children:,} children (seed {seed}) as an agency export file")
    history = settings.data_dir / "history.jsonl"
    simulation = Simulation(SimulationConfig(seed=seed, children=children))
    written = write_jsonl(simulation.events(), history)
    print(f"   {written:,} events written to {history}")

    _step(4, f"ucwatch produce {history}")
    summary = produce_files(settings, [history])
    print(summary.render(settings.topics.deadletter.name))

    _step(5, f"reading {settings.topics.lifecycle.name} back and decoding every record")
    decoder = Decoder(EmbeddedRegistry(default_catalog()), default_catalog())
    on_kafka: Counter[str] = Counter()
    keys_match = True
    for key, value in _values(settings, settings.topics.lifecycle.name):
        name, event = decoder.decode_named(value)
        if not is_event(name):
            continue
        on_kafka[event["event_type"]] += 1
        keys_match &= key is not None and key.decode() == event["child_id"]
    print(f"   {'event type':<28}{'published':>10}{'on Kafka':>10}")
    for event_type in sorted(set(on_kafka) | set(summary.published_by_type)):
        print(f"   {event_type:<28}{summary.published_by_type[event_type]:>10,}{on_kafka[event_type]:>10,}")
    total = sum(on_kafka.values())
    print(f"   {'total':<28}{summary.published:>10,}{total:>10,}")
    print(f"   every record keyed by its child_id: {'yes' if keys_match else 'NO'}")
    ok = total == summary.published and keys_match and summary.exit_code == 0
    if ok:
        ok = _detect(settings, simulation.truth)
    if ok:
        ok = _land(settings)
    if ok:
        ok = _report(settings, simulation)
    if ok:
        ok = _console(settings, keep_running)
    print("\ndemo: " + ("OK" if ok else "FAILED: see above"))
    return ExitCode.OK if ok else ExitCode.REJECTED


def _detect(settings: Settings, truth: object) -> bool:
    _step(6, "detection: a worker over the history, then a tick to the end of the window")
    settings = dataclasses.replace(settings, streams=dataclasses.replace(settings.streams, store="memory"))
    log_path = settings.data_dir / "worker.log"
    metrics_port = _free_port()
    with log_path.open("ab") as log:
        worker = subprocess.Popen([sys.executable, "-m", "ucwatch.app.cli", "worker"],
                                  env=_environment(settings) | {"UCWATCH_STREAMS_METRICS_PORT": str(metrics_port)},
                                  stdout=log, stderr=subprocess.STDOUT)
    print(f"   worker started (log: {log_path}; metrics at http://127.0.0.1:{metrics_port}/metrics)")
    try:
        ticker = Ticker(settings, issued_by="demo")
        ticker.tick(int(WINDOW_END.timestamp() * 1000))
        ticker.close()
        print(f"   tick at {WINDOW_END.date()} written to every partition; waiting for the worker")
        wait_until_caught_up(settings, timeout_s=600, alive=lambda: worker.poll() is None)
        print(f"   scraped from the worker's /metrics: {_scrape(metrics_port)}")
    finally:
        worker.terminate()
        worker.wait(60)
    decoder = Decoder(EmbeddedRegistry(default_catalog()), default_catalog())
    latest: dict[str, dict[str, Any]] = {}
    changes: Counter[tuple[str, str]] = Counter()
    for _, value in _values(settings, settings.topics.alerts.name):
        alert = decoder.decode(value)
        changes[(alert["rule"], alert["change"])] += 1
        if alert["sequence"] >= latest.get(alert["alert_id"], {}).get("sequence", 0):
            latest[alert["alert_id"]] = alert
    notices = Counter((n["kind"], n["recipient"]) for n in
                      (decoder.decode(value) for _, value in _values(settings, settings.topics.notifications.name)))
    rules = sorted({rule for rule, _ in changes})
    kinds = ["OPENED", "ESCALATED", "RESOLVED", "RETRACTED", "CANCELLED"]
    print(f"   {'rule':<26}" + "".join(f"{k.lower():>10}" for k in kinds) + f"{'open now':>10}")
    for rule in rules:
        still_open = sum(1 for a in latest.values() if a["rule"] == rule and a["status"] == "OPEN")
        print(f"   {rule:<26}" + "".join(f"{changes[(rule, k)]:>10,}" for k in kinds) + f"{still_open:>10,}")
    print("   notifications ucwatch sent:")
    for (kind, recipient), count in sorted(notices.items()):
        print(f"     {kind:<26} to {recipient:<4}{count:>8,}")
    return bool(changes)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def _scrape(port: int) -> str:
    """What an operator's Prometheus would read: records handled by kind, and the clock lag."""
    try:
        text = httpx.get(f"http://127.0.0.1:{port}/metrics", timeout=10).raise_for_status().text
    except httpx.HTTPError as exc:
        return f"not answered ({exc})"
    handled: Counter[str] = Counter()
    lags = []
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            if sample.name == "ucwatch_detect_records_total":
                handled[sample.labels["kind"]] += int(sample.value)
            elif sample.name == "ucwatch_clock_lag_seconds":
                lags.append(sample.value)
    counts = ", ".join(f"{count:,} {kind}" for kind, count in sorted(handled.items()))
    lag = f"; clock lag {min(lags) / 86400:,.0f} days (the history ends in the past)" if lags else ""
    return f"records handled: {counts or 'none'}{lag}"


def _environment(settings: Settings) -> dict[str, str]:
    return worker_environment(settings) | {"UCWATCH_DATA_DIR": str(settings.data_dir),
                                           "UCWATCH_KAFKA_BOOTSTRAP": settings.kafka.bootstrap}


def _land(settings: Settings) -> bool:
    _step(7, "ucwatch sink: landing events, alerts, notifications and child state in ClickHouse")
    log_path = settings.data_dir / "sink.log"
    command = [sys.executable, "-m", "ucwatch.app.cli"]
    with log_path.open("ab") as log:
        sink = subprocess.Popen([*command, "sink", "--until-caught-up"], env=_environment(settings),
                                stdout=log, stderr=subprocess.STDOUT)
    print(f"   sink started (log: {log_path}); store {settings.clickhouse_dsn}")
    endpoint = endpoint_path(settings)
    while not endpoint.exists() and sink.poll() is None:
        time.sleep(0.2)
    if sink.poll() is None:
        query = ("SELECT count() AS events_landed_so_far, uniqExact(child_id) AS children "
                 "FROM ucwatch.events")
        print(f"   an analyst's query while the sink runs (through its query service):\n   $ ucwatch sql \"{query}\"")
        analyst = _environment(settings) | {"UCWATCH_ACTOR": "demo-analyst"}
        for _ in range(30):  # until the first batches have landed
            answer = subprocess.run([*command, "sql", "--format", "csv", query], env=analyst,
                                    capture_output=True, text=True, check=False)
            if answer.returncode != 0 or not answer.stdout.splitlines()[1].startswith("0,") or sink.poll() is not None:
                break
            time.sleep(0.5)
        answer = subprocess.run([*command, "sql", query], env=analyst, capture_output=True, text=True, check=False)
        print(_indent(answer.stdout or answer.stderr))
    if sink.wait(1800) != 0:
        print(f"   the sink failed; see {log_path}")
        return False
    on_kafka = _records_on_kafka(settings)
    client = connect(settings, "analyst")
    try:
        db = settings.clickhouse.database
        landed = {table: client.query(f"SELECT count() FROM {db}.{table}").result_rows[0][0]
                  for table in ("events", "alerts", "notifications")}
        landed["child_state"] = client.query(f"SELECT count() FROM {db}.child_state FINAL").result_rows[0][0]
    finally:
        client.close()
    print(f"   {'table':<16}{'on Kafka':>12}{'in ClickHouse':>15}")
    for table, rows in landed.items():
        print(f"   {table:<16}{on_kafka[table]:>12,}{rows:>15,}")
    return landed == on_kafka


def _report(settings: Settings, simulation: Simulation) -> bool:
    as_of = simulation.config.effective_as_of
    _step(8, f"ucwatch report --as-of {as_of.date()}: the oversight figures, from ClickHouse")
    command = [sys.executable, "-m", "ucwatch.app.cli", "report", "--as-of", as_of.isoformat()]
    text = subprocess.run(command, env=_environment(settings), capture_output=True, text=True, check=False)
    print(_indent(text.stdout or text.stderr))
    figures = subprocess.run([*command, "--format", "json"], env=_environment(settings), capture_output=True,
                             text=True, check=False)
    if text.returncode != 0 or figures.returncode != 0:
        return False
    report = json.loads(figures.stdout)
    truth = simulation.delivered_truth.as_dict()
    differences = [
        f"FY{fy} {name}: report {report_cohort.get(name)} vs truth {value}"
        for fy, truth_cohort, report_cohort in
        [(fy, cohort, report["by_fy"].get(str(fy), {})) for fy, cohort in truth["by_fy"].items()]
        for name, value in truth_cohort.items() if name in REPORT_COUNTS and report_cohort.get(name) != value]
    print(f"   report against the simulator's ground truth (what the feed delivered by {as_of.date()}): "
          + ("every figure equal" if not differences else f"{len(differences)} differ"))
    for line in differences[:10]:
        print(f"     {line}")
    return not differences


def _console(settings: Settings, keep_running: bool) -> bool:
    _step(9, "ucwatch console: the operations console on the demo's data")
    command = [sys.executable, "-m", "ucwatch.app.cli"]
    env = _environment(settings)
    processes: list[subprocess.Popen[bytes]] = []
    with (settings.data_dir / "sink.log").open("ab") as log:  # serves the child's page and the dashboard
        processes.append(subprocess.Popen([*command, "sink"], env=env, stdout=log, stderr=subprocess.STDOUT))
    password = secrets.token_urlsafe(12)
    UserStore(users_path(settings)).add("demo", Role.SUPERVISOR, password)
    port, metrics_port = _free_port(), _free_port()
    url = f"http://127.0.0.1:{port}"
    log_path = settings.data_dir / "console.log"
    with log_path.open("ab") as log:
        processes.append(subprocess.Popen([*command, "console", "--port", str(port)],
                                          env=env | {"UCWATCH_CONSOLE_METRICS_PORT": str(metrics_port)}, stdout=log,
                                          stderr=subprocess.STDOUT))
    print(f"   console at {url}/ (log: {log_path}; metrics at http://127.0.0.1:{metrics_port}/metrics)\n"
          f"   user: demo (supervisor)  password: {password}")
    try:
        ok = _check_console(settings, url, password, processes)
    finally:
        if keep_running:
            print(f"   the console and the sink keep running (pids {' '.join(str(p.pid) for p in processes)}); "
                  "stop them with kill, before stopping Kafka")
        else:
            for process in reversed(processes):
                process.terminate()
            for process in processes:
                process.wait(60)
    return ok


def _check_console(settings: Settings, url: str, password: str, processes: list[subprocess.Popen[bytes]]) -> bool:
    """/readyz answers 200, and the queue of a logged-in session lists the open alerts of the topic."""
    started = time.monotonic()
    ready = None
    while time.monotonic() - started < 180 and all(p.poll() is None for p in processes):
        try:
            ready = httpx.get(f"{url}/readyz", timeout=5, trust_env=False)
            if ready.status_code == 200:
                break
        except httpx.HTTPError:
            pass  # not listening yet
        time.sleep(0.5)
    if ready is None or ready.status_code != 200:
        print(f"   the console did not become ready: {ready.text if ready is not None else 'no answer'}")
        return False
    print(f"   GET /readyz: {ready.status_code} {ready.text} ({time.monotonic() - started:.1f} s after start)")
    decoder = Decoder(EmbeddedRegistry(default_catalog()), default_catalog())
    latest: dict[str, dict[str, Any]] = {}
    for _, value in _values(settings, settings.topics.alerts.name):
        alert = decoder.decode(value)
        if alert["sequence"] >= latest.get(alert["alert_id"], {}).get("sequence", 0):
            latest[alert["alert_id"]] = alert
    expected = Counter(a["severity"] for a in latest.values() if a["status"] == "OPEN")
    with httpx.Client(base_url=url, timeout=30, trust_env=False) as http:
        token = re.search(r'name="csrf" value="([^"]+)"', http.get("/login").text)
        form = {"user": "demo", "password": password, "csrf": token.group(1) if token else ""}
        login = http.post("/login", data=form)
        queue = http.get("/")
        if login.status_code != 303 or queue.status_code != 200:
            print(f"   logging in failed: {login.status_code}, queue {queue.status_code}")
            return False
        shown = {s: int(n) for s, n in re.findall(r'id="count-(\w+)">(\d+)<', queue.text)}
        rows = re.findall(r'<tr data-alert-id="([^"]+)"', queue.text)
        dashboard = http.get("/dashboard")
    wanted = {s.lower(): expected.get(s, 0) for s in ("CRITICAL", "HIGH", "MEDIUM", "LOW")}
    rows_open = all(latest.get(r, {}).get("status") == "OPEN" for r in rows)
    print(f"   the queue (logged in as demo): {sum(shown.values()):,} open alerts "
          f"({', '.join(f'{n:,} {s}' for s, n in shown.items())}); the alerts topic: {sum(wanted.values()):,} open; "
          f"first page: {len(rows)} rows, {'all open' if rows_open else 'NOT ALL OPEN'}")
    figures = 'id="oversight-unavailable"' not in dashboard.text
    print(f"   the dashboard: {dashboard.status_code}, oversight figures "
          f"{'shown (from the sink query service)' if figures else 'not shown: ClickHouse not reachable'}")
    return shown == wanted and bool(rows) == bool(sum(wanted.values())) and rows_open and dashboard.status_code == 200


def _records_on_kafka(settings: Settings) -> dict[str, int]:
    """Records per table as the topics hold them (control records left out; child state:
    one per child)."""
    decoder = Decoder(EmbeddedRegistry(default_catalog()), default_catalog())
    topics = settings.topics
    events = count_events((value for _, value in _values(settings, topics.lifecycle.name)), decoder)
    children = {r.key for r in read_to_end(client_config(settings), topics.child_state.name)}
    return {"events": events,
            "alerts": sum(1 for _ in read_to_end(client_config(settings), topics.alerts.name)),
            "notifications": sum(1 for _ in read_to_end(client_config(settings), topics.notifications.name)),
            "child_state": len(children)}


def is_event(name: str) -> bool:
    """Whether a record of the lifecycle topic, by the full name of its writer schema, is a
    lifecycle event: not one of ucwatch's control records (clock ticks, source watermarks)."""
    return not name.startswith(CONTROL_NAMESPACE)


def count_events(values: Iterable[bytes], decoder: Decoder) -> int:
    """The lifecycle events among record values of the lifecycle topic."""
    return sum(1 for value in values if is_event(decoder.decode_named(value)[0]))


def _values(settings: Settings, topic: str) -> Iterator[tuple[bytes | None, bytes]]:
    """(key, value) of every record of `topic` but tombstones."""
    for record in read_to_end(client_config(settings), topic):
        if record.value is not None:
            yield record.key, record.value


def _indent(text: str) -> str:
    return "\n".join("   " + line for line in text.rstrip().splitlines())


def _step(number: int, text: str) -> None:
    print(f"\n[{number}] {text}", flush=True)




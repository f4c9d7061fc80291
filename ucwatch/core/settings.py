"""One settings object for every ucwatch command.

Values come, later ones winning, from the defaults below, an optional TOML file
(`--config FILE` or UCWATCH_CONFIG) and environment variables named
``UCWATCH_<SECTION>_<KEY>`` (e.g. ``UCWATCH_KAFKA_BOOTSTRAP``,
``UCWATCH_TOPICS_LIFECYCLE_PARTITIONS``). Parsing is strict: an unknown section, key or
UCWATCH_ variable, or a value of the wrong type, is refused with the name of the culprit,
so that a typo never silently falls back to a default.

The pseudonymization key is not a setting: `ucwatch.core.pseudonym` reads it from
UCWATCH_PSEUDONYM_KEY or UCWATCH_PSEUDONYM_KEY_FILE. Settings that are secrets (a password
in a DSN, any field named like a password, secret, token, key or user info) are shown only
through `Settings.redacted()`, which masks them; print nothing else.
"""

from __future__ import annotations

import dataclasses
import difflib
import functools
import os
import re
import tomllib
import urllib.parse
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ucwatch.core.errors import SettingsError

ENV_PREFIX = "UCWATCH_"
# Variables read elsewhere, on purpose not part of the settings object.
NON_SETTING_VARIABLES = {"UCWATCH_CONFIG", "UCWATCH_ACTOR", "UCWATCH_PSEUDONYM_KEY", "UCWATCH_PSEUDONYM_KEY_FILE",
                         "UCWATCH_KAFKA_HOME", "UCWATCH_KAFKA_CACHE", "UCWATCH_KAFKA_PORT",
                         "UCWATCH_DEPLOY_DIR", "UCWATCH_TEST_KAFKA_BOOTSTRAP", "UCWATCH_PYTHON"}


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = "127.0.0.1:9092"
    replication_factor: int = 1
    connect_timeout_s: float = 30.0
    """How long a command keeps retrying an unreachable broker before it gives up."""
    delivery_timeout_ms: int = 120_000
    security_protocol: str = "PLAINTEXT"
    """PLAINTEXT (the local demo only), SSL, SASL_PLAINTEXT or SASL_SSL (docs/security.md)."""
    sasl_mechanism: str = "SCRAM-SHA-512"
    """With SASL_*: SCRAM-SHA-512, SCRAM-SHA-256 or PLAIN."""
    sasl_username: str = ""
    """The Kafka principal this process acts as (one per agency and per ucwatch role)."""
    sasl_password: str = ""
    """Its password (a secret: set it by environment, UCWATCH_KAFKA_SASL_PASSWORD)..."""
    sasl_password_file: str = ""
    """...or name a file that holds it (one line)."""
    ca_location: str = ""
    """CA certificate(s) (PEM) the brokers' certificates are verified against; empty: the
    system's. Verification cannot be turned off."""
    certificate_location: str = ""
    """Client certificate (PEM) for mutual TLS..."""
    key_location: str = ""
    """...its private key (PEM)..."""
    key_password: str = ""
    """...and the key's password, if it has one (a secret)."""


@dataclass(frozen=True)
class RegistrySettings:
    url: str = ""
    """A Confluent-compatible registry; empty means the embedded one backed by schemas/.
    Several URLs, comma-separated, are tried in turn."""
    basic_auth_user_info: str = ""
    """``user:password`` for HTTP basic authentication (a secret: set it by environment,
    UCWATCH_SCHEMA_REGISTRY_BASIC_AUTH_USER_INFO)..."""
    basic_auth_user_info_file: str = ""
    """...or name a file that holds it (one line)."""
    ca_location: str = ""
    """CA bundle (PEM file or folder) the registry's certificate is verified against; empty:
    the system's. Verification cannot be turned off."""
    certificate_location: str = ""
    """Client certificate (PEM) for mutual TLS..."""
    key_location: str = ""
    """...its private key..."""
    key_password: str = ""
    """...and the key's password, if it has one (a secret)."""
    timeout_s: float = 10.0
    """Per request."""
    max_retries: int = 3
    """Retries of a request that failed in transport or with a retriable status, with back-off."""


@dataclass(frozen=True)
class ClickHouseSettings:
    dsn: str = ""
    """``chdb:///path`` (embedded, default under the data folder) or ``http(s)://...``."""
    database: str = "ucwatch"
    cluster: str = ""
    """A cluster name: DDL runs ON CLUSTER and tables use Replicated engines; empty: one node."""
    analyst_dsn: str = ""
    """Server only: how analysts connect (a read-only user); empty: `dsn` with readonly=1."""
    analyst_max_execution_s: int = 60
    """An analyst's query stops after this many seconds (embedded store, or a server without
    `analyst_dsn`; with `analyst_dsn` the server's profile sets the limits)."""
    analyst_max_memory_bytes: int = 2 * 1024**3
    """...or when it holds this much memory (in the process holding the store: the sink)."""
    analyst_max_result_rows: int = 1_000_000
    """...or when its result has more rows than this."""
    analyst_max_concurrent_queries: int = 4
    """The query service runs at most this many analysts' queries at once; more are told
    the service is busy."""


@dataclass(frozen=True)
class SinkSettings:
    group_id: str = "ucwatch-sink"
    instance_id: str = ""
    """Kafka static membership: a sink restarted under the same id gets its partitions back
    at once, without a rebalance. Give each sink process its own; empty: dynamic membership."""
    session_timeout_ms: int = 10_000
    """How soon a dead sink's partitions go to another member of the group."""
    rejoin_wait_s: float = 30.0
    """A consumer the group assigns nothing for this long after it subscribed or lost its
    partitions, while Kafka answers, is replaced by a new one (librdkafka #3437: a static
    member can stay out of its group for good after its session expired)."""
    batch_rows: int = 50_000
    """A partition's batch is written once it holds this many records..."""
    batch_seconds: float = 2.0
    """...or once its first record has waited this long."""
    retry_max_s: float = 30.0
    """Back-off ceiling while ClickHouse cannot be reached."""
    serve_queries: bool = True
    """Embedded store: serve analysts' read-only queries from the sink process (loopback)."""
    metrics_port: int = 9467
    """/metrics, /healthz and /readyz at this port (of `metrics_host`); 0: any free port (logged)."""
    metrics_host: str = "127.0.0.1"
    """Where that port listens: 0.0.0.0 in a pod, for Prometheus to scrape (deploy/README.md)."""


@dataclass(frozen=True)
class TopicSettings:
    name: str
    partitions: int
    retention_ms: int = -1
    compacted: bool = False


def _topic(name: str, partitions: int, **kwargs: Any) -> Callable[[], TopicSettings]:
    """The default factory of one topic's settings."""
    return functools.partial(TopicSettings, name, partitions, **kwargs)


YEAR_MS = 365 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicsSettings:
    # Lifecycle events are the system of record until they land in ClickHouse; keep them
    # long enough to rebuild every downstream store by replay.
    lifecycle: TopicSettings = field(default_factory=_topic("ucwatch.lifecycle", 6, retention_ms=10 * YEAR_MS))
    deadletter: TopicSettings = field(default_factory=_topic("ucwatch.deadletter", 3, retention_ms=YEAR_MS))
    alerts: TopicSettings = field(default_factory=_topic("ucwatch.alerts", 6, retention_ms=10 * YEAR_MS))
    notifications: TopicSettings = field(default_factory=_topic("ucwatch.notifications", 6,
                                                                retention_ms=10 * YEAR_MS))
    child_state: TopicSettings = field(default_factory=_topic("ucwatch.child-state", 6, compacted=True))
    # The notifier's delivery log: one record per attempt and outcome, read back at start;
    # its partition n holds the deliveries of notifications partition n (same count).
    deliveries: TopicSettings = field(default_factory=_topic("ucwatch.notice-deliveries", 6,
                                                             retention_ms=10 * YEAR_MS))
    # Who read which child's records and who acted on which alert: kept as long as the data.
    audit: TopicSettings = field(default_factory=_topic("ucwatch.audit", 1, retention_ms=10 * YEAR_MS))
    # What people did to alerts in the console (acknowledged, assigned, ...), keyed by child:
    # the console's state is rebuilt from it, so it is kept as long as the alerts.
    actions: TopicSettings = field(default_factory=_topic("ucwatch.actions", 6, retention_ms=10 * YEAR_MS))

    def all(self) -> list[TopicSettings]:
        return [getattr(self, f.name) for f in dataclasses.fields(self)]

    def prefixed(self, prefix: str) -> TopicsSettings:
        """The same topics under names starting with `prefix.` (tests, benchmarks, demos)."""
        return TopicsSettings(**{f.name: dataclasses.replace(getattr(self, f.name),
                                                             name=f"{prefix}.{getattr(self, f.name).name}")
                                 for f in dataclasses.fields(self)})


@dataclass(frozen=True)
class ValidationSettings:
    max_future_skew_s: float = 24 * 3600.0
    """An event said to occur further than this past the wall clock is refused."""
    max_record_bytes: int = 16_384
    """An input line or record larger than this is refused before it is parsed."""


@dataclass(frozen=True)
class StreamsSettings:
    app_id: str = "ucwatch-detect"
    """The faust app id: the consumer group and the prefix of the changelog topics."""
    store: str = "rocksdb"
    """Where workers keep per-child state: rocksdb (default) or memory."""
    policy: str = ""
    """A policy TOML file; empty means streams/policies/default.toml."""
    read_ingest_topics: bool = False
    """Also read the agencies' ingestion topics (`ucwatch.ingest.<agency>`, a secured broker:
    docs/security.md); each event on one is checked against that agency, and refused as a
    dead letter when it claims another agency's source or fact."""
    metrics_port: int = 9466
    """/metrics, /healthz and /readyz at this port (of `metrics_host`); 0: any free port (logged)."""
    metrics_host: str = "127.0.0.1"
    """Where that port listens: 0.0.0.0 in a pod, for Prometheus to scrape (deploy/README.md)."""
    clock_stall_s: float = 900.0
    """A partition's clock is stalled when it trails the wall clock by more than this and has
    not moved for as long (a ticker down): a gauge, a warning, a CLOCK_STALLED alert. 0: off."""
    partition_stall_s: float = 90.0
    """A partition held with records behind it whose committed offset does not move for this
    long ends the worker, for its supervisor to start again (streams/stall_watch.py). 0: off."""


@dataclass(frozen=True)
class RecipientSettings:
    """Where one agency's notices go (`[notify.hhs]`, `[notify.ice]`); empty: not by that channel."""
    webhook_url: str = ""
    """An https:// URL (plain http only on a loopback address, for local tests)."""
    webhook_secret: str = ""
    """The HMAC key of the signature; set it by environment (UCWATCH_NOTIFY_HHS_WEBHOOK_SECRET)..."""
    webhook_secret_file: str = ""
    """...or name a file that holds it (one line)."""
    email_to: str = ""
    """Comma-separated addresses."""
    email_from: str = ""


@dataclass(frozen=True)
class SmtpSettings:
    host: str = ""
    port: int = 587
    starttls: bool = True
    """Upgrade the connection with STARTTLS (certificate verified) before sending."""
    user: str = ""
    password: str = ""
    password_file: str = ""
    timeout_s: float = 20.0


@dataclass(frozen=True)
class NotifySettings:
    """`ucwatch notify`: delivery of notices to the agencies (docs/notify.md)."""
    group_id: str = "ucwatch-notify"
    instance_id: str = ""
    """Kafka static membership: a notifier restarted under the same id gets its partitions
    back at once, without waiting out the session; empty: dynamic membership."""
    session_timeout_ms: int = 10_000
    hhs: RecipientSettings = field(default_factory=RecipientSettings)
    ice: RecipientSettings = field(default_factory=RecipientSettings)
    smtp: SmtpSettings = field(default_factory=SmtpSettings)
    ca_file: str = ""
    """CA bundle (PEM) that webhook and SMTP certificates are verified against; empty: the
    system's. Verification cannot be turned off."""
    request_timeout_s: float = 10.0
    max_attempts: int = 20
    """The retry budget: attempts per notice and endpoint before it is dead-lettered and a
    CRITICAL NOTICE_UNDELIVERED alert is raised..."""
    backoff_first_s: float = 2.0
    """...waiting between attempts from this, doubling each time..."""
    backoff_max_s: float = 900.0
    """...up to this (20 attempts: about 2.8 h in all)..."""
    backoff_jitter: float = 0.5
    """...each wait drawn from [wait * (1 - jitter), wait]."""
    max_pending: int = 1_000
    """Notices held in memory; beyond it the partitions are paused (nothing is lost)."""
    senders: int = 4
    """Deliveries attempted at the same time."""
    metrics_port: int = 9468
    """/metrics, /healthz and /readyz at this port (of `metrics_host`); 0: any free port (logged)."""
    metrics_host: str = "127.0.0.1"
    """Where that port listens: 0.0.0.0 in a pod, for Prometheus to scrape (deploy/README.md)."""


@dataclass(frozen=True)
class ConsoleSettings:
    """`ucwatch console`: the operations console (docs/console.md)."""
    host: str = "127.0.0.1"
    """Where it listens; put a TLS-terminating proxy in front of anything but loopback."""
    port: int = 8080
    secure_cookies: bool = False
    """Mark the session cookie Secure (sent over HTTPS only): set it whenever the console is
    reached over HTTPS, which is anything but a loopback address."""
    users_file: str = ""
    """The console's users and their argon2 password hashes (mode 0600); empty:
    <data_dir>/console-users.json. Managed with `ucwatch users`."""
    session_idle_minutes: float = 30.0
    """A session unused this long ends..."""
    session_max_hours: float = 12.0
    """...and any session ends this long after its login."""
    max_failed_logins: int = 5
    """Failed logins in a row that lock a user name out..."""
    lockout_minutes: float = 15.0
    """...for this long."""
    page_size: int = 50
    """Alerts per page of the queue."""
    metrics_port: int = 9469
    """/metrics, /healthz and /readyz at this port (of `metrics_host`), apart from the pages
    (which serve no /metrics); 0: any free port (logged)."""
    metrics_host: str = "127.0.0.1"
    """Where that port listens: 0.0.0.0 in a pod, for Prometheus to scrape (deploy/README.md)."""


@dataclass(frozen=True)
class Settings:
    data_dir: Path = Path(".ucwatch")
    kafka: KafkaSettings = field(default_factory=KafkaSettings)
    schema_registry: RegistrySettings = field(default_factory=RegistrySettings)
    clickhouse: ClickHouseSettings = field(default_factory=ClickHouseSettings)
    topics: TopicsSettings = field(default_factory=TopicsSettings)
    validation: ValidationSettings = field(default_factory=ValidationSettings)
    streams: StreamsSettings = field(default_factory=StreamsSettings)
    sink: SinkSettings = field(default_factory=SinkSettings)
    notify: NotifySettings = field(default_factory=NotifySettings)
    console: ConsoleSettings = field(default_factory=ConsoleSettings)

    @property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse.dsn or f"chdb://{self.data_dir.resolve() / 'clickhouse'}"

    def redacted(self) -> dict[str, Any]:
        """Every setting as JSON-ready values, secrets masked: the only view fit to print."""
        view: dict[str, Any] = redacted_view(self)
        return view

    @classmethod
    def load(cls, config_file: str | Path | None = None,
             environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        config_file = config_file or environ.get("UCWATCH_CONFIG") or None
        overrides: dict[tuple[str, ...], Any] = {}
        if config_file:
            overrides.update(_flatten(_read_toml(Path(config_file))))
        overrides.update(_from_environment(environ))
        settings: Settings = _build_nested(cls(), overrides, ())
        return settings


MASK = "****"
SECRET_NAME = re.compile(r"passw(or)?d|secret|user[._-]?info|token|key|credential", re.IGNORECASE)
"""A setting (or URL query parameter) whose name matches holds a secret."""


SECRET_LOCATION_SUFFIXES = ("_file", "_path", "_location")
"""...unless it names where the secret is kept (``password_file``): a path is shown."""


def is_secret_name(name: str) -> bool:
    return bool(SECRET_NAME.search(name)) and not name.lower().endswith(SECRET_LOCATION_SUFFIXES)


def redact_url(text: str) -> str:
    """A URL or DSN without its secrets: ``http://user:****@host/?password=****``.
    Text that is not a URL comes back unchanged."""
    parts = urllib.parse.urlsplit(text)
    if not parts.scheme or not parts.netloc:
        return text
    netloc = parts.netloc
    if "@" in netloc:
        credentials, _, host = netloc.rpartition("@")
        user, has_password, _ = credentials.partition(":")
        netloc = f"{user}:{MASK}@{host}" if has_password else netloc
    query = "&".join(
        f"{name}={MASK}" if is_secret_name(urllib.parse.unquote_plus(name)) and value else
        (f"{name}={value}" if sep else name)
        for name, sep, value in (pair.partition("=") for pair in parts.query.split("&") if pair))
    if (netloc, query) == (parts.netloc, parts.query):
        return text
    return urllib.parse.urlunsplit(parts._replace(netloc=netloc, query=query))


_URL_IN_TEXT = re.compile(r"[A-Za-z][A-Za-z0-9+.-]*://[^\s'\"<>()]+")


def redact_text(text: str) -> str:
    """`text` with every URL in it redacted (for error messages that quote a DSN)."""
    return _URL_IN_TEXT.sub(lambda match: redact_url(match.group(0)), text)


def redacted_view(node: Any) -> Any:
    """`node` (settings dataclasses, mappings, sequences, scalars) as JSON-ready values, with
    every secret field masked and every URL's secrets masked."""
    if dataclasses.is_dataclass(node) and not isinstance(node, type):
        return {f.name: (MASK if is_secret_name(f.name) and getattr(node, f.name) else
                         redacted_view(getattr(node, f.name)))
                for f in dataclasses.fields(node)}
    if isinstance(node, str):
        return redact_url(node)
    if isinstance(node, Path):
        return str(node)
    if isinstance(node, (list, tuple)):
        return [redacted_view(item) for item in node]
    if isinstance(node, Mapping):
        return {str(k): MASK if is_secret_name(str(k)) and v else redacted_view(v) for k, v in node.items()}
    return node


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except OSError as exc:
        raise SettingsError(f"settings file {path} cannot be read: {exc.strerror}") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from exc


def _flatten(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        path = (*prefix, key)
        if isinstance(value, Mapping):
            flat.update(_flatten(value, path))
        else:
            flat[path] = value
    return flat


def _setting_paths(defaults: Any, prefix: tuple[str, ...] = ()) -> dict[str, tuple[str, ...]]:
    """Maps each environment variable name to the settings path it sets."""
    paths: dict[str, tuple[str, ...]] = {}
    for f in dataclasses.fields(defaults):
        value = getattr(defaults, f.name)
        path = (*prefix, f.name)
        if dataclasses.is_dataclass(value):
            paths.update(_setting_paths(value, path))
        else:
            paths[ENV_PREFIX + "_".join(path).upper()] = path
    return paths


def _from_environment(environ: Mapping[str, str]) -> dict[tuple[str, ...], Any]:
    known = _setting_paths(Settings())
    found: dict[tuple[str, ...], Any] = {}
    for name, value in environ.items():
        if not name.startswith(ENV_PREFIX) or name in NON_SETTING_VARIABLES:
            continue
        if name not in known:
            raise SettingsError(f"unknown setting {name}{_suggestion(name, known)}")
        found[known[name]] = value
    return found


def _build_nested(current: Any, overrides: dict[tuple[str, ...], Any], prefix: tuple[str, ...]) -> Any:
    names = {f.name for f in dataclasses.fields(current)}
    changes: dict[str, Any] = {}
    for path, value in overrides.items():
        key = path[len(prefix)]
        if key not in names:
            raise SettingsError(f"unknown setting {'.'.join(path)}")
        sub = getattr(current, key)
        if dataclasses.is_dataclass(sub) and len(path) == len(prefix) + 1:
            raise SettingsError(f"setting {'.'.join(path)} is a section, not a value")
        if dataclasses.is_dataclass(sub):
            changes[key] = _build_nested(sub, {p: v for p, v in overrides.items()
                                               if p[:len(prefix) + 1] == (*prefix, key)},
                                         (*prefix, key))
        elif len(path) != len(prefix) + 1:
            raise SettingsError(f"unknown setting {'.'.join(path)}")
        else:
            changes[key] = _coerce(value, type(sub), path)
    return dataclasses.replace(current, **changes)


def _suggestion(name: str, known: Mapping[str, object]) -> str:
    close = difflib.get_close_matches(name, list(known), n=3, cutoff=0.75)
    if close:
        return f"; did you mean {' or '.join(close)}?"
    defaults = Settings()
    sections = [f.name.upper() for f in dataclasses.fields(defaults)
                if dataclasses.is_dataclass(getattr(defaults, f.name))]
    return (f"; settings are named {ENV_PREFIX}<SECTION>_<KEY>, the sections being {', '.join(sections)} "
            "(`ucwatch settings` shows every setting)")


def _to_bool(value: Any) -> bool:
    if isinstance(value, bool):
        return value
    lowered = str(value).strip().lower()
    if lowered in {"1", "true", "yes", "on"}:
        return True
    if lowered in {"0", "false", "no", "off"}:
        return False
    raise ValueError(value)


def _to_int(value: Any) -> int:
    if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
        raise ValueError(value)
    return int(value)


def _to_float(value: Any) -> float:
    if isinstance(value, bool):
        raise ValueError(value)
    return float(value)


def _to_str(value: Any) -> str:
    if not isinstance(value, str):
        raise ValueError(value)
    return value


_COERCERS: dict[type, Callable[[Any], Any]] = {bool: _to_bool, int: _to_int, float: _to_float, str: _to_str}


def _coerce(value: Any, target: type, path: tuple[str, ...]) -> Any:
    name = ".".join(path)
    coerce = (lambda v: Path(str(v))) if issubclass(target, Path) else _COERCERS.get(target)
    if coerce is None:
        raise SettingsError(f"setting {name} has an unsupported type {target.__name__}")
    try:
        return coerce(value)
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name} must be {target.__name__}, got {value!r}") from None

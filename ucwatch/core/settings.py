"""One settings object for every ucwatch command.

Values come, later ones winning, from the defaults below, an optional TOML file
(`--config FILE` or UCWATCH_CONFIG) and environment variables named
``UCWATCH_<SECTION>_<KEY>`` (e.g. ``UCWATCH_KAFKA_BOOTSTRAP``,
``UCWATCH_TOPICS_LIFECYCLE_PARTITIONS``). Parsing is strict: an unknown section, key or
UCWATCH_ variable, or a value of the wrong type, is refused with the name of the culprit,
so that a typo never silently falls back to a default.

Secrets are not settings: the pseudonymization key is read by `ucwatch.pseudonym` from
UCWATCH_PSEUDONYM_KEY or UCWATCH_PSEUDONYM_KEY_FILE and never written to a file here.
"""

from __future__ import annotations

import dataclasses
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ucwatch.core.errors import SettingsError

ENV_PREFIX = "UCWATCH_"
# Variables read elsewhere, on purpose not part of the settings object.
NON_SETTING_VARIABLES = {"UCWATCH_CONFIG", "UCWATCH_ACTOR", "UCWATCH_PSEUDONYM_KEY", "UCWATCH_PSEUDONYM_KEY_FILE",
                         "UCWATCH_KAFKA_HOME", "UCWATCH_KAFKA_CACHE", "UCWATCH_KAFKA_PORT",
                         "UCWATCH_DEPLOY_DIR", "UCWATCH_TEST_KAFKA_BOOTSTRAP"}


@dataclass(frozen=True)
class KafkaSettings:
    bootstrap: str = "127.0.0.1:9092"
    replication_factor: int = 1
    connect_timeout_s: float = 30.0
    """How long a command keeps retrying an unreachable broker before it gives up."""
    delivery_timeout_ms: int = 120_000


@dataclass(frozen=True)
class RegistrySettings:
    url: str = ""
    """A Confluent-compatible registry; empty means the embedded one backed by schemas/."""


@dataclass(frozen=True)
class ClickHouseSettings:
    dsn: str = ""
    """``chdb:///path`` (embedded, default under the data folder) or ``http(s)://...``."""
    database: str = "ucwatch"
    cluster: str = ""
    """A cluster name: DDL runs ON CLUSTER and tables use Replicated engines; empty: one node."""
    analyst_dsn: str = ""
    """Server only: how analysts connect (a read-only user); empty: `dsn` with readonly=1."""


@dataclass(frozen=True)
class SinkSettings:
    group_id: str = "ucwatch-sink"
    instance_id: str = ""
    """Kafka static membership: a sink restarted under the same id gets its partitions back
    at once, without a rebalance. Give each sink process its own; empty: dynamic membership."""
    session_timeout_ms: int = 10_000
    """How soon a dead sink's partitions go to another member of the group."""
    batch_rows: int = 50_000
    """A partition's batch is written once it holds this many records..."""
    batch_seconds: float = 2.0
    """...or once its first record has waited this long."""
    retry_max_s: float = 30.0
    """Back-off ceiling while ClickHouse cannot be reached."""
    serve_queries: bool = True
    """Embedded store: serve analysts' read-only queries from the sink process (loopback)."""


@dataclass(frozen=True)
class TopicSettings:
    name: str
    partitions: int
    retention_ms: int = -1
    compacted: bool = False


def _topic(name: str, partitions: int, **kwargs: Any) -> Any:
    return field(default_factory=lambda: TopicSettings(name, partitions, **kwargs))


YEAR_MS = 365 * 24 * 3600 * 1000


@dataclass(frozen=True)
class TopicsSettings:
    # Lifecycle events are the system of record until they land in ClickHouse; keep them
    # long enough to rebuild every downstream store by replay.
    lifecycle: TopicSettings = _topic("ucwatch.lifecycle", 6, retention_ms=10 * YEAR_MS)
    deadletter: TopicSettings = _topic("ucwatch.deadletter", 3, retention_ms=YEAR_MS)
    alerts: TopicSettings = _topic("ucwatch.alerts", 6, retention_ms=10 * YEAR_MS)
    notifications: TopicSettings = _topic("ucwatch.notifications", 6, retention_ms=10 * YEAR_MS)
    child_state: TopicSettings = _topic("ucwatch.child-state", 6, compacted=True)
    # Who read which child's records and who acted on which alert: kept as long as the data.
    audit: TopicSettings = _topic("ucwatch.audit", 1, retention_ms=10 * YEAR_MS)

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

    @property
    def clickhouse_dsn(self) -> str:
        return self.clickhouse.dsn or f"chdb://{self.data_dir.resolve() / 'clickhouse'}"

    @classmethod
    def load(cls, config_file: str | Path | None = None,
             environ: Mapping[str, str] | None = None) -> Settings:
        environ = os.environ if environ is None else environ
        config_file = config_file or environ.get("UCWATCH_CONFIG") or None
        overrides: dict[tuple[str, ...], Any] = {}
        if config_file:
            overrides.update(_flatten(_read_toml(Path(config_file))))
        overrides.update(_from_environment(environ))
        return _build_nested(cls(), overrides, ())


def _read_toml(path: Path) -> dict[str, Any]:
    try:
        with path.open("rb") as fh:
            return tomllib.load(fh)
    except FileNotFoundError:
        raise SettingsError(f"settings file {path} does not exist") from None
    except tomllib.TOMLDecodeError as exc:
        raise SettingsError(f"settings file {path} is not valid TOML: {exc}") from exc


def _flatten(tree: Mapping[str, Any], prefix: tuple[str, ...] = ()) -> dict[tuple[str, ...], Any]:
    flat: dict[tuple[str, ...], Any] = {}
    for key, value in tree.items():
        path = prefix + (key,)
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
        path = prefix + (f.name,)
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
            raise SettingsError(f"unknown setting {name}; known: {', '.join(sorted(known))}")
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
                                               if p[:len(prefix) + 1] == prefix + (key,)},
                                         prefix + (key,))
        elif len(path) != len(prefix) + 1:
            raise SettingsError(f"unknown setting {'.'.join(path)}")
        else:
            changes[key] = _coerce(value, type(sub), path)
    return dataclasses.replace(current, **changes)


def _coerce(value: Any, target: type, path: tuple[str, ...]) -> Any:
    name = ".".join(path)
    try:
        if target is bool:
            if isinstance(value, bool):
                return value
            lowered = str(value).strip().lower()
            if lowered in {"1", "true", "yes", "on"}:
                return True
            if lowered in {"0", "false", "no", "off"}:
                return False
            raise ValueError(value)
        if target is int:
            if isinstance(value, bool) or (isinstance(value, float) and not value.is_integer()):
                raise ValueError(value)
            return int(value)
        if target is float:
            if isinstance(value, bool):
                raise ValueError(value)
            return float(value)
        if issubclass(target, Path):
            return Path(str(value))
        if target is str:
            if not isinstance(value, str):
                raise ValueError(value)
            return value
    except (TypeError, ValueError):
        raise SettingsError(f"setting {name} must be {target.__name__}, got {value!r}") from None
    raise SettingsError(f"setting {name} has an unsupported type {target.__name__}")

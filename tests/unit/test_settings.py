"""Settings: defaults, TOML, environment, and strict refusal of anything unknown."""

from __future__ import annotations

from pathlib import Path

import pytest

from ucwatch.core.errors import SettingsError
from ucwatch.core.settings import Settings


def test_defaults_use_embedded_clickhouse_under_the_data_folder(tmp_path: Path) -> None:
    settings = Settings.load(environ={"UCWATCH_DATA_DIR": str(tmp_path)})
    assert settings.clickhouse_dsn == f"chdb://{tmp_path.resolve() / 'clickhouse'}"
    assert settings.schema_registry.url == ""
    assert settings.topics.child_state.compacted and not settings.topics.lifecycle.compacted


def test_toml_then_environment(tmp_path: Path) -> None:
    config = tmp_path / "ucwatch.toml"
    config.write_text('[kafka]\nbootstrap = "a:1"\nreplication_factor = 3\n'
                      '[topics.lifecycle]\npartitions = 12\n')
    settings = Settings.load(config, environ={"UCWATCH_KAFKA_BOOTSTRAP": "b:2"})
    assert settings.kafka.bootstrap == "b:2"
    assert settings.kafka.replication_factor == 3
    assert settings.topics.lifecycle.partitions == 12
    assert settings.topics.lifecycle.name == "ucwatch.lifecycle"


@pytest.mark.parametrize("environ,fragment", [
    ({"UCWATCH_KAFKA_BOOTSTRAPS": "x"}, "unknown setting UCWATCH_KAFKA_BOOTSTRAPS"),
    ({"UCWATCH_TOPICS_LIFECYCLE_PARTITIONS": "six"}, "topics.lifecycle.partitions must be int"),
    ({"UCWATCH_TOPICS_CHILD_STATE_COMPACTED": "maybe"}, "must be bool"),
    ({"UCWATCH_KAFKA_CONNECT_TIMEOUT_S": "soon"}, "must be float"),
])
def test_bad_environment_is_refused_by_name(environ: dict, fragment: str) -> None:
    with pytest.raises(SettingsError, match=fragment):
        Settings.load(environ=environ)


@pytest.mark.parametrize("toml,fragment", [
    ("[kafka]\nbootstrapp = 'x'\n", "unknown setting kafka.bootstrapp"),
    ("[kafkaa]\nbootstrap = 'x'\n", "unknown setting kafkaa"),
    ("[kafka]\nreplication_factor = 1.5\n", "must be int"),
    ("kafka = 3\n", "is a section"),
    ("[kafka\n", "not valid TOML"),
])
def test_bad_toml_is_refused_by_name(tmp_path: Path, toml: str, fragment: str) -> None:
    config = tmp_path / "bad.toml"
    config.write_text(toml)
    with pytest.raises(SettingsError, match=fragment):
        Settings.load(config, environ={})


def test_missing_settings_file() -> None:
    with pytest.raises(SettingsError, match="does not exist"):
        Settings.load("/nonexistent/ucwatch.toml", environ={})


def test_secrets_are_not_settings() -> None:
    Settings.load(environ={"UCWATCH_PSEUDONYM_KEY": "00" * 32})


def test_default_topic_names_are_the_deployed_ones() -> None:
    # renaming a topic in code would silently start an empty one beside the real history
    assert [t.name for t in Settings().topics.all()] == [
        "ucwatch.lifecycle", "ucwatch.deadletter", "ucwatch.alerts", "ucwatch.notifications",
        "ucwatch.child-state", "ucwatch.audit"]

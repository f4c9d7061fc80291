"""Settings: defaults, TOML, environment, and strict refusal of anything unknown."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import pytest

from ucwatch.core.errors import SettingsError
from ucwatch.core.settings import Settings, redact_text, redact_url, redacted_view


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
        "ucwatch.child-state", "ucwatch.notice-deliveries", "ucwatch.audit", "ucwatch.actions"]


# -- what may be printed ----------------------------------------------------------------------


@dataclass(frozen=True)
class _RegistryWithSecrets:
    url: str = "https://registry.example/apis/ccompat/v7"
    basic_auth_user_info: str = "ucwatch:hunter2"
    bearer_token: str = "tok-123"
    ssl_key_password: str = "kp-456"
    client_secret: str = "cs-789"
    password_file: str = "/run/secrets/registry"
    empty_password: str = ""
    timeout_s: float = 5.0


def test_redacted_view_masks_every_secret_field_but_not_where_it_is_kept() -> None:
    shown = redacted_view(_RegistryWithSecrets())
    assert shown == {"url": "https://registry.example/apis/ccompat/v7", "basic_auth_user_info": "****",
                     "bearer_token": "****", "ssl_key_password": "****", "client_secret": "****",
                     "password_file": "/run/secrets/registry", "empty_password": "", "timeout_s": 5.0}


@pytest.mark.parametrize("url,shown", [
    ("http://bob:s3cret@ch:8123/db", "http://bob:****@ch:8123/db"),
    ("https://bob:p%40ss@ch:8443/?password=x&secure=1", "https://bob:****@ch:8443/?password=****&secure=1"),
    ("https://reg/?basic.auth.user.info=u:p", "https://reg/?basic.auth.user.info=****"),
    ("https://bob@ch:8443", "https://bob@ch:8443"),
    ("chdb:///var/lib/ucwatch/clickhouse", "chdb:///var/lib/ucwatch/clickhouse"),
    ("127.0.0.1:9092,127.0.0.1:9093", "127.0.0.1:9092,127.0.0.1:9093"),
])
def test_redact_url(url: str, shown: str) -> None:
    assert redact_url(url) == shown


def test_redact_text_finds_urls_inside_a_message() -> None:
    assert redact_text("ClickHouse at 'http://bob:pw@h:1/' cannot be reached") == \
        "ClickHouse at 'http://bob:****@h:1/' cannot be reached"


def test_settings_redacted_masks_dsn_passwords(tmp_path: Path) -> None:
    settings = Settings.load(environ={"UCWATCH_DATA_DIR": str(tmp_path),
                                      "UCWATCH_CLICKHOUSE_DSN": "http://w:pw1@ch:8123",
                                      "UCWATCH_CLICKHOUSE_ANALYST_DSN": "http://a:pw2@ch:8123"})
    shown = json.dumps(settings.redacted())
    assert "pw1" not in shown and "pw2" not in shown and "w:****@ch" in shown
    assert settings.redacted()["data_dir"] == str(tmp_path)


def test_an_unknown_variable_gets_a_suggestion() -> None:
    with pytest.raises(SettingsError, match="did you mean UCWATCH_KAFKA_BOOTSTRAP"):
        Settings.load(environ={"UCWATCH_KAFKA_BOOTSTRAPS": "x"})
    with pytest.raises(SettingsError, match="the sections being KAFKA, "):
        Settings.load(environ={"UCWATCH_QQQ": "x"})


def test_an_unreadable_settings_file_is_a_settings_error(tmp_path: Path) -> None:
    with pytest.raises(SettingsError, match="cannot be read"):
        Settings.load(tmp_path, environ={})

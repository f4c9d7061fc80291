"""Who a ucwatch process is to the Kafka brokers, and how it trusts them.

One `KafkaSettings` section (security_protocol, sasl_*, ca_location, certificate_location,
key_location) becomes the configuration of both client libraries ucwatch uses:

- `confluent_security` -> librdkafka properties (security.protocol, sasl.*, ssl.*), merged
  into every confluent-kafka client by `kafka_admin.client_config`;
- `faust_credentials` -> faust's ``broker_credentials`` (aiokafka: SASL username and
  password, an `ssl.SSLContext` that verifies the brokers' certificates and host names).

The password is never a plain setting in a file unless someone puts it there: it comes from
``kafka.sasl_password`` (set by the environment, UCWATCH_KAFKA_SASL_PASSWORD) or from the
file named by ``kafka.sasl_password_file``. Errors name the setting and the file, never the
secret; `KafkaSecurity`'s repr leaves the secrets out; `Settings.redacted()` masks
``sasl_password`` and ``key_password`` by their names. TLS verification of the brokers
(CA and host name) cannot be turned off.
"""

from __future__ import annotations

import ssl
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from ucwatch.core.errors import SettingsError
from ucwatch.core.settings import KafkaSettings

PROTOCOLS = ("PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL")
MECHANISMS = ("SCRAM-SHA-512", "SCRAM-SHA-256", "PLAIN")


@dataclass(frozen=True)
class KafkaSecurity:
    """The resolved security settings: the password read, every combination checked."""

    protocol: str = "PLAINTEXT"
    mechanism: str = "SCRAM-SHA-512"
    username: str = ""
    password: str = field(default="", repr=False)
    ca_location: str = ""
    certificate_location: str = ""
    key_location: str = ""
    key_password: str = field(default="", repr=False)

    @property
    def tls(self) -> bool:
        return self.protocol in ("SSL", "SASL_SSL")

    @property
    def sasl(self) -> bool:
        return self.protocol.startswith("SASL_")


def resolve(kafka: KafkaSettings) -> KafkaSecurity:
    """Checks the security settings and reads the password; SettingsError names the culprit."""
    protocol = kafka.security_protocol.strip().upper()
    if protocol not in PROTOCOLS:
        raise SettingsError(f"kafka.security_protocol must be one of {', '.join(PROTOCOLS)}, "
                            f"not {kafka.security_protocol!r}")
    sasl = protocol.startswith("SASL_")
    tls = protocol in ("SSL", "SASL_SSL")
    given_sasl = [name for name, value in (("kafka.sasl_username", kafka.sasl_username),
                                           ("kafka.sasl_password", kafka.sasl_password),
                                           ("kafka.sasl_password_file", kafka.sasl_password_file)) if value]
    if not sasl and given_sasl:
        raise SettingsError(f"{' and '.join(given_sasl)} set, but kafka.security_protocol is {protocol}: "
                            "the credentials would not be used; set it to SASL_SSL")
    given_tls = [name for name, value in (("kafka.ca_location", kafka.ca_location),
                                          ("kafka.certificate_location", kafka.certificate_location),
                                          ("kafka.key_location", kafka.key_location)) if value]
    if not tls and given_tls:
        raise SettingsError(f"{' and '.join(given_tls)} set, but kafka.security_protocol is {protocol}: "
                            "nothing would be encrypted; set it to SASL_SSL or SSL")
    if bool(kafka.certificate_location) != bool(kafka.key_location):
        raise SettingsError("kafka.certificate_location and kafka.key_location go together (mutual TLS): "
                            "set both or neither")
    for name, path in (("kafka.ca_location", kafka.ca_location),
                       ("kafka.certificate_location", kafka.certificate_location),
                       ("kafka.key_location", kafka.key_location)):
        if path and not Path(path).exists():
            raise SettingsError(f"{name} {path} does not exist")
    mechanism = kafka.sasl_mechanism.strip().upper()
    username = password = ""
    if sasl:
        if mechanism not in MECHANISMS:
            raise SettingsError(f"kafka.sasl_mechanism must be one of {', '.join(MECHANISMS)}, "
                                f"not {kafka.sasl_mechanism!r}")
        username = kafka.sasl_username.strip()
        if not username:
            raise SettingsError(f"kafka.security_protocol is {protocol}, so kafka.sasl_username "
                                "(UCWATCH_KAFKA_SASL_USERNAME) is needed: the principal this process acts as")
        password = kafka.sasl_password or read_secret_file(kafka.sasl_password_file, "kafka.sasl_password_file")
        if not password:
            raise SettingsError(f"kafka.security_protocol is {protocol} but no password for {username} is set: "
                                "set UCWATCH_KAFKA_SASL_PASSWORD or kafka.sasl_password_file")
    return KafkaSecurity(protocol, mechanism, username, password, kafka.ca_location,
                         kafka.certificate_location, kafka.key_location, kafka.key_password)


def read_secret_file(path: str, setting: str) -> str:
    """The first line of `path` ('' when no path is given); the error names the file only."""
    if not path:
        return ""
    try:
        text = Path(path).read_text(encoding="utf-8")
    except FileNotFoundError:
        raise SettingsError(f"{setting} {path} does not exist") from None
    except (OSError, UnicodeDecodeError) as exc:
        reason = exc.strerror if isinstance(exc, OSError) else "not UTF-8 text"
        raise SettingsError(f"{setting} {path} cannot be read: {reason}") from None
    secret = text.splitlines()[0].strip() if text.strip() else ""
    if not secret:
        raise SettingsError(f"{setting} {path} is empty")
    return secret


def confluent_security(kafka: KafkaSettings) -> dict[str, Any]:
    """librdkafka properties for the security settings ({} for PLAINTEXT)."""
    security = resolve(kafka)
    if security.protocol == "PLAINTEXT":
        return {}
    config: dict[str, Any] = {"security.protocol": security.protocol}
    if security.sasl:
        config.update({"sasl.mechanism": security.mechanism, "sasl.username": security.username,
                       "sasl.password": security.password})
    if security.tls:
        # librdkafka's default since 2.0; said here so that no other setting can turn it off.
        config["ssl.endpoint.identification.algorithm"] = "https"
        optional = {"ssl.ca.location": security.ca_location,
                    "ssl.certificate.location": security.certificate_location,
                    "ssl.key.location": security.key_location, "ssl.key.password": security.key_password}
        config.update({key: value for key, value in optional.items() if value})
    return config


def ssl_context(security: KafkaSecurity) -> ssl.SSLContext:
    """A client context that verifies the brokers' certificates (CA and host name)."""
    context = ssl.create_default_context(cafile=security.ca_location or None)
    if security.certificate_location:
        try:
            context.load_cert_chain(security.certificate_location, security.key_location,
                                    password=security.key_password or None)
        except (OSError, ssl.SSLError) as exc:
            raise SettingsError(f"kafka.certificate_location {security.certificate_location} with "
                                f"kafka.key_location {security.key_location} cannot be loaded: "
                                f"{type(exc).__name__}") from None
    return context


def faust_credentials(kafka: KafkaSettings) -> Any:
    """faust's ``broker_credentials`` for the security settings; None for PLAINTEXT.

    Pass it as ``faust.App(..., broker_credentials=faust_credentials(settings.kafka))``:
    faust hands it to every aiokafka client it makes (consumer, producer, admin).
    """
    import faust  # the workers' dependency only; the SDK and the CLI do without it

    security = resolve(kafka)
    if security.protocol == "PLAINTEXT":
        return None
    context = ssl_context(security) if security.tls else None
    if security.sasl:
        credentials = faust.SASLCredentials(username=security.username, password=security.password,
                                            ssl_context=context, mechanism=security.mechanism)
        return credentials
    return faust.SSLCredentials(context)

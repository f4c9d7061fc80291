"""How a failed command ends: an exception becomes one line on stderr and an ExitCode.

`classify` maps every exception a command can raise to its exit code and a message for
people (no librdkafka repr, no traceback). What it cannot place is a bug:
`ExitCode.INTERNAL`, with the traceback appended to `<data_dir>/logs/internal-errors.log`
(`write_internal_log`) and shown on the terminal only with `ucwatch -v`.

    error raised                                     exit code
    KeyboardInterrupt                                INTERRUPTED (130)
    KafkaUnavailable, ClickHouseUnavailable,
      StoreInUse, RegistryError, TimeoutError,
      ConnectionError, a transport KafkaException    UNREACHABLE (3)
    DeliveryError (AuditNotWritten too)              UNDELIVERED (4)
    ContractError, ClickHouseError                   REJECTED (1)
    any other UcwatchError, OSError, KafkaException  USAGE (2)
    anything else                                    INTERNAL (5)
"""

from __future__ import annotations

import os
import sys
import traceback
from datetime import UTC, datetime
from pathlib import Path

from confluent_kafka import KafkaError, KafkaException

from ucwatch import __version__
from ucwatch.core.errors import (
    ContractError,
    DeliveryError,
    KafkaUnavailable,
    RegistryError,
    UcwatchError,
)
from ucwatch.core.exit_codes import ExitCode
from ucwatch.core.kafka_admin import kafka_reason
from ucwatch.core.settings import redact_text
from ucwatch.sinks.errors import ClickHouseError, ClickHouseUnavailable, StoreInUse

LOG_NAME = "internal-errors.log"

EXTRA_OF_MODULE = {
    "faust": "workers", "aiokafka": "workers", "rocksdict": "workers",
    "clickhouse_connect": "sink", "chdb": "sink", "httpx": "analysts",
    "prometheus_client": "notify",
    "starlette": "console", "uvicorn": "console", "jinja2": "console", "argon2": "console",
    "itsdangerous": "console", "multipart": "console", "markupsafe": "console",
}
"""Which extra brings each optional third-party module (pyproject.toml's extras)."""

_TRANSPORT = {KafkaError._TRANSPORT, KafkaError._ALL_BROKERS_DOWN, KafkaError._TIMED_OUT,
              KafkaError._MSG_TIMED_OUT, KafkaError._RESOLVE, KafkaError.REQUEST_TIMED_OUT,
              KafkaError.NETWORK_EXCEPTION, KafkaError.BROKER_NOT_AVAILABLE,
              KafkaError.LEADER_NOT_AVAILABLE, KafkaError.NOT_COORDINATOR,
              KafkaError.COORDINATOR_NOT_AVAILABLE}


def classify(error: BaseException) -> tuple[ExitCode, str] | None:
    """The exit code and one-line message for an error a user can cause; None for a bug."""
    code = _code(error)
    if code is None:
        return None
    return code, _message(error)


def _code(error: BaseException) -> ExitCode | None:  # noqa: PLR0911 - one return per row of the table
    if isinstance(error, KeyboardInterrupt):
        return ExitCode.INTERRUPTED
    if _missing_extra(error) is not None:
        return ExitCode.USAGE
    if isinstance(error, (KafkaUnavailable, ClickHouseUnavailable, StoreInUse, RegistryError,
                          TimeoutError, ConnectionError)):
        return ExitCode.UNREACHABLE
    if isinstance(error, DeliveryError):
        return ExitCode.UNDELIVERED
    if isinstance(error, (ContractError, ClickHouseError)):
        return ExitCode.REJECTED
    if isinstance(error, KafkaException):
        return ExitCode.UNREACHABLE if _kafka_code(error) in _TRANSPORT else ExitCode.USAGE
    if isinstance(error, (UcwatchError, OSError)):
        return ExitCode.USAGE
    return None


def _kafka_code(error: KafkaException) -> int | None:
    inner = error.args[0] if error.args else None
    return inner.code() if isinstance(inner, KafkaError) else None


def _missing_extra(error: BaseException) -> str | None:
    """The extra that would bring a third-party module this command lacks, if that is the error."""
    if not isinstance(error, ModuleNotFoundError) or not error.name:
        return None
    top = error.name.split(".")[0]
    return None if top == "ucwatch" else EXTRA_OF_MODULE.get(top, "all")


def _message(error: BaseException) -> str:
    if isinstance(error, KeyboardInterrupt):
        return "interrupted"
    extra = _missing_extra(error)
    if extra is not None:
        return (f"this command needs {error.name!r} (the ucwatch[{extra}] extra), which is not "  # type: ignore[attr-defined]
                f"installed: pip install 'ucwatch[{extra}]'")
    if isinstance(error, KafkaException):
        return f"Kafka: {kafka_reason(error)}"
    if isinstance(error, OSError) and not isinstance(error, TimeoutError) and error.strerror:
        names = [str(n) for n in (error.filename, error.filename2) if n is not None]
        return f"{': '.join(names)}: {error.strerror}" if names else error.strerror
    return redact_text(str(error)) or type(error).__name__


def write_internal_log(data_dir: Path, error: BaseException, argv: list[str]) -> Path:
    """Appends the traceback of an unexpected error to the internal-errors log; returns its path.
    The folder is private to the user (0700): a traceback can hold a child's token."""
    folder = (data_dir / "logs").resolve()
    folder.mkdir(parents=True, exist_ok=True, mode=0o700)
    path = folder / LOG_NAME
    trace = redact_text("".join(traceback.format_exception(error)))
    entry = (f"--- {datetime.now(UTC).isoformat(timespec='seconds')} ucwatch {__version__} "
             f"pid {os.getpid()}: ucwatch {' '.join(argv)}\n{trace}\n")
    descriptor = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o600)
    with os.fdopen(descriptor, "a", encoding="utf-8") as log:
        log.write(entry)
    return path


def report_internal(data_dir: Path, error: BaseException, argv: list[str], *, verbose: bool) -> None:
    """One line on stderr for a bug, the traceback in the log (and on stderr with -v)."""
    summary = f"{type(error).__name__}: {redact_text(str(error))}".rstrip(": ")
    try:
        where = f"the traceback is in {write_internal_log(data_dir, error, argv)}"
    except OSError as exc:
        where = f"the traceback could not be logged ({exc.strerror}); it follows"
        verbose = True
    print(f"ucwatch: internal error (a bug): {summary}; {where}"
          + ("" if verbose else "; run with -v to see it here"), file=sys.stderr)
    if verbose:
        traceback.print_exception(error, file=sys.stderr)

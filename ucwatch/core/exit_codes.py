"""Every exit status of the `ucwatch` command, defined once (the README's table is this one)."""

from __future__ import annotations

from enum import IntEnum


class ExitCode(IntEnum):
    OK = 0
    REJECTED = 1
    USAGE = 2
    UNREACHABLE = 3
    UNDELIVERED = 4
    INTERNAL = 5
    SUPERVISED_FAILED = 6
    INTERRUPTED = 130

    @property
    def meaning(self) -> str:
        return _MEANINGS[self]


_MEANINGS = {
    ExitCode.OK: "everything asked was done",
    ExitCode.REJECTED: "some input was rejected (see the dead-letter topic), or ClickHouse refused a query",
    ExitCode.USAGE: "usage or settings error; nothing was done",
    ExitCode.UNREACHABLE: "Kafka or ClickHouse unreachable within the retry budget",
    ExitCode.UNDELIVERED: "some records not acknowledged by Kafka; run the same command again",
    ExitCode.INTERNAL: "unexpected internal error (a bug); the traceback is in the log",
    ExitCode.SUPERVISED_FAILED: "ucwatch run: a supervised process failed (restarted, or given up); see the log",
    ExitCode.INTERRUPTED: "interrupted (Ctrl-C or SIGTERM)",
}

"""Running one analyst query: read-only, checked, on an analyst connection.

Every query, served or run directly, goes through `execute`, on an analyst connection
(``readonly=1``, enforced by ClickHouse). `execute` first has ClickHouse parse the query
(``formatQuerySingleLine``) and refuses what read-only mode lets through although it is
not a read: several statements in one query, ``SYSTEM`` and ``KILL`` statements, and
``INTO OUTFILE`` (which chDB writes from the process holding the store). Everything else
is left to the engine, which answers writes, DDL and setting changes with its READONLY
error. Failures are ucwatch errors (sinks/errors.py): `ClickHouseError` with ClickHouse's
message, code and name, `QueryRefused`, or `ClickHouseUnavailable`.
"""

from __future__ import annotations

import re

from clickhouse_connect.driver.client import Client

from ucwatch.sinks.errors import FOREIGN_ERRORS, ClickHouseError, from_driver

FORMATS = {"table": "PrettyCompactMonoBlock", "csv": "CSVWithNames", "json": "JSONEachRow"}
"""ucwatch's output formats and the ClickHouse formats that produce them."""

# Statements that return rows: the requested format is appended to them. Others (SET,
# INSERT, DDL...) run as they are, so that ClickHouse answers them with its own error
# rather than a syntax error about the appended FORMAT.
_RESULT_KINDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS", "CHECK"})
_REFUSED_KINDS = {"SYSTEM": "SYSTEM statements act on the engine the sink runs on",
                  "KILL": "KILL statements would stop the sink's own queries"}
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)
_INTO_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.IGNORECASE)
_OWN_FORMAT = re.compile(r"\bFORMAT\s+\w+(\s+SETTINGS\b.*)?\s*$", re.IGNORECASE | re.DOTALL)
_PROBE = "SELECT formatQuerySingleLine({q:String})"
_PROBE_SCOPE = " In scope SELECT formatQuerySingleLine("


class QueryRefused(ClickHouseError):
    """ucwatch refused an analyst's query that ClickHouse's read-only mode would let through."""


def execute(client: Client, query: str, fmt: str) -> bytes:
    """Runs `query` on an analyst `client`, returns ClickHouse's output in format `fmt`."""
    if fmt not in FORMATS:
        raise ClickHouseError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    normalized = _normalized(client, query)
    bare = _QUOTED.sub("''", normalized)
    match = re.match(r"[\s(]*([A-Za-z]+)", bare)
    kind = match.group(1).upper() if match else ""
    if kind in _REFUSED_KINDS:
        raise QueryRefused(f"analysts' queries are read-only: {_REFUSED_KINDS[kind]}; not run")
    if _INTO_OUTFILE.search(bare):
        raise QueryRefused("analysts' queries are read-only: INTO OUTFILE would write a file from the "
                           "process holding the store; redirect the output of `ucwatch sql` instead; not run")
    try:
        if kind in _RESULT_KINDS and not _OWN_FORMAT.search(bare):
            return client.raw_query(query, fmt=FORMATS[fmt])
        return client.raw_query(query)
    except FOREIGN_ERRORS as exc:
        raise from_driver(exc) from None


def _normalized(client: Client, query: str) -> str:
    """The query as ClickHouse's parser reads it, one statement, comments gone."""
    try:
        text = client.raw_query(_PROBE, parameters={"q": query}, fmt="RawBLOB")
    except FOREIGN_ERRORS as exc:
        error = from_driver(exc)
        if type(error) is ClickHouseError:
            error = ClickHouseError(_without_probe(error.message), code=error.code, name=error.name)
        raise error from None
    return text.decode("utf-8", "replace").strip()


def _without_probe(message: str) -> str:
    """ClickHouse's parse error about the analyst's query, without the probe wrapped around
    it (the analyst did not write the probe; the error's name ends the message)."""
    at = message.find(_PROBE_SCOPE)
    if at < 0:
        return message
    name = re.search(r"\((\w+)\)\s*$", message)
    return message[:at].rstrip(" :.") + "." + (f" ({name.group(1)})" if name else "")

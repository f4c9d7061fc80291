"""Running one analyst query: parsed by ClickHouse, checked against the allow-list, limited.

Every query, served or run directly, goes through `execute`, on an analyst connection
(``readonly=1`` and the analysts' limits, sinks/clickhouse.py). Before it runs:

1. ClickHouse parses it (``formatQuerySingleLine``, a parameter, never spliced): one
   statement, comments gone; a syntax error is ClickHouse's own message.
2. ``INTO OUTFILE`` is refused (chDB would write the file from the process holding the store).
3. ClickHouse's parse tree (``EXPLAIN AST`` of that one statement) is checked by
   `analysts.allowlist`: statements, functions anywhere in the tree (subqueries, ``WITH``,
   lambdas, ``JOIN``s), tables and table functions. A ``SETTINGS`` clause is refused too
   (the engine's read-only mode refuses it while parsing; either way the message says so).

The parse and the catalog (``system.functions``, the database's tables) are read on an
`inspector` connection: read-only, without the analysts' row limit, which would otherwise
cut ucwatch's own look-ups. Failures are ucwatch errors (sinks/errors.py): `QueryRefused`
naming the function, table or statement; `ClickHouseError` with ClickHouse's message, code
and name; `ClickHouseUnavailable`.
"""

from __future__ import annotations

import re
import threading

from clickhouse_connect.driver.client import Client

from ucwatch.analysts.allowlist import Catalog, Node, catalog, parse_ast, refusal
from ucwatch.sinks.errors import FOREIGN_ERRORS, ClickHouseError, from_driver

FORMATS = {"table": "PrettyCompactMonoBlock", "csv": "CSVWithNames", "json": "JSONEachRow"}
"""ucwatch's output formats and the ClickHouse formats that produce them."""

_RESULT_KINDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN"})
_REFUSED_KINDS = {"SYSTEM": "SYSTEM statements act on the engine the sink runs on",
                  "KILL": "KILL statements would stop the sink's own queries"}
_QUOTED = re.compile(r"'(?:[^'\\]|\\.)*'|`(?:[^`\\]|\\.)*`|\"(?:[^\"\\]|\\.)*\"", re.DOTALL)
_INTO_OUTFILE = re.compile(r"\bINTO\s+OUTFILE\b", re.IGNORECASE)
_OWN_FORMAT = re.compile(r"\bFORMAT\s+\w+\s*$", re.IGNORECASE | re.DOTALL)
_PROBE = "SELECT formatQuerySingleLine({q:String})"
_PROBE_SCOPE = " In scope SELECT formatQuerySingleLine("
_READONLY = 164
_LIMITS = {159: "time", 241: "memory", 396: "result rows", 394: "time (cancelled)"}
"""ClickHouse's codes of a query stopped by a limit: TIMEOUT_EXCEEDED, MEMORY_LIMIT_EXCEEDED,
TOO_MANY_ROWS_OR_BYTES, QUERY_WAS_CANCELLED."""
_FUNCTIONS = "SELECT name, is_aggregate, case_insensitive, alias_to, categories FROM system.functions"
_COMBINATORS = "SELECT name FROM system.aggregate_function_combinators"
_TABLES = "SELECT name FROM system.tables WHERE database = {db:String}"
TAG = "/* ucwatch-request:{} */ "
"""Prefixed to a served query's text: how the service finds it in ``system.processes``."""

_functions: dict[str, tuple[list[tuple[str, bool, bool, str, str]], list[str]]] = {}
_functions_lock = threading.Lock()


class QueryRefused(ClickHouseError):
    """ucwatch refused an analyst's query: it is not on the allow-list, or not a read."""


def execute(client: Client, query: str, fmt: str, *, inspector: Client | None = None, tag: str = "") -> bytes:
    """Runs `query` on an analyst `client`, returns ClickHouse's output in format `fmt`.

    `inspector` (default `client`) parses and looks up the catalog; `tag` marks the query's
    text (`TAG`) so that it can be found and killed.
    """
    if fmt not in FORMATS:
        raise ClickHouseError(f"unknown format {fmt!r}; one of {', '.join(FORMATS)}")
    inspector = client if inspector is None else inspector
    normalized = _normalized(inspector, query)
    bare = _QUOTED.sub("''", normalized)
    match = re.match(r"[\s(]*([A-Za-z]+)", bare)
    kind = match.group(1).upper() if match else ""
    if kind in _REFUSED_KINDS:
        raise QueryRefused(f"analysts' queries are read-only: {_REFUSED_KINDS[kind]}; not run")
    if _INTO_OUTFILE.search(bare):
        raise QueryRefused("analysts' queries are read-only: INTO OUTFILE would write a file from the "
                           "process holding the store; redirect the output of `ucwatch sql` instead; not run")
    reason = refusal(_tree(inspector, normalized), _catalog(inspector, client.database or "ucwatch"), normalized)
    if reason:
        raise QueryRefused(f"refused: {reason}; not run")
    text = TAG.format(tag) + query if tag else query
    try:
        if kind in _RESULT_KINDS and not _OWN_FORMAT.search(bare):
            return client.raw_query(text, fmt=FORMATS[fmt])
        return client.raw_query(text)
    except FOREIGN_ERRORS as exc:
        raise _over_limit(from_driver(exc)) from None


def _over_limit(error: ClickHouseError) -> ClickHouseError:
    """A query stopped by an analysts' limit is the query's doing (exit 1), not ClickHouse
    being unavailable (which is how the driver classes running out of memory)."""
    if error.code not in _LIMITS:
        return error
    return ClickHouseError(f"the query was stopped: it exceeded the analysts' limit on {_LIMITS[error.code]} "
                           f"(clickhouse.analyst_*); narrow it. {error.message}", code=error.code, name=error.name)


def _tree(inspector: Client, normalized: str) -> Node:
    try:
        text = inspector.raw_query(f"EXPLAIN AST {normalized}").decode("utf-8", "replace")
    except FOREIGN_ERRORS as exc:
        error = from_driver(exc)
        if error.code == _READONLY:
            raise QueryRefused("refused: a SETTINGS clause (the analysts' limits are settings); not run",
                               code=error.code, name=error.name) from None
        raise error from None
    try:
        return parse_ast(text)
    except ValueError as exc:  # never seen: fail closed
        raise QueryRefused(f"refused: the query's parse tree could not be checked ({exc}); not run") from None


def _catalog(inspector: Client, database: str) -> Catalog:
    try:
        version = str(inspector.server_version)
        with _functions_lock:
            if version not in _functions:
                rows = [(str(r[0]), bool(r[1]), bool(r[2]), str(r[3]), str(r[4]))
                        for r in inspector.query(_FUNCTIONS).result_rows]
                _functions[version] = rows, [str(r[0]) for r in inspector.query(_COMBINATORS).result_rows]
            functions, combinators = _functions[version]
        tables = [str(r[0]) for r in inspector.query(_TABLES, parameters={"db": database}).result_rows]
    except FOREIGN_ERRORS as exc:
        raise from_driver(exc) from None
    return catalog(database, functions, combinators, tables)


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

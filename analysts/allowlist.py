"""What an analyst's query may use: an allow-list checked on ClickHouse's own parse tree.

Pure: `parse_ast` reads the text of ``EXPLAIN AST`` (one node a line, one space of
indent per level), `refusal` walks the tree and returns why the query is refused, or None.
`analysts.guard` asks the engine for the tree and the catalog and raises the refusal.

The rule (docs/analysts.md, "What analysts may and may not do"):

- Statements: ``SELECT`` (with ``WITH``, ``UNION``...), ``EXPLAIN`` of one, ``DESCRIBE``
  of an allowed table, ``SHOW TABLES`` of the ucwatch database. Nothing else, and no
  ``SETTINGS`` clause anywhere (the limits are settings).
- Functions: those the engine lists in ``system.functions`` under a category that only
  computes on its arguments (`SAFE_CATEGORIES`: arithmetic, strings, dates, arrays,
  aggregates, type conversion...), a short list from the category "Other" that does the
  same (`SAFE_OTHER`), aliases of those, and aggregate functions with combinators
  (``countIf``, ``uniqExactState``). Refused: "Other" beyond that list (``file``,
  ``sleep``, ``hostName``, ``getServerSetting``, ``joinGet``, ``filesystem*``...), and the
  categories AI (calls a model over the network), Dictionary and Embedded Dictionary,
  Internal, Introspection, Machine Learning (loads models). An unknown name is refused.
- Tables: the ucwatch database's tables and views but `DENIED_TABLES`, `SYSTEM_TABLES`
  (``system.one``, ``system.numbers``, ``system.zeros``), and the table functions
  `TABLE_FUNCTIONS` (``numbers``, ``zeros``, ``values``, ``generate_series``) besides
  ucwatch's parameterized views. An unqualified name is allowed (but `DENIED_TABLES`): the
  connection's database is ucwatch, so it is a ucwatch table or a ``WITH`` name.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass, field

SAFE_CATEGORIES = frozenset({
    "Aggregate Functions", "Arithmetic", "Arrays", "Bit", "Bitmap", "Comparison", "Conditional",
    "Dates and Times", "Distance", "Encoding", "Encryption", "Financial", "Geo", "Geo Polygon", "Hash",
    "IP Address", "JSON", "Logical", "Map", "Mathematical", "Null", "NumericIndexedVector", "QBit",
    "Random Number", "Rounding", "String", "String Replacement", "String Search", "String Splitting",
    "Time Series", "Time Window", "Tuple", "Type Conversion", "URL", "UUID"})
SAFE_OTHER = frozenset({
    "bar", "byteSize", "countDigits", "currentDatabase", "defaultValueOfArgumentType", "defaultValueOfTypeName",
    "digits", "finalizeAggregation", "formatReadableDecimalSize", "formatReadableQuantity", "formatReadableSize",
    "formatReadableTimeDelta", "getSizeOfEnumType", "getSubcolumn", "identity", "ignore", "initializeAggregation",
    "isConstant", "isDecimalOverflow", "materialize", "neighbor", "parseReadableSize", "parseReadableSizeOrNull",
    "parseReadableSizeOrZero", "parseTimeDelta", "parseISO8601Duration", "rowNumberInAllBlocks",
    "rowNumberInBlock", "runningAccumulate", "runningDifference", "runningDifferenceStartingWithFirstValue",
    "throwIf", "toColumnTypeName", "toTypeName", "transform", "variantElement", "variantType", "visibleWidth"})
"""Functions of the category "Other" that compute on their arguments only."""
SYNTAX = frozenset({"lambda", "caseWithExpression", "exists", "grouping"})
"""Names the parser writes for syntax: ``x -> ...``, ``CASE x WHEN ...``, ``EXISTS (subquery)``, ``GROUPING()``."""

DENIED_TABLES = frozenset({"sink_ledger"})
"""ucwatch tables analysts do not read (as REVOKEd in deploy/clickhouse/users.sql)."""
SYSTEM_TABLES = frozenset({"one", "numbers", "numbers_mt", "zeros", "zeros_mt"})
TABLE_FUNCTIONS = frozenset({"numbers", "numbers_mt", "zeros", "zeros_mt", "values", "generate_series",
                             "generateSeries"})
STATEMENTS = frozenset({"SelectWithUnionQuery", "SelectIntersectExceptQuery", "Explain", "DescribeQuery",
                        "ShowTables"})
IN_FUNCTIONS = frozenset({"in", "notIn", "globalIn", "globalNotIn", "nullIn", "notNullIn", "globalNullIn",
                          "globalNotNullIn"})
"""``x IN t``: a bare name on the right of these is a table."""

_LINE = re.compile(r"^( *)(\S+)(?: (.*))?$")
_SHOW_TABLES_ELSEWHERE = re.compile(r"\b(FROM|IN)\b", re.IGNORECASE)


@dataclass
class Node:
    kind: str
    """The parser's node type: Function, TableIdentifier, Identifier, SelectQuery..."""
    name: str
    """The first word after the type (a function's or table's name), else empty."""
    children: list[Node] = field(default_factory=list)


def parse_ast(text: str) -> Node:
    """The tree of ``EXPLAIN AST`` output (one node a line, one space of indent per level)."""
    root = Node("", "")
    stack: list[tuple[int, Node]] = [(-1, root)]
    for line in text.splitlines():
        if not line.strip():
            continue
        match = _LINE.match(line)
        if match is None:
            raise ValueError(f"unexpected line in the parse tree: {line!r}")
        depth, kind, rest = len(match.group(1)), match.group(2), match.group(3) or ""
        node = Node(kind, rest.split(" ", 1)[0] if rest and not rest.startswith("(") else "")
        while stack[-1][0] >= depth:
            stack.pop()
        stack[-1][1].children.append(node)
        stack.append((depth, node))
    if len(root.children) != 1:
        raise ValueError(f"the parse tree has {len(root.children)} statements")
    return root.children[0]


@dataclass(frozen=True)
class Catalog:
    """What the engine offers that analysts may use."""

    database: str
    functions: frozenset[str]
    """Allowed functions, as named (aliases included)."""
    insensitive: frozenset[str]
    """Lower-cased names of allowed functions that the engine matches case-insensitively."""
    aggregates: frozenset[str]
    """Allowed aggregate functions (bases for combinators)."""
    combinators: tuple[str, ...] = ()
    tables: frozenset[str] = frozenset()
    """The tables and views of `database`."""


def catalog(database: str, functions: Iterable[tuple[str, bool, bool, str, str]], combinators: Iterable[str],
            tables: Iterable[str]) -> Catalog:
    """The catalog from ``system.functions`` rows (name, is_aggregate, case_insensitive,
    alias_to, categories), ``system.aggregate_function_combinators`` and the database's tables."""
    rows = list(functions)
    safe = {name for name, _, _, alias_to, categories in rows
            if not alias_to and (name in SAFE_OTHER or name in SYNTAX
                                 or (categories != "" and set(categories.split(", ")) <= SAFE_CATEGORIES))}
    allowed = safe | SYNTAX | {name for name, _, _, alias_to, _ in rows if alias_to and alias_to in safe}
    return Catalog(
        database=database, functions=frozenset(allowed),
        insensitive=frozenset(name.lower() for name, _, insensitive, _, _ in rows if insensitive and name in allowed),
        aggregates=frozenset(name for name, aggregate, _, _, _ in rows if aggregate and name in allowed),
        # Longest first, so that "MergeState" is tried before "State".
        combinators=tuple(sorted(set(combinators), key=len, reverse=True)), tables=frozenset(tables))


def refusal(root: Node, found: Catalog, normalized: str) -> str | None:
    """Why the query (its tree, and its text as ClickHouse formats it) is refused; None: allowed."""
    if root.kind not in STATEMENTS:
        return (f"analysts' queries are SELECT, EXPLAIN, DESCRIBE or SHOW TABLES statements, "
                f"not {root.kind}")
    if root.kind == "ShowTables" and _SHOW_TABLES_ELSEWHERE.search(normalized):
        return "SHOW TABLES lists the ucwatch database only"
    return _walk(root, found, in_table_expression=False)


def _walk(node: Node, found: Catalog, *, in_table_expression: bool) -> str | None:
    if node.kind == "Set":
        return "a SETTINGS clause (the analysts' limits are settings)"
    if node.kind == "TableIdentifier":
        return _table(node.name, found)
    if node.kind == "Function":
        reason = _table_function(node.name, found) if in_table_expression else _function(node.name, found)
        if reason:
            return reason
        if node.name in IN_FUNCTIONS:
            operands = node.children[0].children if node.children else []
            if len(operands) == 2 and operands[1].kind == "Identifier" and (reason := _table(operands[1].name, found)):
                return reason
    for child in node.children:
        reason = _walk(child, found, in_table_expression=node.kind == "TableExpression")
        if reason:
            return reason
    return None


def _function(name: str, found: Catalog) -> str | None:
    if _function_allowed(name, found):
        return None
    return f"the function {name}() is not one analysts may use"


def _function_allowed(name: str, found: Catalog) -> bool:
    if name in found.functions or name.lower() in found.insensitive:
        return True
    base = name
    while True:  # countIf, uniqExactState, sumArrayIf...: an aggregate and its combinators
        suffix = next((c for c in found.combinators if base.endswith(c) and len(base) > len(c)), None)
        if suffix is None:
            return False
        base = base[:-len(suffix)]
        if base in found.aggregates:
            return True


def _table(name: str, found: Catalog) -> str | None:
    database, dot, table = name.partition(".")
    if not dot:
        database, table = found.database, name
    if database == found.database and table not in DENIED_TABLES:
        return None
    if database == "system" and table in SYSTEM_TABLES:
        return None
    return f"the table {name} is not one analysts may read"


def _table_function(name: str, found: Catalog) -> str | None:
    if name in TABLE_FUNCTIONS:
        return None
    database, dot, _ = name.partition(".")
    if (dot and database == found.database) or (not dot and name in found.tables):
        return _table(name, found)  # a parameterized view of ucwatch
    return f"the table function {name}() is not one analysts may use"

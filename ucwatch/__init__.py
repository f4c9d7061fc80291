"""ucwatch: keeps track of unaccompanied children after federal custody.

The core package holds what every component shares: settings, the exception tree, the
pseudonymous identifiers and the command line. Components live beside it: `schemas`
(the event contract), `producers` (upstream SDK, file import, simulator), `streams`
(detection), `sinks` (ClickHouse).
"""

__version__ = "0.1.0"

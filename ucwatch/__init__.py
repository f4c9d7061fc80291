"""ucwatch: keeps track of unaccompanied children after federal custody.

One import namespace, in layers; imports point down only (docs/architecture.md):

    ucwatch.app                      command line, demo, operators' views      (people)
    ucwatch.analysts  ucwatch.simulate                                         (tools)
    ucwatch.producers ucwatch.streams ucwatch.sinks                            (components)
    ucwatch.schemas                                                            (the contract)
    ucwatch.core                     settings, errors, tokens, Kafka admin, dead letters

The components are the repository's top-level folders (`schemas/`, `producers/`,
`streams/`, `sinks/`, `analysts/`, `simulate/`), linked into this package.
"""

__version__ = "0.2.0"

from ucwatch.core.native import select as _select_native_build

_select_native_build()   # before any compiled module is imported: a stale build never runs (core/native.py)

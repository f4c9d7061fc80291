"""The analysts' query service, in one import: the Unix-socket server of the process holding
the embedded store, the client that asks it, the socket between them, and the guard
every analyst query goes through.

- analysts/guard.py: `execute`, `FORMATS`, `QueryRefused`;
- analysts/endpoint.py: `Endpoint`, `endpoint_path`, `read_endpoint` (the socket);
- analysts/query_server.py: `QueryService`;
- analysts/query_client.py: `ask`, `ServiceUnreachable`.
"""

from __future__ import annotations

from ucwatch.analysts.endpoint import Endpoint, endpoint_path, read_endpoint
from ucwatch.analysts.guard import FORMATS, QueryRefused, execute
from ucwatch.analysts.query_client import ServiceUnreachable, ask
from ucwatch.analysts.query_server import QueryService

__all__ = ["FORMATS", "Endpoint", "QueryRefused", "QueryService", "ServiceUnreachable", "ask", "endpoint_path",
           "execute", "read_endpoint"]

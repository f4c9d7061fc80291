"""The console's ASGI application: every route, the static files and the security headers."""

from __future__ import annotations

from starlette.applications import Starlette
from starlette.routing import Mount, Route
from starlette.staticfiles import StaticFiles

from ucwatch.console import act, admin, auth_routes, dashboard, pages
from ucwatch.console.context import Console
from ucwatch.console.web import HERE, SecurityHeaders, events, healthz, readyz


def build_app(console: Console) -> Starlette:
    routes = [
        # No /metrics here: Prometheus reads it on the metrics port (console/server.py).
        Route("/healthz", healthz), Route("/readyz", readyz),
        Route("/login", auth_routes.login_form, methods=["GET"]),
        Route("/login", auth_routes.login, methods=["POST"]),
        Route("/logout", auth_routes.logout, methods=["POST"]),
        Route("/", pages.queue), Route("/queue/fragment", pages.queue_fragment),
        Route("/alerts/{alert_id}", pages.alert),
        Route("/alerts/{alert_id}/actions/{kind}", act.take_action, methods=["POST"]),
        Route("/children/{child_id}", pages.child),
        Route("/dashboard", dashboard.dashboard), Route("/admin", admin.admin),
        Route("/events", events),
        Mount("/static", StaticFiles(directory=HERE / "static"), name="static"),
    ]
    app = Starlette(routes=routes)
    app.state.console = console
    app.add_middleware(SecurityHeaders)
    return app

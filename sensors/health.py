"""``/healthz`` (JSON, per camera) and ``/metrics`` (Prometheus) on one small HTTP server, 127.0.0.1 by default."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest

log = logging.getLogger(__name__)


class HealthServer:
    """Serves ``health()`` (a dict with a top-level ``status``: ok | degraded | failing) and the registry."""

    def __init__(self, host: str, port: int, health: Callable[[], dict[str, Any]], registry: CollectorRegistry) -> None:
        handler = _handler_for(health, registry)
        self._server = ThreadingHTTPServer((host, port), handler)
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, name="health", daemon=True)

    @property
    def address(self) -> tuple[str, int]:
        host, port = self._server.server_address[:2]
        return str(host), int(port)

    def start(self) -> None:
        self._thread.start()
        log.info("health and metrics on http://%s:%d/healthz and /metrics", *self.address)

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()


def _handler_for(health: Callable[[], dict[str, Any]], registry: CollectorRegistry) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path.split("?")[0] == "/healthz":
                report = health()
                body = json.dumps(report, indent=2, default=str).encode()
                self._reply(200 if report.get("status") == "ok" else 503, "application/json", body)
            elif self.path.split("?")[0] == "/metrics":
                self._reply(200, CONTENT_TYPE_LATEST, generate_latest(registry))
            else:
                self._reply(404, "text/plain", b"not found: use /healthz or /metrics\n")

        def _reply(self, code: int, content_type: str, body: bytes) -> None:
            self.send_response(code)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: Any) -> None:
            log.debug("health request: " + format, *args)

    return Handler

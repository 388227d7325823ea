"""A local HTTP server standing in for Healthchecks, ntfy and Uptime Kuma: it records every request.

``with PingServer() as hc:`` serves on 127.0.0.1:<free port>; ``hc.url("/ping/abc")`` is a URL on it;
``hc.requests`` lists ``Ping(method, path, query, headers, body)`` in arrival order. Every request is
answered 200 "OK" (what Healthchecks answers a ping).
"""

from __future__ import annotations

import threading
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from urllib.parse import parse_qs, urlsplit


@dataclass(frozen=True)
class Ping:
    method: str
    path: str
    query: dict[str, list[str]]
    headers: dict[str, str]
    body: str


class PingServer:
    def __init__(self) -> None:
        self.requests: list[Ping] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            def _record(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length).decode("utf-8", "replace") if length else ""
                parts = urlsplit(self.path)
                server.requests.append(
                    Ping(self.command, parts.path, parse_qs(parts.query), dict(self.headers.items()), body)
                )
                self.send_response(200)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"OK")

            do_GET = do_POST = do_HEAD = _record

            def log_message(self, *args: object) -> None:  # quiet
                pass

        self._httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, daemon=True)

    def url(self, path: str = "/") -> str:
        return f"http://127.0.0.1:{self.port}{path}"

    def paths(self) -> list[str]:
        return [p.path for p in self.requests]

    def __enter__(self) -> PingServer:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._httpd.shutdown()
        self._httpd.server_close()

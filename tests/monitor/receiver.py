"""A local HTTP receiver for webhooks on 127.0.0.1: records what it is sent, verifies
the signature when given a secret, and can be taken down and brought back."""

from __future__ import annotations

import json
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

from liveeval.monitor.channels import (
    DELIVERY_HEADER,
    SIGNATURE_HEADER,
    TIMESTAMP_HEADER,
    verify,
)


class Receiver:
    def __init__(self, secret: bytes | None = None, status: int = 200) -> None:
        self.secret = secret
        self.status = status
        self.received: list[dict[str, Any]] = []
        self.bad_signatures = 0
        self._server: ThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None
        self.port = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}/hook"

    def start(self) -> Receiver:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                body = self.rfile.read(int(self.headers.get("content-length", 0)))
                if owner.secret is not None and not verify(
                    owner.secret,
                    self.headers.get(TIMESTAMP_HEADER, ""),
                    body,
                    self.headers.get(SIGNATURE_HEADER, ""),
                ):
                    owner.bad_signatures += 1
                    self.send_response(401)
                    self.end_headers()
                    return
                owner.received.append(
                    {
                        "path": self.path,
                        "key": self.headers.get(DELIVERY_HEADER),
                        "headers": dict(self.headers),
                        "body": json.loads(body),
                    }
                )
                self.send_response(owner.status)
                self.end_headers()

            def log_message(self, *args: object) -> None:
                pass

        self._server = ThreadingHTTPServer(("127.0.0.1", self.port), Handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(target=self._server.serve_forever, daemon=True)
        self._thread.start()
        return self

    def stop(self) -> None:
        if self._server is not None:
            self._server.shutdown()
            self._server.server_close()
            self._server = None

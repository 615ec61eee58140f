"""Shared by the seed products' client tests: bounded waiting and a webhook receiver."""

from __future__ import annotations

import http.server
import threading
import uuid
from collections.abc import Iterator
from contextlib import contextmanager


def unique(word: str) -> str:
    """A word no other test stores, so searches and lists find only this test's data."""
    return f"{word}{uuid.uuid4().hex[:10]}"


@contextmanager
def receiver() -> Iterator[tuple[str, list[bytes]]]:
    """An HTTP endpoint on 127.0.0.1 that answers 200 and keeps each body it gets."""
    bodies: list[bytes] = []

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            bodies.append(self.rfile.read(int(self.headers.get("content-length", 0))))
            self.send_response(200)
            self.end_headers()

        def log_message(self, *args: object) -> None:
            pass

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/hook", bodies
    finally:
        server.shutdown()
        server.server_close()

"""A real HTTP file server on 127.0.0.1 for download tests: serves byte strings by path,
honours Range requests and can cut the connection midway to exercise resuming."""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer


@dataclass
class FileServer:
    """Serves `files` (path -> content). `cut_after` bytes: the first `cuts` responses (for
    `cut_path` only, when given) stop there and close the connection. `honour_range=False`
    makes it ignore Range headers."""

    files: dict[str, bytes]
    cut_after: int | None = None
    cuts: int = 1
    cut_path: str | None = None
    honour_range: bool = True
    ranges: list[str | None] = field(default_factory=list)
    _server: ThreadingHTTPServer | None = None

    @property
    def url(self) -> str:
        assert self._server is not None
        host, port = self._server.server_address[:2]
        return f"http://{host}:{port}"

    def __enter__(self) -> FileServer:
        owner = self

        class Handler(BaseHTTPRequestHandler):
            def log_message(self, *args: object) -> None:
                pass

            def do_GET(self) -> None:
                content = owner.files.get(self.path)
                if content is None:
                    self.send_error(404)
                    return
                asked = self.headers.get("Range")
                owner.ranges.append(asked)
                start = 0
                if asked and owner.honour_range:
                    start = int(asked.removeprefix("bytes=").split("-")[0])
                    if start >= len(content):
                        self.send_error(416)
                        return
                    self.send_response(206)
                    self.send_header(
                        "Content-Range", f"bytes {start}-{len(content) - 1}/{len(content)}"
                    )
                else:
                    self.send_response(200)
                body = content[start:]
                self.send_header("Content-Length", str(len(body)))
                self.end_headers()
                cut = owner.cut_path in (None, self.path)
                if owner.cut_after is not None and owner.cuts > 0 and cut:
                    owner.cuts -= 1
                    self.wfile.write(body[: owner.cut_after])
                    self.wfile.flush()
                    self.close_connection = True
                    return
                self.wfile.write(body)

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self._server.serve_forever, daemon=True).start()
        return self

    def __exit__(self, *exc: object) -> None:
        assert self._server is not None
        self._server.shutdown()
        self._server.server_close()

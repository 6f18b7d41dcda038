"""A loopback HTTP server with Range support, a temporary model cache, and a catalogue that
points at the server (through ``VOSAM_CATALOGUE``, never by changing the real entries)."""

from __future__ import annotations

import io
import json
import threading
import time
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
import torch

from tests.threads import one_thread  # noqa: F401 (autouse fixture)
from vosam.engines.xmem import XMemArch, XMemNetwork


@dataclass
class Served:
    """What the server holds and what it was asked for."""

    files: dict[str, bytes] = field(default_factory=dict)
    cut: dict[str, int] = field(default_factory=dict)  # path -> close its next GET after n bytes
    delay: float = 0.0  # seconds between 64 KiB blocks
    requests: list[tuple[str, str | None]] = field(default_factory=list)  # (path, Range)
    lock: threading.Lock = field(default_factory=threading.Lock)


def _handler(served: Served) -> type[BaseHTTPRequestHandler]:
    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def log_message(self, *args: object) -> None:
            pass

        def do_GET(self) -> None:
            wanted = self.headers.get("Range")
            with served.lock:
                served.requests.append((self.path, wanted))
                cut = served.cut.pop(self.path, None)
            data = served.files.get(self.path)
            if data is None:
                self.send_error(404)
                return
            start = 0
            if wanted is not None:
                start = int(wanted.removeprefix("bytes=").removesuffix("-"))
                if start >= len(data):
                    self.send_response(416)
                    self.send_header("Content-Range", f"bytes */{len(data)}")
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                self.send_response(206)
                self.send_header("Content-Range", f"bytes {start}-{len(data) - 1}/{len(data)}")
            else:
                self.send_response(200)
            body = data[start:]
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if cut is not None:
                # announce the whole body, send part of it, hang up
                self.wfile.write(body[:cut])
                self.wfile.flush()
                self.close_connection = True
                return
            for k in range(0, len(body), 1 << 16):
                self.wfile.write(body[k : k + (1 << 16)])
                if served.delay:
                    time.sleep(served.delay)

    return Handler


@pytest.fixture
def server():
    """``(base_url, served)``: a threaded loopback HTTP server."""
    served = Served()
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), _handler(served))
    thread = threading.Thread(target=httpd.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", served
    finally:
        httpd.shutdown()
        httpd.server_close()


@pytest.fixture(scope="session")
def checkpoint() -> bytes:
    """A small generated XMem checkpoint (random weights of the tiny architecture)."""
    torch.manual_seed(0)
    buffer = io.BytesIO()
    torch.save(XMemNetwork(XMemArch.tiny()).state_dict(), buffer)
    return buffer.getvalue()


@pytest.fixture
def cache(tmp_path, monkeypatch):
    """An empty model cache: ``$VOSAM_HOME``."""
    home = tmp_path / "home"
    monkeypatch.setenv("VOSAM_HOME", str(home))
    return home


@pytest.fixture
def catalogue(tmp_path, monkeypatch, server, checkpoint, cache):
    """Write test entries served by the loopback server to ``VOSAM_CATALOGUE``; returns a
    function ``add(name, **fields)`` and the served state."""
    base, served = server
    path = tmp_path / "catalogue.json"
    entries: list[dict] = []
    monkeypatch.setenv("VOSAM_CATALOGUE", str(path))

    def add(name: str, data: bytes | None = None, **fields: object) -> dict:
        data = checkpoint if data is None else data
        file = fields.pop("file", f"{name}.pth")
        served.files[f"/{file}"] = data
        entry = {
            "name": name,
            "kinds": ["engine"],
            "backend": "xmem",
            "url": f"{base}/{file}",
            "file": file,
            "licence": "MIT",
            **fields,
        }
        entries.append(entry)
        path.write_text(json.dumps({"models": entries}))
        return entry

    return add, served

"""A session's disk quota holds under concurrent uploads: each upload reserves its declared
length before a byte is sent, so uploads arriving together cannot pass the quota between
them (real concurrent HTTP requests over loopback)."""

from __future__ import annotations

import http.client
import json
import os
import socket
import threading

import pytest

from tests.app.conftest import Client, token_of
from vosam.app.config import MIB
from vosam.app.quota import DiskQuota, QuotaFull, folder_bytes

UPLOADS = 12
UPLOAD_BYTES = int(1.9 * MIB)
QUOTA = 8 * MIB


def _headers(server, token: str, index: int) -> bytes:
    host, port = server.server_address[:2]
    return (
        f"POST /api/upload?name=u{index}.bin HTTP/1.1\r\n"
        f"Host: {host}:{port}\r\n"
        f"Cookie: vosam_session={token}\r\n"
        "Content-Type: application/octet-stream\r\n"
        f"Content-Length: {UPLOAD_BYTES}\r\n"
        "Expect: 100-continue\r\n\r\n"
    ).encode()


def _first_answer(sock: socket.socket) -> http.client.HTTPResponse:
    response = http.client.HTTPResponse(sock)
    response.begin()  # reads the status line and headers; a 100 Continue comes alone
    return response


def _line(sock: socket.socket) -> str:
    line = b""
    while not line.endswith(b"\r\n"):
        chunk = sock.recv(1)
        if not chunk:
            break
        line += chunk
    return line.decode().strip()


def _status_line(sock: socket.socket) -> str:
    """The first line the server answers with (``HTTP/1.1 100 Continue``, whose empty
    header block is read too, or a final answer's)."""
    line = _line(sock)
    if line == "HTTP/1.1 100 Continue":
        assert _line(sock) == ""
    return line


def test_twelve_concurrent_uploads_store_at_most_the_quota(make_server, workspace):
    server = make_server(max_upload_bytes=2 * MIB, max_session_bytes=QUOTA)
    client = Client(server.url)
    token = token_of(client)
    host, port = server.server_address[:2]
    socks = [socket.create_connection((host, port), timeout=30) for _ in range(UPLOADS)]
    firsts: list[str] = [""] * UPLOADS
    start = threading.Barrier(UPLOADS)

    def ask(i: int) -> None:
        start.wait()
        socks[i].sendall(_headers(server, token, i))
        firsts[i] = _status_line(socks[i])

    threads = [threading.Thread(target=ask, args=(i,)) for i in range(UPLOADS)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    accepted = [i for i in range(UPLOADS) if firsts[i] == "HTTP/1.1 100 Continue"]
    refused = [i for i in range(UPLOADS) if i not in accepted]
    # 4 × 1.9 MiB fit in 8 MiB, a fifth does not: the others are refused from their length
    assert len(accepted) == QUOTA // UPLOAD_BYTES == 4, firsts
    for i in refused:
        assert firsts[i].startswith("HTTP/1.1 413"), firsts[i]
        rest = b""
        while chunk := socks[i].recv(65536):
            rest += chunk
        body = json.loads(rest.split(b"\r\n\r\n", 1)[1])
        assert body["error"].startswith(f"u{i}.bin: 1.9 MiB more would pass this session's")
        socks[i].close()

    # the accepted ones send their bodies together; the session's folder never holds more
    # than the quota meanwhile
    data_dir = workspace / ".vosam-app"
    peak = [0]
    done = threading.Event()

    def watch() -> None:
        while not done.is_set():
            peak[0] = max(peak[0], folder_bytes(data_dir))

    watcher = threading.Thread(target=watch)
    watcher.start()
    answers: dict[int, tuple[int, dict]] = {}

    def send(i: int) -> None:
        socks[i].sendall(os.urandom(UPLOAD_BYTES))
        response = _first_answer(socks[i])
        answers[i] = (response.status, json.loads(response.read()))

    senders = [threading.Thread(target=send, args=(i,)) for i in accepted]
    for t in senders:
        t.start()
    for t in senders:
        t.join(60)
    done.set()
    watcher.join()
    for sock in socks:
        sock.close()
    assert peak[0] <= QUOTA, peak[0]
    assert peak[0] > 0  # the watcher did see uploads on disk
    # random bytes are no video (FFmpeg may take them for some raw format): each is refused
    # once stored, and deleted
    for i in accepted:
        status, data = answers[i]
        assert status == 400 and data["error"].startswith(f"u{i}.bin: "), data
    assert folder_bytes(data_dir) < 1024


def test_a_reservation_counts_until_its_bytes_are_on_disk(tmp_path):
    quota = DiskQuota(tmp_path, 1000)
    target = tmp_path / "f"
    with quota.reserve(600, target):
        assert quota.used() == 600
        target.write_bytes(b"x" * 250)
        assert quota.used() == 600  # 250 on disk, 350 still to come
        with pytest.raises(QuotaFull) as caught:
            quota.reserve(401, tmp_path / "g")
        assert caught.value.room == 400
        with quota.reserve(400, tmp_path / "g"):
            assert quota.room() == 0
        target.write_bytes(b"x" * 600)
        assert quota.used() == 600
    assert quota.used() == 600  # the file itself
    target.unlink()
    assert quota.used() == 0 and quota.room() == 1000

"""The web app against hostile or careless clients, at the HTTP level: who gets a session
and who may change it, idle eviction, disk quotas and clean-up, bad numbers and strings,
bounds on images, zips, bodies and slow requests, links out of the workspace, other
sessions' uploads, and the Host header."""

from __future__ import annotations

import http.client
import io
import os
import re
import socket
import struct
import threading
import time
import zipfile
import zlib
from email.message import Message
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import (
    FRAMES,
    Client,
    FloodSegmenter,
    square_at,
    synthetic_video,
    token_of,
)
from tests.references import KIND_WORDS, referencing_files
from vosam.app import AppConfig, create_server, start_in_thread
from vosam.app.guards import HTTPError, check_origin
from vosam.app.quota import size_text
from vosam.io.frames import MAX_FRAME_PIXELS


def zip_of(files: dict[str, bytes], method: int = zipfile.ZIP_DEFLATED) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", method) as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def frames_zip(count: int, *, noise: int | None = None) -> bytes:
    """A zip of ``count`` PNG frames: the synthetic video, or ``noise``×``noise`` random
    pixels (incompressible, so the zip's size is the frames' size)."""
    if noise is None:
        images, _ = synthetic_video(count)
    else:
        rng = np.random.default_rng(count)
        images = rng.integers(0, 256, (count, noise, noise, 3), dtype=np.uint8)
    return zip_of({f"{t:05d}.png": png(images[t]) for t in range(count)}, zipfile.ZIP_STORED)


def big_png(width: int, height: int, *, rows: int | None = None) -> bytes:
    """A greyscale PNG of ``width``×``height`` black pixels, compressed row by row so the
    pixels are never held in memory; only the first ``rows`` rows when given (a header
    with a truncated image)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
        )

    deflate = zlib.compressobj(9)
    row = bytes(width + 1)  # filter byte + pixels
    idat = b"".join(deflate.compress(row) for _ in range(height if rows is None else rows))
    idat += deflate.flush()
    header = struct.pack(">IIBBBBB", width, height, 8, 0, 0, 0, 0)
    return (
        b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")
    )


def one_line_400(status: int, data: object, needle: str) -> None:
    """A refusal as the API gives it: 400, one line naming the input, no exception text."""
    assert status == 400, data
    assert isinstance(data, dict) and set(data) == {"error"}, data
    error = data["error"]
    assert needle in error, error
    assert "\n" not in error and len(error) < 300, error
    for leak in ("Traceback", "Error:", "Exception", "Exceeds the limit", "line 1 column"):
        if leak == "line 1 column" and needle.startswith("bad JSON"):
            continue
        assert leak not in error, error


def raw_request(server, data: bytes, *, timeout: float = 5.0) -> tuple[int, Message, bytes]:
    """Send ``data`` as it is on a new connection; the answer's status, headers, body."""
    host, port = server.server_address[:2]
    with socket.create_connection((host, port), timeout=timeout) as sock:
        sock.sendall(data)
        response = http.client.HTTPResponse(sock)
        response.begin()
        return response.status, response.headers, response.read()


def open_with_a_click(client: Client) -> np.ndarray:
    """Open the clip, add an object and click it on frame 0; frame 0's ids."""
    client.ok("/api/open", {"path": "clip"})
    oid = client.ok("/api/objects", {"name": "mine"})["id"]
    y, x = square_at(0)
    client.ok(
        "/api/prompt", {"frame": 0, "object": oid, "points": [[x + 15, y + 15]], "labels": [1]}
    )
    return ids(client, 0)


def ids(client: Client, index: int) -> np.ndarray:
    status, data = client.get(f"/api/ids/{index}")
    assert status == 200, data
    return np.asarray(Image.open(io.BytesIO(data)))


def session_files(workspace: Path) -> list[str]:
    data_dir = workspace / ".vosam-app"
    return sorted(p.relative_to(data_dir).as_posix() for p in data_dir.rglob("*"))


def wait_until(condition, timeout: float = 10.0) -> bool:
    end = time.monotonic() + timeout
    while time.monotonic() < end:
        if condition():
            return True
        time.sleep(0.05)
    return condition()


# -- 3: sessions -----------------------------------------------------------------------


def test_clients_without_a_session_cannot_evict_a_working_one(make_server):
    server = make_server(max_sessions=2)
    a = Client(server.url)
    before = open_with_a_click(a)
    state = a.get("/api/state")[1]["state"]

    stranger = Client(server.url, session=False)
    for _ in range(17):
        status, data = stranger.get("/api/state")
        assert status == 401 and "no session" in data["error"], data
        status, data = stranger.post("/api/objects", {})
        assert status == 401, data
    assert list(stranger.jar) == [] and len(server.sessions) == 1

    Client(server.url)  # the second and last slot
    status, data = Client(server.url, session=False).post("/api/session")
    assert status == 503 and "all 2 sessions of this app are in use" in data["error"]
    assert len(server.sessions) == 2

    after = a.get("/api/state")[1]["state"]
    for key in ("video", "objects", "annotated"):
        assert after[key] == state[key], key
    assert np.array_equal(ids(a, 0), before) and before.any()


def test_cross_site_and_simple_requests_change_nothing(server):
    a = Client(server.url)
    a.ok("/api/open", {"path": "clip"})
    origin = f"http://127.0.0.1:{server.server_address[1]}"
    cookie = {"Cookie": f"vosam_session={token_of(a)}"}
    evil = {"Origin": "http://evil.example.com"}
    plain = {"Content-Type": "text/plain"}
    stranger = Client(server.url, session=False)

    # the request of the issue: a cross-site page's simple POST, no cookie
    status, data = stranger.post("/api/session", {}, headers={**evil, **plain})
    assert status == 403 and "evil.example.com" in data["error"]
    status, data = stranger.post("/api/objects", {}, headers={**evil, **plain})
    assert status == 403
    assert list(stranger.jar) == [] and len(server.sessions) == 1
    # the user's cookie does not make them pass
    refusals = [
        (evil, 403, "is not this app"),
        ({"Origin": "null"}, 403, "is not this app"),
        ({"Origin": origin + ".evil.example"}, 403, "is not this app"),
        ({"Origin": origin, "Sec-Fetch-Site": "cross-site"}, 403, "cross-site request"),
        ({"Origin": origin, "Sec-Fetch-Site": "same-site"}, 403, "same-site request"),
        ({"Origin": origin, **plain}, 415, "needs Content-Type application/json"),
        ({**plain}, 415, "not text/plain"),
        ({"Content-Type": "application/x-www-form-urlencoded"}, 415, "application/json"),
    ]
    for headers, code, needle in refusals:
        status, data = stranger.post("/api/objects", {}, headers={**cookie, **headers})
        assert status == code and needle in data["error"], (headers, data)
    status, data = a.post(
        "/api/upload?name=x.zip", {}, headers={"Content-Type": "application/json"}
    )
    assert status == 415 and "application/octet-stream" in data["error"]
    assert a.get("/api/state")[1]["state"]["objects"] == []

    # the app's own page: same origin, JSON, the cookie
    headers = {**cookie, "Origin": origin, "Sec-Fetch-Site": "same-origin"}
    status, data = stranger.post("/api/objects", {"name": "ok"}, headers=headers)
    assert status == 200 and [o["name"] for o in data["state"]["objects"]] == ["ok"]
    status, data = stranger.post("/api/objects", {}, headers={"Origin": origin})
    assert status == 401  # the same origin without the cookie


def test_origin_may_be_missing_only_from_loopback():
    headers = Message()
    check_origin(headers, "127.0.0.1:7860", peer_is_loopback=True)
    with pytest.raises(HTTPError, match="only from loopback"):
        check_origin(headers, "host.lan:7860", peer_is_loopback=False)
    headers["Origin"] = "http://host.lan:7860"
    check_origin(headers, "host.lan:7860", peer_is_loopback=False)
    headers["Origin"] = "http://host.lan:7860"  # twice
    with pytest.raises(HTTPError, match="is not this app"):
        check_origin(headers, "host.lan:7860", peer_is_loopback=False)


def test_idle_sessions_end_with_their_files_and_busy_ones_stay(make_server, workspace):
    server = make_server(session_idle_s=1.0)
    a, b = Client(server.url), Client(server.url)
    a.ok("/api/upload?name=frames.zip", raw=frames_zip(2))
    a.ok("/api/export", {"kind": "masks"})
    assert a.wait_job()["state"] == "done"
    files = session_files(workspace)
    (frames,) = [f for f in files if f.endswith("-frames.zip-frames") or f.endswith("-frames")]
    folder = frames.split("/")[0]
    assert frames.startswith(f"{folder}/uploads/")
    # b's folder is made with its session, marked as this server's, and holds nothing else
    others = [f for f in files if f.split("/")[0] != folder]
    assert len(others) == 2 and others[1] == f"{others[0]}/.vosam-owner-{os.getpid()}"
    assert [f for f in files if f not in others] == sorted(
        [
            folder,
            f"{folder}/.vosam-owner-{os.getpid()}",
            f"{folder}/exports",
            f"{folder}/exports/frames-masks.zip",
            f"{folder}/uploads",
            frames,
            f"{frames}/00000.png",
            f"{frames}/00001.png",
        ]
    )

    end = time.monotonic() + 1.8  # b keeps using its session past the idle time
    while time.monotonic() < end:
        assert b.get("/api/state")[0] == 200
        time.sleep(0.2)
    status, data = a.get("/api/state")
    assert status == 401 and "1 seconds without use" in data["error"]
    assert wait_until(lambda: session_files(workspace) == others)
    assert len(server.sessions) == 1 and b.get("/api/state")[0] == 200


def test_stopping_the_server_removes_every_session_with_its_files(workspace, engine):
    config = AppConfig(workspace=workspace, port=0, device="cpu")
    server = create_server(config, propagator=engine, segmenter=FloodSegmenter())
    start_in_thread(server)
    try:
        for _ in range(3):
            client = Client(server.url)
            client.ok("/api/upload?name=frames.zip", raw=frames_zip(2))
            client.ok("/api/export", {"kind": "ytvis"})
            assert client.wait_job()["state"] == "done"
        assert len({f.split("/")[0] for f in session_files(workspace)}) == 3
    finally:
        server.shutdown()
        server.server_close()
    assert session_files(workspace) == []
    assert sorted(p.name for p in workspace.iterdir()) == [".vosam-app", "clip"]


def test_each_session_keeps_one_upload_under_its_disk_quota(make_server, workspace):
    first, second, third = (frames_zip(n, noise=60) for n in (2, 3, 5))
    unpacked = {
        z: sum(i.file_size for i in zipfile.ZipFile(io.BytesIO(z)).infolist())
        for z in (first, second)
    }
    quota = unpacked[first] + len(second) + unpacked[second] // 2
    server = make_server(max_upload_bytes=len(third) + 100, max_session_bytes=quota)
    client = Client(server.url)
    assert client.ok("/api/upload?name=one.zip", raw=first)["state"]["video"]["frames"] == 2
    # the zip itself is gone once unpacked
    uploads = [f for f in session_files(workspace) if "/uploads/" in f and f.count("/") == 2]
    assert len(uploads) == 1 and uploads[0].endswith("-one-frames")

    # the body fits the quota but its frames do not: refused before unpacking
    status, data = client.post("/api/upload?name=two.zip", raw=second)
    assert status == 400, data
    room = size_text(unpacked[second] // 2)
    assert data["error"] == (
        f"two.zip: the zip's frames unpack to {size_text(unpacked[second])}; this session has "
        f"{room} left of its disk quota"
    )
    # over what is left of the quota: refused from its length, before being read
    status, data = client.post("/api/upload?name=three.zip", raw=third)
    assert status == 413 and "three.zip: " in data["error"] and "disk quota" in data["error"]
    assert client.get("/api/state")[1]["state"]["video"]["frames"] == 2
    assert [
        f for f in session_files(workspace) if "/uploads/" in f and f.count("/") == 2
    ] == uploads

    # a new video replaces the old upload: one upload per session on disk
    client.ok("/api/open", {"path": "clip"})
    assert [f for f in session_files(workspace) if "/uploads/" in f] == []
    assert client.ok("/api/upload?name=two.zip", raw=second)["state"]["video"]["frames"] == 3
    uploads = [f for f in session_files(workspace) if "/uploads/" in f and f.count("/") == 2]
    assert len(uploads) == 1 and uploads[0].endswith("-two-frames")


# -- 6: numbers and strings ------------------------------------------------------------

HUGE = "1" + "0" * 5000


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/api/open", '{"path": "clip\\u0000x"}', "'path' holds a NUL character"),
        ("/api/open", '{"path": 5}', "'path' must be a string"),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "points": [[NaN, 5]], "labels": [1]}',
            "bad JSON: NaN",
        ),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "points": [[Infinity, 5]], "labels": [1]}',
            "bad JSON: Infinity",
        ),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "points": [[1e999, 5]], "labels": [1]}',
            "'points'[0] holds a non-finite",
        ),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "points": [[1e308, 5]], "labels": [1]}',
            "'points'[0] = [1e+308, 5] is not on the 160×120 frame",
        ),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "points": [[-5, 5]], "labels": [1]}',
            "'points'[0] = [-5, 5] is not on",
        ),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "points": [["a", 5]], "labels": [1]}',
            "'points'[0] must be an [x, y] pair",
        ),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "box": [0, 0, 1e308, 5]}',
            "'box'[1] = [1e+308, 5] is not on",
        ),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "box": [-1, 0, 5, 5]}',
            "'box'[0] = [-1, 0] is not on",
        ),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "box": [0, 0, -Infinity, 5]}',
            "bad JSON: -Infinity",
        ),
        ("/api/prompt", '{"frame": 0, "object": 1, "box": [9, 0, 5, 5]}', "x0 <= x1"),
        (
            "/api/prompt",
            '{"frame": 0, "object": 1, "box": "0 0 5 5"}',
            "'box' must be [x0, y0, x1, y1]",
        ),
        (
            "/api/prompt",
            '{"frame": 1e308, "object": 1, "box": [0, 0, 5, 5]}',
            "'frame' must be an integer",
        ),
        (
            "/api/prompt",
            '{"frame": -1, "object": 1, "box": [0, 0, 5, 5]}',
            "'frame' must be an integer from 0",
        ),
        (
            "/api/paint",
            '{"frame": 0, "object": 1, "points": [[5, 5]], "radius": NaN}',
            "bad JSON: NaN",
        ),
        (
            "/api/paint",
            '{"frame": 0, "object": 1, "points": [[5, 5]], "radius": 1e999}',
            "'radius' must be a number above 0",
        ),
        (
            "/api/paint",
            '{"frame": 0, "object": 1, "points": [[5, 5]], "radius": 1e308}',
            "'radius' must be a number above 0 to 256",
        ),
        (
            "/api/paint",
            '{"frame": 0, "object": 1, "points": [[5, 5]], "radius": -3}',
            "'radius' must be a number above 0",
        ),
        (
            "/api/paint",
            '{"frame": 0, "object": 1, "points": [[5, 5]], "radius": 0}',
            "'radius' must be a number above 0",
        ),
        (
            "/api/paint",
            '{"frame": 0, "object": 1, "points": [[5, 5]], "radius": "8"}',
            "'radius' must be a number",
        ),
        (
            "/api/paint",
            '{"frame": 0, "object": 1, "points": [[-1e308, 5]], "radius": 3}',
            "'points'[0] = [-1e+308, 5] is not on",
        ),
        (
            "/api/paint",
            '{"frame": 0, "object": 1, "points": [[5, 5]], "erase": "no"}',
            "'erase' must be true or false",
        ),
        ("/api/suggest", '{"k": NaN}', "bad JSON: NaN"),
        ("/api/suggest", '{"k": 1e308}', "'k' must be an integer from 1 to 100"),
        ("/api/suggest", '{"k": -1}', "'k' must be an integer from 1 to 100"),
        ("/api/suggest", '{"k": 5.5}', "'k' must be an integer from 1 to 100"),
        ("/api/suggest", '{"k": true}', "'k' must be an integer from 1 to 100, not a boolean"),
        ("/api/clear", '{"frame": ' + HUGE + "}", "bad JSON: an integer has more than 18 digits"),
        ("/api/clear", '{"frame": 99999999999}', "'frame' must be an integer from 0 to 1000000000"),
        ("/api/clear", "[1, 2]", "expected a JSON object, got a list"),
        ("/api/clear", '{"frame": ', "bad JSON: Expecting value"),
        ("/api/clear", "[" * 100000, "bad JSON"),
        ("/api/objects", '{"name": ["x"]}', "'name' must be a string"),
        ("/api/objects/1", '{"delete": 1}', "'delete' must be true or false"),
        ("/api/objects/" + HUGE, "{}", "object 100000000000… is out of range"),
        (
            "/api/propagate",
            '{"frame": 0, "direction": "sideways"}',
            "direction must be forward or backward",
        ),
        ("/api/export", '{"kind": {"a": 1}}', "'kind' must be a string"),
    ],
)
def test_hostile_numbers_and_strings_are_one_line_400s(client: Client, path, body, needle):
    open_with_a_click(client)
    status, data = client.post(
        path, raw=body.encode(), headers={"Content-Type": "application/json"}
    )
    one_line_400(status, data, needle)
    assert client.get("/api/state")[1]["state"]["objects"][0]["name"] == "mine"


@pytest.mark.parametrize(
    ("path", "needle"),
    [
        ("/api/frame/" + HUGE, "frame 100000000000… is out of range"),
        ("/api/mask/" + HUGE, "frame 100000000000… is out of range"),
        ("/api/ids/00000000000000000000000000001", "frame 000000000000… is out of range"),
        ("/api/frame/99", f"frame 99 is not in the video ({FRAMES} frames)"),
    ],
)
def test_huge_indices_in_paths_are_one_line_400s(client: Client, path, needle):
    client.ok("/api/open", {"path": "clip"})
    status, data = client.get(path)
    one_line_400(status, data, needle)


def test_upload_names_and_mask_frames_are_checked(client: Client, workspace):
    client.ok("/api/open", {"path": "clip"})
    status, data = client.post("/api/upload?name=a%00b%0Ac.mp4", raw=b"not a video")
    one_line_400(status, data, "abc.mp4: not a readable video (")
    # the app's folders are not shown: the upload is named as the user named it
    assert str(workspace) not in data["error"] and "uploads" not in data["error"]
    assert data["error"].endswith(": 'abc.mp4')"), data
    images, _ = synthetic_video(2)
    files = {"00000.png": png(images[0]), "00001.png": png(images[1][:60])}
    status, data = client.post("/api/upload?name=mixed.zip", raw=zip_of(files))
    one_line_400(status, data, "mixed.zip: 00001.png: frame is 160×60 but 00000.png frame is")
    status, data = client.post("/api/mask?frame=" + HUGE, raw=b"x")
    one_line_400(status, data, "frame 100000000000… is out of range")
    status, data = client.post("/api/mask?frame=1%00", raw=b"x")
    one_line_400(status, data, "give ?frame=<index>")


# -- 8: bounds ---------------------------------------------------------------------------


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_a_tiny_zip_of_a_huge_png_is_refused_before_decoding(client: Client, workspace):
    client.ok("/api/open", {"path": "clip"})
    bomb = zip_of({"00000.png": big_png(10000, 10000)})
    assert len(bomb) < 2000
    status, data = client.post("/api/upload?name=bomb.zip", raw=bomb)
    assert status == 400, data
    assert data["error"] == (
        "bomb.zip: 00000.png: the frame is 10000×10000, over the limit of 16777216 pixels "
        "for uploads"
    )
    assert client.get("/api/state")[1]["state"]["video"]["label"] == "clip"
    assert [f for f in session_files(workspace) if "/uploads/" in f] == []


@pytest.mark.filterwarnings("ignore::PIL.Image.DecompressionBombWarning")
def test_frames_over_the_bomb_limits_are_refused_from_their_headers(client: Client, workspace):
    limit = Image.MAX_IMAGE_PIXELS
    (workspace / "warn").mkdir()  # over Pillow's limit: Pillow only warns
    (workspace / "warn" / "00000.png").write_bytes(big_png(10000, 10000, rows=1))
    (workspace / "bomb").mkdir()  # over twice the limit: Pillow raises
    (workspace / "bomb" / "00000.png").write_bytes(big_png(20000, 10000, rows=1))
    status, data = client.post("/api/open", {"path": "warn"})
    # the frame readers' own bound (vosam.io.frames.MAX_FRAME_PIXELS) is below Pillow's
    assert limit > MAX_FRAME_PIXELS
    assert status == 400 and data["error"] == (
        f"warn/00000.png: frame is 10000×10000, more than {MAX_FRAME_PIXELS:,} pixels; not decoded"
    )
    status, data = client.post("/api/open", {"path": "bomb"})
    assert (
        status == 400
        and data["error"]
        == "bomb/00000.png: frame is larger than Pillow's decompression-bomb limit; not decoded"
    )
    # a mask is checked against the frame size before it is decoded
    client.ok("/api/open", {"path": "clip"})
    status, data = client.post("/api/mask?frame=0", raw=big_png(20000, 10000, rows=1))
    assert status == 400 and "Pillow's decompression-bomb limit" in data["error"], data
    status, data = client.post("/api/mask?frame=0", raw=big_png(10000, 10000, rows=1))
    assert status == 400 and "mask is 10000×10000 but frames are 160×120" in data["error"]


def test_a_zip_bomb_is_refused_from_its_directory(make_server, workspace):
    client = Client(make_server(max_upload_bytes=1024 * 1024).url)
    client.ok("/api/open", {"path": "clip"})
    bomb = zip_of({"00000.png": bytes(3 * 1024 * 1024)})
    assert len(bomb) < 10_000
    status, data = client.post("/api/upload?name=bomb.zip", raw=bomb)
    assert status == 400 and data["error"] == (
        "bomb.zip: the zip's frames unpack to 3.0 MiB, over the limit of 1.0 MiB"
    )
    # within the limit, but no image: refused from the member's header
    status, data = client.post(
        "/api/upload?name=zeros.zip", raw=zip_of({"a/0.png": bytes(900_000)})
    )
    assert status == 400 and data["error"] == "zeros.zip: a/0.png: not a PNG or JPEG image"
    assert [f for f in session_files(workspace) if "/uploads/" in f] == []


def test_bodies_over_the_limit_are_refused_before_being_read(make_server):
    server = make_server(max_upload_bytes=1000)
    client = Client(server.url)
    client.ok("/api/open", {"path": "clip"})
    host = f"127.0.0.1:{server.server_address[1]}"
    cookie = f"Cookie: vosam_session={token_of(client)}\r\n"
    # the headers promise a body that never comes: the answer cannot wait for it
    for path, kind, length, needle in [
        (
            "/api/upload?name=big.mp4",
            "application/octet-stream",
            5000,
            "over the limit of 1000 bytes",
        ),
        ("/api/open", "application/json", 64 * 1024 * 1024, "over the limit of 4194304 bytes"),
    ]:
        head = (
            f"POST {path} HTTP/1.1\r\nHost: {host}\r\n{cookie}Content-Type: {kind}\r\n"
            f"Content-Length: {length}\r\n\r\n"
        )
        started = time.monotonic()
        status, headers, body = raw_request(server, head.encode())
        assert status == 413 and needle in body.decode(), body
        assert headers["Connection"] == "close" and time.monotonic() - started < 4
    # a client that waits for "100 Continue" is told 413 instead, and sends nothing
    head = (
        f"POST /api/upload?name=big.mp4 HTTP/1.1\r\nHost: {host}\r\n{cookie}"
        "Content-Type: application/octet-stream\r\nContent-Length: 5000\r\n"
        "Expect: 100-continue\r\n\r\n"
    )
    with socket.create_connection(server.server_address[:2], timeout=5) as sock:
        sock.sendall(head.encode())
        assert sock.recv(4096).startswith(b"HTTP/1.1 413 ")
    assert client.get("/api/state")[1]["state"]["video"]["label"] == "clip"
    # a GET with a body is answered, and its body is not taken for the next request
    head = f"GET / HTTP/1.1\r\nHost: {host}\r\nContent-Length: 27\r\n\r\n"
    status, headers, body = raw_request(server, (head + "GET /api/state HTTP/1.1\r\n\r\n").encode())
    assert status == 200 and headers["Connection"] == "close" and b"app.js" in body


def test_half_sent_requests_time_out_and_connections_are_capped(make_server):
    server = make_server(request_timeout_s=1.0, max_connections=6)
    client = Client(server.url)
    host = f"127.0.0.1:{server.server_address[1]}"
    cookie = f"Cookie: vosam_session={token_of(client)}\r\n"
    time.sleep(0.3)
    baseline = threading.active_count()
    partial = [
        f"POST /api/upload?name=x.mp4 HTTP/1.1\r\nHost: {host}\r\n",  # headers never end
        f"POST /api/upload?name=x.mp4 HTTP/1.1\r\nHost: {host}\r\n{cookie}"
        "Content-Type: application/octet-stream\r\nContent-Length: 100000\r\n\r\n0123456789",
    ]
    held = []
    for i in range(12):
        sock = socket.create_connection(server.server_address[:2], timeout=10)
        sock.sendall(partial[i % 2].encode())
        held.append(sock)
    time.sleep(0.3)
    assert threading.active_count() <= baseline + 6
    # past the cap, connections are answered 503 at once
    refused = [s for s in held if _readable(s)]
    assert len(refused) >= 6
    for sock in refused:
        assert sock.recv(4096).startswith(b"HTTP/1.1 503 ")
    # a client trickling its headers byte by byte is cut off at the deadline as well
    time.sleep(1.0)
    trickle = socket.create_connection(server.server_address[:2], timeout=10)
    started = time.monotonic()
    closed_after = None
    for byte in f"GET /api/state HTTP/1.1\r\nHost: {host}\r\nX-Pad: {'a' * 100}".encode():
        try:
            trickle.sendall(bytes([byte]))
        except OSError:
            closed_after = time.monotonic() - started
            break
        if _readable(trickle, 0.1):
            closed_after = time.monotonic() - started
            break
    trickle.close()
    assert closed_after is not None and closed_after < 3.0
    for sock in held:
        if sock not in refused:
            sock.settimeout(5)
            data = _read_all(sock)  # closed by the server: an empty read, or a 408
            assert data == b"" or data.startswith(b"HTTP/1.1 408 "), data
        sock.close()
    assert wait_until(lambda: threading.active_count() <= baseline, 5)
    assert client.get("/api/state")[0] == 200


def _readable(sock: socket.socket, wait: float = 0.0) -> bool:
    import select

    return bool(select.select([sock], [], [], wait)[0])


def _read_all(sock: socket.socket) -> bytes:
    chunks = []
    while True:
        try:
            chunk = sock.recv(65536)
        except ConnectionResetError:
            break
        if not chunk:
            break
        chunks.append(chunk)
    return b"".join(chunks)


# -- 9: paths, sessions, zips, labels, hosts -------------------------------------------


def test_frames_linked_out_of_the_workspace_are_refused(client: Client, workspace, tmp_path):
    images, _ = synthetic_video(2)
    outside = tmp_path / "outside"
    outside.mkdir()
    (outside / "secret.png").write_bytes(png(images[1]))
    linked = workspace / "linked"
    linked.mkdir()
    (linked / "00000.png").write_bytes(png(images[0]))
    (linked / "00001.png").symlink_to(outside / "secret.png")
    status, data = client.post("/api/open", {"path": "linked"})
    assert status == 400 and data["error"] == (
        "linked/00001.png: is outside the workspace workspace/; only paths inside it open"
    )
    # links between frames inside the workspace are fine
    (linked / "00001.png").unlink()
    (linked / "00001.png").symlink_to(workspace / "clip" / "00001.png")
    assert client.ok("/api/open", {"path": "linked"})["state"]["video"]["frames"] == 2
    assert client.get("/api/state")[1]["state"]["video"]["label"] == "linked"


@pytest.mark.parametrize("kind", sorted(KIND_WORDS))
def test_playlists_and_lists_naming_files_elsewhere_are_refused(
    client: Client, workspace, tmp_path, kind
):
    """FFmpeg would follow their entries to a video outside the workspace and the app
    would serve its frames; whether opened from the workspace or uploaded, they are 400s
    naming the file."""
    files = referencing_files(workspace / "lists", tmp_path / "outside")
    shown = files[kind].relative_to(workspace).as_posix()
    status, data = client.post("/api/open", {"path": shown})
    one_line_400(status, data, f"{shown}: is a")
    assert KIND_WORDS[kind] in data["error"] and "secret" not in data["error"]

    name = "x" + files[kind].suffix
    status, data = client.post(f"/api/upload?name={name}", raw=files[kind].read_bytes())
    one_line_400(status, data, f"{name}: is a")
    assert KIND_WORDS[kind] in data["error"]
    assert [f for f in session_files(workspace) if "/uploads/" in f] == []
    assert client.get("/api/state")[1]["state"]["video"] is None
    assert client.get("/api/frame/0")[0] == 400


def test_a_session_cannot_open_another_sessions_upload(server, workspace):
    a, b = Client(server.url), Client(server.url)
    a.ok("/api/upload?name=mine.zip", raw=frames_zip(2))
    (frames,) = [f for f in session_files(workspace) if f.endswith("-mine-frames")]
    path = f".vosam-app/{frames}"
    (workspace / "alias").symlink_to(workspace / path)
    (workspace / "frames").mkdir()
    (workspace / "frames" / "00000.png").symlink_to(workspace / path / "00000.png")
    for shown in (path, "alias", "frames"):
        status, data = b.post("/api/open", {"path": shown})
        assert status == 400 and "is in the app's data folder .vosam-app/" in data["error"], data
    assert b.get("/api/state")[1]["state"]["video"] is None
    # nor is the upload's path shown to anyone: the video is labelled by its upload name
    assert a.get("/api/state")[1]["state"]["video"]["label"] == "mine.zip"


def test_two_frames_with_one_file_name_in_a_zip_are_an_error(client: Client, workspace):
    images, _ = synthetic_video(2)
    files = {"a/00000.png": png(images[0]), "b/00000.png": png(images[1])}
    status, data = client.post("/api/upload?name=two.zip", raw=zip_of(files))
    assert status == 400 and data["error"] == (
        "two.zip: a/00000.png and b/00000.png would both be frame 00000.png; a zip of frames "
        "holds one video, each frame with its own file name"
    )
    assert [f for f in session_files(workspace) if "/uploads/" in f] == []


@pytest.mark.parametrize(
    ("labels", "needle"),
    [
        ([7], "'labels'[0] must be 1 (positive) or 0 (negative)"),
        ([-1], "'labels'[0] must be 1 (positive) or 0 (negative)"),
        ([True], "'labels'[0] must be 1 (positive) or 0 (negative)"),
        ([0.5], "'labels'[0] must be 1 (positive) or 0 (negative)"),
        (["1"], "'labels'[0] must be 1 (positive) or 0 (negative)"),
        ([1, 0], "'labels' has 2 labels for 1 points"),
        ([], "'labels' has 0 labels for 1 points"),
        ("1", "'labels' must be a list of 0 and 1"),
    ],
)
def test_click_labels_other_than_0_and_1_are_refused(client: Client, labels, needle):
    client.ok("/api/open", {"path": "clip"})
    oid = client.ok("/api/objects", {})["id"]
    y, x = square_at(0)
    body = {"frame": 0, "object": oid, "points": [[x + 15, y + 15]], "labels": labels}
    one_line_400(*client.post("/api/prompt", body), needle)
    assert client.get("/api/state")[1]["state"]["annotated"] == []


def test_the_host_header_is_parsed_strictly(server):
    port = server.server_address[1]
    bad = [
        (f"127.0.0.1:{port}@evil.com", 400),
        (f"localhost:{port}:1", 400),
        (f"evil.com#@127.0.0.1:{port}", 400),
        (f"127.0.0.1:{port}/x", 400),
        ("127.0.0.1:99999", 400),
        ("[::1", 400),
        ("[zz::1]", 400),
        ("", 400),
        (f"evil.example:{port}", 403),
        (f"127.0.0.1.evil.example:{port}", 403),
        (f"localhost.evil.example:{port}", 403),
    ]
    for host, code in bad:
        status, _, body = raw_request(server, f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert status == code, (host, body)
        assert re.search(rb'"error": "(malformed Host header|host .* is not served)', body), body
    status, _, body = raw_request(server, b"GET / HTTP/1.1\r\n\r\n")
    assert status == 400 and b"exactly one Host header" in body
    two = f"GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nHost: evil.example\r\n\r\n"
    assert raw_request(server, two.encode())[0] == 400
    for host in (
        f"127.0.0.1:{port}",
        f"localhost:{port}",
        f"LOCALHOST:{port}",
        f"[::1]:{port}",
        "127.0.0.1",
    ):
        status, _, body = raw_request(server, f"GET / HTTP/1.1\r\nHost: {host}\r\n\r\n".encode())
        assert status == 200 and b"/static/app.js" in body, host

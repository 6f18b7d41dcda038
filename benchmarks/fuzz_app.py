"""Web app: fuzz the JSON API of a live server on loopback with hostile requests.

Serves a tiny synthetic clip with the app's default (embedded) models and sends requests
drawn by hypothesis: every route (and wrong methods), bodies that are random JSON, JSON
with the routes' own fields set to hostile values (NaN, ±inf, 1e308, negative and
5,000-digit numbers, strings with NUL, wrong types, deep nesting), broken JSON and raw
bytes, hostile path indices and query strings, wrong content types and origins. Every
answer must be 2xx, or 4xx with a one-line JSON error; never 5xx, never a dropped
connection before an answer; and the server must keep answering. Prints the number of
cases tried and the failures found.

    python benchmarks/fuzz_app.py [--cases 3000] [--seed 0]
"""

from __future__ import annotations

import argparse
import http.client
import io
import json
import logging
import sys
import tempfile
import time
import zipfile
from pathlib import Path
from urllib.parse import quote

import numpy as np
from hypothesis import HealthCheck, Phase, given, seed, settings
from hypothesis import strategies as st
from PIL import Image

SIZE = (48, 64)  # (H, W) of the clip's frames
FRAMES = 4
JSON_ROUTES = (
    "/api/session",
    "/api/open",
    "/api/objects",
    "/api/objects/1",
    "/api/prompt",
    "/api/embed",
    "/api/paint",
    "/api/confirm",
    "/api/clear",
    "/api/undo",
    "/api/redo",
    "/api/propagate",
    "/api/suggest",
    "/api/export",
    "/api/cancel",
)
GET_ROUTES = (
    "/api/state",
    "/api/videos",
    "/api/frame/{}",
    "/api/mask/{}",
    "/api/ids/{}",
    "/api/download/{}",
)

# -- values -------------------------------------------------------------------------------

HUGE = b"9" * 5000  # spliced into a body as a literal integer of 5,000 digits

numbers = st.one_of(
    st.integers(-5, 200),
    st.integers(-(2**80), 2**80),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([0, -1, 0.5, 1e308, -1e308, 2**63, -(2**63), 10**18, 10**19]),
)
strings = st.one_of(
    st.text(max_size=30),
    st.text(alphabet=st.sampled_from("\x00\n\r/.\\:%ab01 é"), max_size=20),
    st.sampled_from(
        [
            "clip",
            "clip\x00",
            "\x00",
            "../",
            "..",
            "/etc/passwd",
            ".vosam-app",
            ".vosam-app/x/uploads",
            "forward",
            "backward",
            "both",
            "masks",
            "overlay",
            "ytvis",
            "",
            " ",
            "a" * 5000,
        ]
    ),
)
scalars = st.one_of(st.none(), st.booleans(), numbers, strings)
json_values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=6), st.dictionaries(st.text(max_size=8), inner, max_size=6)
    ),
    max_leaves=25,
)


def weighted(*choices: tuple[int, st.SearchStrategy]) -> st.SearchStrategy:
    """One of ``choices``, each ``(weight, strategy)``, picked in proportion to its weight."""
    table = [strategy for weight, strategy in choices for _ in range(weight)]
    return st.sampled_from(range(len(table))).flatmap(lambda i: table[i])


def field(plausible: st.SearchStrategy, hostile: st.SearchStrategy = json_values):
    """A field's value: plausible three times in four, else hostile."""
    return weighted((3, plausible), (1, st.one_of(hostile, json_values)))


H, W = SIZE
on_frame = st.lists(st.tuples(st.floats(0, W), st.floats(0, H)).map(list), min_size=1, max_size=5)
coordinate = weighted((3, st.floats(-10, W + 10)), (1, numbers))
FIELDS = {
    "path": field(st.sampled_from(["clip", "clip/", "./clip"]), strings),
    "name": field(st.text(max_size=20), strings),
    "frame": field(st.integers(0, FRAMES - 1), numbers),
    "object": field(st.integers(1, 2), numbers),
    "points": field(on_frame, st.lists(st.lists(coordinate, min_size=2, max_size=2), max_size=4)),
    "labels": field(st.lists(st.integers(0, 1), min_size=1, max_size=5), st.lists(numbers)),
    "box": field(
        st.lists(st.floats(0, min(H, W)), min_size=4, max_size=4).map(sorted),
        st.lists(coordinate, min_size=4, max_size=4),
    ),
    "radius": field(st.floats(0.5, 30), numbers),
    "erase": field(st.booleans()),
    "delete": field(st.booleans()),
    "direction": field(st.sampled_from(["forward", "backward"]), strings),
    "k": field(st.integers(1, 4), numbers),
    "kind": field(st.sampled_from(["masks", "ytvis"]), strings),
}
ROUTE_FIELDS = {
    "/api/session": (),
    "/api/open": ("path",),
    "/api/objects": ("name",),
    "/api/objects/1": ("name", "delete"),
    "/api/prompt": ("frame", "object", "points", "labels", "box"),
    "/api/embed": ("frame",),
    "/api/paint": ("frame", "object", "points", "radius", "erase"),
    "/api/confirm": ("frame",),
    "/api/clear": ("frame",),
    "/api/undo": (),
    "/api/redo": (),
    "/api/propagate": ("frame", "direction"),
    "/api/suggest": ("k",),
    "/api/export": ("kind",),
    "/api/cancel": (),
}


@st.composite
def route_body(draw, route: str) -> dict:
    """The route's fields, each present nine times in ten, and now and then another key."""
    body = {k: draw(FIELDS[k]) for k in ROUTE_FIELDS[route] if draw(st.integers(0, 9))}
    if route == "/api/prompt" and draw(st.integers(0, 3)):  # clicks with one label each
        points = draw(on_frame)
        body["points"] = points
        body["labels"] = draw(
            st.lists(st.integers(0, 1), min_size=len(points), max_size=len(points))
        )
        if draw(st.booleans()):
            body.pop("box", None)
    if draw(st.integers(0, 9)) == 0:
        body[draw(st.sampled_from(sorted(FIELDS)))] = draw(json_values)
    return body


def _encode(value: object) -> bytes:
    return json.dumps(value, allow_nan=True).encode()


def bodies(route: str) -> st.SearchStrategy:
    fields = route_body(route)
    return weighted(
        (14, fields.map(_encode)),  # the route's own fields, plausible or hostile values
        (2, json_values.map(_encode)),  # any JSON
        (1, fields.map(lambda d: _encode(d).replace(b"{", b'{"frame": ' + HUGE + b", ", 1))),
        (1, st.binary(max_size=200)),
        (1, fields.map(lambda d: _encode(d)[:-1])),  # cut short
        (1, st.sampled_from([b"[" * 50_000, b""])),
    )


indices = st.one_of(
    st.integers(0, FRAMES + 2).map(str),
    st.integers(0, 2**70).map(str),
    st.just("1" + "0" * 5000),
    st.text(alphabet="0123456789", min_size=1, max_size=40),
    st.text(max_size=10).map(lambda t: quote(t, safe="")),
)
headers = weighted(
    (16, st.just({})),  # as the page sends
    (1, st.just({"Content-Type": "text/plain"})),
    (1, st.just({"Origin": "http://evil.example.com"})),
    (1, st.just({"Sec-Fetch-Site": "cross-site"})),
    (1, st.just({"Content-Type": "application/json; charset=utf-8"})),
)


@st.composite
def cases(draw) -> dict:
    """One request: ``{method, path, body, content_type, headers}``."""
    kind = draw(st.sampled_from(["json"] * 12 + ["get"] * 3 + ["upload", "mask", "wrong"]))
    extra = draw(headers)
    if kind == "json":
        route = path = draw(st.sampled_from(JSON_ROUTES))
        if route == "/api/objects/1" and draw(st.integers(0, 3)) == 0:
            path = "/api/objects/" + draw(indices)
        return dict(
            method="POST",
            path=path,
            body=draw(bodies(route)),
            type="application/json",
            headers=extra,
        )
    if kind == "get":
        path = draw(st.sampled_from(GET_ROUTES)).format(draw(indices))
        return dict(method="GET", path=path, body=None, type=None, headers=extra)
    if kind in ("upload", "mask"):
        name = quote(draw(strings), safe="")
        query = f"name={name}"
        if kind == "mask":
            query += "&frame=" + draw(st.one_of(indices, st.text(max_size=5).map(quote)))
        body = draw(st.one_of(st.binary(max_size=300), st.sampled_from(SAMPLES)))
        path = f"/api/{'upload' if kind == 'upload' else 'mask'}?{query}"
        return dict(
            method="POST", path=path, body=body, type="application/octet-stream", headers=extra
        )
    # a route with the wrong method, or no route at all
    path = draw(st.sampled_from([*JSON_ROUTES, "/api/state", "/api/nothing", "/api/frame/x"]))
    method = draw(st.sampled_from(["GET", "POST"]))
    return dict(
        method=method,
        path=path,
        body=b"{}" if method == "POST" else None,
        type="application/json",
        headers=extra,
    )


def _png(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def _zip(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as z:
        for name, data in files.items():
            z.writestr(name, data)
    return buffer.getvalue()


def _frames(n: int = FRAMES) -> list[np.ndarray]:
    rng = np.random.default_rng(0)
    out = []
    for t in range(n):
        image = rng.integers(60, 120, (*SIZE, 3), dtype=np.uint8)
        image[10:30, 5 + 5 * t : 25 + 5 * t] = (220, 40, 40)
        out.append(image)
    return out


_F = _frames(2)
_mask = np.zeros(SIZE, np.uint8)
_mask[10:30, 5:25] = 1
SAMPLES = [
    _zip({"00000.png": _png(_F[0]), "00001.png": _png(_F[1])}),  # a good zip of frames
    _zip({"a/0.png": _png(_F[0]), "b/0.png": _png(_F[1])}),  # one file name twice
    _zip({"0.png": bytes(200_000)}),  # zeros posing as a frame
    _png(_mask),  # a good mask for the clip
    _png(_mask[:10]),  # a mask of another size
    b"PK\x05\x06" + bytes(18),  # an empty zip
]

# -- the run ------------------------------------------------------------------------------


class Fuzzer:
    def __init__(self, url: str, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.origin = url.rstrip("/")
        self.conn: http.client.HTTPConnection | None = None
        self.cookie = ""
        self.tried = 0
        self.failures: list[str] = []
        self.statuses: dict[int, int] = {}

    def send(
        self,
        method: str,
        path: str,
        body: bytes | None,
        kind: str | None,
        extra: dict[str, str] | None = None,
        *,
        cookie: bool = True,
    ):
        """``(status, headers, payload)``; one retry on a fresh connection when a kept-alive
        one turns out closed before anything was sent."""
        head = {"Host": f"{self.host}:{self.port}"}
        if kind:
            head["Content-Type"] = kind
        if cookie and self.cookie:
            head["Cookie"] = self.cookie
        head.update(extra or {})
        for attempt in (0, 1):
            if self.conn is None:
                self.conn = http.client.HTTPConnection(self.host, self.port, timeout=120)
            try:
                self.conn.request(method, path, body=body, headers=head)
                response = self.conn.getresponse()
                payload = response.read()
            except (http.client.RemoteDisconnected, BrokenPipeError, ConnectionResetError):
                self.conn.close()
                self.conn = None
                if attempt:
                    raise
                continue
            if response.will_close:
                self.conn.close()
                self.conn = None
            return response.status, response.headers, payload
        raise AssertionError("unreachable")

    def setup(self) -> None:
        """Make the session, open the clip, add an object and mark it on frame 0."""
        status, headers, payload = self.send("POST", "/api/session", b"{}", "application/json")
        assert status == 200, payload
        self.cookie = headers["Set-Cookie"].split(";", 1)[0]
        self.reset()

    def reset(self) -> None:
        self.wait_idle()

        def post(path: str, body: dict):
            return self.send("POST", path, json.dumps(body).encode(), "application/json")

        status, _, payload = post("/api/open", {"path": "clip"})
        assert status == 200, payload
        post("/api/objects", {"name": "square"})
        post("/api/prompt", {"frame": 0, "object": 1, "points": [[15.0, 20.0]], "labels": [1]})

    def wait_idle(self, timeout: float = 120) -> None:
        end = time.monotonic() + timeout
        while time.monotonic() < end:
            status, _, payload = self.send("GET", "/api/state", None, None)
            assert status == 200, payload
            job = json.loads(payload)["state"]["job"]
            if not job or job["state"] not in ("queued", "running"):
                return
            self.send("POST", "/api/cancel", b"{}", "application/json")
            time.sleep(0.05)

    def check(self, case: dict) -> None:
        self.tried += 1
        where = (
            f"{case['method']} {case['path'][:80]} body={case['body'][:80]!r}"
            if case["body"]
            else f"{case['method']} {case['path'][:80]}"
        )
        try:
            status, headers, payload = self.send(
                case["method"], case["path"], case["body"], case["type"], case["headers"]
            )
        except Exception as e:  # a dropped connection is a failure too
            self.failures.append(f"{where}: no answer ({type(e).__name__}: {e})")
            return
        self.statuses[status] = self.statuses.get(status, 0) + 1
        if status >= 500 or status < 200:
            self.failures.append(f"{where}: HTTP {status} {payload[:200]!r}")
            return
        is_json = headers.get("Content-Type", "").startswith("application/json")
        if status >= 400:
            try:
                data = json.loads(payload)
                ok = is_json and set(data) == {"error"} and isinstance(data["error"], str)
                ok = ok and "\n" not in data["error"] and "Traceback" not in data["error"]
            except ValueError:
                ok = False
            if not ok:
                self.failures.append(
                    f"{where}: HTTP {status} without a one-line JSON error: {payload[:200]!r}"
                )
        elif is_json:
            try:
                json.loads(payload, parse_constant=_no_constant)
            except ValueError as e:
                self.failures.append(f"{where}: HTTP {status} with invalid JSON ({e})")
        if status == 401:  # cannot happen with the cookie sent; make a new session anyway
            self.setup()
        if self.tried % 25 == 0:
            self.alive(where)

    def alive(self, where: str) -> None:
        try:
            status, _, payload = self.send("GET", "/api/state", None, None)
            if status != 200:
                raise AssertionError(f"HTTP {status} {payload[:100]!r}")
            self.reset()
        except Exception as e:
            self.failures.append(f"after {where}: the server stopped answering ({e})")
            raise SystemExit(self.report()) from None

    def report(self) -> str:
        lines = [f"cases tried: {self.tried}", f"failures found: {len(self.failures)}"]
        lines.append("answers: " + ", ".join(f"{k}×{v}" for k, v in sorted(self.statuses.items())))
        lines += [f"  {f}" for f in self.failures[:20]]
        return "\n".join(lines)


def _no_constant(name: str):
    raise ValueError(f"{name} in an answer")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--cases", type=int, default=3000)
    parser.add_argument("--seed", type=int, default=0)
    args = parser.parse_args()
    logging.basicConfig(level=logging.CRITICAL)  # the server logs 500s; the report counts them

    import torch

    from vosam.app import AppConfig, create_server, start_in_thread

    torch.set_num_threads(1)
    with tempfile.TemporaryDirectory() as tmp:
        workspace = Path(tmp)
        (workspace / "clip").mkdir()
        for t, image in enumerate(_frames()):
            Image.fromarray(image).save(workspace / "clip" / f"{t:05d}.png")
        config = AppConfig(workspace=workspace, port=0, device="cpu", max_upload_bytes=1024 * 1024)
        server = create_server(config)
        start_in_thread(server)
        started = time.perf_counter()
        fuzzer = Fuzzer(server.url, *server.server_address[:2])
        try:
            fuzzer.setup()

            @seed(args.seed)
            @settings(
                max_examples=args.cases,
                deadline=None,
                database=None,
                phases=[Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            @given(cases())
            def run(case: dict) -> None:
                fuzzer.check(case)

            run()
            fuzzer.alive("the last case")
        finally:
            server.shutdown()
            server.server_close()
        left = sorted(p.name for p in (workspace / ".vosam-app").iterdir())
    print(fuzzer.report())
    print(f"session folders left after shutdown: {len(left)}")
    print(f"{time.perf_counter() - started:.0f} s, seed {args.seed}")
    return 1 if fuzzer.failures or left else 0


if __name__ == "__main__":
    sys.exit(main())

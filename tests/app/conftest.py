"""Fixtures of the web-app tests: a synthetic video, a stand-in promptable segmenter, a
running server and an HTTP client that keeps its session cookie."""

from __future__ import annotations

import json
import urllib.error
import urllib.request
from http.cookiejar import CookieJar
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from scipy import ndimage

from tests.threads import one_thread  # noqa: F401 (autouse fixture)
from vosam.app import AppConfig, create_server, start_in_thread
from vosam.engines.embedded import EmbeddedConfig, EmbeddedPropagator
from vosam.refine import ImageEmbedding, Prediction, Prompt, PromptableSegmenter

REPO = Path(__file__).resolve().parents[2]
DATA = REPO.parent / "shared" / "data"
SIZE = (120, 160)
FRAMES = 8
RED = (220, 40, 40)
BLUE = (40, 60, 220)


def square_at(t: int) -> tuple[int, int]:
    """Top-left ``(y, x)`` of the red 30×30 square on frame ``t`` (it moves right)."""
    return 40, 20 + 6 * t


def disc_at(t: int) -> tuple[int, int]:
    """Centre ``(y, x)`` of the blue disc of radius 12 on frame ``t`` (it moves down)."""
    return 25 + 5 * t, 120


def synthetic_video(frames: int = FRAMES) -> tuple[np.ndarray, np.ndarray]:
    """``uint8 (T, H, W, 3)`` frames and ``(T, H, W)`` masks: a red square (id 1) moving
    right and a blue disc (id 2) moving down over a grey checker texture."""
    h, w = SIZE
    rng = np.random.default_rng(3)
    checker = (np.kron(rng.random((h // 10, w // 10)), np.ones((10, 10))) * 60 + 90).astype(
        np.uint8
    )
    yy, xx = np.mgrid[:h, :w]
    images, masks = [], []
    for t in range(frames):
        image = np.repeat(checker[..., None], 3, axis=2)
        mask = np.zeros((h, w), np.uint8)
        y, x = square_at(t)
        image[y : y + 30, x : x + 30] = RED
        mask[y : y + 30, x : x + 30] = 1
        cy, cx = disc_at(t)
        disc = (yy - cy) ** 2 + (xx - cx) ** 2 <= 12**2
        image[disc] = BLUE
        mask[disc] = 2
        images.append(image)
        masks.append(mask)
    return np.stack(images), np.stack(masks)


def write_frames(folder: Path, images: np.ndarray) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for t, image in enumerate(images):
        Image.fromarray(image).save(folder / f"{t:05d}.png")
    return folder


class FloodSegmenter(PromptableSegmenter):
    """Stand-in for a SAM-family model: the object under the positive clicks is the
    connected region of pixels within ``tol`` of the clicked colour; regions under negative
    clicks are removed; a box alone gives the box."""

    name = "flood"

    def __init__(self, tol: float = 30.0) -> None:
        self.tol = tol
        self.calls = 0
        self.embeds = 0

    @property
    def device(self) -> str:
        return "cpu"

    def embed(self, image: np.ndarray) -> ImageEmbedding:
        self.embeds += 1
        return ImageEmbedding(image.shape[:2], image.astype(np.float32))

    def predict(self, embedding: ImageEmbedding, prompt: Prompt) -> Prediction:
        self.calls += 1
        image = embedding.data
        h, w = embedding.size
        out = np.zeros((h, w), bool)
        points = [] if prompt.points is None else prompt.points.round().astype(int).tolist()
        labels = [] if prompt.labels is None else prompt.labels.tolist()
        for (x, y), label in zip(points, labels, strict=True):
            region = self._region(image, x, y)
            out = out | region if label else out & ~region
        if prompt.box is not None:
            x0, y0, x1, y1 = np.round(prompt.box).astype(int)
            inside = np.zeros((h, w), bool)
            inside[y0 : y1 + 1, x0 : x1 + 1] = True
            out = out & inside if points else inside
        return Prediction(out, 0.9, np.where(out, 10.0, -10.0).astype(np.float32))

    def _region(self, image: np.ndarray, x: int, y: int) -> np.ndarray:
        close = np.abs(image - image[y, x]).max(axis=2) <= self.tol
        labels, _ = ndimage.label(close)
        return labels == labels[y, x]


class Client:
    """JSON over HTTP with a cookie jar: one browser session, asked for at once unless
    ``session`` is False. Sends no Origin header, as a non-browser client on loopback."""

    def __init__(self, base: str, *, session: bool = True) -> None:
        self.base = base.rstrip("/")
        self.jar = CookieJar()
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(self.jar))
        if session:
            status, data = self.post("/api/session")
            assert status == 200 and data["created"], data

    def request(
        self,
        method: str,
        path: str,
        body: object = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> tuple[int, dict | bytes]:
        data, sent = None, {}
        if raw is not None:
            data, sent = raw, {"Content-Type": "application/octet-stream"}
        elif body is not None:
            data, sent = json.dumps(body).encode(), {"Content-Type": "application/json"}
        sent.update(headers or {})
        req = urllib.request.Request(self.base + path, data=data, headers=sent, method=method)
        try:
            with self.opener.open(req, timeout=60) as response:
                status, payload, kind = response.status, response.read(), response.headers
        except urllib.error.HTTPError as e:
            status, payload, kind = e.code, e.read(), e.headers
        if kind.get("Content-Type", "").startswith("application/json"):
            return status, json.loads(payload)
        return status, payload

    def get(self, path: str) -> tuple[int, dict | bytes]:
        return self.request("GET", path)

    def post(
        self,
        path: str,
        body: object = None,
        raw: bytes | None = None,
        headers: dict[str, str] | None = None,
    ):
        empty = body is None and raw is None
        return self.request("POST", path, {} if empty else body, raw, headers)

    def ok(self, path: str, body: object = None, raw: bytes | None = None) -> dict:
        status, data = self.post(path, body, raw)
        assert status == 200, data
        return data

    def wait_job(self, timeout: float = 60.0) -> dict:
        import time

        end = time.monotonic() + timeout
        while time.monotonic() < end:
            _, data = self.get("/api/state")
            job = data["state"]["job"]
            if job and job["state"] not in ("queued", "running"):
                return job
            time.sleep(0.05)
        raise AssertionError("job did not finish")


def token_of(client: Client) -> str:
    """The session token in ``client``'s cookie."""
    (cookie,) = list(client.jar)
    assert cookie.name == "vosam_session"
    return cookie.value


def app_session(server, client: Client):
    """The server's :class:`~vosam.app.state.AppSession` of ``client``'s browser session."""
    with server.sessions.use(token_of(client)) as session:
        return session


FAST = EmbeddedConfig(short_side=120, head_iters=40, guided_radius=4)


@pytest.fixture(scope="session")
def engine() -> EmbeddedPropagator:
    return EmbeddedPropagator(FAST, device="cpu")


@pytest.fixture
def workspace(tmp_path: Path) -> Path:
    root = tmp_path / "workspace"
    images, _ = synthetic_video()
    write_frames(root / "clip", images)
    return root


@pytest.fixture
def make_server(workspace: Path, engine: EmbeddedPropagator):
    servers = []

    def make(**options):
        config = AppConfig(**{"workspace": workspace, "port": 0, "device": "cpu", **options})
        server = create_server(config, propagator=engine, segmenter=FloodSegmenter())
        start_in_thread(server)
        servers.append(server)
        return server

    yield make
    for server in servers:
        server.shutdown()
        server.server_close()


@pytest.fixture
def server(make_server):
    return make_server()


@pytest.fixture
def client(server) -> Client:
    return Client(server.url)

"""The web app's HTTP API: clicks, brush, propagation, corrections, exports, isolation and
bad input, on a synthetic video with exact expected masks."""

from __future__ import annotations

import io
import threading
import time
import zipfile

import numpy as np
import pytest
from PIL import Image

from tests.app.conftest import FRAMES, SIZE, Client, disc_at, square_at, synthetic_video
from vosam.app.brush import stroke_mask
from vosam.engines import Propagator, Tracker
from vosam.io import open_source, palette_image


def iou(a: np.ndarray, b: np.ndarray) -> float:
    union = np.logical_or(a, b).sum()
    return float(np.logical_and(a, b).sum() / union) if union else 1.0


def ids(client: Client, index: int) -> np.ndarray:
    status, data = client.get(f"/api/ids/{index}")
    assert status == 200
    image = Image.open(io.BytesIO(data))
    assert image.mode == "P"
    return np.asarray(image)


def centre(t: int) -> list[float]:
    y, x = square_at(t)
    return [x + 15.0, y + 15.0]


def png(mask: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    palette_image(mask).save(buffer, format="PNG")
    return buffer.getvalue()


def test_click_propagate_correct_and_export(client: Client):
    _, truth = synthetic_video()
    state = client.ok("/api/open", {"path": "clip"})["state"]
    assert state["video"]["frames"] == FRAMES
    assert (state["video"]["height"], state["video"]["width"]) == SIZE

    # Only the disc on frame 0: the square is not marked yet.
    disc = client.ok("/api/objects", {"name": "disc"})["id"]
    cy, cx = disc_at(0)
    client.ok("/api/prompt", {"frame": 0, "object": disc, "points": [[cx, cy]], "labels": [1]})
    assert np.array_equal(ids(client, 0), np.where(truth[0] == 2, disc, 0))

    state = client.ok("/api/propagate", {"frame": 0, "direction": "forward"})["state"]
    assert state["job"]["kind"] == "propagate forward"
    job = client.wait_job()
    assert (job["state"], job["done"], job["total"]) == ("done", FRAMES, FRAMES)
    for t in range(1, FRAMES):
        mask = ids(client, t)
        assert iou(mask == disc, truth[t] == 2) > 0.6, t
        assert not (mask == 2 + disc).any()

    # Correct propagated frame 4: the square appears (a click), a brush stroke adds a blob.
    square = client.ok("/api/objects", {"name": "square"})["id"]
    client.ok("/api/prompt", {"frame": 4, "object": square, "points": [centre(4)], "labels": [1]})
    stroke = [[5.0, 110.0], [25.0, 110.0]]
    client.ok("/api/paint", {"frame": 4, "object": square, "points": stroke, "radius": 4})
    expected4 = ids(client, 4)
    want = np.where(truth[4] == 1, square, np.where(truth[4] == 2, disc, 0)).astype(np.uint8)
    want[stroke_mask(SIZE, np.array(stroke), 4)] = square
    assert np.array_equal(expected4, want)
    # Erasing removes only the selected object's pixels.
    client.ok(
        "/api/paint", {"frame": 4, "object": disc, "points": stroke, "radius": 4, "erase": True}
    )
    assert np.array_equal(ids(client, 4), want)
    # The frame is corrected, not annotated, until the user says so.
    state = client.get("/api/state")[1]["state"]
    assert (state["annotated"], state["corrected"]) == ([0], [4])
    state = client.ok("/api/confirm", {"frame": 4})["state"]
    assert (state["annotated"], state["corrected"]) == ([0, 4], [])

    # Re-propagation from the start uses the annotation: the square is tracked from frame 4
    # on, and permanent memory finds it before too (XMem++), but not on frame 0, whose
    # annotation says it is absent.
    state = client.ok("/api/propagate", {"frame": 0, "direction": "forward"})["state"]
    assert client.wait_job()["state"] == "done"
    assert client.get("/api/state")[1]["state"]["annotated"] == [0, 4]
    for t in range(FRAMES):
        mask = ids(client, t)
        if t == 0:
            assert not (mask == square).any(), t
        elif t > 4:
            assert iou(mask == square, truth[t] == 1) > 0.5, t
        assert iou(mask == disc, truth[t] == 2) > 0.6, t

    # Exports: zip of palette PNGs equal to what the page shows, JSON, video.
    client.ok("/api/export", {"kind": "masks"})
    job = client.wait_job()
    assert job["state"] == "done"
    status, data = client.get(job["result"]["url"])
    assert status == 200
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        assert archive.namelist() == [f"{t:05d}.png" for t in range(FRAMES)]
        exported = [np.asarray(Image.open(io.BytesIO(archive.read(n)))) for n in archive.namelist()]
    for t in range(FRAMES):
        assert np.array_equal(exported[t], ids(client, t))
    assert np.array_equal(exported[4], want)

    client.ok("/api/export", {"kind": "ytvis"})
    job = client.wait_job()
    vis = client.get(job["result"]["url"])[1]
    assert [c["name"] for c in vis["categories"]] == ["disc", "square"]
    tracks = {a["id"]: a for a in vis["annotations"]}
    assert tracks[square]["segmentations"][0] is None
    for t in range(FRAMES):
        for oid, track in tracks.items():
            seg = track["segmentations"][t]
            decoded = np.zeros(SIZE, bool) if seg is None else decode_rle(seg)
            assert np.array_equal(decoded, exported[t] == oid)

    client.ok("/api/export", {"kind": "overlay"})
    job = client.wait_job()
    assert job["state"] == "done", job
    assert job["result"]["file"].endswith(".mp4")


def decode_rle(seg: dict) -> np.ndarray:
    h, w = seg["size"]
    flat = np.zeros(h * w, bool)
    position, value = 0, False
    for count in seg["counts"]:
        flat[position : position + count] = value
        position, value = position + count, not value
    assert position == h * w
    return flat.reshape((w, h)).T


def test_box_and_negative_click(client: Client):
    _, truth = synthetic_video()
    client.ok("/api/open", {"path": "clip"})
    oid = client.ok("/api/objects", {})["id"]
    client.ok("/api/prompt", {"frame": 2, "object": oid, "box": [10, 10, 40, 30]})
    want = np.zeros(SIZE, np.uint8)
    want[10:31, 10:41] = oid
    assert np.array_equal(ids(client, 2), want)
    # Clicks replace the object's earlier pixels; a negative click removes its region.
    cy, cx = disc_at(2)
    client.ok(
        "/api/prompt",
        {"frame": 2, "object": oid, "points": [centre(2), [cx, cy]], "labels": [1, 0]},
    )
    assert np.array_equal(ids(client, 2), np.where(truth[2] == 1, oid, 0))


def test_backward_propagation_from_the_last_frame(client: Client):
    _, truth = synthetic_video()
    client.ok("/api/open", {"path": "clip"})
    oid = client.ok("/api/objects", {})["id"]
    last = FRAMES - 1
    client.ok(
        "/api/prompt", {"frame": last, "object": oid, "points": [centre(last)], "labels": [1]}
    )
    client.ok("/api/propagate", {"frame": last, "direction": "backward"})
    job = client.wait_job()
    assert (job["state"], job["done"], job["total"]) == ("done", FRAMES, FRAMES)
    for t in range(FRAMES):
        assert iou(ids(client, t) == oid, truth[t] == 1) > 0.6, t


def test_uploaded_mask_and_bad_uploads_leave_the_session_intact(client: Client, workspace):
    _, truth = synthetic_video()
    client.ok("/api/open", {"path": "clip"})
    client.ok("/api/mask?frame=3&name=m.png", raw=png(truth[3]))
    state = client.get("/api/state")[1]["state"]
    assert [o["id"] for o in state["objects"]] == [1, 2]
    assert np.array_equal(ids(client, 3), truth[3])

    status, data = client.post("/api/mask?frame=3&name=small.png", raw=png(truth[3][:60]))
    assert status == 400 and "small.png" not in data["error"]
    assert "160×60 but frames are 160×120" in data["error"]
    status, data = client.post("/api/upload?name=notes.mp4", raw=b"this is not a video" * 10)
    assert status == 400 and data["error"].startswith("notes.mp4:"), data
    status, data = client.post("/api/upload?name=empty.zip", raw=zip_of({"a.txt": b"x"}))
    assert status == 400 and "no .jpg" in data["error"], data

    after = client.get("/api/state")[1]["state"]
    assert after["video"] == state["video"] and after["annotated"] == [3]
    assert np.array_equal(ids(client, 3), truth[3])
    assert list((workspace / ".vosam-app").rglob("*notes*")) == []

    # A zip of frames opens as a new video.
    images, _ = synthetic_video(3)
    frames = {f"clip/{t:03d}.png": encode(images[t]) for t in range(3)}
    state = client.ok("/api/upload?name=frames.zip", raw=zip_of(frames))["state"]
    assert state["video"]["frames"] == 3 and state["annotated"] == []
    assert np.abs(decode(client.get("/api/frame/1")[1]).astype(int) - images[1]).mean() < 3


def test_upload_over_the_limit_is_refused(make_server):
    client = Client(make_server(max_upload_bytes=1000).url)
    client.ok("/api/open", {"path": "clip"})
    status, data = client.post("/api/upload?name=big.mp4", raw=b"x" * 5000)
    assert status == 413 and "over the limit" in data["error"]
    assert client.get("/api/state")[1]["state"]["video"]["label"] == "clip"


def zip_of(files: dict[str, bytes]) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for name, content in files.items():
            archive.writestr(name, content)
    return buffer.getvalue()


def encode(image: np.ndarray) -> bytes:
    buffer = io.BytesIO()
    Image.fromarray(image).save(buffer, format="PNG")
    return buffer.getvalue()


def decode(data: bytes) -> np.ndarray:
    return np.asarray(Image.open(io.BytesIO(data)).convert("RGB"))


def test_paths_outside_the_workspace_are_refused(client: Client, workspace, tmp_path):
    outside = tmp_path / "outside"
    outside.mkdir()
    images, _ = synthetic_video(2)
    Image.fromarray(images[0]).save(outside / "00000.png")
    (workspace / "link").symlink_to(outside)
    for path in ("../outside", str(outside), "link", "clip/../../outside"):
        status, data = client.post("/api/open", {"path": path})
        assert status == 400 and "outside the workspace" in data["error"], (path, data)
    status, data = client.post("/api/open", {"path": "missing"})
    assert status == 400 and "no such video file or frame folder" in data["error"]
    assert client.get("/api/state")[1]["state"]["video"] is None
    assert sorted(p.name for p in outside.iterdir()) == ["00000.png"]


def test_sessions_are_isolated(server):
    a, b = Client(server.url), Client(server.url)
    a.ok("/api/open", {"path": "clip"})
    oid = a.ok("/api/objects", {})["id"]
    a.ok("/api/prompt", {"frame": 0, "object": oid, "points": [centre(0)], "labels": [1]})
    a.ok("/api/export", {"kind": "masks"})
    url = a.wait_job()["result"]["url"]
    assert b.get("/api/state")[1]["state"]["video"] is None
    status, data = b.get(url)
    assert status == 400 and "no such export" in data["error"]
    assert a.get(url)[0] == 200


def test_no_page_but_the_session_request_makes_a_session(server):
    import urllib.request

    base = server.url.rstrip("/")
    for path in ("/favicon.ico", "/api/nothing", "/api/state", "/api/frame/0"):
        try:
            urllib.request.urlopen(base + path, timeout=10)
        except urllib.error.HTTPError as e:
            assert e.code == (401 if path in ("/api/state", "/api/frame/0") else 404), path
            assert "Set-Cookie" not in e.headers
        else:
            raise AssertionError(f"{path} answered 200")
    with urllib.request.urlopen(server.url, timeout=10) as response:
        assert "Set-Cookie" not in response.headers
        assert b"/static/app.js" in response.read()
    assert len(server.sessions) == 0
    client = Client(server.url)
    assert len(server.sessions) == 1
    # asking again with the cookie gives the same session, not a second one
    status, data = client.post("/api/session")
    assert status == 200 and data["created"] is False and len(server.sessions) == 1


def test_requests_for_other_host_names_are_refused(server):
    import http.client

    host, port = server.server_address[:2]
    connection = http.client.HTTPConnection(host, port, timeout=10)
    connection.request("GET", "/api/state", headers={"Host": f"evil.example:{port}"})
    response = connection.getresponse()
    assert response.status == 403
    connection.close()


class GatedPropagator(Propagator):
    """The engine, with each tracker step waiting for ``gate``."""

    name = "gated"

    def __init__(self, inner: Propagator) -> None:
        self.inner = inner
        self.gate = threading.Event()
        self.steps = 0

    @property
    def device(self) -> str:
        return "cpu"

    def encode_key(self, image):
        return self.inner.encode_key(image)

    def new_tracker(self) -> Tracker:
        tracker = self.inner.new_tracker()
        outer = self

        class Gated(type(tracker)):  # type: ignore[misc]
            def step(self, index, image, *, annotation=None):
                outer.steps += 1
                assert outer.gate.wait(30)
                return super().step(index, image, annotation=annotation)

        tracker.__class__ = Gated
        return tracker


def test_propagation_runs_in_the_background_and_cancels(workspace, engine, make_server):
    from tests.app.conftest import FloodSegmenter
    from vosam.app import AppConfig, create_server, start_in_thread

    gated = GatedPropagator(engine)
    server = create_server(
        AppConfig(workspace=workspace, port=0, device="cpu"),
        propagator=gated,
        segmenter=FloodSegmenter(),
    )
    start_in_thread(server)
    try:
        client = Client(server.url)
        client.ok("/api/open", {"path": "clip"})
        oid = client.ok("/api/objects", {})["id"]
        client.ok("/api/prompt", {"frame": 0, "object": oid, "points": [centre(0)], "labels": [1]})
        client.ok("/api/propagate", {"frame": 0, "direction": "forward"})
        deadline = time.monotonic() + 20
        while gated.steps == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        # The worker is blocked inside a step: the server still answers at once.
        started = time.monotonic()
        state = client.get("/api/state")[1]["state"]
        assert time.monotonic() - started < 5
        assert state["job"]["state"] == "running"
        status, data = client.post("/api/propagate", {"frame": 0, "direction": "forward"})
        assert status == 409 and "running" in data["error"]
        client.ok("/api/cancel")
        gated.gate.set()
        job = client.wait_job()
        assert job["state"] == "cancelled" and job["done"] <= 1
    finally:
        gated.gate.set()
        server.shutdown()
        server.server_close()


def test_frame_and_mask_images(client: Client):
    images, truth = synthetic_video()
    client.ok("/api/open", {"path": "clip"})
    frame = decode(client.get("/api/frame/5")[1])
    assert np.abs(frame.astype(int) - images[5]).mean() < 3
    client.ok("/api/mask?frame=5", raw=png(truth[5]))
    status, data = client.get("/api/mask/5")
    rgba = np.asarray(Image.open(io.BytesIO(data)))
    assert rgba.shape == (*SIZE, 4)
    assert np.array_equal(rgba[..., 3] > 0, truth[5] > 0)
    assert tuple(rgba[truth[5] == 1][0, :3]) == (128, 0, 0)
    status, data = client.get(f"/api/frame/{FRAMES}")
    assert status == 400 and "not in the video" in data["error"]


@pytest.mark.parametrize(
    ("path", "body", "needle"),
    [
        ("/api/prompt", {"frame": 0, "object": 9, "points": [[1, 1]], "labels": [1]}, "object 9"),
        ("/api/prompt", {"frame": 0, "object": 1}, "bad prompt"),
        ("/api/paint", {"frame": 0, "object": 1, "points": [], "radius": 3}, "at least one"),
        ("/api/propagate", {"frame": 0}, "nothing to propagate"),
        ("/api/export", {"kind": "gif"}, "export kind"),
    ],
)
def test_bad_requests_name_the_problem(client: Client, path, body, needle):
    client.ok("/api/open", {"path": "clip"})
    client.ok("/api/objects", {})
    status, data = client.post(path, body)
    assert status == 400 and needle in data["error"], data


def test_overlay_export_is_a_video_of_every_frame(client: Client, workspace):
    _, truth = synthetic_video()
    client.ok("/api/open", {"path": "clip"})
    client.ok("/api/mask?frame=0", raw=png(truth[0]))
    client.ok("/api/export", {"kind": "overlay"})
    job = client.wait_job()
    files = list((workspace / ".vosam-app").rglob(job["result"]["file"]))
    assert len(files) == 1
    with open_source(files[0]) as video:
        assert len(video) == FRAMES and video.size == SIZE
        first = video.read(0)
    y, x = square_at(0)
    # The square is overlaid with object 1's colour: half red square, half (128, 0, 0).
    assert np.abs(first[y + 15, x + 15].astype(int) - (174, 20, 20)).max() < 20


def test_unavailable_segmenter_is_a_clear_error_and_the_brush_still_works(workspace, engine):
    from vosam.app import AppConfig, create_server, start_in_thread

    config = AppConfig(workspace=workspace, port=0, device="cpu", segmenter="nope")
    server = create_server(config, propagator=engine)
    start_in_thread(server)
    try:
        client = Client(server.url)
        client.ok("/api/open", {"path": "clip"})
        oid = client.ok("/api/objects", {})["id"]
        status, data = client.post(
            "/api/prompt", {"frame": 0, "object": oid, "points": [[5, 5]], "labels": [1]}
        )
        assert status == 400 and "cannot build the nope segmenter" in data["error"]
        client.ok("/api/paint", {"frame": 0, "object": oid, "points": [[5, 5]], "radius": 2})
        assert (ids(client, 0) == oid).sum() == 13
    finally:
        server.shutdown()
        server.server_close()


def test_default_segmenter_turns_a_click_into_the_object(workspace, engine):
    """The configured segmenter (the embedded one by default) is built on the first click."""
    from vosam.app import AppConfig, create_server, start_in_thread

    _, truth = synthetic_video()
    server = create_server(AppConfig(workspace=workspace, port=0, device="cpu"), propagator=engine)
    start_in_thread(server)
    try:
        client = Client(server.url)
        client.ok("/api/open", {"path": "clip"})
        oid = client.ok("/api/objects", {})["id"]
        answer = client.ok(
            "/api/prompt", {"frame": 0, "object": oid, "points": [centre(0)], "labels": [1]}
        )
        assert 0 <= answer["score"] <= 1
        assert iou(ids(client, 0) == oid, truth[0] == 1) > 0.9
    finally:
        server.shutdown()
        server.server_close()


def test_youtube_vis_export_is_ground_truth_for_vis_evaluation(client: Client):
    mask_api = pytest.importorskip("pycocotools.mask", reason="needs pycocotools (test extra)")
    from vosam.eval.vis import evaluate_vis

    _, truth = synthetic_video()
    client.ok("/api/open", {"path": "clip"})
    for t in range(FRAMES):
        client.ok(f"/api/mask?frame={t}", raw=png(truth[t]))
    client.ok("/api/export", {"kind": "ytvis"})
    ground_truth = client.get(client.wait_job()["result"]["url"])[1]

    def tracks(shift: int) -> list[dict]:
        out = []
        for track in ground_truth["annotations"]:
            segmentations = []
            for t in range(FRAMES):
                fg = np.roll(truth[t] == track["id"], shift, axis=1)
                rle = mask_api.encode(np.asfortranarray(fg.astype(np.uint8)))
                segmentations.append({"size": rle["size"], "counts": rle["counts"].decode()})
            out.append(
                {
                    "video_id": 1,
                    "category_id": track["category_id"],
                    "score": 0.9,
                    "segmentations": segmentations,
                }
            )
        return out

    assert evaluate_vis(ground_truth, tracks(0)).summary["AP"] == pytest.approx(1.0)
    shifted = evaluate_vis(ground_truth, tracks(6)).summary
    assert shifted["AP50"] == pytest.approx(1.0) and shifted["AP75"] == 0.0


def test_a_frame_embedded_ahead_serves_the_click(server, client: Client):
    _, truth = synthetic_video()
    segmenter = server.models.segmenter
    client.ok("/api/open", {"path": "clip"})
    oid = client.ok("/api/objects", {})["id"]
    assert client.ok("/api/embed", {"frame": 3}) == {"started": True}
    # The click waits for (or finds) the embedding made ahead instead of making another.
    client.ok("/api/prompt", {"frame": 3, "object": oid, "points": [centre(3)], "labels": [1]})
    assert segmenter.embeds == 1
    assert client.ok("/api/embed", {"frame": 3}) == {"started": False}
    assert np.array_equal(ids(client, 3), np.where(truth[3] == 1, oid, 0))
    client.ok("/api/prompt", {"frame": 4, "object": oid, "points": [centre(4)], "labels": [1]})
    assert segmenter.embeds == 2


def test_a_click_never_waits_for_another_frame_embedded_ahead(workspace, engine):
    from tests.app.conftest import FloodSegmenter
    from vosam.app import AppConfig, create_server, start_in_thread

    class StuckFirst(FloodSegmenter):
        """The first embedding blocks until ``gate`` is set."""

        def __init__(self) -> None:
            super().__init__()
            self.gate = threading.Event()

        def embed(self, image):
            if self.embeds == 0:
                self.embeds += 1
                assert self.gate.wait(30)
                return super().embed(image)
            return super().embed(image)

    segmenter = StuckFirst()
    config = AppConfig(workspace=workspace, port=0, device="cpu")
    server = create_server(config, propagator=engine, segmenter=segmenter)
    start_in_thread(server)
    try:
        client = Client(server.url)
        client.ok("/api/open", {"path": "clip"})
        oid = client.ok("/api/objects", {})["id"]
        assert client.ok("/api/embed", {"frame": 3})["started"]
        deadline = time.monotonic() + 20
        while segmenter.embeds == 0 and time.monotonic() < deadline:
            time.sleep(0.01)
        assert client.ok("/api/embed", {"frame": 5}) == {"started": False}  # one at a time
        client.ok("/api/prompt", {"frame": 4, "object": oid, "points": [centre(4)], "labels": [1]})
        assert not segmenter.gate.is_set() and (ids(client, 4) == oid).sum() == 900
    finally:
        segmenter.gate.set()
        server.shutdown()
        server.server_close()


def test_state_snapshots_are_numbered_in_the_order_they_are_taken(client: Client):
    first = client.ok("/api/open", {"path": "clip"})["state"]
    status, data = client.get("/api/state")
    assert status == 200
    second = data["state"]
    status, data = client.get("/api/state")
    assert status == 200
    third = data["state"]
    serials = [first["serial"], second["serial"], third["serial"]]
    assert serials[0] < serials[1] < serials[2]
    assert first["boot"] == second["boot"] == third["boot"]

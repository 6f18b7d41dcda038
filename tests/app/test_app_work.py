"""The user's work in the app: corrections that stay on their frame until made annotations,
undo and redo, the workspace's video list, suggestion from the masks shown, and the work
saved in the workspace as a vosam run that a restarted server opens again."""

from __future__ import annotations

import json
import time

import numpy as np

from tests.app.conftest import (
    FRAMES,
    SIZE,
    Client,
    FloodSegmenter,
    app_session,
    disc_at,
    synthetic_video,
    write_frames,
)
from tests.app.test_app_api import centre, ids, png
from vosam.annotate import select_frames
from vosam.app import AppConfig, create_server, start_in_thread
from vosam.app.brush import stroke_mask
from vosam.app.edits import ANNOTATION, Change, History, Work
from vosam.engines import Propagator, Tracker
from vosam.io import open_source, read_annotations, read_mask, write_mask
from vosam.runs import (
    ResultMasks,
    file_digest,
    given_frames,
    incomplete_reason,
    staged_run,
)

STROKE = [[5.0, 100.0], [20.0, 100.0]]
NAMES = tuple(f"{t:05d}" for t in range(FRAMES))


def squares() -> np.ndarray:
    """``(T, H, W)``: the square as object 1, alone."""
    _, truth = synthetic_video()
    return np.where(truth == 1, 1, 0).astype(np.uint8)


def stroked(mask: np.ndarray, oid: int = 1) -> np.ndarray:
    out = mask.copy()
    out[stroke_mask(SIZE, np.array(STROKE), 4)] = oid
    return out


def objects(state: dict) -> list[tuple[int, str]]:
    return [(o["id"], o["name"]) for o in state["objects"]]


def state_of(client: Client) -> dict:
    return client.get("/api/state")[1]["state"]


def wait_saved(client: Client) -> dict:
    end = time.monotonic() + 20
    while time.monotonic() < end:
        state = state_of(client)
        if state["saved"]["state"] == "saved":
            return state
        time.sleep(0.05)
    raise AssertionError(f"not saved: {state['saved']}")


def test_a_correction_stays_on_its_frame_until_it_is_made_an_annotation(server, client):
    square = squares()
    client.ok("/api/open", {"path": "clip"})
    # the first click without an object makes one
    answer = client.ok("/api/prompt", {"frame": 0, "points": [centre(0)], "labels": [1]})
    assert answer["object"] == 1
    assert objects(answer["state"]) == [(1, "object 1")]
    assert (answer["state"]["annotated"], answer["state"]["corrected"]) == ([0], [])
    # a frame with no mask has nothing to confirm
    status, data = client.post("/api/confirm", {"frame": 2})
    assert (status, data["error"]) == (400, "frame 3 has no mask yet; mark an object on it")
    app = app_session(server, client)
    # frames 1..6 propagated, 3 pixels off
    shifted = {t: np.roll(square[t], 3, axis=1) for t in range(1, 7)}
    for t, mask in shifted.items():
        app.propagated(app.generation, t, mask)

    # a brush stroke on propagated frame 3 corrects that frame only
    state = client.ok("/api/paint", {"frame": 3, "object": 1, "points": STROKE, "radius": 4})
    state = state["state"]
    assert (state["annotated"], state["corrected"]) == ([0], [3])
    assert state["history"] == {"undo": "brush on frame 4", "redo": None, "depth": 2}
    assert np.array_equal(ids(client, 3), stroked(shifted[3]))
    assert sorted(app.session.annotations) == [0]  # not in permanent memory
    # so does a click; on a frame never propagated, a click annotates
    client.ok("/api/prompt", {"frame": 5, "object": 1, "points": [centre(5)], "labels": [1]})
    state = client.ok(
        "/api/prompt", {"frame": 7, "object": 1, "points": [centre(7)], "labels": [1]}
    )
    state = state["state"]
    assert (state["annotated"], state["corrected"]) == ([0, 7], [3, 5])
    assert np.array_equal(ids(client, 5), square[5])

    # "Make annotation": the correction becomes an annotation, in permanent memory
    state = client.ok("/api/confirm", {"frame": 3})["state"]
    assert (state["annotated"], state["corrected"]) == ([0, 3, 7], [5])
    assert state["history"]["undo"] == "make frame 4 an annotation"
    assert np.array_equal(app.session.annotations[3], stroked(shifted[3]))
    status, data = client.post("/api/confirm", {"frame": 3})
    assert (status, data["error"]) == (400, "frame 4 is an annotation already")
    # a propagated frame can be taken as it is
    client.ok("/api/confirm", {"frame": 6})
    assert np.array_equal(app.session.annotations[6], shifted[6])
    # dropping a correction shows the propagated mask again
    state = client.ok("/api/clear", {"frame": 5})["state"]
    assert (state["annotated"], state["corrected"]) == ([0, 3, 6, 7], [])
    assert np.array_equal(ids(client, 5), shifted[5])
    status, data = client.post("/api/clear", {"frame": 5})
    assert (status, data["error"]) == (400, "frame 6 has no annotation or correction to drop")


def test_undo_and_redo_of_clicks_strokes_uploads_and_objects(client: Client):
    _, truth = synthetic_video()
    square = squares()[0]
    both = np.where(truth[0] > 0, 1, 0).astype(np.uint8)
    state = client.ok("/api/open", {"path": "clip"})["state"]
    assert state["history"] == {"undo": None, "redo": None, "depth": 0}
    status, data = client.post("/api/undo")
    assert (status, data["error"]) == (400, "nothing to undo")

    first = {"frame": 0, "points": [centre(0)], "labels": [1]}
    client.ok("/api/prompt", first)  # makes object 1
    cy, cx = disc_at(0)
    second = {"frame": 0, "object": 1, "points": [centre(0), [cx, cy]], "labels": [1, 1]}
    client.ok("/api/prompt", second)
    assert np.array_equal(ids(client, 0), both)

    # undoing the second click gives the page back the first one
    answer = client.ok("/api/undo")
    assert (answer["undone"], answer["frames"]) == ("click on frame 1", [0])
    assert answer["prompt"] == {**first, "object": 1, "box": None}
    assert np.array_equal(ids(client, 0), square)
    # undoing the first click takes away the object it made
    answer = client.ok("/api/undo")
    assert answer["prompt"] == {"frame": 0, "object": 1, "points": [], "labels": [], "box": None}
    state = answer["state"]
    assert (objects(state), state["annotated"]) == ([], [])
    assert state["history"] == {"undo": None, "redo": "click on frame 1", "depth": 0}
    assert not ids(client, 0).any()
    answer = client.ok("/api/redo")
    assert (answer["redone"], answer["prompt"]) == (
        "click on frame 1",
        {**first, "object": 1, "box": None},
    )
    assert objects(answer["state"]) == [(1, "object 1")]
    assert np.array_equal(ids(client, 0), square)
    answer = client.ok("/api/redo")
    assert answer["prompt"] == {**second, "box": None}
    assert np.array_equal(ids(client, 0), both)
    status, data = client.post("/api/redo")
    assert (status, data["error"]) == (400, "nothing to redo")

    # a stroke
    client.ok("/api/paint", {"frame": 0, "object": 1, "points": STROKE, "radius": 4})
    assert np.array_equal(ids(client, 0), stroked(both))
    assert client.ok("/api/undo")["prompt"] is None
    assert np.array_equal(ids(client, 0), both)
    client.ok("/api/redo")
    assert np.array_equal(ids(client, 0), stroked(both))

    # an uploaded mask brings its objects; undo takes them away again
    state = client.ok("/api/mask?frame=2", raw=png(truth[2]))["state"]
    assert (objects(state), state["annotated"]) == ([(1, "object 1"), (2, "object 2")], [0, 2])
    state = client.ok("/api/undo")["state"]
    assert (objects(state), state["annotated"]) == ([(1, "object 1")], [0])
    client.ok("/api/redo")
    assert np.array_equal(ids(client, 2), truth[2])

    # deleting an object is undone with its annotations and its name
    client.ok("/api/objects/2", {"name": "disc"})
    client.ok("/api/objects/2", {"delete": True})
    assert np.array_equal(ids(client, 2), np.where(truth[2] == 1, 1, 0))
    state = client.ok("/api/undo")["state"]
    assert objects(state) == [(1, "object 1"), (2, "disc")]
    assert np.array_equal(ids(client, 2), truth[2])

    # a new change after an undo: what was undone cannot be redone
    client.ok("/api/undo")
    assert state_of(client)["history"]["redo"] == "mask upload on frame 3"
    state = client.ok("/api/clear", {"frame": 0})["state"]
    assert state["history"] == {"undo": "drop the annotation of frame 1", "redo": None, "depth": 4}


def test_the_history_keeps_the_newest_changes():
    history = History(most=3)
    for k in range(5):
        history.record(Change(f"c{k}", {}, ({}, {k: "x"})))
    assert [history.undo().label for _ in range(3)] == ["c4", "c3", "c2"]
    assert history.undo() is None
    assert history.redo().label == "c2"
    mask = np.random.default_rng(0).integers(0, 3, SIZE).astype(np.uint8)
    work = Work.of(ANNOTATION, mask)
    assert np.array_equal(work.mask(), mask)
    history = History(most_bytes=2 * len(work.packed))
    for k in range(3):
        history.record(Change(f"w{k}", {k: (None, work)}, ({}, {})))
    assert history.to_json() == {"undo": "w2", "redo": None, "depth": 2}


def test_the_workspace_videos_are_listed_without_leaving_it(client: Client, workspace, tmp_path):
    images, truth = synthetic_video(2)
    write_frames(workspace / "set" / "JPEGImages" / "a", images)
    for t in range(2):  # a folder of masks is not a video
        folder = workspace / "set" / "Annotations" / "a"
        folder.mkdir(parents=True, exist_ok=True)
        write_mask(folder / f"{t:05d}.png", truth[t])
    films = workspace / "films"
    films.mkdir()
    (films / "b.mp4").write_bytes(b"listed, not opened")
    (films / "notes.txt").write_text("not a video")
    (films / "in.mp4").symlink_to(films / "b.mp4")
    (tmp_path / "x.mp4").write_bytes(b"outside")
    (films / "out.mp4").symlink_to(tmp_path / "x.mp4")
    write_frames(tmp_path / "outside", images)
    (workspace / "linked").symlink_to(tmp_path / "outside")
    write_frames(workspace / ".hidden" / "c", images)
    write_frames(workspace / "vosam-runs" / "d", images)
    write_frames(workspace.joinpath(*"12345"), images)
    write_frames(workspace.joinpath(*"123456"), images)  # deeper than the walk goes

    status, data = client.get("/api/videos")
    assert status == 200
    assert data == {
        "videos": [
            {"path": "1/2/3/4/5", "kind": "frames", "frames": 2, "saved": False},
            {"path": "clip", "kind": "frames", "frames": FRAMES, "saved": False},
            {"path": "films/b.mp4", "kind": "file", "frames": None, "saved": False},
            {"path": "films/in.mp4", "kind": "file", "frames": None, "saved": False},
            {"path": "set/JPEGImages/a", "kind": "frames", "frames": 2, "saved": False},
        ],
        "cut": True,
    }
    status, data = client.post("/api/open", {"path": "vosam-runs/d"})
    assert (status, data["error"]) == (
        400,
        "vosam-runs/d: is in vosam-runs/, where the app saves masks; open a video",
    )


class CountingPropagator(Propagator):
    """The engine, counting the frames it encodes and the trackers it makes."""

    name = "counting"

    def __init__(self, inner: Propagator) -> None:
        self.inner = inner
        self.keys = 0
        self.trackers = 0

    @property
    def device(self) -> str:
        return "cpu"

    def encode_key(self, image):
        self.keys += 1
        return self.inner.encode_key(image)

    def new_tracker(self) -> Tracker:
        self.trackers += 1
        return self.inner.new_tracker()


def test_suggestion_reads_the_masks_shown_and_propagates_nothing(workspace, engine):
    counting = CountingPropagator(engine)
    config = AppConfig(workspace=workspace, port=0, device="cpu")
    server = create_server(config, propagator=counting, segmenter=FloodSegmenter())
    start_in_thread(server)
    try:
        client = Client(server.url)
        client.ok("/api/open", {"path": "clip"})
        client.ok("/api/prompt", {"frame": 0, "points": [centre(0)], "labels": [1]})
        app = app_session(server, client)
        square = squares()
        for t in range(1, FRAMES):
            app.propagated(app.generation, t, square[t])
        client.ok("/api/paint", {"frame": 4, "object": 1, "points": STROKE, "radius": 4})
        shown = [ids(client, t) for t in range(FRAMES)]
        assert np.array_equal(shown[4], stroked(square[4]))  # the correction counts

        client.ok("/api/suggest", {"k": 2})
        job = client.wait_job()
        # every frame encoded, then 7 + 6 comparisons: the 7 frames to the annotated one,
        # the 6 left to the first one picked
        assert (job["state"], job["done"], job["total"]) == ("done", FRAMES + 13, FRAMES + 13)
        assert (counting.trackers, counting.keys) == (0, FRAMES)
        with open_source(workspace / "clip") as source:
            keys = [engine.encode_key(image) for _, image in source.frames()]
        want = select_frames(keys, shown, [0], k=2)
        assert job["result"]["frames"] == want and len(want) == 2
        assert state_of(client)["suggested"] == want
    finally:
        server.shutdown()
        server.server_close()


def test_the_work_is_saved_as_a_vosam_run_and_a_restarted_server_goes_on(make_server, workspace):
    server = make_server(save_delay_s=0.05)
    client = Client(server.url)
    state = client.ok("/api/open", {"path": "clip"})["state"]
    assert state["saved"] == {
        "folder": "vosam-runs/clip",
        "state": "saved",
        "problem": None,
        "restored": False,
        "note": None,
    }
    assert not (workspace / "vosam-runs").exists()  # nothing is written before there is work
    client.ok("/api/prompt", {"frame": 0, "points": [centre(0)], "labels": [1]})
    client.ok("/api/objects/1", {"name": "square"})
    client.ok("/api/propagate", {"frame": 0, "direction": "forward"})
    assert client.wait_job()["state"] == "done"
    client.ok("/api/paint", {"frame": 3, "object": 1, "points": STROKE, "radius": 4})
    state = wait_saved(client)
    assert (state["annotated"], state["corrected"]) == ([0], [3])
    shown = [ids(client, t) for t in range(FRAMES)]

    folder = workspace / "vosam-runs" / "clip"
    files = sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())
    assert files == [
        *(f"{n}.png" for n in NAMES),
        "annotations/00000.png",
        "frames.csv",
        "run.json",
    ]
    for t, name in enumerate(NAMES):
        assert np.array_equal(read_mask(folder / f"{name}.png"), shown[t]), t
    manifest = json.loads((folder / "run.json").read_text())
    settings = manifest["settings"]
    kept = ("command", "video", "frames", "objects", "annotations", "corrected", "propagated")
    assert {k: settings[k] for k in kept} == {
        "command": "app",
        "video": "clip",
        "frames": FRAMES,
        "objects": {"1": "square"},
        "annotations": {"00000.png": file_digest(folder / "annotations" / "00000.png")},
        "corrected": ["00003"],
        "propagated": list(NAMES),
    }
    assert manifest["complete"] is True
    assert incomplete_reason(folder, settings, NAMES) is None  # a whole, verified run
    # what `vosam segment --masks <folder>/annotations` reads: the annotation alone
    masks = read_annotations(folder / "annotations", NAMES, SIZE)
    assert list(masks) == [0] and np.array_equal(masks[0], shown[0])
    # what `vosam suggest --results <folder>` reads: the annotated frames and every mask
    assert given_frames(folder, NAMES, workspace / "clip") == [0]
    results = ResultMasks(folder, NAMES, SIZE)
    assert all(np.array_equal(results[t], shown[t]) for t in range(FRAMES))

    # a change rewrites its frame only; the others are the files saved before
    before = {n: (folder / f"{n}.png").stat().st_ino for n in NAMES}
    client.ok("/api/confirm", {"frame": 3})
    state = wait_saved(client)
    after = {n: (folder / f"{n}.png").stat().st_ino for n in NAMES}
    assert [n for n in NAMES if before[n] != after[n]] == ["00003"]
    annotations = json.loads((folder / "run.json").read_text())["settings"]["annotations"]
    assert list(annotations) == ["00000.png", "00003.png"]
    client.ok("/api/undo")  # back to a correction, saved when the server stops
    server.shutdown()
    server.server_close()

    again = Client(make_server().url)
    state = again.ok("/api/open", {"path": "clip"})["state"]
    assert (state["annotated"], state["corrected"]) == ([0], [3])
    # what showed on the annotated and corrected frames is what was saved for them
    assert state["propagated"] == [1, 2, 4, 5, 6, 7]
    assert objects(state) == [(1, "square")]
    assert state["saved"] == {
        "folder": "vosam-runs/clip",
        "state": "saved",
        "problem": None,
        "restored": True,
        "note": None,
    }
    for t in range(FRAMES):
        assert np.array_equal(ids(again, t), shown[t]), t
    videos = again.get("/api/videos")[1]["videos"]
    assert [(v["path"], v["saved"]) for v in videos] == [("clip", True)]


def test_a_run_folder_the_app_did_not_write_is_left_alone(make_server, workspace):
    folder = workspace / "vosam-runs" / "clip"
    folder.mkdir(parents=True)
    (folder / "mine.txt").write_text("keep")
    server = make_server(save_delay_s=0.05)
    client = Client(server.url)
    state = client.ok("/api/open", {"path": "clip"})["state"]
    assert state["saved"] == {
        "folder": None,
        "state": "off",
        "problem": "vosam-runs/clip holds files vosam did not write (mine.txt)",
        "restored": False,
        "note": None,
    }
    client.ok("/api/prompt", {"frame": 0, "points": [centre(0)], "labels": [1]})
    server.shutdown()
    server.server_close()
    assert sorted(p.name for p in folder.iterdir()) == ["mine.txt"]

    (folder / "mine.txt").unlink()
    with staged_run(folder, {"command": "segment"}) as run:
        write_mask(run.path / "00000.png", squares()[0])
    files = sorted(p.name for p in folder.iterdir())
    client = Client(make_server(save_delay_s=0.05).url)
    state = client.ok("/api/open", {"path": "clip"})["state"]
    assert state["saved"]["problem"] == (
        "vosam-runs/clip holds the output of vosam segment, not the app's work"
    )
    client.ok("/api/prompt", {"frame": 0, "points": [centre(0)], "labels": [1]})
    time.sleep(0.3)
    assert sorted(p.name for p in folder.iterdir()) == files


def test_the_session_that_opened_a_video_last_saves_it(make_server, workspace):
    server = make_server(save_delay_s=60)  # nothing is saved but by the flushes
    a, b = Client(server.url), Client(server.url)
    a.ok("/api/open", {"path": "clip"})
    state = a.ok("/api/prompt", {"frame": 0, "points": [centre(0)], "labels": [1]})["state"]
    assert state["saved"]["state"] == "unsaved"
    # b opens the video: a's work is saved first, and b goes on from it
    state = b.ok("/api/open", {"path": "clip"})["state"]
    assert (state["annotated"], objects(state)) == ([0], [(1, "object 1")])
    assert state_of(a)["saved"] == {
        "folder": None,
        "state": "off",
        "problem": "this video was opened in another browser session; the work is saved "
        "from there now, not from this page",
        "restored": False,
        "note": None,
    }
    a.ok("/api/paint", {"frame": 5, "object": 1, "points": STROKE, "radius": 4})
    b.ok("/api/mask?frame=2", raw=png(squares()[2]))
    server.shutdown()
    server.server_close()
    folder = workspace / "vosam-runs" / "clip"
    assert sorted(p.name for p in (folder / "annotations").iterdir()) == [
        "00000.png",
        "00002.png",
    ]

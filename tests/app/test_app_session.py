"""The web app's per-video state is a :class:`vosam.Session`: objects added through the API
are the session's registry (ids from ``next_id``), painted, clicked and uploaded frames are
its annotations, and propagation is the session's own, forward and backward, byte for byte."""

from __future__ import annotations

import time

import numpy as np

from tests.app.conftest import (
    FRAMES,
    SIZE,
    Client,
    app_session,
    disc_at,
    square_at,
    synthetic_video,
)
from tests.app.test_app_api import GatedPropagator, centre, ids, png
from vosam.app import AppConfig, create_server, start_in_thread
from vosam.session import Session


def test_objects_are_the_sessions_registry(server, client: Client):
    client.ok("/api/open", {"path": "clip"})
    session = app_session(server, client).session
    assert isinstance(session, Session) and len(session.objects) == 0
    assert client.ok("/api/objects", {"name": "disc"})["id"] == 1
    assert client.ok("/api/objects", {})["id"] == 2
    assert session.objects.names == {1: "disc", 2: "object 2"}
    client.ok("/api/objects/2", {"name": "  square "})
    assert session.objects.names == {1: "disc", 2: "square"}
    client.ok("/api/objects/1", {"delete": True})
    assert session.objects.ids == (2,)
    # a new object takes the registry's smallest free id again
    answer = client.ok("/api/objects", {"name": "ball"})
    assert answer["id"] == 1
    assert session.objects.names == {1: "ball", 2: "square"}
    objects = answer["state"]["objects"]
    assert [(o["id"], o["name"]) for o in objects] == [(1, "ball"), (2, "square")]


def test_painted_clicked_and_uploaded_frames_are_the_sessions_annotations(server, client):
    _, truth = synthetic_video()
    client.ok("/api/open", {"path": "clip"})
    session = app_session(server, client).session
    oid = client.ok("/api/objects", {})["id"]
    client.ok("/api/paint", {"frame": 2, "object": oid, "points": [[10, 10]], "radius": 3})
    client.ok("/api/prompt", {"frame": 4, "object": oid, "points": [centre(4)], "labels": [1]})
    client.ok("/api/mask?frame=6", raw=png(truth[6]))  # brings object 2 with it
    assert sorted(session.annotations) == [2, 4, 6]
    assert client.get("/api/state")[1]["state"]["annotated"] == [2, 4, 6]
    for index in (2, 4, 6):
        assert np.array_equal(session.annotations[index], ids(client, index)), index
    assert np.array_equal(session.annotations[4], np.where(truth[4] == 1, oid, 0))
    assert np.array_equal(session.annotations[6], truth[6])
    assert session.objects.ids == (1, 2)
    client.ok("/api/clear", {"frame": 2})
    assert sorted(session.annotations) == [4, 6]
    # deleting an object erases it from the session's annotations
    client.ok("/api/objects/2", {"delete": True})
    assert np.array_equal(session.annotations[6], np.where(truth[6] == 1, 1, 0))


def expected_masks(server, annotations, **propagate) -> dict[int, np.ndarray]:
    """Masks of a fresh Session on the same video and annotations."""
    clip = server.config.workspace / "clip"
    session = Session(clip, propagator=server.models.propagator)
    for index, mask in annotations.items():
        session.add_annotation(index, mask)
    with session:
        return {i: result.mask for i, result in session.propagate(**propagate)}


def test_propagation_is_the_sessions_own_forward_and_backward(server, client: Client):
    client.ok("/api/open", {"path": "clip"})
    session = app_session(server, client).session
    square = client.ok("/api/objects", {})["id"]
    disc = client.ok("/api/objects", {})["id"]
    last = FRAMES - 1
    click = {"frame": last, "object": square, "points": [centre(last)], "labels": [1]}
    client.ok("/api/prompt", click)
    cy, cx = disc_at(3)
    client.ok("/api/prompt", {"frame": 3, "object": disc, "points": [[cx, cy]], "labels": [1]})
    annotations = session.annotations

    client.ok("/api/propagate", {"frame": 5, "direction": "backward"})
    job = client.wait_job()
    assert (job["state"], job["done"], job["total"]) == ("done", 6, 6)
    want = expected_masks(server, annotations, stop=6, direction="backward")
    assert sorted(want) == list(range(6))
    for t in range(6):
        assert np.array_equal(ids(client, t), want[t]), t
    y, x = square_at(5)  # found going backward from the last frame's annotation
    assert (want[5][y : y + 30, x : x + 30] == square).mean() > 0.6
    # the disc, annotated on frame 3 only, is found on every frame, also on frames 5 and 4
    # that going backward come before its annotation (XMem++: permanent memory)
    assert all((want[t] == disc).any() for t in range(6))

    client.ok("/api/propagate", {"frame": 2, "direction": "forward"})
    assert client.wait_job()["state"] == "done"
    want = expected_masks(server, annotations, start=2)
    for t in range(2, FRAMES):
        assert np.array_equal(ids(client, t), want[t]), t
    assert (want[2] == disc).any()  # found before its annotation on frame 3 (XMem++)
    assert ids(client, 0).shape == SIZE


def test_edits_wait_for_a_running_propagation(workspace, engine):
    from tests.app.conftest import FloodSegmenter

    gated = GatedPropagator(engine)
    config = AppConfig(workspace=workspace, port=0, device="cpu")
    server = create_server(config, propagator=gated, segmenter=FloodSegmenter())
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
        stroke = {"frame": 3, "object": oid, "points": [[5, 5]], "radius": 2}
        click = {"frame": 3, "object": oid, "points": [centre(3)], "labels": [1]}
        for path, body in [
            ("/api/paint", stroke),
            ("/api/prompt", click),
            ("/api/objects", {}),
            ("/api/clear", {"frame": 0}),
            ("/api/objects/1", {"delete": True}),
            ("/api/confirm", {"frame": 3}),
            ("/api/undo", {}),
            ("/api/redo", {}),
        ]:
            status, data = client.post(path, body)
            assert status == 409, (path, data)
            assert data["error"] == (
                "a propagate forward job is running; wait for it or cancel it"
            ), path
        client.ok("/api/objects/1", {"name": "renamed"})  # names are not propagated
        client.ok("/api/cancel")
        gated.gate.set()
        assert client.wait_job()["state"] == "cancelled"
        assert app_session(server, client).session.objects.names == {1: "renamed"}
        assert sorted(app_session(server, client).session.annotations) == [0]
        client.ok("/api/paint", stroke)
    finally:
        gated.gate.set()
        server.shutdown()
        server.server_close()


def test_both_directions_is_the_sessions_own_from_any_frame(server, client: Client):
    client.ok("/api/open", {"path": "clip"})
    session = app_session(server, client).session
    client.ok("/api/prompt", {"frame": 3, "points": [centre(3)], "labels": [1]})
    client.ok("/api/prompt", {"frame": 6, "object": 1, "points": [centre(6)], "labels": [1]})
    client.ok("/api/propagate", {"frame": 0, "direction": "both"})  # the frame does not matter
    job = client.wait_job()
    # the backward pass plays frames 6..0, the forward pass 3..7
    assert (job["state"], job["done"], job["total"]) == ("done", 12, 12)
    assert job["kind"] == "propagate both"
    want = expected_masks(server, session.annotations, direction="both")
    assert sorted(want) == list(range(FRAMES))
    for t in range(FRAMES):
        assert np.array_equal(ids(client, t), want[t]), t
        assert (want[t] == 1).any(), t
    assert client.get("/api/state")[1]["state"]["propagated"] == list(range(FRAMES))

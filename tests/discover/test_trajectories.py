"""The trajectories JSON format (round trip, validation) and detection linking."""

from __future__ import annotations

import json

import numpy as np
import pytest

from vosam.discover import (
    Trajectory,
    TrajectoryError,
    link_detections,
    read_trajectories,
    write_trajectories,
)
from vosam.discover.trajectories import box_iou, box_of, clip_box

NAMES = tuple(f"{i:05d}" for i in range(6))


def _doc(**changes):
    doc = {
        "format": "vosam-trajectories",
        "version": 1,
        "width": 64,
        "height": 48,
        "objects": [
            {"id": 3, "boxes": [{"frame": 0, "box": [1, 2, 10, 12], "score": 0.5}]},
        ],
    }
    doc.update(changes)
    return doc


def test_round_trip_keeps_every_box_and_score(tmp_path):
    a = Trajectory(1, {0: (np.array([1, 2, 3, 4], np.float32), 0.9)})
    a.boxes[4] = (np.array([5.5, 6, 7, 8.25], np.float32), 0.25)
    b = Trajectory(7, {2: (np.array([0, 0, 63, 47], np.float32), 1.0)}, score=0.125)
    path = tmp_path / "t.json"
    write_trajectories(path, [a, b], names=NAMES, size=(48, 64))
    back = read_trajectories(path, names=NAMES, size=(48, 64))
    assert [t.object_id for t in back] == [1, 7]
    assert back[0].frames == [0, 4]
    np.testing.assert_array_equal(back[0].box(4), [5.5, 6, 7, 8.25])
    assert back[0].boxes[4][1] == 0.25
    assert back[0].mean_score == pytest.approx((0.9 + 0.25) / 2)
    assert back[1].mean_score == 0.125
    assert back[1].box(0) is None
    doc = json.loads(path.read_text())
    assert doc["frames"] == list(NAMES) and doc["width"] == 64 and doc["height"] == 48


def test_frames_may_be_given_by_name_and_optional_fields_default(tmp_path):
    path = tmp_path / "t.json"
    doc = {"objects": [{"id": 2, "boxes": [{"frame": "00003", "box": [0, 0, 5, 5]}]}]}
    path.write_text(json.dumps(doc))
    (traj,) = read_trajectories(path, names=NAMES)
    assert traj.frames == [3] and traj.boxes[3][1] == 1.0


@pytest.mark.parametrize(
    ("doc", "problem"),
    [
        ([], "must be a JSON object"),
        (_doc(format="coco"), "format is 'coco'"),
        (_doc(version=2), "version 2 is not supported"),
        (_doc(width=65), "width is 65 but the video's is 64"),
        (_doc(frames=["a"]), "frames list (1 names) differs"),
        (_doc(frames=1.5), "frames must be a list of frame names"),  # found by fuzzing
        (_doc(objects={}), "needs an 'objects' list"),
        (_doc(objects=[{"id": 0, "boxes": []}]), "objects[0]: id 0 is not an integer in 1..254"),
        (_doc(objects=[{"id": 1, "boxes": []}, {"id": 1, "boxes": []}]), "id 1 appears twice"),
        (
            _doc(objects=[{"id": 1, "boxes": [{"frame": 6, "box": [0, 0, 1, 1]}]}]),
            "objects[0].boxes[0]: frame 6 is not in the video (6 frames)",
        ),
        (
            _doc(objects=[{"id": 1, "boxes": [{"frame": "x", "box": [0, 0, 1, 1]}]}]),
            "frame 'x' is not in the video",
        ),
        (
            _doc(objects=[{"id": 1, "boxes": [{"frame": 1, "box": [5, 0, 1, 1]}]}]),
            "has x1 < x0 or y1 < y0",
        ),
        (
            _doc(objects=[{"id": 1, "boxes": [{"frame": 1, "box": [0, 0, 1]}]}]),
            "box must be [x0, y0, x1, y1]",
        ),
        (
            _doc(objects=[{"id": 1, "boxes": [{"frame": 1, "box": [0, "a", 1, 1]}]}]),
            "'a' is not a finite number",
        ),
        (
            _doc(objects=[{"id": 1, "boxes": [{"frame": 1, "box": [0, 0, 1, 1], "score": 2}]}]),
            "score 2.0 is outside [0, 1]",
        ),
        (
            _doc(
                objects=[
                    {
                        "id": 1,
                        "boxes": [
                            {"frame": 1, "box": [0, 0, 1, 1]},
                            {"frame": "00001", "box": [0, 0, 1, 1]},
                        ],
                    }
                ]
            ),
            "object 1 has two boxes on frame 00001",
        ),
    ],
)
def test_invalid_documents_name_the_file_and_the_problem(tmp_path, doc, problem):
    path = tmp_path / "bad.json"
    path.write_text(json.dumps(doc))
    with pytest.raises(TrajectoryError) as info:
        read_trajectories(path, names=NAMES, size=(48, 64))
    message = str(info.value)
    assert message.startswith(str(path) + ": ")
    assert problem in message


def test_unreadable_files_are_errors(tmp_path):
    with pytest.raises(TrajectoryError, match="does not exist"):
        read_trajectories(tmp_path / "none.json", names=NAMES)
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(TrajectoryError, match="not valid JSON"):
        read_trajectories(bad, names=NAMES)


def test_box_helpers():
    mask = np.zeros((10, 12), bool)
    mask[2:5, 3:9] = True
    np.testing.assert_array_equal(box_of(mask), [3, 2, 8, 4])
    assert box_of(np.zeros((3, 3), bool)) is None
    a = np.array([0, 0, 9, 9], np.float32)
    assert box_iou(a, a) == 1.0
    assert box_iou(a, np.array([5, 0, 14, 9], np.float32)) == pytest.approx(50 / 150)
    assert box_iou(a, np.array([10, 10, 12, 12], np.float32)) == 0.0
    np.testing.assert_array_equal(clip_box(np.array([-3, 2, 20, 30]), (10, 12)), [0, 2, 11, 9])
    assert clip_box(np.array([20, 2, 30, 5]), (10, 12)) is None


def _box(x, y, s=10):
    return np.array([x, y, x + s - 1, y + s - 1], np.float32)


def test_linking_keeps_identity_through_an_occlusion_and_ranks_by_score():
    # object A moves right 4 px a frame and is unseen on frames 5..8; object B stands still
    dets = []
    for t in range(14):
        frame = [(_box(50, 40), 0.6)]
        if not 5 <= t <= 8:
            frame.insert(0, (_box(4 * t, 0), 0.9))
        dets.append(frame)
    dets[3].append((_box(90, 90), 0.99))  # a one-frame false detection
    a, b = link_detections(dets, link_iou=0.2, max_gap=5, min_length=0.2)
    assert a.object_id == 1 and b.object_id == 2
    assert a.frames == [0, 1, 2, 3, 4, 9, 10, 11, 12, 13]
    np.testing.assert_array_equal(a.box(13), _box(52, 0))
    assert b.frames == list(range(14))


def test_linking_splits_after_a_gap_longer_than_allowed():
    dets = [[(_box(0, 0), 1.0)] if t not in (3, 4, 5) else [] for t in range(10)]
    tracks = link_detections(dets, max_gap=2, min_length=0.0)
    assert [t.frames for t in tracks] == [[6, 7, 8, 9], [0, 1, 2]]
    tracks = link_detections(dets, max_gap=3, min_length=0.0)
    assert [t.frames for t in tracks] == [[0, 1, 2, 6, 7, 8, 9]]


def test_linking_max_objects():
    dets = [[(_box(0, 0), 0.5), (_box(30, 30), 0.7), (_box(60, 0), 0.6)] for _ in range(5)]
    tracks = link_detections(dets, max_objects=2)
    assert [t.box(0)[0] for t in tracks] == [30, 60]

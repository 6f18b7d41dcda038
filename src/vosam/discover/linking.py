"""Linking per-frame detections into trajectories, keeping identity through occlusions.

Frame by frame, every open trajectory predicts its box (last box moved by its recent
velocity; the box grows while the object is unseen, since where it reappears is less
certain), and detections are assigned to trajectories by the Hungarian algorithm on
``1 − IoU``. A trajectory unmatched for more than ``max_gap`` frames is closed; a detection
matched to none starts a new one. At the end short trajectories are dropped and the rest are
ranked by total score, which become the object ids 1, 2, ...
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
from scipy.optimize import linear_sum_assignment

from vosam.discover.trajectories import Trajectory, box_iou

Detection = tuple[np.ndarray, float]  # float32 (4,) inclusive xyxy box, score


@dataclass
class _Track:
    boxes: dict[int, Detection] = field(default_factory=dict)
    last: int = 0

    def predict(self, index: int) -> np.ndarray:
        frames = sorted(self.boxes)[-3:]
        box = self.boxes[frames[-1]][0]
        gap = index - frames[-1]
        if len(frames) > 1:
            velocity = (box - self.boxes[frames[0]][0]) / (frames[-1] - frames[0])
            box = box + velocity * gap
        if gap > 1:  # unseen: the object may be anywhere near, grow the box
            grow = 0.15 * (gap - 1)
            w, h = box[2] - box[0] + 1, box[3] - box[1] + 1
            box = box + np.array([-w, -h, w, h], np.float32) * min(grow, 1.0) / 2
        return box


def link_detections(
    detections: Sequence[Sequence[Detection]],
    *,
    link_iou: float = 0.2,
    max_gap: int = 15,
    min_length: float = 0.2,
    max_objects: int | None = None,
) -> list[Trajectory]:
    """Link per-frame detections into trajectories.

    Args:
        detections: for each frame (in order), its detections ``(box float32 (4,), score)``.
        link_iou: least IoU between a trajectory's predicted box and a detection to link them.
        max_gap: frames a trajectory may go unseen and still be continued.
        min_length: trajectories seen on fewer than ``max(3, min_length × frames)`` frames
            are dropped (never more than half the video's frames are required).
        max_objects: keep at most this many trajectories, by total score.

    Returns:
        Trajectories with ids 1, 2, ... in decreasing total score.
    """
    open_tracks: list[_Track] = []
    done: list[_Track] = []
    for index, dets in enumerate(detections):
        still = []
        for tr in open_tracks:
            (still if index - tr.last <= max_gap + 1 else done).append(tr)
        open_tracks = still
        matched: set[int] = set()
        if open_tracks and dets:
            cost = np.ones((len(open_tracks), len(dets)))
            for i, tr in enumerate(open_tracks):
                pred = tr.predict(index)
                for j, (box, _) in enumerate(dets):
                    cost[i, j] = 1.0 - box_iou(pred, box)
            rows, cols = linear_sum_assignment(cost)
            for i, j in zip(rows, cols, strict=True):
                if 1.0 - cost[i, j] >= link_iou:
                    open_tracks[i].boxes[index] = dets[j]
                    open_tracks[i].last = index
                    matched.add(j)
        for j, det in enumerate(dets):
            if j not in matched:
                open_tracks.append(_Track({index: det}, index))
    done.extend(open_tracks)
    n = len(detections)
    need = max(1, min(max(3, round(min_length * n)), (n + 1) // 2))
    kept = [tr for tr in done if len(tr.boxes) >= need]
    kept.sort(key=lambda tr: (-sum(s for _, s in tr.boxes.values()), min(tr.boxes)))
    if max_objects is not None:
        kept = kept[:max_objects]
    return [
        Trajectory(k, {i: (b.astype(np.float32), float(s)) for i, (b, s) in tr.boxes.items()})
        for k, tr in enumerate(kept, 1)
    ]

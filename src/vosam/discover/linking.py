"""Linking per-frame detections into trajectories, keeping identity through occlusions.

Frame by frame, in two rounds (as SORT-style trackers do): trajectories seen on the previous
frame predict their box (the last box moved by the recent centre velocity) and take
detections by the Hungarian algorithm on IoU; then lost trajectories (unseen for a while,
e.g. occluded) take remaining detections that lie mostly inside the region where they may
reappear, which grows with every frame unseen. A trajectory unseen for more than
``max_gap`` frames is closed; a detection taken by none starts a new one. At the end short
trajectories are dropped and the rest are ranked by total score, which become the object
ids 1, 2, ...
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
        """The box expected on frame ``index``: the last box, its centre moved by the mean
        centre velocity over the last few sightings."""
        frames = sorted(self.boxes)[-5:]
        box = self.boxes[frames[-1]][0]
        if len(frames) > 1:
            first = self.boxes[frames[0]][0]
            velocity = (
                ((box[:2] + box[2:]) - (first[:2] + first[2:])) / 2 / (frames[-1] - frames[0])
            )
            box = box + np.tile(velocity * (index - frames[-1]), 2)
        return box.astype(np.float32)

    def reach(self, index: int) -> np.ndarray:
        """Where a lost object may reappear on frame ``index``: the predicted box grown on
        every side by a quarter of its longer side per frame unseen (at most two sides)."""
        box = self.predict(index)
        size = max(box[2] - box[0], box[3] - box[1]) + 1
        margin = size * min(0.25 * (index - self.last), 2.0)
        return box + np.array([-margin, -margin, margin, margin], np.float32)


def _inside(det: np.ndarray, region: np.ndarray) -> float:
    """Fraction of box ``det``'s area inside box ``region``."""
    iw = min(det[2], region[2]) - max(det[0], region[0]) + 1
    ih = min(det[3], region[3]) - max(det[1], region[1]) + 1
    if iw <= 0 or ih <= 0:
        return 0.0
    return float(iw * ih / ((det[2] - det[0] + 1) * (det[3] - det[1] + 1)))


def _assign(
    tracks: list[_Track], dets: Sequence[Detection], free: list[int], affinity, least: float
) -> list[tuple[_Track, int]]:
    """Hungarian assignment of ``tracks`` to the detections ``free`` on ``affinity``."""
    if not tracks or not free:
        return []
    gain = np.array([[affinity(tr, dets[j][0]) for j in free] for tr in tracks])
    rows, cols = linear_sum_assignment(-gain)
    return [(tracks[i], free[j]) for i, j in zip(rows, cols, strict=True) if gain[i, j] >= least]


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
            are dropped (never more than half the video's frames are required); when that
            leaves none, the longest one is kept.
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
        # first the trajectories seen on the previous frame, by IoU with their prediction;
        # then the lost ones, by how much of a remaining detection lies where they may be
        recent = [tr for tr in open_tracks if tr.last == index - 1]
        lost = [tr for tr in open_tracks if tr.last < index - 1]
        free = list(range(len(dets)))
        pairs = _assign(
            recent, dets, free, lambda tr, b, i=index: box_iou(tr.predict(i), b), link_iou
        )
        free = [j for j in free if j not in {j for _, j in pairs}]
        pairs += _assign(lost, dets, free, lambda tr, b, i=index: _inside(b, tr.reach(i)), 0.5)
        for tr, j in pairs:
            tr.boxes[index] = dets[j]
            tr.last = index
        taken = {j for _, j in pairs}
        for j, det in enumerate(dets):
            if j not in taken:
                open_tracks.append(_Track({index: det}, index))
    done.extend(open_tracks)
    n = len(detections)
    need = max(1, min(max(3, round(min_length * n)), (n + 1) // 2))
    kept = [tr for tr in done if len(tr.boxes) >= need]
    if not kept and done:  # nothing lasts: the longest trajectory is still the best guess
        kept = [max(done, key=lambda tr: (len(tr.boxes), sum(s for _, s in tr.boxes.values())))]
    kept.sort(key=lambda tr: (-sum(s for _, s in tr.boxes.values()), min(tr.boxes)))
    if max_objects is not None:
        kept = kept[:max_objects]
    return [
        Trajectory(k, {i: (b.astype(np.float32), float(s)) for i, (b, s) in tr.boxes.items()})
        for k, tr in enumerate(kept, 1)
    ]

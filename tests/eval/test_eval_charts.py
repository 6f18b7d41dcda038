"""The report's charts: ticks at round values, lines, lost frames and bars where their values
put them, read back from the PNG's pixels."""

from __future__ import annotations

import io

import numpy as np
import pytest
from PIL import Image

from vosam.eval.charts import COLOURS, LOST, Series, bar_chart, line_chart, nice_ticks


def pixels(png: bytes) -> np.ndarray:
    with Image.open(io.BytesIO(png)) as image:
        assert image.format == "PNG"
        return np.asarray(image.convert("RGB"))


def where(image: np.ndarray, colour: tuple[int, int, int]) -> np.ndarray:
    return np.all(image == colour, axis=2)


def test_ticks_are_round_steps_inside_the_range():
    assert nice_ticks(0.0, 1.0, most=6) == [0.0, 0.2, 0.4, 0.6, 0.8, 1.0]
    assert nice_ticks(1, 77) == [20, 40, 60]
    assert nice_ticks(0, 100) == [0, 20, 40, 60, 80, 100]
    assert nice_ticks(3, 3) == [3]


def test_a_line_and_its_lost_frame_are_drawn_where_their_values_are():
    xs = [float(x) for x in range(11)]
    ys = [1.0] * 11
    ys[5] = 0.0
    image = pixels(
        line_chart([Series("object 1", xs, ys, lost=[5.0])], title="t", x_label="", y_label="J")
    )
    assert image.shape == (360, 900, 3)
    # plotting area: x from 56 to 884 for frames -0.2..10.2, y from 46 (J 1.03) to 316 (J -0.03)
    left, right, top, bottom = 56, 884, 46, 316

    def px(x: float) -> float:
        return left + (x + 0.2) / 10.4 * (right - left)

    def py(y: float) -> float:
        return bottom - (y + 0.03) / 1.06 * (bottom - top)

    lost = where(image, LOST)
    cols = np.flatnonzero(lost.any(axis=0))
    rows = np.flatnonzero(lost.any(axis=1))
    assert abs(cols.mean() - px(5)) <= 1 and cols.max() - cols.min() <= 8  # one cross
    assert abs(rows.mean() - py(0)) <= 1
    line = where(image, COLOURS[0])
    for x in (1.0, 9.0):  # J = 1 on both sides of the lost frame
        ys_at = np.flatnonzero(line[:, round(px(x))])
        assert ys_at.size and abs(ys_at.mean() - py(1.0)) <= 1.5, x
    assert line[round(py(0.5)), round(px(4.5)) - 6 : round(px(4.5)) + 6].any()  # the drop


def test_bars_are_as_long_as_their_values():
    image = pixels(bar_chart(["low", "full"], [0.25, 1.0], title="t", x_label="J&F"))
    bar = where(image, (76, 114, 176))
    lengths = sorted(int(row.sum()) for row in bar if row.any())
    assert lengths[0] * 4 == pytest.approx(lengths[-1], abs=4)
    # the first label's bar is the lower one
    rows = np.flatnonzero(bar.any(axis=1))
    low_rows = [r for r in rows if bar[r].sum() < lengths[-1] / 2]
    assert min(low_rows) > max(r for r in rows if bar[r].sum() > lengths[-1] / 2)

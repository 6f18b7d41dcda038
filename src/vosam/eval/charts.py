"""The report's charts, drawn with Pillow: lines over frames and horizontal bars, as PNG.

A report draws one chart per sequence, so a chart must cost milliseconds, not the tenth of
a second a plotting library spends laying out a figure: these are drawn straight onto an
image with fixed margins, ticks at round values and Pillow's own font.
"""

from __future__ import annotations

import io
import math
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache

from PIL import Image, ImageDraw, ImageFont

__all__ = ["LOST", "Series", "bar_chart", "line_chart", "nice_ticks"]

# line colours, one per series in turn
COLOURS = (
    (31, 119, 180),
    (255, 127, 14),
    (44, 160, 44),
    (148, 103, 189),
    (140, 86, 75),
    (227, 119, 194),
    (127, 127, 127),
    (188, 189, 34),
    (23, 190, 207),
)
LOST = (196, 78, 82)  # frames where a mask is lost: marks in this red
_SHADE = (248, 234, 234)  # the same red at an eighth of its strength on white
_GRID = (228, 228, 228)
_AXIS = (60, 60, 60)
_TEXT = (20, 20, 20)
_BAR = (76, 114, 176)
_BACKGROUND = (255, 255, 255)
_LEGEND_PER_ROW = 8
_LEGEND_ROW = 16  # pixels


@dataclass(frozen=True)
class Series:
    """One line: values ``ys`` at positions ``xs``, with frames ``lost`` (positions in
    ``xs``) marked on the x axis and shaded."""

    label: str
    xs: Sequence[float]
    ys: Sequence[float]
    lost: Sequence[float] = ()


@lru_cache(maxsize=8)
def _font(size: int) -> ImageFont.ImageFont | ImageFont.FreeTypeFont:
    return ImageFont.load_default(size=size)


def nice_ticks(low: float, high: float, most: int = 8) -> list[float]:
    """Round tick positions covering ``[low, high]``: steps of 1, 2 or 5 times a power of
    ten, at most ``most`` of them."""
    if not high > low:
        return [low]
    raw = (high - low) / max(most - 1, 1)
    power = 10 ** math.floor(math.log10(raw))
    step = next(m * power for m in (1, 2, 5, 10) if m * power >= raw)
    first = math.ceil(low / step - 1e-9)
    last = math.floor(high / step + 1e-9)
    return [round(k * step, 12) for k in range(first, last + 1)]


def _label(value: float) -> str:
    return f"{value:g}"


def _png(image: Image.Image) -> bytes:
    buffer = io.BytesIO()
    image.save(buffer, format="PNG", compress_level=1)
    return buffer.getvalue()


class _Plot:
    """An image with a plotting area inside fixed margins and the maps into it."""

    def __init__(
        self,
        size: tuple[int, int],
        margins: tuple[int, int, int, int],
        x_range: tuple[float, float],
        y_range: tuple[float, float],
    ) -> None:
        self.image = Image.new("RGB", size, _BACKGROUND)
        self.draw = ImageDraw.Draw(self.image)
        left, top, right, bottom = margins
        self.box = (left, top, size[0] - right, size[1] - bottom)
        self.x_range, self.y_range = x_range, y_range

    def x(self, value: float) -> float:
        (lo, hi), (x0, _, x1, _) = self.x_range, self.box
        return x0 + (value - lo) / (hi - lo) * (x1 - x0)

    def y(self, value: float) -> float:
        (lo, hi), (_, y0, _, y1) = self.y_range, self.box
        return y1 - (value - lo) / (hi - lo) * (y1 - y0)

    def text(self, xy: tuple[float, float], text: str, anchor: str, size: int = 11) -> None:
        self.draw.text(xy, text, fill=_TEXT, font=_font(size), anchor=anchor)

    def frame(self, title: str, x_label: str, y_label: str) -> None:
        x0, y0, x1, y1 = self.box
        self.draw.rectangle(self.box, outline=_AXIS)
        width = self.image.size[0]
        self.text((width / 2, y0 / 2), title, "mm", size=13)
        self.text(((x0 + x1) / 2, self.image.size[1] - 6), x_label, "md")
        if y_label:
            self.text((6, (y0 + y1) / 2), y_label, "lm")

    def x_ticks(self, ticks: Sequence[float], *, grid: bool) -> None:
        _, y0, _, y1 = self.box
        for t in ticks:
            px = self.x(t)
            if grid:
                self.draw.line([(px, y0 + 1), (px, y1 - 1)], fill=_GRID)
            self.draw.line([(px, y1), (px, y1 + 4)], fill=_AXIS)
            self.text((px, y1 + 6), _label(t), "mt")

    def y_ticks(self, ticks: Sequence[float]) -> None:
        x0, _, x1, _ = self.box
        for t in ticks:
            py = self.y(t)
            self.draw.line([(x0 + 1, py), (x1 - 1, py)], fill=_GRID)
            self.draw.line([(x0 - 4, py), (x0, py)], fill=_AXIS)
            self.text((x0 - 6, py), _label(t), "rm")


def line_chart(
    series: Sequence[Series],
    *,
    title: str,
    x_label: str,
    y_label: str,
    y_range: tuple[float, float] = (-0.03, 1.03),
    size: tuple[int, int] = (900, 360),
) -> bytes:
    """PNG of ``series`` as lines over a shared x axis, their legend between the title and
    the plot."""
    xs = [x for s in series for x in s.xs]
    lo, hi = (min(xs), max(xs)) if xs else (0.0, 1.0)
    if hi == lo:
        lo, hi = lo - 0.5, hi + 0.5
    pad = (hi - lo) * 0.02
    rows = math.ceil(len(series) / _LEGEND_PER_ROW)
    margins = (56, 30 + _LEGEND_ROW * rows, 16, 44)
    plot = _Plot(size, margins, (lo - pad, hi + pad), y_range)
    step = min((b - a for s in series for a, b in zip(s.xs, s.xs[1:], strict=False)), default=1)
    _, y0, _, y1 = plot.box
    for s in series:  # shading first, under the grid and the lines
        for x in s.lost:
            a, b = plot.x(x - step / 2), plot.x(x + step / 2)
            plot.draw.rectangle([(a, y0 + 1), (max(b - 1, a), y1 - 1)], fill=_SHADE)
    plot.x_ticks(nice_ticks(lo, hi), grid=True)
    plot.y_ticks(nice_ticks(*(max(y_range[0], 0.0), min(y_range[1], 1.0)), most=6))
    for n, s in enumerate(series):
        points = [(plot.x(x), plot.y(y)) for x, y in zip(s.xs, s.ys, strict=True)]
        colour = COLOURS[n % len(COLOURS)]
        if len(points) > 1:
            plot.draw.line(points, fill=colour, width=2, joint="curve")
        elif points:
            (px, py) = points[0]
            plot.draw.ellipse([(px - 2, py - 2), (px + 2, py + 2)], fill=colour)
        for x in s.lost:
            px, py = plot.x(x), plot.y(0.0)
            plot.draw.line([(px - 3, py - 3), (px + 3, py + 3)], fill=LOST, width=2)
            plot.draw.line([(px - 3, py + 3), (px + 3, py - 3)], fill=LOST, width=2)
    _legend(plot, [s.label for s in series])
    plot.frame(title, x_label, y_label)
    return _png(plot.image)


def _legend(plot: _Plot, labels: Sequence[str]) -> None:
    """Labels with their line colours, in rows of :data:`_LEGEND_PER_ROW` above the plot."""
    font = _font(10)
    x0, y0, _, _ = plot.box
    x = x0
    for n, label in enumerate(labels):
        row, col = divmod(n, _LEGEND_PER_ROW)
        if col == 0:
            x = x0
        y = y0 - _LEGEND_ROW * (math.ceil(len(labels) / _LEGEND_PER_ROW) - row) + 6
        plot.draw.line([(x, y), (x + 18, y)], fill=COLOURS[n % len(COLOURS)], width=2)
        plot.draw.text((x + 24, y), label, fill=_TEXT, font=font, anchor="lm")
        x += 24 + plot.draw.textlength(label, font=font) + 16


def bar_chart(
    labels: Sequence[str],
    values: Sequence[float],
    *,
    title: str,
    x_label: str,
    colour: tuple[int, int, int] = _BAR,
    mark: tuple[float, str] | None = None,
    width: int = 800,
) -> bytes:
    """PNG of horizontal bars over ``[0, 1]``, the first label at the bottom; ``mark`` is a
    dashed vertical line at a value, with its legend text."""
    font = _font(10)
    probe = ImageDraw.Draw(Image.new("RGB", (1, 1)))
    left = 16 + int(max((probe.textlength(t, font=font) for t in labels), default=0))
    height = max(300, 28 * len(labels) + 90)
    plot = _Plot((width, height), (left + 8, 30, 20, 44), (0.0, 1.0), (-0.5, len(labels) - 0.5))
    plot.x_ticks(nice_ticks(0.0, 1.0, most=6), grid=True)
    x0 = plot.x(0.0)
    for n, (label, value) in enumerate(zip(labels, values, strict=True)):
        yc = plot.y(n)
        plot.draw.rectangle(
            [(x0, yc - 9), (plot.x(min(max(value, 0.0), 1.0)), yc + 9)], fill=colour
        )
        plot.draw.text((x0 - 6, yc), label, fill=_TEXT, font=font, anchor="rm")
    if mark is not None:
        value, text = mark
        px = plot.x(value)
        _, y0, x1, y1 = plot.box
        for y in range(int(y0) + 1, int(y1), 8):
            plot.draw.line([(px, y), (px, min(y + 4, y1 - 1))], fill=LOST, width=2)
        plot.draw.text((x1 - 8, y1 - 10), text, fill=LOST, font=_font(11), anchor="rd")
    plot.frame(title, x_label, "")
    return _png(plot.image)

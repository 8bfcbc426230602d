"""ArrayCanvas: the numpy rasterizer behind render_mode="rgb_array".

No display, no OpenGL, no raylib: frames are uint8 [height, width, 3] arrays, so rendering
works on any server. Each primitive touches only its bounding box (a slice of the frame),
so a frame costs a few numpy operations per shape, not a Python loop over pixels.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from shoal.render.canvas import (
    Canvas,
    Color,
    check_codes,
    check_color,
    check_palette,
    check_size,
    pixel_span,
    whole_pixel,
)
from shoal.render.font import text_mask


def fill(region: np.ndarray, color: Color) -> None:
    """Paint a non-empty [h, w, 3] region: one row, then that row copied down (numpy assigns a
    3-value colour to every pixel many times slower, its inner loop being 3 long)."""
    region[0] = color
    region[1:] = region[0]


class ArrayCanvas(Canvas):
    """A canvas whose pixels are a numpy array; `frame()` returns a copy of them."""

    def __init__(self, width: int, height: int):
        self.width, self.height = check_size(width, height)
        self.pixels = np.zeros((self.height, self.width, 3), dtype=np.uint8)

    def frame(self) -> np.ndarray:
        """The picture so far, as a new uint8 [height, width, 3] array."""
        return self.pixels.copy()

    def clear(self, color: Color) -> None:
        fill(self.pixels, check_color(color))

    def rect(self, x: float, y: float, width: float, height: float, color: Color) -> None:
        color = check_color(color)
        x0, x1 = pixel_span(x, x + width, self.width)
        y0, y1 = pixel_span(y, y + height, self.height)
        if x0 < x1 and y0 < y1:
            fill(self.pixels[y0:y1, x0:x1], color)

    def circle(self, cx: float, cy: float, radius: float, color: Color) -> None:
        color = check_color(color)
        x0, x1 = pixel_span(cx - radius, cx + radius, self.width)
        y0, y1 = pixel_span(cy - radius, cy + radius, self.height)
        if x0 >= x1 or y0 >= y1:
            return
        dx = np.arange(x0, x1) + 0.5 - cx
        dy = np.arange(y0, y1) + 0.5 - cy
        inside = dy[:, None] ** 2 + dx[None, :] ** 2 <= radius * radius
        self.pixels[y0:y1, x0:x1][inside] = color

    def polygon(self, points: Sequence[tuple[float, float]], color: Color) -> None:
        color = check_color(color)
        corners = np.array(self.check_points(points))
        xs, ys = corners[:, 0], corners[:, 1]
        # Twice the signed area (shoelace): its sign is the winding, 0 means nothing to fill.
        area = float(np.dot(xs, np.roll(ys, -1)) - np.dot(ys, np.roll(xs, -1)))
        if area == 0.0:
            return
        px0, px1 = pixel_span(xs.min(), xs.max(), self.width)
        py0, py1 = pixel_span(ys.min(), ys.max(), self.height)
        if px0 >= px1 or py0 >= py1:
            return
        centre_x = np.arange(px0, px1)[None, :] + 0.5
        centre_y = np.arange(py0, py1)[:, None] + 0.5
        inside = np.ones((py1 - py0, px1 - px0), dtype=np.bool_)
        winding = math.copysign(1.0, area)
        for (ax, ay), (bx, by) in zip(corners, np.roll(corners, -1, axis=0)):
            # Inside a convex polygon = on the inner side of every edge.
            inside &= winding * ((bx - ax) * (centre_y - ay) - (by - ay) * (centre_x - ax)) >= 0
        self.pixels[py0:py1, px0:px1][inside] = color

    def text(self, x: float, y: float, text: str, color: Color, scale: int = 1) -> None:
        text, scale = self.check_text(text, scale)
        color = check_color(color)
        if text:
            self._stamp(whole_pixel(x), whole_pixel(y), text_mask(text, scale), color)

    def tiles(
        self, x: float, y: float, codes: np.ndarray, palette: np.ndarray, cell_size: int
    ) -> None:
        cell_size = self.check_cell_size(cell_size)
        palette = check_palette(palette)
        codes = check_codes(codes, len(palette))
        left, top = whole_pixel(x), whole_pixel(y)
        rows, columns = codes.shape
        overlap = self._clip(left, top, rows * cell_size, columns * cell_size)
        if overlap is None:
            return
        (target_rows, target_columns), _ = overlap
        # The cell under every visible pixel, then its colour: two gathers (np.take is much
        # faster than fancy indexing here), so a camera over a large world costs what it shows.
        cell_rows = (np.arange(target_rows.start, target_rows.stop) - top) // cell_size
        cell_columns = (np.arange(target_columns.start, target_columns.stop) - left) // cell_size
        if len(palette) <= 256:
            codes = codes.astype(np.uint8)  # the full-size gather then moves 1 byte a pixel
        cells = codes[np.ix_(cell_rows, cell_columns)]
        self.pixels[target_rows, target_columns] = np.take(palette, cells, axis=0)

    # ---- helpers ----

    def _clip(self, left: int, top: int, height: int, width: int):
        """The frame's and the source's slices where a [height, width] block at (left, top)
        overlaps the frame, or None."""
        x0, y0 = max(left, 0), max(top, 0)
        x1, y1 = min(left + width, self.width), min(top + height, self.height)
        if x0 >= x1 or y0 >= y1:
            return None
        return (slice(y0, y1), slice(x0, x1)), (slice(y0 - top, y1 - top), slice(x0 - left, x1 - left))

    def _place(self, left: int, top: int, block: np.ndarray) -> None:
        overlap = self._clip(left, top, *block.shape[:2])
        if overlap:
            target, source = overlap
            self.pixels[target] = block[source]

    def _stamp(self, left: int, top: int, mask: np.ndarray, color: Color) -> None:
        overlap = self._clip(left, top, *mask.shape)
        if overlap:
            target, source = overlap
            self.pixels[target][mask[source]] = color

"""The drawing interface every scene draws on, and the rules both backends follow.

Coordinates are pixels as floats, (0, 0) the top-left corner of the top-left pixel, x to the
right and y downward. A shape covers a pixel when the pixel's centre (column + 0.5,
row + 0.5) lies inside it, which is how a GPU rasterizes, so the numpy rasterizer
(ArrayCanvas) and the raylib window (RaylibCanvas) cover the same pixels. A centre exactly on
an edge is a tie that GPUs settle their own way (ArrayCanvas counts the left and top edges
in, the right and bottom ones out): scenes keep edges off pixel centres, e.g. on whole
pixels. Whatever falls
outside the canvas is clipped. Colours are (red, green, blue) with each channel an int in
[0, 255]; a shape drawn later covers the ones drawn before.
"""

from __future__ import annotations

import abc
import math
import numbers
from collections.abc import Sequence
from typing import Any

import numpy as np

Color = tuple[int, int, int]

#: The largest canvas side: far beyond any screen, small enough that a frame fits in memory.
MAX_SIDE = 8192
#: The largest integer text scale (7-pixel glyphs become 448 pixels tall).
MAX_TEXT_SCALE = 64


def check_color(color: Any, name: str = "color") -> Color:
    """`color` as a tuple of three ints in [0, 255], or a ValueError/TypeError naming it."""
    if isinstance(color, np.ndarray):
        color = color.tolist()
    if not isinstance(color, (tuple, list)) or len(color) != 3:
        raise TypeError(f"{name} must be (red, green, blue), got {color!r}")
    if not all(isinstance(c, numbers.Integral) and not isinstance(c, bool) for c in color):
        raise TypeError(f"{name} must hold three ints, got {color!r}")
    if not all(0 <= c <= 255 for c in color):
        raise ValueError(f"{name} channels must be in [0, 255], got {color!r}")
    return int(color[0]), int(color[1]), int(color[2])


def check_size(width: Any, height: Any) -> tuple[int, int]:
    for name, value in (("width", width), ("height", height)):
        if isinstance(value, bool) or not isinstance(value, numbers.Integral):
            raise TypeError(f"{name} must be an int, got {value!r}")
        if not 1 <= value <= MAX_SIDE:
            raise ValueError(f"{name} must be in [1, {MAX_SIDE}], got {value}")
    return int(width), int(height)


def check_palette(palette: Any) -> np.ndarray:
    """A palette as uint8 [colours, 3]; bad shapes and values are errors, never wrapped."""
    array = np.asarray(palette)
    if array.ndim != 2 or array.shape[1] != 3 or array.shape[0] == 0:
        raise ValueError(f"palette must have shape (colours, 3), got {array.shape}")
    if array.dtype.kind not in "iu" or array.min() < 0 or array.max() > 255:
        raise ValueError("palette must hold ints in [0, 255]")
    return array.astype(np.uint8)


def check_codes(codes: Any, palette_size: int) -> np.ndarray:
    """Tile codes as a 2-d int array, each an index into the palette."""
    array = np.asarray(codes)
    if array.ndim != 2:
        raise ValueError(f"codes must be a 2-d array of palette indices, got shape {array.shape}")
    if array.dtype.kind not in "iu":
        raise TypeError(f"codes must be integers, got dtype {array.dtype}")
    if array.size and (array.min() < 0 or array.max() >= palette_size):
        raise ValueError(
            f"codes must index the palette's {palette_size} colours, got values in "
            f"[{array.min()}, {array.max()}]"
        )
    return array


def pixel_span(start: float, end: float, limit: int) -> tuple[int, int]:
    """The pixels [first, last) whose centres lie in [start, end), clipped to [0, limit)."""
    if not (math.isfinite(start) and math.isfinite(end)):
        raise ValueError(f"coordinates must be finite, got {start} and {end}")
    first = math.ceil(start - 0.5)
    last = math.ceil(end - 0.5)
    return max(first, 0), min(last, limit)


def whole_pixel(value: float) -> int:
    """Round half up, the same way for every coordinate (Python's round() rounds half to even)."""
    if not math.isfinite(value):
        raise ValueError(f"coordinates must be finite, got {value}")
    return math.floor(value + 0.5)


def line_quad(x0: float, y0: float, x1: float, y1: float, thickness: float) -> list[tuple[float, float]]:
    """The rectangle a line of `thickness` covers, as four corners (empty for a zero length)."""
    dx, dy = x1 - x0, y1 - y0
    length = float(np.hypot(dx, dy))
    if length == 0.0:
        return []
    nx, ny = -dy / length * thickness / 2, dx / length * thickness / 2
    return [(x0 + nx, y0 + ny), (x1 + nx, y1 + ny), (x1 - nx, y1 - ny), (x0 - nx, y0 - ny)]


class Canvas(abc.ABC):
    """Drawing primitives in pixel coordinates; see the module's rules."""

    width: int
    height: int

    @abc.abstractmethod
    def clear(self, color: Color) -> None:
        """Fill the whole canvas."""

    @abc.abstractmethod
    def rect(self, x: float, y: float, width: float, height: float, color: Color) -> None:
        """A filled rectangle with its top-left corner at (x, y)."""

    def rect_outline(
        self, x: float, y: float, width: float, height: float, color: Color, thickness: float = 1
    ) -> None:
        """The border of a rectangle, `thickness` pixels wide, inside its bounds: four filled
        rectangles, so every backend covers the same pixels."""
        if width <= 0 or height <= 0 or thickness <= 0:
            return
        t = min(thickness, width / 2, height / 2)  # a border thicker than half fills it
        self.rect(x, y, width, t, color)
        self.rect(x, y + height - t, width, t, color)
        self.rect(x, y + t, t, height - 2 * t, color)
        self.rect(x + width - t, y + t, t, height - 2 * t, color)

    @abc.abstractmethod
    def circle(self, cx: float, cy: float, radius: float, color: Color) -> None:
        """A filled disc centred at (cx, cy)."""

    def line(
        self, x0: float, y0: float, x1: float, y1: float, color: Color, thickness: float = 1
    ) -> None:
        """A straight line `thickness` pixels wide, ending flat at the two points: the
        rectangle around the segment, drawn as a polygon by every backend."""
        corners = line_quad(x0, y0, x1, y1, thickness)
        if corners:
            self.polygon(corners, color)

    @abc.abstractmethod
    def polygon(self, points: Sequence[tuple[float, float]], color: Color) -> None:
        """A filled convex polygon (at least three points, in either winding order)."""

    @abc.abstractmethod
    def text(self, x: float, y: float, text: str, color: Color, scale: int = 1) -> None:
        """One line of text in the built-in bitmap font (render/font.py), its top-left corner
        at (x, y) rounded to whole pixels, each font pixel drawn as scale x scale pixels."""

    @abc.abstractmethod
    def tiles(
        self, x: float, y: float, codes: np.ndarray, palette: np.ndarray, cell_size: int
    ) -> None:
        """A grid of square cells, cell (row, column) coloured palette[codes[row, column]],
        each cell_size pixels wide, its top-left corner at (x, y) rounded to whole pixels."""

    @staticmethod
    def check_text(text: Any, scale: Any) -> tuple[str, int]:
        if not isinstance(text, str):
            raise TypeError(f"text must be a str, got {type(text).__name__}")
        if isinstance(scale, bool) or not isinstance(scale, numbers.Integral):
            raise TypeError(f"scale must be an int, got {scale!r}")
        if not 1 <= scale <= MAX_TEXT_SCALE:
            raise ValueError(f"scale must be in [1, {MAX_TEXT_SCALE}], got {scale}")
        return text, int(scale)

    @staticmethod
    def check_cell_size(cell_size: Any) -> int:
        if isinstance(cell_size, bool) or not isinstance(cell_size, numbers.Integral):
            raise TypeError(f"cell_size must be an int, got {cell_size!r}")
        if not 1 <= cell_size <= MAX_SIDE:
            raise ValueError(f"cell_size must be in [1, {MAX_SIDE}], got {cell_size}")
        return int(cell_size)

    @staticmethod
    def check_points(points: Any) -> list[tuple[float, float]]:
        array = np.asarray(points, dtype=np.float64)
        if array.ndim != 2 or array.shape[1] != 2 or array.shape[0] < 3:
            raise ValueError(f"points must be at least three (x, y) pairs, got shape {array.shape}")
        if not np.isfinite(array).all():
            raise ValueError("points must be finite")
        return [(float(x), float(y)) for x, y in array]

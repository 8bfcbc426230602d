"""RaylibCanvas: the same primitives in a raylib window, behind render_mode="human".

raylib (the maintained CFFI binding, imported as `pyray`) is imported only when a window
opens, so everything else in shoal works without it. raylib has one window per process: a
second canvas opened while it is open shares it (resized to its own size, as a second pygame
display does for Gymnasium's envs), and the window closes when its last canvas closes.
Without a display the window cannot open: that is a DisplayUnavailable error that says what
to do instead, never a crash.

Shapes go to the GPU as rectangles and triangles, which cover the pixels whose centres lie
inside them: the rule ArrayCanvas follows, so the two backends agree (tests/render).
"""

from __future__ import annotations

import os
import sys
from collections.abc import Sequence
from typing import Any

import numpy as np

from shoal.render.canvas import (
    Canvas,
    Color,
    check_codes,
    check_color,
    check_palette,
    check_size,
    whole_pixel,
)
from shoal.render.font import ADVANCE, glyph_runs

#: Keys by the names shoal uses (render/play.py), as raylib's KEY_* constants' suffixes.
KEY_NAMES = (
    "LEFT", "RIGHT", "UP", "DOWN", "A", "D", "W", "S", "SPACE", "P", "R", "ESCAPE",
    "EQUAL", "MINUS", "KP_ADD", "KP_SUBTRACT",
)


#: The canvases drawing in raylib's window. The window is the process's own (raylib keeps it
#: in C globals), so who uses it is tracked at the same scope.
_WINDOW_USERS: set[int] = set()


class DisplayUnavailable(RuntimeError):
    """A window was asked for where no display can show one."""


def headless_message(detail: str) -> str:
    return (
        f"render_mode='human' needs a display: {detail}. On a headless machine use "
        "render_mode='rgb_array' (frames as arrays, no display needed), or run under a "
        "virtual display: xvfb-run -a python ..."
    )


def import_raylib() -> Any:
    """The pyray module, or an error that says how to install it."""
    try:
        import pyray
    except ImportError as error:
        from gymnasium.error import DependencyNotInstalled

        raise DependencyNotInstalled(
            f"render_mode='human' needs raylib ({error}): pip install 'shoal[render]'"
        ) from None
    return pyray


def check_display() -> None:
    """On Linux a window needs an X11 or Wayland display; fail before raylib tries."""
    if sys.platform.startswith("linux") and not (
        os.environ.get("DISPLAY") or os.environ.get("WAYLAND_DISPLAY")
    ):
        raise DisplayUnavailable(headless_message("neither DISPLAY nor WAYLAND_DISPLAY is set"))


class RaylibCanvas(Canvas):
    """A raylib window of width x height pixels, drawn one frame at a time:

        canvas.begin(); scene.draw(canvas, state); canvas.present()

    `present` shows the frame and waits so that frames come at most `fps` a second (0: no
    wait). `hidden=True` opens the window unmapped (tests read its pixels back).
    """

    def __init__(self, width: int, height: int, *, title: str = "shoal", fps: int = 60,
                 hidden: bool = False):
        self.width, self.height = check_size(width, height)
        check_display()
        rl = import_raylib()
        if rl.is_window_ready():
            rl.set_window_size(self.width, self.height)
            rl.set_window_title(title)
        else:
            rl.set_trace_log_level(rl.LOG_WARNING)
            rl.set_config_flags(rl.FLAG_WINDOW_HIDDEN if hidden else 0)
            rl.init_window(self.width, self.height, title)
            if not rl.is_window_ready():
                raise DisplayUnavailable(headless_message(
                    f"raylib could not open a window on display {os.environ.get('DISPLAY')!r}"
                ))
            rl.set_exit_key(rl.KEY_NULL)  # Esc is the play loop's to handle, not raylib's
        _WINDOW_USERS.add(id(self))
        self.rl = rl
        self._key_names = {getattr(rl, f"KEY_{name}"): name for name in KEY_NAMES}
        self.set_fps(fps)
        self.closed = False
        self._textures: dict[tuple[int, int], Any] = {}

    # ---- frames ----

    def begin(self) -> None:
        self.rl.begin_drawing()

    def present(self) -> None:
        """Show the frame drawn since begin() and poll the keyboard."""
        self.rl.end_drawing()

    def set_fps(self, fps: int) -> None:
        """Pace present() at `fps` frames a second (0: as fast as the GPU goes)."""
        self.rl.set_target_fps(max(int(fps), 0))

    def read_frame(self) -> np.ndarray:
        """The pixels drawn since begin(), as uint8 [height, width, 3]; call before present()."""
        rl = self.rl
        rl.rl_draw_render_batch_active()  # draw what raylib still batches
        image = rl.load_image_from_screen()
        try:
            size = image.width * image.height * 4
            rgba = np.frombuffer(rl.ffi.buffer(image.data, size), np.uint8)
            frame = rgba.reshape(image.height, image.width, 4)[:, :, :3].copy()
        finally:
            rl.unload_image(image)
        return frame

    def close(self) -> None:
        if self.closed:
            return
        for texture in self._textures.values():
            self.rl.unload_texture(texture)
        self._textures.clear()
        _WINDOW_USERS.discard(id(self))
        if not _WINDOW_USERS:
            self.rl.close_window()
        self.closed = True

    # ---- input ----

    def should_close(self) -> bool:
        """The window's close button was pressed."""
        return bool(self.rl.window_should_close())

    def keys_down(self) -> frozenset[str]:
        """The names (KEY_NAMES) of the keys held down now."""
        rl = self.rl
        return frozenset(name for name in KEY_NAMES if rl.is_key_down(getattr(rl, f"KEY_{name}")))

    def keys_pressed(self) -> frozenset[str]:
        """The names of the keys pressed since the last frame. From raylib's queue of presses,
        which also holds a tap released within the frame (IsKeyPressed misses those)."""
        pressed = set()
        while key := self.rl.get_key_pressed():
            if key in self._key_names:
                pressed.add(self._key_names[key])
        return frozenset(pressed)

    # ---- primitives ----

    def clear(self, color: Color) -> None:
        self.rl.clear_background((*check_color(color), 255))

    def rect(self, x: float, y: float, width: float, height: float, color: Color) -> None:
        if width > 0 and height > 0:
            self.rl.draw_rectangle_rec((x, y, width, height), (*check_color(color), 255))

    def circle(self, cx: float, cy: float, radius: float, color: Color) -> None:
        if radius > 0:
            self.rl.draw_circle_v((cx, cy), radius, (*check_color(color), 255))

    def polygon(self, points: Sequence[tuple[float, float]], color: Color) -> None:
        color = (*check_color(color), 255)
        corners = self.check_points(points)
        area = sum(ax * by - bx * ay for (ax, ay), (bx, by) in zip(corners, corners[1:] + corners[:1]))
        if area == 0:
            return
        if area > 0:
            # raylib culls triangles that are not counter-clockwise on screen (y downward).
            corners = corners[::-1]
        first = corners[0]
        for second, third in zip(corners[1:], corners[2:]):
            self.rl.draw_triangle(first, second, third, color)

    def text(self, x: float, y: float, text: str, color: Color, scale: int = 1) -> None:
        text, scale = self.check_text(text, scale)
        color = (*check_color(color), 255)
        left, top = whole_pixel(x), whole_pixel(y)
        draw = self.rl.draw_rectangle
        for index, char in enumerate(text):
            glyph_left = left + index * ADVANCE * scale
            for row, column, length in glyph_runs(char):
                draw(glyph_left + column * scale, top + row * scale, length * scale, scale, color)

    def tiles(
        self, x: float, y: float, codes: np.ndarray, palette: np.ndarray, cell_size: int
    ) -> None:
        # One texture of one texel per cell, scaled up with nearest-neighbour sampling.
        cell_size = self.check_cell_size(cell_size)
        palette = check_palette(palette)
        codes = check_codes(codes, len(palette))
        rows, columns = codes.shape
        if rows == 0 or columns == 0:
            return
        rl = self.rl
        rgba = np.empty((rows, columns, 4), dtype=np.uint8)
        rgba[..., :3] = palette[codes]
        rgba[..., 3] = 255
        texture = self._textures.get((rows, columns))
        if texture is None:
            image = rl.gen_image_color(columns, rows, (0, 0, 0, 255))
            texture = rl.load_texture_from_image(image)
            rl.unload_image(image)
            rl.set_texture_filter(texture, rl.TEXTURE_FILTER_POINT)
            self._textures[(rows, columns)] = texture
        rl.rl_draw_render_batch_active()  # a texture drawn earlier this frame keeps its cells
        pixels = rl.ffi.from_buffer(rgba)
        rl.update_texture(texture, rl.ffi.cast("void *", pixels))
        left, top = whole_pixel(x), whole_pixel(y)
        rl.draw_texture_pro(
            texture, (0, 0, columns, rows),
            (left, top, columns * cell_size, rows * cell_size), (0, 0), 0.0, (255, 255, 255, 255),
        )

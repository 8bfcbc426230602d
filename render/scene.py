"""What a scene is, the heads-up display every scene shares, and the view that runs a scene
on a backend.

A scene draws one env's state (plain numbers and arrays, never a game object) with canvas
primitives, so the same scene feeds ArrayCanvas (render_mode="rgb_array") and RaylibCanvas
(render_mode="human"). Scenes live in render/scenes/, one module per game.
"""

from __future__ import annotations

import abc
from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from shoal.render.array_canvas import ArrayCanvas
from shoal.render.canvas import Canvas, Color
from shoal.render.font import GLYPH_HEIGHT, text_size

#: The HUD bar on top of every scene: one line of text at scale 2.
HUD_HEIGHT = 24
HUD_SCALE = 2
HUD_BACKGROUND: Color = (24, 24, 32)
HUD_TEXT: Color = (230, 230, 230)
#: Columns of spacing between HUD items.
HUD_GAP = "   "


class Scene(abc.ABC):
    """Draws one game's state; `width` x `height` is the frame's size in pixels (both even,
    as video encoders want)."""

    width: int
    height: int

    @abc.abstractmethod
    def draw(self, canvas: Canvas, state: Mapping[str, Any]) -> None:
        """Draw `state` (see the scene's docstring for its keys) on the canvas from (0, 0)."""


def even(pixels: int) -> int:
    return pixels + (pixels % 2)


def hud_line(items: Sequence[tuple[str, Any]]) -> str:
    return HUD_GAP.join(f"{label} {value}" for label, value in items)


def hud_width(items: Sequence[tuple[str, Any]]) -> int:
    """Pixels the HUD needs for these items (scenes size their frame to fit it)."""
    return text_size(hud_line(items), HUD_SCALE)[0] + 2 * HUD_SCALE * 4


def draw_hud(canvas: Canvas, width: int, items: Sequence[tuple[str, Any]]) -> None:
    """The bar on top: "LABEL value" items, e.g. SCORE 12   BALLS 4   STEP 300."""
    canvas.rect(0, 0, width, HUD_HEIGHT, HUD_BACKGROUND)
    top = (HUD_HEIGHT - GLYPH_HEIGHT * HUD_SCALE) // 2
    canvas.text(HUD_SCALE * 4, top, hud_line(items), HUD_TEXT, HUD_SCALE)


class SceneView:
    """A scene on a backend: `show(state)` draws one frame and returns it (rgb_array) or
    shows it in the window, paced at `fps` (human)."""

    def __init__(self, scene: Scene, render_mode: str, *, fps: int, title: str = "shoal"):
        if render_mode not in ("rgb_array", "human"):
            raise ValueError(f"render_mode must be 'rgb_array' or 'human', got {render_mode!r}")
        self.scene = scene
        self.render_mode = render_mode
        if render_mode == "rgb_array":
            self.canvas: Canvas = ArrayCanvas(scene.width, scene.height)
        else:
            from shoal.render.raylib_canvas import RaylibCanvas  # raylib only for a window

            self.canvas = RaylibCanvas(scene.width, scene.height, title=title, fps=fps)

    def show(self, state: Mapping[str, Any]) -> np.ndarray | None:
        if isinstance(self.canvas, ArrayCanvas):
            self.scene.draw(self.canvas, state)
            return self.canvas.frame()
        self.canvas.begin()
        self.scene.draw(self.canvas, state)
        self.canvas.present()
        return None

    def close(self) -> None:
        close = getattr(self.canvas, "close", None)
        if close is not None:
            close()

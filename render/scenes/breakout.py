"""Breakout's scene: the HUD, the wall of bricks, the paddle and the ball, at one pixel per
pixel of the game's field."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shoal.render.canvas import Canvas, Color
from shoal.render.scene import HUD_HEIGHT, Scene, draw_hud, even

BACKGROUND: Color = (0, 0, 0)
#: Brick colours from the top row down, as on the arcade machine's cellophane strips.
ROW_COLORS: tuple[Color, ...] = (
    (200, 72, 72), (198, 108, 58), (180, 122, 48), (162, 162, 42), (72, 160, 72), (66, 72, 200),
)
PADDLE_COLOR: Color = (200, 72, 72)
BALL_COLOR: Color = (236, 236, 236)
BALL_RADIUS = 3.0
#: Pixels left dark at each brick's right and bottom edges, so the wall reads as bricks
#: (whole pixels: every edge lies between pixel centres, where both backends agree).
BRICK_GAP = 1


class BreakoutScene(Scene):
    """Draws the state `BreakoutCore.state(world)` returns, plus "step" (the episode's steps so
    far): paddle_x (centre), paddle_width, ball_x, ball_y, bricks (bool-like [rows, columns],
    row 0 on top), score, balls_left.

    The geometry comes from the game (cython_ext/breakout.pyx) through its env module, so the
    scene never imports the game: field_size (width, height), brick_size (width, height),
    wall_top (y of the top brick row's top edge), paddle_top and paddle_thickness.
    """

    def __init__(
        self,
        *,
        field_size: tuple[float, float],
        brick_size: tuple[float, float],
        wall_top: float,
        paddle_top: float,
        paddle_thickness: float,
    ):
        self.field_width, self.field_height = field_size
        self.brick_width, self.brick_height = brick_size
        self.wall_top = wall_top
        self.paddle_top = paddle_top
        self.paddle_thickness = paddle_thickness
        self.width = even(int(np.ceil(self.field_width)))
        self.height = even(int(np.ceil(self.field_height)) + HUD_HEIGHT)

    def draw(self, canvas: Canvas, state: Mapping[str, Any]) -> None:
        canvas.clear(BACKGROUND)
        draw_hud(canvas, self.width, [
            ("SCORE", state["score"]), ("BALLS", state["balls_left"]), ("STEP", state["step"]),
        ])
        top = HUD_HEIGHT  # the field's y = 0
        rows, columns = np.nonzero(np.asarray(state["bricks"]))
        for row, column in zip(rows.tolist(), columns.tolist()):
            canvas.rect(
                column * self.brick_width,
                top + self.wall_top + row * self.brick_height,
                self.brick_width - BRICK_GAP,
                self.brick_height - BRICK_GAP,
                ROW_COLORS[row % len(ROW_COLORS)],
            )
        paddle_width = state["paddle_width"]
        canvas.rect(
            state["paddle_x"] - paddle_width / 2, top + self.paddle_top,
            paddle_width, self.paddle_thickness, PADDLE_COLOR,
        )
        canvas.circle(state["ball_x"], top + state["ball_y"], BALL_RADIUS, BALL_COLOR)

"""2048's scene: the HUD and the 4 x 4 board, each tile coloured by its value and labelled."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shoal.render.canvas import Canvas, Color
from shoal.render.font import text_size
from shoal.render.scene import HUD_HEIGHT, Scene, draw_hud

SIDE = 4
TILE = 96  # pixels per tile
GAP = 8  # pixels between tiles and around the board
BOARD = SIDE * TILE + (SIDE + 1) * GAP  # 424
BACKGROUND: Color = (187, 173, 160)
EMPTY: Color = (205, 193, 180)
#: Tile colours by exponent (1: the 2 tile), as in the original game; larger tiles share the last.
TILE_COLORS: tuple[Color, ...] = (
    EMPTY, (238, 228, 218), (237, 224, 200), (242, 177, 121), (245, 149, 99), (246, 124, 95),
    (246, 94, 59), (237, 207, 114), (237, 204, 97), (237, 200, 80), (237, 197, 63),
    (237, 194, 46), (60, 58, 50),
)
DARK_TEXT: Color = (119, 110, 101)
LIGHT_TEXT: Color = (249, 246, 242)


def tile_color(exponent: int) -> Color:
    return TILE_COLORS[min(exponent, len(TILE_COLORS) - 1)]


def tile_origin(row: int, column: int) -> tuple[int, int]:
    """The top-left pixel of a tile."""
    return GAP + column * (TILE + GAP), HUD_HEIGHT + GAP + row * (TILE + GAP)


class Game2048Scene(Scene):
    """Draws the state `Game2048Core.state(world)` returns, plus "step": cells (uint8 [4, 4]
    exponents, 0 empty), score, max_tile."""

    width = BOARD
    height = BOARD + HUD_HEIGHT

    def draw(self, canvas: Canvas, state: Mapping[str, Any]) -> None:
        canvas.clear(BACKGROUND)
        draw_hud(canvas, self.width, [
            ("SCORE", state["score"]), ("MAX", state["max_tile"]), ("STEP", state["step"]),
        ])
        cells = np.asarray(state["cells"])
        for row in range(SIDE):
            for column in range(SIDE):
                exponent = int(cells[row, column])
                left, top = tile_origin(row, column)
                canvas.rect(left, top, TILE, TILE, tile_color(exponent))
                if exponent:
                    label = str(2 ** exponent)
                    scale = 4 if len(label) <= 2 else (3 if len(label) <= 4 else 2)
                    width, height = text_size(label, scale)
                    color = DARK_TEXT if exponent <= 2 else LIGHT_TEXT
                    canvas.text(left + (TILE - width) // 2, top + (TILE - height) // 2, label,
                                color, scale)

"""The scene of Snake and SnakeArena: the walled grid as coloured cells, food, and the snakes,
the followed one in its own colours; either the whole field or a camera on one snake."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shoal.render.canvas import Canvas, Color
from shoal.render.scene import HUD_HEIGHT, Scene, draw_hud, even, hud_width

# The scene's palette; a cell's colour code indexes it.
EMPTY, WALL, FOOD, FOLLOWED_BODY, FOLLOWED_HEAD = 0, 1, 2, 3, 4
OTHER_HUES = 8  # other snakes cycle through 8 body colours, each with a lighter head
OTHER_BODY, OTHER_HEAD = 5, 5 + OTHER_HUES
PALETTE = np.array([
    (18, 18, 26),     # empty
    (92, 92, 108),    # wall
    (224, 64, 64),    # food
    (80, 220, 120),   # the followed snake's body
    (210, 255, 220),  # its head
    # other snakes' bodies, then their heads
    (70, 130, 220), (220, 160, 60), (170, 90, 210), (60, 190, 190),
    (200, 200, 80), (220, 100, 150), (130, 160, 90), (150, 120, 90),
    (150, 190, 250), (250, 210, 140), (215, 170, 245), (150, 235, 235),
    (240, 240, 160), (250, 170, 200), (190, 215, 160), (205, 180, 155),
], dtype=np.uint8)
BACKGROUND: Color = (0, 0, 0)
#: Cells of at least this many pixels get a 1-pixel seam on their right and bottom edges, so
#: a snake reads as a chain of segments rather than a blob.
SEAM_MIN_CELL = 8
SEAM: Color = (8, 8, 12)

#: Tile codes in the state's grid (cython_ext/snake.pyx): a body cell of agent k is 5 + k.
TILE_FOOD, TILE_SNAKE = 2, 5

#: The largest frame the whole-field view grows to; cells shrink (to 1 pixel) to fit.
MAX_FIELD_PIXELS = (1296, 736)
MAX_CELL_PIXELS = 24
#: The camera view: a square of this many cells around the followed head, cells this big.
CAMERA_CELLS = 41
CAMERA_CELL_PIXELS = 16

VIEWS = ("world", "agent")


class SnakeScene(Scene):
    """Draws the state `SnakeCore.state(world)` returns plus "followed" (the agent the camera
    and the HUD follow) and "step" (its episode's steps so far): tiles (int [height, width],
    0 empty, 2 food, 5 + k a body cell of snake k), heads (int [agents, 2] as x, y), alive
    (bool [agents]) and lengths (int [agents]).

    view="world" shows the whole field, cells from 24 pixels down to 1 to fit 1296 x 736 (2
    for the default arena);
    view="agent" shows a 41 x 41-cell camera centred on the followed snake's head.
    """

    def __init__(self, *, width: int, height: int, agents: int, view: str = "world"):
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self.field_width, self.field_height, self.agents = width, height, agents
        self.view = view
        if view == "world":
            self.cells_x, self.cells_y = width + 2, height + 2  # the walls around the field
            self.cell_size = int(np.clip(min(MAX_FIELD_PIXELS[0] // self.cells_x,
                                             MAX_FIELD_PIXELS[1] // self.cells_y),
                                         1, MAX_CELL_PIXELS))
        else:
            self.cells_x = self.cells_y = CAMERA_CELLS
            self.cell_size = CAMERA_CELL_PIXELS
        field_pixels = self.cells_x * self.cell_size
        self.width = even(max(field_pixels, hud_width(self._hud_template())))
        self.height = even(HUD_HEIGHT + self.cells_y * self.cell_size)
        self.field_left = (self.width - field_pixels) // 2

    def _hud_template(self) -> list[tuple[str, Any]]:
        """The widest HUD this scene shows, to size the frame."""
        return self._hud_items(agent=self.agents - 1, length=99_999, step=99_999, alive=self.agents)

    def _hud_items(self, agent: int, length: int, step: int, alive: int) -> list[tuple[str, Any]]:
        if self.agents == 1:
            return [("LENGTH", length), ("STEP", step)]
        return [("SNAKE", agent), ("LENGTH", length), ("STEP", step),
                ("ALIVE", f"{alive}/{self.agents}")]

    def colour_codes(self, state: Mapping[str, Any]) -> np.ndarray:
        """The field with its walls as palette indices, [height + 2, width + 2]."""
        tiles = np.asarray(state["tiles"])
        followed = int(state["followed"])
        agent_of = tiles - TILE_SNAKE
        codes = np.where(
            tiles >= TILE_SNAKE,
            np.where(agent_of == followed, FOLLOWED_BODY, OTHER_BODY + agent_of % OTHER_HUES),
            np.where(tiles == TILE_FOOD, FOOD, EMPTY),
        )
        alive = np.flatnonzero(np.asarray(state["alive"]))
        heads = np.asarray(state["heads"])[alive]
        codes[heads[:, 1], heads[:, 0]] = np.where(
            alive == followed, FOLLOWED_HEAD, OTHER_HEAD + alive % OTHER_HUES
        )
        return np.pad(codes, 1, constant_values=WALL)

    def camera(self, codes: np.ndarray, state: Mapping[str, Any]) -> np.ndarray:
        """The CAMERA_CELLS square of `codes` around the followed head (the field's centre
        while that snake is dead), wall beyond the field."""
        followed = int(state["followed"])
        if state["alive"][followed]:
            x, y = (int(v) + 1 for v in state["heads"][followed])  # +1: the wall border
        else:
            x, y = codes.shape[1] // 2, codes.shape[0] // 2
        half = CAMERA_CELLS // 2
        view = np.full((CAMERA_CELLS, CAMERA_CELLS), WALL, dtype=codes.dtype)
        top, left = y - half, x - half
        rows = slice(max(top, 0), min(top + CAMERA_CELLS, codes.shape[0]))
        columns = slice(max(left, 0), min(left + CAMERA_CELLS, codes.shape[1]))
        view[rows.start - top:rows.stop - top, columns.start - left:columns.stop - left] = (
            codes[rows, columns]
        )
        return view

    def draw(self, canvas: Canvas, state: Mapping[str, Any]) -> None:
        canvas.clear(BACKGROUND)
        followed = int(state["followed"])
        draw_hud(canvas, self.width, self._hud_items(
            agent=followed,
            length=int(state["lengths"][followed]) if state["alive"][followed] else 0,
            step=state["step"],
            alive=int(np.count_nonzero(state["alive"])),
        ))
        codes = self.colour_codes(state)
        if self.view == "agent":
            codes = self.camera(codes, state)
        canvas.tiles(self.field_left, HUD_HEIGHT, codes, PALETTE, self.cell_size)
        if self.cell_size >= SEAM_MIN_CELL:
            size, rows, columns = self.cell_size, codes.shape[0], codes.shape[1]
            for column in range(1, columns + 1):
                canvas.rect(self.field_left + column * size - 1, HUD_HEIGHT, 1, rows * size, SEAM)
            for row in range(1, rows + 1):
                canvas.rect(self.field_left, HUD_HEIGHT + row * size - 1, columns * size, 1, SEAM)

"""Maze's scene: the whole maze with the agent, its heading and the square it can see, or
the agent's own view (turned with it when its moves are relative)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shoal.render.canvas import Canvas, Color
from shoal.render.scene import HUD_HEIGHT, Scene, draw_hud, even, hud_width

#: Colours by tile code (cython_ext/maze.pyx): wall, floor, goal, agent, unknown.
PALETTE = np.array([
    (44, 48, 66),     # wall
    (222, 216, 198),  # floor
    (72, 196, 96),    # goal
    (222, 216, 198),  # agent: drawn on floor, then as a disc
    (14, 14, 18),     # unknown (outside the maze)
], dtype=np.uint8)
AGENT_CODE = 3
AGENT: Color = (226, 84, 60)
HEADING: Color = (40, 20, 16)
VISION_OUTLINE: Color = (250, 180, 60)
BACKGROUND: Color = (14, 14, 18)
#: The whole-maze view fits the largest maze in about this many pixels.
WORLD_PIXELS = 640
#: The agent's view fits its square of tiles in about this many pixels.
VIEW_PIXELS = 400
MIN_CELL, MAX_CELL = 4, 40
VIEWS = ("world", "agent")
#: Row and column change of each heading (up, right, down, left).
HEADING_STEPS = ((-1, 0), (0, 1), (1, 0), (0, -1))


class MazeScene(Scene):
    """Draws the state `MazeCore.state(world)` returns, plus "step": tiles (uint8 [size, size]
    codes), agent and goal (row, column), heading (0 up, 1 right, 2 down, 3 left), size,
    step_limit, and view (the agent's observation, [2 vision + 1] * 2 codes).

    view="world" shows the maze, scaled to fill the frame sized for the largest, with the
    square the agent sees outlined; view="agent" shows that square as the agent sees it.
    """

    def __init__(self, view: str, max_size: int, vision: int, split: str, relative: bool = False):
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self.view, self.max_size, self.vision, self.split = view, max_size, vision, split
        self.relative = relative
        cells = max_size if view == "world" else 2 * vision + 1
        pixels = WORLD_PIXELS if view == "world" else VIEW_PIXELS
        self.cell_size = int(np.clip(pixels // cells, MIN_CELL, MAX_CELL))
        area = cells * self.cell_size
        self.width = even(max(area, hud_width(self._hud_items(max_size, 99_999, 99_999))))
        self.height = even(HUD_HEIGHT + area)
        self.area_left = (self.width - area) // 2

    def _hud_items(self, size: int, step: int, limit: int) -> list[tuple[str, Any]]:
        return [("SIZE", size), (self.split.upper(), ""), ("STEP", f"{step}/{limit}")]

    def draw(self, canvas: Canvas, state: Mapping[str, Any]) -> None:
        canvas.clear(BACKGROUND)
        size = int(state["size"])
        draw_hud(canvas, self.width, self._hud_items(size, state["step"], state["step_limit"]))
        cell = self.cell_size
        if self.view == "world":
            # Each maze fills the frame: smaller mazes get larger tiles.
            area = self.max_size * self.cell_size
            cell = area // size
            left = self.area_left + (area - size * cell) // 2
            top = HUD_HEIGHT + (area - size * cell) // 2
            canvas.tiles(left, top, np.asarray(state["tiles"]), PALETTE, cell)
            row, column = state["agent"]
            heading = int(state["heading"])
            # The square the agent sees, where it overlaps the maze.
            first_row, first_column = max(row - self.vision, 0), max(column - self.vision, 0)
            last_row = min(row + self.vision, size - 1)
            last_column = min(column + self.vision, size - 1)
            canvas.rect_outline(left + first_column * cell, top + first_row * cell,
                                (last_column - first_column + 1) * cell,
                                (last_row - first_row + 1) * cell, VISION_OUTLINE, 2)
        else:
            left, top = self.area_left, HUD_HEIGHT
            canvas.tiles(left, top, np.asarray(state["view"]), PALETTE, cell)
            row = column = self.vision
            # The relative view is turned so that the agent always faces its top.
            heading = 0 if self.relative else int(state["heading"])
        self._draw_agent(canvas, left + column * cell, top + row * cell, cell, heading)

    @staticmethod
    def _draw_agent(canvas: Canvas, x: int, y: int, cell: int, heading: int) -> None:
        """A disc on the agent's tile, with a mark on the side it faces."""
        canvas.circle(x + cell / 2, y + cell / 2, cell * 0.4, AGENT)
        mark = max(cell // 4, 1)
        step_row, step_column = HEADING_STEPS[heading]
        mark_x = x + (cell - mark) // 2 + step_column * (cell // 4)
        mark_y = y + (cell - mark) // 2 + step_row * (cell // 4)
        canvas.rect(mark_x, mark_y, mark, mark, HEADING)

"""The MMO's scene: the map's terrain, resources, items, NPCs (by tier) and agents, the
followed agent in its own colour; either the whole map or a camera on that agent, with a HUD
of the followed agent's health, needs, levels and kills."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np

from shoal.render.canvas import Canvas, Color
from shoal.render.scene import HUD_HEIGHT, Scene, draw_hud, even, hud_width

#: Palette indices: terrain codes 0-5 as they are, then what stands or lies on a tile.
BERRIES, FISH, ORE = 6, 7, 8
ITEM = 9
NPC_TIER_1 = 10  # tiers 1-5: 10-14
AGENT, FOLLOWED = 15, 16
PALETTE = np.array([
    (10, 10, 14),     # void
    (96, 150, 72),    # grass
    (40, 96, 48),     # forest
    (128, 124, 118),  # stone
    (52, 92, 170),    # water
    (70, 60, 56),     # mountain
    (200, 60, 120),   # berries
    (150, 210, 240),  # fish
    (210, 170, 110),  # ore
    (250, 220, 60),   # an item on the ground
    (240, 170, 150), (235, 130, 100), (225, 90, 60), (190, 50, 40), (140, 20, 30),  # NPCs
    (245, 245, 245),  # agents
    (60, 240, 255),   # the followed agent
], dtype=np.uint8)
BACKGROUND: Color = (0, 0, 0)
#: The whole-map view fits the map in about this many pixels.
WORLD_PIXELS = 768
#: The camera: a square of this many tiles around the followed agent, tiles this big.
CAMERA_TILES = 41
CAMERA_TILE_PIXELS = 14
VIEWS = ("world", "agent")


def colour_codes(state: Mapping[str, Any]) -> np.ndarray:
    """The map as palette indices [height, width]: agents over NPCs over items over
    resources over terrain."""
    codes = np.asarray(state["terrain"]).astype(np.int64)
    resources = np.asarray(state["resources"])
    codes = np.where(resources > 0, BERRIES - 1 + resources, codes)
    codes = np.where(np.asarray(state["items"]) > 0, ITEM, codes)
    for npc in state["npcs"]:
        if npc["row"] >= 0:
            codes[npc["row"], npc["column"]] = NPC_TIER_1 - 1 + npc["tier"]
    followed = int(state["followed"])
    for index, agent in enumerate(state["agents"]):
        if agent["row"] >= 0:
            codes[agent["row"], agent["column"]] = FOLLOWED if index == followed else AGENT
    return codes


class MMOScene(Scene):
    """Draws the state `MMOCore.state(world)` returns, plus "followed" (the agent the camera
    and the HUD follow) and "step" (that agent's age in ticks).

    view="world" shows the whole map (tiles of 1 to 8 pixels to fit about 768 pixels);
    view="agent" shows a 41 x 41-tile camera centred on the followed agent.
    """

    def __init__(self, view: str, width: int, height: int):
        if view not in VIEWS:
            raise ValueError(f"view must be one of {VIEWS}, got {view!r}")
        self.view, self.map_width, self.map_height = view, width, height
        if view == "world":
            self.tile_size = int(np.clip(WORLD_PIXELS // max(width, height), 1, 8))
            tiles_x, tiles_y = width, height
        else:
            self.tile_size = CAMERA_TILE_PIXELS
            tiles_x = tiles_y = CAMERA_TILES
        area_width = tiles_x * self.tile_size
        widest = {"health": 100, "food": 100, "water": 100, "levels": [10] * 5,
                  "npc_kills": 999}
        self.width = even(max(area_width, hud_width(hud_items(widest, 99_999, 999_999))))
        self.height = even(HUD_HEIGHT + tiles_y * self.tile_size)
        self.area_left = (self.width - area_width) // 2

    def draw(self, canvas: Canvas, state: Mapping[str, Any]) -> None:
        canvas.clear(BACKGROUND)
        followed = int(state["followed"])
        agent = state["agents"][followed]
        draw_hud(canvas, self.width, hud_items(agent, followed, state["step"]))
        codes = colour_codes(state)
        if self.view == "agent":
            codes = self.camera(codes, agent)
        canvas.tiles(self.area_left, HUD_HEIGHT, codes, PALETTE, self.tile_size)

    def camera(self, codes: np.ndarray, agent: Mapping[str, Any]) -> np.ndarray:
        """The CAMERA_TILES square of `codes` around the agent (the map's centre while it is
        off the map), void beyond the map."""
        if agent["row"] >= 0:
            row, column = agent["row"], agent["column"]
        else:
            row, column = codes.shape[0] // 2, codes.shape[1] // 2
        half = CAMERA_TILES // 2
        padded = np.pad(codes, half)  # void (0) around the map
        return padded[row:row + CAMERA_TILES, column:column + CAMERA_TILES]


def hud_items(agent: Mapping[str, Any], index: int, step: int) -> list[tuple[str, Any]]:
    """The followed agent: its index, health, food, water, total level, kills, age."""
    return [("AGENT", index), ("HP", agent["health"]), ("FOOD", agent["food"]),
            ("WATER", agent["water"]), ("LVL", sum(agent["levels"])),
            ("KILLS", agent["npc_kills"]), ("AGE", step)]

"""Snake: one snake on a small walled grid; its parameters, spaces and documentation. The
rules live in cython_ext/snake.pyx, the one core of Snake and SnakeArena (envs/snake_arena.py,
many snakes in one arena); everything else (buffers, seeding, autoreset, time limits) is
shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium
import numpy as np

from shoal._ext.snake import SnakeCore
from shoal.game import Game, Presentation
from shoal.parameters import integer, reward
from shoal.single_env import ShoalEnv
from shoal.vector_env import ShoalVectorEnv

if TYPE_CHECKING:
    from shoal.render.play import Controls
    from shoal.render.scenes.snake import SnakeScene

#: Largest field side: keeps one world's grids (3 bytes a cell) near 50 MB at most.
MAX_SIDE = 4096
#: Largest vision: a 31 x 31 window, enough to see a whole 16 x 16 field from any cell.
MAX_VISION = 15
#: All worlds' grids together may take at most this many bytes.
MAX_GRID_BYTES = 4 * 2**30
#: Bytes of grid per cell: a uint16 tile and a uint8 body direction.
GRID_BYTES_PER_CELL = 3
#: Highest observation code (other snake).
MAX_CODE = 5
NUM_ACTIONS = 4
UP, RIGHT, DOWN, LEFT = range(NUM_ACTIONS)


#: One snake's parameters; SnakeArena's are these with an arena's defaults, and its own.
SNAKE_PARAMETERS = (
    integer("width", 16, 1, MAX_SIDE, "field columns inside the walls"),
    integer("height", 16, 1, MAX_SIDE, "field rows inside the walls"),
    integer("num_food", 1, 0, None, "food kept on the field", bounds="0 to width * height - 1"),
    integer("vision", 5, 1, MAX_VISION, "cells seen on each side of the head"),
    reward("reward_food", 1.0, "reward for eating one food"),
    reward("reward_death", -1.0, "reward on the step the snake dies"),
    reward("reward_step", 0.0, "reward on every step (negative: hurry up)"),
)

def _observation_space(vision: int) -> gymnasium.spaces.Box:
    side = 2 * vision + 1
    return gymnasium.spaces.Box(0, MAX_CODE, (side, side), np.uint8)


class SnakeGame(Game):
    """One snake on a walled grid. Parameters: see SnakeEnv."""

    PARAMETERS = SNAKE_PARAMETERS
    core_class = SnakeCore
    stat_names: ClassVar[tuple[str, ...]] = ("score", "food_eaten")
    #: 16 steps per cell of the default 16 x 16 field: room to grow past length 100, while an
    #: agent that only circles is cut off.
    default_max_episode_steps: ClassVar[int | None] = 4096
    #: A lone snake's world restarts when it dies, so its body never becomes food.
    leave_corpse: bool = False

    def check_together(self) -> None:
        if self.num_food >= self.width * self.height:
            raise ValueError(
                f"num_food must leave a cell free of food in the {self.width} x {self.height} "
                f"field: at most {self.width * self.height - 1}, got {self.num_food}"
            )

    def observation_space(self) -> gymnasium.spaces.Box:
        return _observation_space(self.vision)

    def action_space(self) -> gymnasium.spaces.Discrete:
        return gymnasium.spaces.Discrete(NUM_ACTIONS)

    def core_arguments(self) -> dict[str, Any]:
        return {**super().core_arguments(), "leave_corpse": self.leave_corpse}

    def make_core(self, num_worlds: int) -> SnakeCore:
        cells = (self.width + 2 * self.vision) * (self.height + 2 * self.vision)
        grid_bytes = num_worlds * cells * GRID_BYTES_PER_CELL
        if grid_bytes > MAX_GRID_BYTES:
            raise ValueError(
                f"{num_worlds} worlds of {self.width} x {self.height} (vision {self.vision}) "
                f"need {grid_bytes / 2**30:.1f} GiB of grids, more than the "
                f"{MAX_GRID_BYTES // 2**30} GiB limit: use fewer envs or a smaller field"
            )
        return super().make_core(num_worlds)


class SnakePresentation(Presentation):
    """How Snake is drawn and played: the grid (or a camera on the followed snake), steered
    with the arrow keys."""

    game: SnakeGame

    def make_scene(self, view: str) -> SnakeScene:
        from shoal.render.scenes.snake import SnakeScene

        game = self.game
        return SnakeScene(
            width=game.width, height=game.height, agents=game.agents_per_world(), view=view
        )

    def scene_state(self, core: SnakeCore, world: int, agent: int) -> dict[str, Any]:
        return {**core.state(world), "followed": agent}

    def render_fps(self) -> int:
        return 10

    def controls(self) -> Controls:
        from shoal.render.play import Controls, direction_keys

        return Controls(
            keys=direction_keys(UP, RIGHT, DOWN, LEFT),
            idle_action=None,  # the snake keeps its direction
            help="ARROWS/WASD: STEER",
            first_action=UP,
        )


class SnakeEnv(ShoalEnv, game=SnakeGame, presentation=SnakePresentation):
    """
    ## Description

    The classic game of Snake. A snake moves on a walled grid of `width` x `height` cells,
    eating food to grow by one cell per bite; it dies when its head runs into a wall or into
    its own body. The snake sees only a square window of the grid around its head.

    The rules are the SnakeArena's with a single snake (cython_ext/snake.pyx holds both):

    - The snake starts as a single cell, so it cannot run into itself until it has eaten.
    - Each step the head moves one cell in the chosen direction. Asking to reverse into the
      neck (the opposite of the last move, once the snake is longer than one cell) is ignored:
      the snake keeps its current direction.
    - If food lies ahead, the head moves onto it and the tail stays: the snake grows by one.
      Otherwise the tail leaves its cell before the head arrives, so the head may enter the
      cell the tail is leaving (chasing its own tail is safe).
    - After the move, food is put back on random empty cells until `num_food` pieces lie on
      the field (while empty cells remain).

    ## Action Space

    `Discrete(4)`, absolute directions (not turns):

    | Num | Action     |
    |-----|------------|
    | 0   | move up    (toward row 0) |
    | 1   | move right |
    | 2   | move down  |
    | 3   | move left  |

    ## Observation Space

    `Box(0, 5, (2 * vision + 1, 2 * vision + 1), uint8)`: the window of cells centred on the
    head (row 0 is the top, the centre is the head), with default `vision=5` an 11 x 11 window.
    Cells beyond the field read as wall. Each cell holds a tile code:

    | Code | Tile                                   |
    |------|----------------------------------------|
    | 0    | empty                                  |
    | 1    | wall                                   |
    | 2    | food                                   |
    | 3    | own body                               |
    | 4    | own head (always the centre cell)      |
    | 5    | another snake (SnakeArena only)        |

    ## Rewards

    Each step: `reward_step` (default 0.0), plus `reward_food` (default 1.0) for eating, plus
    `reward_death` (default -1.0) for the step that kills the snake.

    ## Starting State

    A snake of length 1 on a uniformly random cell and `num_food` food on random other empty
    cells. The last move counts as "up", which matters only once the snake is longer than one.

    ## Episode End

    Termination: the head enters a wall or the snake's own body (not the tail cell that
    moves away on that step).

    Truncation: after `max_episode_steps` steps (default 4096, 16 steps per cell of the
    default field: room for a good agent to grow past length 100, while an agent that only
    circles is cut off). `gymnasium.make` applies it with the `TimeLimit` wrapper,
    `gymnasium.make_vec` natively.

    Episode statistics (`info["episode_stats"]` when an episode ends): `return`, `length`
    (steps), `score` (the snake's length at the end) and `food_eaten`.

    ## Arguments

    ```python
    import gymnasium, shoal
    env = gymnasium.make("shoal/Snake-v0", width=16, height=16, num_food=1, vision=5)
    envs = gymnasium.make_vec("shoal/Snake-v0", num_envs=1024, num_threads=4)
    ```

    ## Version History

    - v0: Initial version.
    """


class SnakeVectorEnv(ShoalVectorEnv, game=SnakeGame, presentation=SnakePresentation):
    """Vectorized Snake: `num_envs` independent worlds, one snake each, stepped natively in
    one call; see SnakeEnv for the rules, spaces and arguments."""

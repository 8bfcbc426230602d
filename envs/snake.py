"""Snake (one snake on a small walled grid) and SnakeArena (many snakes sharing one large
arena): their parameters, spaces and documentation. The rules live in cython_ext/snake.pyx,
one core for both ids; everything else (buffers, seeding, autoreset, time limits) is shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium
import numpy as np

from shoal._ext.snake import MAX_SNAKES_PER_WORLD, SnakeCore
from shoal.game import Game, Presentation
from shoal.parameters import flag, integer, reward
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


#: One snake's parameters; SnakeArena's are the same with an arena's defaults, plus its own.
SNAKE_PARAMETERS = (
    integer("width", 16, 1, MAX_SIDE, "field columns inside the walls"),
    integer("height", 16, 1, MAX_SIDE, "field rows inside the walls"),
    integer("num_food", 1, 0, None, "food kept on the field", bounds="0 to width * height - 1"),
    integer("vision", 5, 1, MAX_VISION, "cells seen on each side of the head"),
    reward("reward_food", 1.0, "reward for eating one food"),
    reward("reward_death", -1.0, "reward on the step the snake dies"),
    reward("reward_step", 0.0, "reward on every step (negative: hurry up)"),
)

_ARENA_DEFAULTS = {  # what differs for many snakes in one arena: name -> (default, doc line)
    "width": (640, "arena columns inside the walls"),
    "height": (360, "arena rows inside the walls"),
    "num_food": (4096, "food kept in the arena"),
    "reward_death": (-1.0, "reward on the step a snake dies"),
    "reward_step": (0.0, "reward on every step"),
}
ARENA_PARAMETERS = (
    integer("snakes_per_arena", 256, 1, MAX_SNAKES_PER_WORLD,
            "snakes in one arena; num_envs must be a multiple of it",
            bounds=f"1 to {MAX_SNAKES_PER_WORLD}, and at most width * height"),
    *(p.with_default(*_ARENA_DEFAULTS[p.name]) if p.name in _ARENA_DEFAULTS else p
      for p in SNAKE_PARAMETERS),
    flag("leave_corpse", True, "a dead snake's body turns into food"),
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
        return {**self.parameters(), "leave_corpse": self.leave_corpse}

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


class SnakeArenaGame(SnakeGame):
    """Many snakes in one arena per world. Parameters: see SnakeArenaVectorEnv."""

    PARAMETERS = ARENA_PARAMETERS

    single_agent: ClassVar[bool] = False
    #: Per snake: long enough to grow to hundreds of cells, short enough that a snake which
    #: only circles ends its episode (and its statistics get reported).
    default_max_episode_steps: ClassVar[int | None] = 4096

    def check_together(self) -> None:
        super().check_together()
        area = self.width * self.height
        if self.snakes_per_arena > area:
            raise ValueError(
                f"snakes_per_arena must fit the {self.width} x {self.height} arena: at most "
                f"{area}, got {self.snakes_per_arena}"
            )

    def core_arguments(self) -> dict[str, Any]:
        arguments = super().core_arguments()
        del arguments["snakes_per_arena"]  # the core's agents per world
        return arguments

    def agents_per_world(self) -> int:
        return self.snakes_per_arena


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


class SnakeArenaPresentation(SnakePresentation):
    """A SnakeArena is drawn like Snake, a little faster."""

    render_view_doc = ('`"world"`: the whole arena, 2 pixels a cell by default; `"agent"`: '
                       'a 41 x 41-cell camera on that snake')

    def render_fps(self) -> int:
        return 15


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


class SnakeArenaVectorEnv(ShoalVectorEnv, game=SnakeArenaGame, presentation=SnakeArenaPresentation):
    """
    ## Description

    Many snakes share one large walled arena: `snakes_per_arena` snakes (default 256) on a
    `width` x `height` field (default 640 x 360) strewn with `num_food` food (default 4096).
    Every snake is one sub-env of the vector env and is controlled by its own action, so
    `num_envs = arenas x snakes_per_arena`: `num_envs=1024` with the defaults is 4 arenas of
    256 snakes. Sub-env `i` is snake `i % snakes_per_arena` of arena `i // snakes_per_arena`.
    The arena exists only as a vector env: create it with `gymnasium.make_vec`.

    The rules are Snake's (see SnakeEnv), with other snakes:

    - Snakes move one after another in sub-env order; each move sees the arena as the snakes
      before it left it. A head entering a wall or any snake cell dies: running into another
      snake kills the runner, not the one run into; when two snakes head for the same cell the
      one later in order dies.
    - The cell a tail leaves this step is free for the snakes that move after it (and for its
      own head), not for those that moved before it.
    - When a snake dies, its body becomes food if `leave_corpse` is set (the default: dying
      snakes feed the others and aggression pays) or empty cells otherwise.
    - After all snakes moved (and after a respawn), food is topped up to `num_food` on random
      empty cells, as far as there are any. Corpses can push the count above `num_food` until
      they are eaten.

    ## Action Space

    `Discrete(4)` per snake, absolute directions: 0 up (toward row 0), 1 right, 2 down,
    3 left. Reversing into the neck keeps the current direction.

    ## Observation Space

    `Box(0, 5, (2 * vision + 1, 2 * vision + 1), uint8)` per snake: the window centred on its
    head. Codes: 0 empty, 1 wall, 2 food, 3 own body, 4 own head (the centre), 5 another
    snake's body or head.

    ## Rewards

    Each step: `reward_step` (default 0.0), plus `reward_food` (default 1.0) for eating, plus
    `reward_death` (default -1.0) for the step that kills the snake.

    ## Starting State

    `reset()` clears every arena and places its snakes one by one, each as a single cell on a
    random empty cell, then the food. A snake whose episode ended respawns alone, the same
    way, into the running arena (NEXT_STEP: on the following step, which ignores its action;
    SAME_STEP: at once); the arena itself never restarts unless reset.

    Crowded spawning: an empty cell is found by a few random tries, then one scan of the whole
    arena, so spawning always ends. In an arena without empty cells (small arenas fill up with
    corpses) the snake takes the place of a piece of food. Only when every cell is a snake is
    it not placed: its observation is the window around the arena's centre, and on its next
    step its episode ends (terminated, reward 0, score 0) so that the next episode tries
    again. The outcome is deterministic for a given seed.

    ## Episode End

    Each snake's episode is its own. Termination: its head enters a wall or any snake cell
    (or it could not be placed, see above). Truncation: after `max_episode_steps` of its own
    steps (default 4096: long enough to grow to hundreds of cells, short enough that a snake
    which only circles ends its episode and reports its statistics); a truncated snake's body
    is removed (never turned into food) before it respawns.

    Episode statistics (`infos["episode_stats"]`): `return`, `length` (steps), `score` (the
    snake's length at the end) and `food_eaten`.

    ## Arguments

    ```python
    import gymnasium, shoal
    envs = gymnasium.make_vec(
        "shoal/SnakeArena-v0", num_envs=1024, snakes_per_arena=256,
        width=640, height=360, num_food=4096, leave_corpse=True, num_threads=4,
    )
    ```

    ## Version History

    - v0: Initial version.
    """

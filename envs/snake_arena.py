"""SnakeArena: many snakes sharing one large arena; its parameters and documentation. Its
rules are Snake's with other snakes: the same core (cython_ext/snake.pyx), the same scene and
keys (envs/snake.py's presentation), its own defaults and its vector env.
"""

from __future__ import annotations

from typing import ClassVar

from shoal._ext.snake import MAX_SNAKES_PER_WORLD
from shoal.parameters import flag, integer
from shoal.snake import SNAKE_PARAMETERS, SnakeGame, SnakePresentation
from shoal.vector_env import ShoalVectorEnv

ARENA_DEFAULTS = {  # what differs for many snakes in one arena: name -> (default, doc line)
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
    *(p.with_default(*ARENA_DEFAULTS[p.name]) if p.name in ARENA_DEFAULTS else p
      for p in SNAKE_PARAMETERS),
    flag("leave_corpse", True, "a dead snake's body turns into food"),
)


class SnakeArenaGame(SnakeGame):
    """Many snakes in one arena per world. Parameters: see SnakeArenaVectorEnv."""

    PARAMETERS = ARENA_PARAMETERS
    agents_parameter = "snakes_per_arena"
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


class SnakeArenaPresentation(SnakePresentation):
    """A SnakeArena is drawn like Snake, a little faster."""

    render_view_doc = ('`"world"`: the whole arena, 2 pixels a cell by default; `"agent"`: '
                       'a 41 x 41-cell camera on that snake')

    def render_fps(self) -> int:
        return 15


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

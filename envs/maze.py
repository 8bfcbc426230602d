"""Maze: its parameters, spaces and documentation. The rules live in cython_ext/maze.pyx;
everything else (buffers, seeding, autoreset, time limits) is shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium
import numpy as np

from shoal._ext.maze import MAX_SIZE, MAX_VISION, MIN_SIZE, MOVES, NUM_ACTIONS, SPLITS, TILE_CODES, MazeCore
from shoal.game import Game, Presentation
from shoal.parameters import Parameter, choice, integer, real, reward
from shoal.single_env import ShoalEnv
from shoal.validation import check_int
from shoal.vector_env import ShoalVectorEnv

if TYPE_CHECKING:
    from shoal.render.play import Controls
    from shoal.render.scenes.maze import MazeScene

UP, RIGHT, DOWN, LEFT = range(NUM_ACTIONS)
FORWARD, BACK = UP, DOWN  # relative moves share the numbers: 0 forward, 1 right, 2 back, 3 left
#: Most steps per tile of the maze before the truncation: far beyond any use, and it keeps
#: the step limit of a 63 x 63 maze within an int.
MAX_STEPS_PER_TILE = 10_000.0


def _check_odd_size(name: str, value: Any) -> int:
    size = check_int(name, value, MIN_SIZE, MAX_SIZE)
    if size % 2 == 0:
        raise ValueError(f"{name} must be odd (mazes have walls between cells), got {size}")
    return size


class MazeGame(Game):
    """Maze's parameters. See MazeEnv for the rules, spaces and arguments."""

    PARAMETERS = (
        Parameter("min_size", 5, "smallest maze side in tiles", _check_odd_size,
                  bounds=f"odd, {MIN_SIZE} to {MAX_SIZE}"),
        Parameter("max_size", 25, "largest maze side in tiles", _check_odd_size,
                  bounds=f"odd, min_size to {MAX_SIZE}"),
        integer("vision", 5, 1, MAX_VISION,
                "tiles seen in each direction: a (2 vision + 1)^2 view"),
        choice("split", "train", SPLITS, '"train" or "test" (disjoint mazes), or "all"'),
        choice("moves", "absolute", MOVES,
               '"absolute" (map directions) or "relative" (turn, then step)'),
        real("steps_per_tile", 2.0, 0.0, MAX_STEPS_PER_TILE,
             "truncation after steps_per_tile * size^2 steps",
             bounds=f"at most {MAX_STEPS_PER_TILE:g}, and at least 1 / min_size^2"),
        reward("goal_reward", 1.0, "reward for reaching the goal"),
        reward("step_penalty", 0.0, "subtracted every step"),
    )
    core_class = MazeCore
    stat_names: ClassVar[tuple[str, ...]] = ("success", "optimality", "size")
    #: The trainer's score: the share of mazes solved.
    score_stat: ClassVar[str] = "success"
    #: None: the game truncates itself after steps_per_tile * size^2 steps, a limit that
    #: grows with the maze drawn.
    default_max_episode_steps: ClassVar[int | None] = None

    def check_together(self) -> None:
        if self.max_size < self.min_size:
            raise ValueError(f"max_size must be >= min_size ({self.min_size}), got {self.max_size}")
        if self.steps_per_tile * self.min_size**2 < 1:
            raise ValueError(
                f"steps_per_tile must allow at least one step in a {self.min_size} x "
                f"{self.min_size} maze: at least {1 / self.min_size**2}, got {self.steps_per_tile}"
            )

    def core_arguments(self) -> dict[str, Any]:
        arguments = super().core_arguments()
        arguments["split"] = SPLITS[self.split]  # the core takes the split's code
        arguments["relative_moves"] = arguments.pop("moves") == "relative"
        return arguments

    def observation_space(self) -> gymnasium.spaces.Box:
        side = 2 * self.vision + 1
        return gymnasium.spaces.Box(0, max(TILE_CODES.values()), (side, side), np.uint8)

    def action_space(self) -> gymnasium.spaces.Discrete:
        return gymnasium.spaces.Discrete(NUM_ACTIONS)


class MazePresentation(Presentation):
    """How a maze is drawn and walked: the whole maze or the agent's view, a square per key
    press."""

    game: MazeGame
    render_view_doc = '`"world"`: the whole maze; `"agent"`: what the agent sees'

    def make_scene(self, view: str) -> MazeScene:
        from shoal.render.scenes.maze import MazeScene

        game = self.game
        return MazeScene(view, game.max_size, game.vision, game.split,
                         relative=game.moves == "relative")

    def render_fps(self) -> int:
        return 15

    def controls(self) -> Controls:
        from shoal.render.play import Controls, direction_keys

        if self.game.moves == "relative":
            help_line = "UP/W: FORWARD  LEFT/A, RIGHT/D: TURN AND STEP  DOWN/S: BACK"
        else:
            help_line = "ARROWS/WASD: MOVE"
        return Controls(
            keys=direction_keys(UP, RIGHT, DOWN, LEFT),  # relative: forward, right, back, left
            idle_action=None,
            help=help_line,
            first_action=UP,
            turn_based=True,  # one step per key press: a maze is walked square by square
        )


class MazeEnv(ShoalEnv, game=MazeGame, presentation=MazePresentation):
    """
    ## Description

    Find the goal in a perfect maze while seeing only the tiles around you. Every episode
    draws a new maze: its side is an odd number of tiles between `min_size` and `max_size`,
    and a recursive backtracker carves passages between its cells, so exactly one path joins
    any two cells. The agent starts in a random corner and the goal is the opposite corner.

    - **Held-out mazes.** Every layout belongs to one split, decided by one bit of a hash
      of its walls: `split="train"` and `split="test"` draw from disjoint sets of mazes
      at every size, so an agent evaluated on `"test"` has never seen that maze (not only its
      seed: small mazes repeat across seeds, but never across splits). `"all"` draws from
      both.
    - **Moves.** `moves="absolute"` (default): up, right, down, left on the map. A
      memoryless policy cannot tell where it has been, so it can at best wander.
      `moves="relative"`: forward, right, back, left relative to the way the agent faces
      (it turns, then steps), and the view turns with it. This makes wall following (always
      keep a hand on the wall) a memoryless policy, and wall following solves every perfect
      maze.
    - A move into a wall leaves the agent in place; the step still counts.

    ## Action Space

    `Discrete(4)`:

    | Num | `moves="absolute"` | `moves="relative"`      |
    |-----|--------------------|-------------------------|
    | 0   | up                 | forward                 |
    | 1   | right              | turn right, then step   |
    | 2   | down               | turn around, then step  |
    | 3   | left               | turn left, then step    |

    ## Observation Space

    `Box(0, 4, (2 vision + 1, 2 vision + 1), uint8)` (11 x 11 with the default `vision=5`):
    the tiles centred on the agent, as codes 0 wall, 1 floor, 2 goal, 3 agent (always the
    centre) and 4 unknown (outside the maze). With absolute moves row 0 is north. With
    relative moves row 0 is what lies ahead, and columns run from the agent's left to its
    right.

    ## Rewards

    `goal_reward` (default 1.0) on the step that reaches the goal, and `-step_penalty`
    (default 0.0) on every step. The default reward is sparse; the discount makes shorter
    paths worth more.

    ## Starting State

    A new maze from the env's random stream: the size uniform among the odd sizes in
    [`min_size`, `max_size`]; the agent in a uniformly random corner cell, facing a random
    direction; the goal in the opposite corner.

    ## Episode End

    Termination: the agent reaches the goal.

    Truncation: after `steps_per_tile * size^2` steps (default 2 x 625 = 1250 in a 25 x 25
    maze). Always-keep-a-hand-on-the-wall needs fewer than `size^2` steps, so the default
    leaves room. A `max_episode_steps` given to `gymnasium.make` also applies (default None).

    Episode statistics (`info["episode_stats"]` when an episode ends): `return`, `length`,
    `success` (1 if the goal was reached), `optimality` (the shortest path's length divided
    by the steps taken, on success; 0 otherwise) and `size`.

    ## Arguments

    ```python
    import gymnasium, shoal
    env = gymnasium.make("shoal/Maze-v0", min_size=9, max_size=15, moves="relative")
    test = gymnasium.make_vec("shoal/Maze-v0", num_envs=1024, split="test")
    ```

    ## Version History

    - v0: Initial version.
    """


class MazeVectorEnv(ShoalVectorEnv, game=MazeGame, presentation=MazePresentation):
    """Vectorized Maze: `gymnasium.make_vec("shoal/Maze-v0", num_envs=N)`; see MazeEnv for the rules."""

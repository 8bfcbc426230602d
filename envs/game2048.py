"""2048: its parameters, spaces and documentation. The rules live in cython_ext/game2048.pyx;
everything else (buffers, seeding, autoreset, time limits, action masks) is shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium
import numpy as np

from shoal._ext.game2048 import BOARD_SIDE, MAX_TILE_EXPONENT, NUM_ACTIONS, REWARD_MODES, Game2048Core
from shoal.game import Game, Presentation
from shoal.parameters import choice, reward
from shoal.single_env import ShoalEnv
from shoal.vector_env import ShoalVectorEnv

if TYPE_CHECKING:
    from shoal.render.play import Controls
    from shoal.render.scenes.game2048 import Game2048Scene

UP, RIGHT, DOWN, LEFT = range(NUM_ACTIONS)


class Game2048(Game):
    """2048's parameters. See Game2048Env for the rules, spaces and arguments."""

    PARAMETERS = (
        choice("reward_mode", "exponent", REWARD_MODES,
               '"exponent": k per merge into 2^k; "score": 2^k'),
        reward("reward_scale", 1.0, "multiplies the merge rewards", low=0.0),
        reward("invalid_move_penalty", 0.1, "subtracted for a move that changes nothing", low=0.0),
    )
    core_class = Game2048Core
    stat_names: ClassVar[tuple[str, ...]] = ("score", "max_tile")
    #: A game that reaches 2048 takes about 1000 moves; 20000 leaves room for 16384 and more.
    default_max_episode_steps: ClassVar[int | None] = 20_000

    def core_arguments(self) -> dict[str, Any]:
        return {**super().core_arguments(), "reward_mode": REWARD_MODES[self.reward_mode]}

    def observation_space(self) -> gymnasium.spaces.Box:
        return gymnasium.spaces.Box(0, MAX_TILE_EXPONENT, (BOARD_SIDE, BOARD_SIDE), np.uint8)

    def action_space(self) -> gymnasium.spaces.Discrete:
        return gymnasium.spaces.Discrete(NUM_ACTIONS)


class Game2048Presentation(Presentation):
    """How 2048 is drawn and played: the board, a move per key press."""

    render_view_doc = "one board: both views are the same"

    def make_scene(self, view: str) -> Game2048Scene:
        from shoal.render.scenes.game2048 import Game2048Scene

        return Game2048Scene()  # one board: both views are the same

    def render_fps(self) -> int:
        return 8

    def controls(self) -> Controls:
        from shoal.render.play import Controls, direction_keys

        return Controls(
            keys=direction_keys(UP, RIGHT, DOWN, LEFT),
            idle_action=None,
            help="ARROWS/WASD: SLIDE THE TILES",
            first_action=UP,
            turn_based=True,  # one move per key press
        )


class Game2048Env(ShoalEnv, game=Game2048, presentation=Game2048Presentation):
    """
    ## Description

    The sliding-tile puzzle 2048 on a 4 x 4 board. Each move slides every tile as far as it
    goes toward one side; two equal tiles that meet merge into one tile of their sum, and a
    new tile appears. The aim is to build large tiles (2048 and beyond) before the board
    locks up.

    - Along each line, starting from the side moved toward, two equal tiles that meet merge
      once per move: a merged tile does not merge again in the same move. `[2,2,2,2]` left
      gives `[4,4,0,0]`; `[4,2,2,0]` left gives `[4,4,0,0]`; `[2,2,4,0]` left gives
      `[4,4,0,0]`.
    - After a move that changed the board, a 2 (probability 0.9) or a 4 (0.1) appears on a
      uniformly random empty cell, drawn from the env's own random stream. A move that
      changes nothing spawns nothing and costs `invalid_move_penalty`.
    - `info["action_mask"]` (bool[4]) marks the moves that change the board, on every
      `reset` and `step` (`make_vec`: bool[num_envs, 4]); shoal's trainer samples only those.

    ## Action Space

    `Discrete(4)`:

    | Num | Action     |
    |-----|------------|
    | 0   | slide up    |
    | 1   | slide right |
    | 2   | slide down  |
    | 3   | slide left  |

    ## Observation Space

    `Box(0, 17, (4, 4), uint8)`: the board, row 0 on top, each cell the exponent k of its
    tile 2^k (0 for an empty cell; 17, the tile 131072, is the largest a 4 x 4 board can hold).

    ## Rewards

    With `reward_mode="exponent"` (default) each merge into a tile 2^k earns k; with
    `reward_mode="score"` it earns 2^k, the game's own points. Either is multiplied by
    `reward_scale` (default 1.0). A move that changes nothing earns `-invalid_move_penalty`
    (default 0.1).

    ## Starting State

    An empty board with two tiles spawned on it (each a 2, or a 4 with probability 0.1).

    ## Episode End

    Termination: no move changes the board (it is full and no neighbours are equal).

    Truncation: after `max_episode_steps` steps (default 20000, invalid moves included; a game
    that reaches 2048 takes about 1000 moves).

    Episode statistics (`info["episode_stats"]` when an episode ends): `return`, `length`
    (steps), `score` (the game's points: 2^k for every merge into 2^k) and `max_tile` (the
    largest tile's value).

    ## Arguments

    ```python
    import gymnasium, shoal
    env = gymnasium.make("shoal/2048-v0", reward_mode="score", invalid_move_penalty=0.0)
    envs = gymnasium.make_vec("shoal/2048-v0", num_envs=1024, num_threads=2)
    ```

    ## Version History

    - v0: Initial version.
    """


class Game2048VectorEnv(ShoalVectorEnv, game=Game2048, presentation=Game2048Presentation):
    """Vectorized 2048: `gymnasium.make_vec("shoal/2048-v0", num_envs=N)`; see Game2048Env for the rules."""

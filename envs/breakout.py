"""Breakout: its parameters, spaces and documentation. The rules live in
cython_ext/breakout.pyx; everything else (buffers, seeding, autoreset, time limits) is shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

import gymnasium
import numpy as np

from shoal._ext.breakout import (
    BRICK_SIZE,
    BRICK_WALL_TOP,
    FIELD_HEIGHT,
    FIELD_WIDTH,
    OBSERVATION_FIELDS,
    OBSERVATION_LENGTH,
    PADDLE_THICKNESS,
    PADDLE_TOP,
    PADDLE_WIDTH_RANGE,
    BreakoutCore,
)
from shoal.game import Game, Presentation
from shoal.parameters import flag, integer, real, reward
from shoal.single_env import ShoalEnv
from shoal.vector_env import ShoalVectorEnv

if TYPE_CHECKING:
    from shoal.render.play import Controls
    from shoal.render.scenes.breakout import BreakoutScene

MAX_FRAMESKIP = 8
NUM_ACTIONS = 3  # NOOP, LEFT, RIGHT
NOOP, LEFT, RIGHT = range(NUM_ACTIONS)
#: The arcade machine's frame rate: a window shows 60 / frameskip steps a second.
FRAMES_PER_SECOND = 60


def observation_bounds() -> tuple[np.ndarray, np.ndarray]:
    """Exact per-element bounds of the observation (see BreakoutEnv's table)."""
    low = np.zeros(OBSERVATION_LENGTH, dtype=np.float32)
    high = np.ones(OBSERVATION_LENGTH, dtype=np.float32)
    low[OBSERVATION_FIELDS.index("ball_vx")] = -1.0
    low[OBSERVATION_FIELDS.index("ball_vy")] = -1.0
    low[OBSERVATION_FIELDS.index("paddle_width")] = 0.5  # the halved paddle
    return low, high


class BreakoutGame(Game):
    """Breakout's parameters. See BreakoutEnv for the rules, spaces and arguments."""

    PARAMETERS = (
        integer("frameskip", 4, 1, MAX_FRAMESKIP, "frames per step with the same action"),
        flag("continuous", False, "a `Box(-1, 1, (1,))` paddle velocity instead of 3 actions"),
        # Negative rewards for bricks would make no game; 0 turns rewards off (stats remain).
        reward("reward_scale", 1.0, "multiplies the points (0: no points reward)", low=0.0),
        # A penalty, so not negative: a reward for losing balls would make no game either.
        reward("lost_ball_penalty", 0.0, "subtracted from the reward per lost ball", low=0.0),
        real("paddle_width", 64.0, *PADDLE_WIDTH_RANGE,
             "the paddle's width in pixels before it halves"),
        flag("fresh_serve", False,
             "a lost ball restores the full paddle and the slowest speed, as in PufferLib's"),
    )
    core_class = BreakoutCore
    stat_names: ClassVar[tuple[str, ...]] = ("score", "perf")
    #: 40000 frames at the default frameskip (about 11 minutes at 60 frames a second): enough
    #: to clear both walls, while an agent that only keeps the ball alive is cut off.
    default_max_episode_steps: ClassVar[int | None] = 10_000

    def observation_space(self) -> gymnasium.spaces.Box:
        low, high = observation_bounds()
        return gymnasium.spaces.Box(low, high, dtype=np.float32)

    def action_space(self) -> gymnasium.spaces.Discrete | gymnasium.spaces.Box:
        if self.continuous:
            return gymnasium.spaces.Box(-1.0, 1.0, (1,), np.float32)
        return gymnasium.spaces.Discrete(NUM_ACTIONS)


class BreakoutPresentation(Presentation):
    """How Breakout is drawn and played: the field seen whole, 60 / frameskip steps a second,
    the paddle on the arrow keys."""

    game: BreakoutGame

    def make_scene(self, view: str) -> BreakoutScene:
        from shoal.render.scenes.breakout import BreakoutScene

        return BreakoutScene(  # one agent: the "world" and "agent" views are the same
            field_size=(FIELD_WIDTH, FIELD_HEIGHT),
            brick_size=BRICK_SIZE,
            wall_top=BRICK_WALL_TOP,
            paddle_top=PADDLE_TOP,
            paddle_thickness=PADDLE_THICKNESS,
        )

    def render_fps(self) -> int:
        return round(FRAMES_PER_SECOND / self.game.frameskip)

    def controls(self) -> Controls:
        from shoal.render.play import Controls

        # With continuous=True the keys move the paddle at full speed (velocity -1 or 1).
        left, right, idle = (-1.0, 1.0, 0.0) if self.game.continuous else (LEFT, RIGHT, NOOP)
        return Controls(
            keys={"LEFT": left, "A": left, "RIGHT": right, "D": right},
            idle_action=idle,
            help="LEFT/A, RIGHT/D: MOVE THE PADDLE",
            first_action=idle,
        )


class BreakoutEnv(ShoalEnv, game=BreakoutGame, presentation=BreakoutPresentation):
    """
    ## Description

    The arcade classic. A wall of 6 rows x 18 columns of bricks hangs near the top of a
    576 x 330-pixel field; a ball bounces off the side walls, the top wall and the bricks,
    breaking every brick it touches. Keep the ball in play with the paddle at the bottom:
    where the ball lands on the paddle sets the angle it leaves at (straight up from the
    centre, up to 60 degrees from the vertical at the ends), which is how you aim.

    - The ball is served from the paddle's centre at a random angle within 45 degrees of the
      vertical, at the start and after each lost ball. You have 5 balls.
    - It starts at 4 pixels per frame and speeds up by 0.5 after every 4th paddle hit, and
      once each when it first breaks a 4-point brick and a 7-point brick, up to 7 pixels per
      frame. It never slows down within an episode.
    - The paddle (`paddle_width`, 64 pixels by default, 8 pixels per frame at full speed)
      halves (to 32 pixels by default) the first time the ball hits the top wall, for the
      rest of the episode.
    - When the first wall is cleared, a second wall appears, once, at the ball's next touch of
      the paddle (or its next serve). Clearing both scores the maximum, 864.
    - With `fresh_serve=True` (default False) a lost ball also restores what the first serve
      had: the full paddle (it halves again at the next top-wall hit), the slowest speed and
      no paddle hits counted, as PufferLib's Breakout does. The bricks, the score and the
      once-per-episode speed-ups of the 4- and 7-point bricks stay.
    - One step is `frameskip` frames (default 4) with the same action; each frame the paddle
      moves first, then the ball. The ball is a point and only the paddle's top edge (y = 310)
      returns it. Collisions are exact at every speed and frameskip: the ball never passes
      through the paddle, a brick or a wall, and a bounce loses no time.

    ## Action Space

    `Discrete(3)` by default:

    | Num | Action     |
    |-----|------------|
    | 0   | NOOP       |
    | 1   | move left  |
    | 2   | move right |

    With `continuous=True`: `Box(-1, 1, (1,), float32)`, the paddle's velocity as a fraction
    of its full speed (-1 full speed left, 1 full speed right).

    ## Observation Space

    `Box(low, high, (117,), float32)`, every number scaled so the bounds are exact. Positions
    are in pixels divided by the field's size (x by 576, y by 330, y grows downward);
    velocities are in pixels per frame divided by the ball's top speed (7).

    | Index | Observation                                                  | Min | Max |
    |-------|--------------------------------------------------------------|-----|-----|
    | 0     | paddle centre x / 576                                        | 0   | 1   |
    | 1     | paddle top y / 330 (constant, 310 / 330)                     | 0   | 1   |
    | 2     | ball x / 576                                                 | 0   | 1   |
    | 3     | ball y / 330                                                 | 0   | 1   |
    | 4     | ball x velocity / 7                                          | -1  | 1   |
    | 5     | ball y velocity / 7 (negative: moving up)                    | -1  | 1   |
    | 6     | balls left / 5 (the ball in play included)                   | 0   | 1   |
    | 7     | score / 864                                                  | 0   | 1   |
    | 8     | paddle width / `paddle_width` (1, or 0.5 once halved)        | 0.5 | 1   |
    | 9-116 | brick (row, column) at index 9 + 18 * row + column, row 0 on top: 1 standing, 0 broken | 0 | 1 |

    ## Rewards

    The points of the bricks broken during the step, times `reward_scale` (default 1.0): 7
    for the top two rows, 4 for the middle two, 1 for the bottom two (432 per wall, 864 for
    both); minus `lost_ball_penalty` (default 0) for each ball lost during the step.

    Why the penalty exists: a lost ball is served again at once, so with the points alone
    losing a ball costs nothing until the last one, hundreds of steps later, which a
    discount of 0.99 cannot see. A learner then has almost no signal for catching the ball
    (PPO's return stays at a random player's ~9); `shoal train breakout` sets the penalty
    (trainer/configs/breakout.toml). The `score` statistic counts points only, whatever the
    penalty.

    Why `paddle_width` exists: at the default frameskip the paddle moves 32 pixels per step,
    and the default 64-pixel paddle halves to 32 pixels. From then on every catch at top speed
    must be exact, and PPO stalls near 250 points with most balls lost there.
    `shoal train breakout` sets `paddle_width = 96` (48 pixels when halved;
    trainer/configs/breakout.toml); the default keeps the harder game. See
    docs/breakout_diagnosis.md.

    ## Starting State

    A full wall, 5 balls, score 0, the full-width paddle centred, and the ball served from
    the paddle at a random angle within 45 degrees of the vertical (drawn from the env's own
    random stream, so the seed decides it) at the slowest speed.

    ## Episode End

    Termination: the last ball is lost, or the second wall is cleared (score 864).

    Truncation: after `max_episode_steps` steps (default 10000: 40000 frames at the default
    frameskip, about 11 minutes at 60 frames per second; enough to clear both walls, while an
    agent that only keeps the ball alive is cut off). `gymnasium.make` applies it with the
    `TimeLimit` wrapper, `gymnasium.make_vec` natively.

    Episode statistics (`info["episode_stats"]` when an episode ends): `return`, `length`
    (steps), `score` (points, 0 to 864) and `perf` (score / 864).

    ## Arguments

    ```python
    import gymnasium, shoal
    env = gymnasium.make("shoal/Breakout-v0", lost_ball_penalty=20.0, paddle_width=96.0)
    envs = gymnasium.make_vec("shoal/Breakout-v0", num_envs=1024, num_threads=4)
    ```

    ## Version History

    - v0: Initial version.
    """


class BreakoutVectorEnv(ShoalVectorEnv, game=BreakoutGame, presentation=BreakoutPresentation):
    """Vectorized Breakout: `gymnasium.make_vec("shoal/Breakout-v0", num_envs=N)`; see BreakoutEnv for the rules."""

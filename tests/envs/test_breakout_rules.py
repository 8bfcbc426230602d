"""Breakout's rules (cython_ext/breakout.pyx), checked on the native core directly: brick
values, lost balls, the second wall, speed-ups, the halving paddle, and collisions that never
let the ball pass through the paddle, a brick or a wall at top speed and any frameskip."""

from __future__ import annotations

import math

import gymnasium
import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st

from shoal._ext import breakout as rules
from shoal._ext.breakout import BreakoutCore
from shoal.breakout import BreakoutGame
from shoal.vector_env import CoreBuffers
from tests.envs.setters import set_ball, set_balls_left, set_bricks, set_paddle, set_speed_level

NOOP, LEFT, RIGHT = 0, 1, 2
DISABLED, NEXT_STEP = 2, 0  # autoreset codes of the native loop
WIDTH, HEIGHT = rules.FIELD_WIDTH, rules.FIELD_HEIGHT
BRICK_W, BRICK_H = rules.BRICK_SIZE
ROWS, COLUMNS = rules.BRICK_GRID
WALL_TOP = rules.BRICK_WALL_TOP
PADDLE_Y = rules.PADDLE_TOP
TOP_LEVEL = rules.TOP_SPEED_LEVEL
TOP_SPEED = rules.BALL_SPEEDS[TOP_LEVEL]
FRAMESKIPS = range(1, 9)
EXAMPLES = settings(max_examples=300, deadline=None)


class Table:
    """A core bound to its own buffers, as the wrappers bind it; world 0 unless told."""

    def __init__(self, num_worlds=1, *, frameskip=4, continuous=False, reward_scale=1.0,
                 lost_ball_penalty=0.0, paddle_width=64.0, fresh_serve=False, autoreset=DISABLED,
                 seed=0):
        n = num_worlds
        self.core = BreakoutCore(n, 1, frameskip=frameskip, continuous=continuous,
                                 reward_scale=reward_scale, lost_ball_penalty=lost_ball_penalty,
                                 paddle_width=paddle_width, fresh_serve=fresh_serve)
        self.core.configure(autoreset, 0, 1)
        game = BreakoutGame(frameskip=frameskip, continuous=continuous, reward_scale=reward_scale,
                            lost_ball_penalty=lost_ball_penalty, paddle_width=paddle_width,
                            fresh_serve=fresh_serve)
        self.buffers = CoreBuffers.bind(self.core, game.observation_space(), game.action_space())
        self.core.seed_worlds(np.arange(seed, seed + n, dtype=np.uint64), np.ones(n, np.uint8))
        self.core.reset()

    def __getattr__(self, name):
        # The bound arrays: observations, rewards, ..., episode_stats[return/length/score/perf, row]
        return getattr(self.buffers, name)

    def step(self, action=NOOP):
        self.actions[...] = action
        self.core.step()
        return float(self.rewards[0]), bool(self.terminations[0])

    def state(self, world=0):
        return self.core.state(world)

    def clear_bricks(self, *standing):
        """Leave only the bricks (row, column) given standing."""
        flags = np.zeros((ROWS, COLUMNS))
        for row, column in standing:
            flags[row, column] = 1
        set_bricks(self.core, 0, flags)

    def aim_up_at(self, row, column, frames=0.5):
        """Put the ball below brick (row, column), going straight up, `frames` from its face."""
        speed = self.state()["ball_speed"]
        bottom = WALL_TOP + (row + 1) * BRICK_H
        set_ball(self.core, 0, (column + 0.5) * BRICK_W, bottom + frames * speed, 0.0, -speed)

    def touch_paddle(self):
        """Drop the ball straight onto the paddle's centre within the next frame."""
        state = self.state()
        speed = state["ball_speed"]
        set_ball(self.core, 0, state["paddle_x"], PADDLE_Y - 0.5 * speed, 0.0, speed)


def observation_space():
    from shoal.breakout import BreakoutGame

    return BreakoutGame().observation_space()


def brick_is_standing(state, row, column):
    return state["bricks"][row, column] == 1.0


def strictly_inside_standing_brick(state) -> bool:
    x, y = state["ball_x"], state["ball_y"]
    column, row = math.floor(x / BRICK_W), math.floor((y - WALL_TOP) / BRICK_H)
    if not (0 <= row < ROWS and 0 <= column < COLUMNS) or not brick_is_standing(state, row, column):
        return False
    return x != column * BRICK_W and y != WALL_TOP + row * BRICK_H


# ---- Starting state and the observation ----


def test_reset_serves_from_the_centred_paddle_at_the_slowest_speed():
    table = Table(8)
    for world in range(8):
        state = table.state(world)
        assert state["bricks"].shape == (6, 18) and (state["bricks"] == 1).all()
        assert state["balls_left"] == 5 and state["score"] == 0 and state["speed_level"] == 0
        assert state["paddle_x"] == WIDTH / 2 and state["paddle_width"] == 64
        assert (state["ball_x"], state["ball_y"]) == (WIDTH / 2, PADDLE_Y)
        assert state["ball_vy"] < 0
        assert math.hypot(state["ball_vx"], state["ball_vy"]) == pytest.approx(4.0, rel=1e-6)
        # Within 45 degrees of the vertical.
        assert abs(state["ball_vx"]) <= -state["ball_vy"] + 1e-6


def test_seeds_decide_the_serve():
    first, again, other = Table(4, seed=10), Table(4, seed=10), Table(4, seed=20)
    angles = lambda table: [table.state(w)["ball_vx"] for w in range(4)]  # noqa: E731
    assert angles(first) == angles(again)
    assert angles(first) != angles(other)
    assert len(set(angles(first))) == 4


def test_observation_layout_matches_the_state():
    table = Table()
    table.clear_bricks((0, 0), (5, 17), (2, 9))
    set_ball(table.core, 0, 100.0, 200.0, 3.0, -2.0)
    set_paddle(table.core, 0, 40.0, halved=True)
    set_balls_left(table.core, 0, 3)
    table.step()
    state, observation = table.state(), table.observations[0]
    assert observation.dtype == np.float32 and observation.shape == (117,)
    expected = [
        state["paddle_x"] / WIDTH, PADDLE_Y / HEIGHT, state["ball_x"] / WIDTH,
        state["ball_y"] / HEIGHT, state["ball_vx"] / TOP_SPEED, state["ball_vy"] / TOP_SPEED,
        3 / 5, 0.0, 0.5,
    ]
    np.testing.assert_allclose(observation[:9], expected, rtol=1e-6)
    np.testing.assert_array_equal(observation[9:], state["bricks"].reshape(-1))
    assert observation[9 + 0] == 1 and observation[9 + 5 * 18 + 17] == 1
    assert observation[9 + 2 * 18 + 9] == 1 and observation[9:].sum() == 3


# ---- The paddle ----


@pytest.mark.parametrize("frameskip", [1, 4, 8])
def test_discrete_actions_move_the_paddle_8_pixels_a_frame_inside_the_field(frameskip):
    table = Table(frameskip=frameskip)
    table.step(LEFT)
    assert table.state()["paddle_x"] == WIDTH / 2 - 8 * frameskip
    table.step(RIGHT)
    table.step(NOOP)
    assert table.state()["paddle_x"] == WIDTH / 2
    for _ in range(100):
        set_ball(table.core, 0, 300.0, 200.0, 0.0, -4.0)  # keep the ball out of the way
        table.step(LEFT)
    assert table.state()["paddle_x"] == 32  # its half width: the paddle stays in the field


def test_continuous_actions_are_a_fraction_of_the_paddle_speed():
    table = Table(frameskip=4, continuous=True)
    table.step(np.float32(0.5))
    assert table.state()["paddle_x"] == WIDTH / 2 + 16
    table.step(np.float32(-1.0))
    assert table.state()["paddle_x"] == WIDTH / 2 - 16
    for _ in range(100):
        set_ball(table.core, 0, 300.0, 200.0, 0.0, -4.0)
        table.step(np.float32(1.0))
    assert table.state()["paddle_x"] == WIDTH - 32


def test_paddle_halves_after_the_ball_first_hits_the_top_wall():
    table = Table()
    table.clear_bricks((5, 0))
    table.aim_up_at(5, 0)
    table.step()  # a brick: no halving
    assert table.state()["paddle_width"] == 64 and not table.state()["paddle_halved"]
    set_ball(table.core, 0, 300.0, 10.0, 1.0, -4.0)
    table.step()
    state = table.state()
    assert state["paddle_halved"] and state["paddle_width"] == 32
    assert table.observations[0, 8] == 0.5
    assert state["ball_vy"] > 0
    set_ball(table.core, 0, 300.0, 10.0, 1.0, -4.0)
    table.step()
    assert table.state()["paddle_width"] == 32  # halves once


@pytest.mark.parametrize("paddle_width, offset, caught", [
    (64.0, 31.0, True), (64.0, 40.0, False), (96.0, 40.0, True), (96.0, 49.0, False)])
def test_paddle_width_sets_the_catch_window(paddle_width, offset, caught):
    table = Table(paddle_width=paddle_width)
    assert table.state()["paddle_width"] == paddle_width and table.observations[0, 8] == 1.0
    set_ball(table.core, 0, WIDTH / 2 + offset, PADDLE_Y - 6.0, 0.0, 4.0)  # straight down
    table.step()
    table.step()  # a missed ball reaches the bottom in this step
    state = table.state()
    assert (state["paddle_hits"], state["balls_left"]) == ((1, 5) if caught else (0, 4))


def test_a_wide_paddle_halves_to_half_its_width():
    table = Table(paddle_width=96.0)
    set_ball(table.core, 0, 300.0, 10.0, 1.0, -4.0)
    table.step()
    assert table.state()["paddle_width"] == 48.0 and table.observations[0, 8] == 0.5
    set_paddle(table.core, 0, 24.0)  # the halved paddle's edge may reach the wall
    assert table.state()["paddle_x"] == 24.0


@pytest.mark.parametrize("paddle_width", [7.9, 288.1, math.nan, math.inf])
def test_paddle_width_outside_8_to_288_is_refused(paddle_width):
    with pytest.raises(ValueError, match="paddle_width must be"):
        gymnasium.make_vec("shoal/Breakout-v0", num_envs=1, paddle_width=paddle_width)


# ---- Bricks and scoring ----


@pytest.mark.parametrize("row, points", [(0, 7), (1, 7), (2, 4), (3, 4), (4, 1), (5, 1)])
def test_brick_values_by_row_pair(row, points):
    table = Table(reward_scale=0.5)
    table.clear_bricks((row, 7), (row, 8))
    table.aim_up_at(row, 7)
    reward, terminated = table.step()
    state = table.state()
    assert not brick_is_standing(state, row, 7) and brick_is_standing(state, row, 8)
    assert state["score"] == points and reward == 0.5 * points and not terminated
    assert state["ball_vy"] > 0  # reflected off the bottom face
    assert table.observations[0, 7] == pytest.approx(points / 864)


def test_a_brick_reflects_and_breaks_once():
    table = Table()
    table.clear_bricks((5, 3), (4, 3))
    table.aim_up_at(5, 3)
    table.step()
    state = table.state()
    assert state["score"] == 1 and brick_is_standing(state, 4, 3)
    assert state["ball_vy"] > 0 and state["ball_y"] >= WALL_TOP + 6 * BRICK_H


# ---- Balls ----


def lose_ball(table):
    """Send the ball down past the paddle, far from it: lost in the step's first frame."""
    state = table.state()
    x = 40.0 if state["paddle_x"] > WIDTH / 2 else WIDTH - 40.0
    speed = state["ball_speed"]
    set_ball(table.core, 0, x, HEIGHT - 0.5 * speed, 0.0, speed)
    return table.step()


def test_losing_a_ball_serves_the_next_and_the_last_terminates():
    table = Table(frameskip=8)
    for balls_left in (4, 3, 2, 1):
        reward, terminated = lose_ball(table)
        state = table.state()
        assert not terminated and reward == 0 and state["balls_left"] == balls_left
        assert state["ball_vy"] < 0 and state["ball_y"] < PADDLE_Y  # served again, going up
        assert table.observations[0, 6] == pytest.approx(balls_left / 5)
    reward, terminated = lose_ball(table)
    assert terminated and table.state()["balls_left"] == 0
    assert table.observations[0, 6] == 0
    assert table.episode_ended[0]
    assert 0 <= table.observations[0, 3] <= 1  # the last ball's last place, inside the field


@pytest.mark.parametrize("fresh_serve", [False, True])
def test_a_lost_ball_keeps_the_halved_paddle_and_the_speed_unless_fresh_serve(fresh_serve):
    table = Table(paddle_width=96.0, fresh_serve=fresh_serve)
    set_paddle(table.core, 0, WIDTH / 2, halved=True)
    set_speed_level(table.core, 0, TOP_LEVEL)
    table.clear_bricks((0, 0))  # the 7-point row reached: its speed-up is spent either way
    lose_ball(table)
    state = table.state()
    assert state["balls_left"] == 4 and state["ball_vy"] < 0  # served again
    if fresh_serve:
        assert not state["paddle_halved"] and state["speed_level"] == 0
        assert table.observations[0, 8] == 1.0  # the full paddle
        assert math.hypot(state["ball_vx"], state["ball_vy"]) == pytest.approx(rules.BALL_SPEEDS[0])
        # It halves again at the next top-wall hit.
        set_ball(table.core, 0, 300.0, 2.0, 0.0, -rules.BALL_SPEEDS[0])
        table.step()
        assert table.state()["paddle_halved"]
    else:
        assert state["paddle_halved"] and state["speed_level"] == TOP_LEVEL
        assert table.observations[0, 8] == 0.5


def test_each_lost_ball_costs_the_penalty_and_the_score_counts_points_only():
    table = Table(reward_scale=2.0, lost_ball_penalty=3.0)
    table.clear_bricks((5, 5))
    table.aim_up_at(5, 5)
    reward, _ = table.step()
    assert reward == 2.0 * 1  # the penalty touches nothing but lost balls
    for _ in range(4):
        assert lose_ball(table) == (-3.0, False)
    assert lose_ball(table) == (-3.0, True)  # the last ball too
    ret, length, score, perf = table.episode_stats[:, 0]
    assert ret == 2.0 - 5 * 3.0 and score == 1 and perf == pytest.approx(1 / 864)


def test_episode_statistics_are_score_and_perf():
    table = Table(reward_scale=2.0)
    table.clear_bricks((0, 4), (5, 5))
    table.aim_up_at(5, 5)
    table.step()
    table.aim_up_at(0, 4)
    table.step()
    set_balls_left(table.core, 0, 1)
    lose_ball(table)
    ret, length, score, perf = table.episode_stats[:, 0]
    assert (ret, length, score) == (2.0 * 8, 3, 8) and perf == pytest.approx(8 / 864)


# ---- The second wall ----


def test_the_wall_refills_once_at_the_next_paddle_touch():
    table = Table()
    table.clear_bricks((5, 9))
    table.aim_up_at(5, 9)
    table.step()
    state = table.state()
    assert state["walls_cleared"] == 1 and state["refill_pending"] and state["bricks_left"] == 0
    assert (table.observations[0, 9:] == 0).all()  # not around the ball
    table.touch_paddle()
    table.step()
    state = table.state()
    assert not state["refill_pending"] and state["bricks_left"] == 108
    assert (state["bricks"] == 1).all() and (table.observations[0, 9:] == 1).all()


def test_the_wall_refills_at_the_next_serve_after_a_lost_ball():
    table = Table()
    table.clear_bricks((5, 9))
    table.aim_up_at(5, 9)
    table.step()
    lose_ball(table)
    assert table.state()["bricks_left"] == 108


def test_clearing_the_second_wall_terminates():
    table = Table()
    flags = np.zeros((ROWS, COLUMNS))
    flags[5, 10] = 1
    set_bricks(table.core, 0, flags, walls_cleared=1)
    table.aim_up_at(5, 10)
    reward, terminated = table.step()
    assert terminated and reward == 1 and table.state()["walls_cleared"] == 2


def test_clearing_both_walls_scores_864_and_terminates():
    """Break every brick of both walls, bottom row first, and check the score and the end."""
    table = Table(frameskip=2)
    total = 0.0
    for wall in range(2):
        for row in reversed(range(ROWS)):
            for column in range(COLUMNS):
                table.aim_up_at(row, column)
                reward, terminated = table.step()
                total += reward
                last = wall == 1 and row == 0 and column == COLUMNS - 1
                assert terminated == last
                assert not brick_is_standing(table.state(), row, column)
        if wall == 0:
            assert table.state()["score"] == 432 and table.state()["refill_pending"]
            table.touch_paddle()
            table.step()
            assert table.state()["bricks_left"] == 108
    assert total == 864 and table.state()["score"] == 864
    assert table.observations[0, 7] == 1.0
    assert tuple(table.episode_stats[2:, 0]) == (864, 1.0)


# ---- Speed ----


def bounce_off_paddle(table):
    table.touch_paddle()
    table.step()


def test_speed_rises_every_4_paddle_hits_up_to_the_maximum():
    table = Table(frameskip=1)
    levels = []
    for _ in range(40):
        bounce_off_paddle(table)
        levels.append(table.state()["speed_level"])
    assert levels[:12] == [0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3]
    assert max(levels) == TOP_LEVEL == levels[-1]
    state = table.state()
    assert math.hypot(state["ball_vx"], state["ball_vy"]) == pytest.approx(TOP_SPEED)
    assert TOP_SPEED == 7.0 and rules.BALL_SPEEDS[0] == 4.0


def test_speed_rises_once_on_the_first_4_point_and_the_first_7_point_brick():
    table = Table()
    expected = {(5, 0): 0, (4, 1): 0, (3, 2): 1, (2, 3): 1, (1, 4): 2, (0, 5): 2, (3, 6): 2}
    table.clear_bricks(*expected)
    for (row, column), level in expected.items():
        table.aim_up_at(row, column)
        table.step()
        state = table.state()
        assert state["speed_level"] == level, (row, column)
        speed = math.hypot(state["ball_vx"], state["ball_vy"])
        assert speed == pytest.approx(rules.BALL_SPEEDS[level])


def test_speed_never_exceeds_the_maximum_from_bricks_either():
    table = Table()
    set_speed_level(table.core, 0, TOP_LEVEL)
    table.clear_bricks((3, 2), (1, 4))
    for row, column in ((3, 2), (1, 4)):
        table.aim_up_at(row, column)
        table.step()
        assert table.state()["speed_level"] == TOP_LEVEL
        assert abs(table.state()["ball_vy"]) == TOP_SPEED


# ---- No tunnelling: top speed, every frameskip ----


def at_top_speed(frameskip, *standing):
    table = Table(frameskip=frameskip)
    table.clear_bricks(*standing)
    set_speed_level(table.core, 0, TOP_LEVEL)
    return table


def f32(value):
    return float(np.float32(value))


angles = st.floats(-1.3, 1.3)  # radians from a face's normal: up to ~75 degrees
before = st.floats(0.001, 0.999)  # the hit's place within the step, as a fraction


@EXAMPLES
@given(
    frameskip=st.sampled_from(FRAMESKIPS),
    row=st.integers(0, ROWS - 1),
    column=st.integers(0, COLUMNS - 1),
    face=st.sampled_from(["bottom", "top", "left", "right"]),
    along=st.floats(0.01, 0.99),
    angle=angles,
    fraction=before,
)
def test_a_single_brick_always_reflects_the_ball(
    frameskip, row, column, face, along, angle, fraction
):
    # Side faces near a side wall could send the ball back through the broken brick's cell
    # within the step; keep them where the rest of the step cannot reach a wall.
    if face == "left":
        assume(column >= 2)
    if face == "right":
        assume(column <= COLUMNS - 3)
    left, top = column * BRICK_W, WALL_TOP + row * BRICK_H
    normal = {"bottom": (0, 1), "top": (0, -1), "left": (-1, 0), "right": (1, 0)}[face]
    if face in ("bottom", "top"):
        point = (left + along * BRICK_W, top + (BRICK_H if face == "bottom" else 0))
    else:
        point = (left + (0 if face == "left" else BRICK_W), top + along * BRICK_H)
    # The velocity points into the face, `angle` away from its inward normal.
    inward = (-normal[0], -normal[1])
    c, s = math.cos(angle), math.sin(angle)
    vx = f32(TOP_SPEED * (inward[0] * c - inward[1] * s))
    vy = f32(TOP_SPEED * (inward[0] * s + inward[1] * c))
    assume(abs(vy) > 0.01 and abs(vx) <= TOP_SPEED and abs(vy) <= TOP_SPEED)
    frames = fraction * frameskip
    x, y = point[0] - vx * frames, point[1] - vy * frames
    assume(0 <= x <= WIDTH and 0 <= y < PADDLE_Y)

    table = at_top_speed(frameskip, (row, column))
    set_ball(table.core, 0, x, y, vx, vy)
    reward, _ = table.step()
    state = table.state()
    assert not brick_is_standing(state, row, column)
    assert reward == rules.BRICK_POINTS_BY_ROW[row]
    ball_x, ball_y = state["ball_x"], state["ball_y"]
    # The ball spends the rest of the step moving away from the face: no time is lost.
    rest = frameskip - frames
    if face == "bottom":
        assert state["ball_vy"] == -vy and ball_y >= point[1]
        assert ball_y == pytest.approx(point[1] - vy * rest, abs=1e-3)
    elif face == "top":
        assert state["ball_vy"] == -vy and ball_y <= point[1]
        assert ball_y == pytest.approx(point[1] - vy * rest, abs=1e-3)
    elif face == "left":
        assert state["ball_vx"] == -vx and ball_x <= point[0] and state["ball_vy"] == vy
        assert ball_x == pytest.approx(point[0] - vx * rest, abs=1e-3)
    else:
        assert state["ball_vx"] == -vx and ball_x >= point[0] and state["ball_vy"] == vy
        assert ball_x == pytest.approx(point[0] - vx * rest, abs=1e-3)


@EXAMPLES
@given(
    frameskip=st.sampled_from(FRAMESKIPS),
    row=st.integers(0, ROWS - 1),
    column=st.integers(0, COLUMNS - 1),
    along=st.floats(0.01, 0.99),
    angle=angles,
    fraction=before,
)
def test_a_ball_on_a_row_of_bricks_breaks_one_and_never_enters_the_row(
    frameskip, row, column, along, angle, fraction
):
    """A full row seen from below: whatever the angle, exactly one brick breaks."""
    vx, vy = f32(TOP_SPEED * math.sin(angle)), f32(-TOP_SPEED * math.cos(angle))
    point = ((column + along) * BRICK_W, WALL_TOP + (row + 1) * BRICK_H)
    frames = fraction * frameskip
    x, y = point[0] - vx * frames, point[1] - vy * frames
    assume(0 < x < WIDTH and y < PADDLE_Y)
    table = at_top_speed(frameskip, *[(row, c) for c in range(COLUMNS)])
    set_ball(table.core, 0, x, y, vx, vy)
    table.step()
    state = table.state()
    assert state["bricks"][row].sum() == COLUMNS - 1
    assert state["ball_vy"] > 0 and state["ball_y"] >= point[1]


@EXAMPLES
@given(
    frameskip=st.sampled_from(FRAMESKIPS),
    paddle_x=st.floats(32, WIDTH - 32),
    halved=st.booleans(),
    offset=st.floats(-0.999, 0.999),
    angle=st.floats(-1.2, 1.2),
    fraction=before,
)
def test_the_paddle_always_returns_a_ball_that_lands_on_it(
    frameskip, paddle_x, halved, offset, angle, fraction
):
    half = 16 if halved else 32
    paddle_x = f32(paddle_x)
    hit_x = paddle_x + offset * half
    vx, vy = f32(TOP_SPEED * math.sin(angle)), f32(TOP_SPEED * math.cos(angle))
    frames = fraction * frameskip
    x, y = hit_x - vx * frames, PADDLE_Y - vy * frames
    assume(0 < x < WIDTH)
    table = at_top_speed(frameskip)
    set_paddle(table.core, 0, paddle_x, halved=halved)
    set_ball(table.core, 0, x, y, vx, vy)
    table.step()
    state = table.state()
    assert state["paddle_hits"] == 1 and state["balls_left"] == 5
    assert state["ball_vy"] < 0 and state["ball_y"] <= PADDLE_Y
    assert math.hypot(state["ball_vx"], state["ball_vy"]) == pytest.approx(TOP_SPEED, rel=1e-5)
    # Off-centre hits leave toward their side (the player's aim), unless a side wall is near
    # enough to reflect the ball again within the step.
    if abs(offset) > 0.01 and 60 < hit_x < WIDTH - 60:
        assert math.copysign(1, state["ball_vx"]) == math.copysign(1, offset)
    # The ball spends the rest of the step going up from the hit point: no time is lost.
    rest = frameskip - frames
    assert state["ball_y"] == pytest.approx(PADDLE_Y + state["ball_vy"] * rest, abs=1e-3)
    if 60 < hit_x < WIDTH - 60:
        assert state["ball_x"] == pytest.approx(hit_x + state["ball_vx"] * rest, abs=1e-3)


@EXAMPLES
@given(
    frameskip=st.sampled_from(FRAMESKIPS),
    start_paddle=st.floats(32, WIDTH - 32),
    action=st.sampled_from([LEFT, RIGHT]),
    crossing_x=st.floats(60, WIDTH - 60),
    angle=st.floats(-1.2, 1.2),
    fraction=before,
)
def test_a_moving_paddle_meets_the_ball_where_it_is_in_that_frame(
    frameskip, start_paddle, action, crossing_x, angle, fraction
):
    """The paddle moves first in each frame: it returns the ball exactly when it lies under
    the crossing point in the frame the ball crosses its top edge."""
    start_paddle = f32(start_paddle)
    vx, vy = f32(TOP_SPEED * math.sin(angle)), f32(TOP_SPEED * math.cos(angle))
    frames = fraction * frameskip
    assume(abs(frames - round(frames)) > 1e-3)
    x, y = crossing_x - vx * frames, PADDLE_Y - vy * frames
    assume(0 < x < WIDTH)
    crossing_frame = math.ceil(frames)
    direction = -1 if action == LEFT else 1
    paddle_then = min(max(start_paddle + direction * 8 * crossing_frame, 32), WIDTH - 32)
    distance = abs(crossing_x - paddle_then)
    assume(abs(distance - 32) > 1e-2)
    table = at_top_speed(frameskip)
    set_paddle(table.core, 0, start_paddle)
    set_ball(table.core, 0, x, y, vx, vy)
    table.step(action)
    state = table.state()
    if distance < 32:
        assert state["paddle_hits"] == 1 and state["ball_vy"] < 0
    else:
        assert state["paddle_hits"] == 0
        assert state["ball_vy"] > 0 or state["balls_left"] == 4  # passed by, or lost


@EXAMPLES
@given(
    frameskip=st.sampled_from(FRAMESKIPS),
    wall=st.sampled_from(["left", "right", "top"]),
    along=st.floats(0, 1),
    angle=angles,
    fraction=before,
)
def test_walls_always_reflect_the_ball(frameskip, wall, along, angle, fraction):
    if wall == "top":
        point, inward = (60 + along * (WIDTH - 120), 0.0), (0, -1)
    else:
        point = (0.0 if wall == "left" else WIDTH, 60 + along * 180)
        inward = (-1, 0) if wall == "left" else (1, 0)
    c, s = math.cos(angle), math.sin(angle)
    vx = f32(TOP_SPEED * (inward[0] * c - inward[1] * s))
    vy = f32(TOP_SPEED * (inward[0] * s + inward[1] * c))
    assume(abs(vy) > 0.01)
    frames = fraction * frameskip
    x, y = point[0] - vx * frames, point[1] - vy * frames
    assume(0 <= x <= WIDTH and 0 <= y < PADDLE_Y)
    table = at_top_speed(frameskip)  # no bricks
    set_ball(table.core, 0, x, y, vx, vy)
    table.step()
    state = table.state()
    assert 0 <= state["ball_x"] <= WIDTH and 0 <= state["ball_y"] <= HEIGHT
    rest = frameskip - frames
    if wall == "top":
        assert state["ball_vy"] == -vy and state["ball_vx"] == vx and state["paddle_halved"]
        assert state["ball_y"] == pytest.approx(-vy * rest, abs=1e-3)
    else:
        assert state["ball_vx"] == -vx and state["ball_vy"] == vy
        assert state["ball_x"] == pytest.approx(point[0] - vx * rest, abs=1e-3)


@pytest.mark.parametrize("frameskip", FRAMESKIPS)
@pytest.mark.parametrize("face", ["bottom", "top", "left", "right"])
def test_a_ball_exactly_on_a_face_moving_into_it_reflects(frameskip, face):
    table = at_top_speed(frameskip, (3, 6))
    left, top = 6 * BRICK_W, WALL_TOP + 3 * BRICK_H
    x, y, vx, vy = {
        "bottom": (left + 10, top + BRICK_H, 2.0, -TOP_SPEED),
        "top": (left + 10, top, 2.0, TOP_SPEED),
        "left": (left, top + 5, TOP_SPEED, 2.0),
        "right": (left + BRICK_W, top + 5, -TOP_SPEED, 2.0),
    }[face]
    set_ball(table.core, 0, x, y, vx, vy)
    table.step()
    state = table.state()
    assert not brick_is_standing(state, 3, 6)
    if face in ("bottom", "top"):
        assert (state["ball_vx"], state["ball_vy"]) == (vx, -vy)
    else:
        assert (state["ball_vx"], state["ball_vy"]) == (-vx, vy)


def test_touching_a_face_is_not_crossing_it():
    """A frame that ends exactly on a brick's face breaks nothing; the next frame does."""
    table = at_top_speed(1, (3, 6))
    face = WALL_TOP + 4 * BRICK_H
    set_ball(table.core, 0, 6.5 * BRICK_W, face + TOP_SPEED, 0.0, -TOP_SPEED)
    table.step()
    state = table.state()
    assert brick_is_standing(state, 3, 6) and state["ball_y"] == face
    table.step()
    assert not brick_is_standing(table.state(), 3, 6) and table.state()["ball_vy"] == TOP_SPEED


def test_leaving_a_wall_at_a_cell_corner_keeps_the_other_direction():
    # On the left wall at a grid-row boundary inside the (empty) wall band, moving away: only
    # the wall lies behind the ball.
    table = at_top_speed(1)
    set_ball(table.core, 0, 0.0, 9 * BRICK_H, 3.0, 4.0)
    table.step()
    assert (table.state()["ball_vx"], table.state()["ball_vy"]) == (3.0, 4.0)
    assert table.state()["ball_x"] == 3.0
    # On the top wall at a column boundary, moving away.
    set_ball(table.core, 0, 2 * BRICK_W, 0.0, 3.0, 4.0)
    table.step()
    assert (table.state()["ball_vx"], table.state()["ball_vy"]) == (3.0, 4.0)


def test_a_ball_into_the_corner_of_the_field_comes_straight_back():
    table = at_top_speed(1)
    set_ball(table.core, 0, 2.0, 2.0, -2.0, -2.0)
    table.step()
    assert (table.state()["ball_x"], table.state()["ball_y"]) == (0.0, 0.0)  # touching
    table.step()
    state = table.state()
    assert (state["ball_vx"], state["ball_vy"]) == (2.0, 2.0)
    assert (state["ball_x"], state["ball_y"]) == (2.0, 2.0)


# ---- Whole games: consistency and invariants ----


@pytest.mark.parametrize("seed", range(3))
@pytest.mark.parametrize("frameskip", [2, 3, 4, 8])
def test_a_step_of_k_frames_equals_k_steps_of_one_frame(frameskip, seed):
    """The frameskip only groups frames: the same play gives bit-identical states, up to the
    end of the episode (which cuts the grouped step short at the frame it happens)."""
    grouped = Table(frameskip=frameskip, seed=seed)
    single = Table(frameskip=1, seed=seed)
    rng = np.random.default_rng(seed)
    for _ in range(600):
        action = rng.integers(0, 3, dtype=np.int32)
        grouped_reward, grouped_end = grouped.step(action)
        single_reward, single_end = 0.0, False
        for _ in range(frameskip):
            reward, single_end = single.step(action)
            single_reward += reward
            if single_end:
                break
        assert grouped.state() | {"bricks": None} == single.state() | {"bricks": None}
        np.testing.assert_array_equal(grouped.observations, single.observations)
        assert (grouped_reward, grouped_end) == (single_reward, single_end)
        if grouped_end:
            break


def test_random_play_at_top_speed_keeps_every_invariant():
    """Many worlds, random paddles, frameskip 1, the ball always at top speed: observations
    stay in the Box, the ball is never inside a standing brick, bricks only break for points."""
    space = observation_space() if _has_game_module() else None
    n = 32
    table = Table(n, frameskip=1, autoreset=NEXT_STEP, seed=7)
    rng = np.random.default_rng(1)
    low = np.array([0, 0, 0, 0, -1, -1, 0, 0, 0.5], np.float32)
    scores = np.zeros(n, int)
    ended_before = np.zeros(n, bool)
    for step in range(2000):
        for world in range(n):
            if table.core.state(world)["speed_level"] != TOP_LEVEL:
                set_speed_level(table.core, world, TOP_LEVEL)
        table.actions[:] = rng.integers(0, 3, n, dtype=np.int32)
        table.core.step()
        observations = table.observations
        assert (observations[:, :9] >= low).all() and (observations <= 1).all()
        assert (observations >= np.float32(-1)).all()
        if space is not None:
            assert all(space.contains(o) for o in observations[:4])
        for world in range(n):
            state = table.core.state(world)
            assert not strictly_inside_standing_brick(state), (step, world, state)
        # Points come only from bricks; a world that ended last step restarts from 0.
        new_scores = np.array([table.core.state(w)["score"] for w in range(n)])
        gained = new_scores - np.where(ended_before, 0, scores)
        np.testing.assert_array_equal(gained, table.rewards)
        scores, ended_before = new_scores, table.episode_ended.copy()


def _has_game_module() -> bool:
    try:
        import shoal.breakout  # noqa: F401
    except ImportError:
        return False
    return True


# ---- The game module: parameters, spaces ----


@pytest.fixture
def game_module():
    if not _has_game_module():
        pytest.skip("shoal.breakout needs the shared wrappers")
    import shoal.breakout

    return shoal.breakout


def test_spaces(game_module):
    game = game_module.BreakoutGame()
    space = game.observation_space()
    assert space.shape == (117,) and space.dtype == np.float32
    assert space.low[4] == space.low[5] == -1 and space.low[8] == 0.5
    assert (space.low[9:] == 0).all() and (space.high == 1).all()
    assert game.action_space() == gymnasium.spaces.Discrete(3)
    continuous = game_module.BreakoutGame(continuous=True).action_space()
    assert continuous == gymnasium.spaces.Box(-1, 1, (1,), np.float32)
    assert game.stat_names == ("score", "perf") and game.default_max_episode_steps == 10_000


@pytest.mark.parametrize(
    "kwargs, error",
    [
        ({"frameskip": 0}, ValueError),
        ({"frameskip": 9}, ValueError),
        ({"frameskip": 2.0}, TypeError),
        ({"frameskip": True}, TypeError),
        ({"continuous": 1}, TypeError),
        ({"reward_scale": -1.0}, ValueError),
        ({"reward_scale": float("nan")}, ValueError),
        ({"reward_scale": float("inf")}, ValueError),
        ({"reward_scale": "1"}, TypeError),
        ({"lost_ball_penalty": -1.0}, ValueError),
        ({"lost_ball_penalty": float("nan")}, ValueError),
        ({"lost_ball_penalty": None}, TypeError),
    ],
)
def test_bad_parameters_are_refused_with_their_name(game_module, kwargs, error):
    with pytest.raises(error, match=next(iter(kwargs))):
        game_module.BreakoutGame(**kwargs)


def test_the_single_env_plays_an_episode_to_its_end(game_module):
    env = game_module.BreakoutEnv(frameskip=8)
    observation, _ = env.reset(seed=5)
    assert env.observation_space.contains(observation)
    terminated, steps, total = False, 0, 0.0
    while not terminated:
        observation, reward, terminated, truncated, info = env.step(NOOP)
        assert env.observation_space.contains(observation) and not truncated
        total += reward
        steps += 1
        assert steps < 100_000
    assert info["episode_stats"]["score"] == total
    assert info["episode_stats"]["perf"] == pytest.approx(total / 864)
    env.close()


# ---- Setters check their arguments ----


def test_setters_refuse_bad_worlds_and_values():
    table = Table(2)
    with pytest.raises(IndexError, match="world"):
        table.core.state(2)
    with pytest.raises(IndexError, match="world"):
        set_ball(table.core, -1, 10.0, 10.0, 1.0, 1.0)
    with pytest.raises(TypeError, match="world"):
        set_paddle(table.core, 0.0, 100.0)
    with pytest.raises(ValueError, match="inside"):
        set_ball(table.core, 0, -1.0, 10.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="velocity"):
        set_ball(table.core, 0, 10.0, 10.0, 9.0, 1.0)
    with pytest.raises(ValueError, match="velocity"):
        set_ball(table.core, 0, 10.0, 10.0, 1.0, 0.0)
    with pytest.raises(ValueError, match="brick"):
        set_ball(table.core, 0, 10.0, 80.0, 1.0, 1.0)
    with pytest.raises(ValueError, match="centre"):
        set_paddle(table.core, 0, 10.0)
    with pytest.raises(ValueError, match="shape"):
        set_bricks(table.core, 0, np.ones(107))
    with pytest.raises(ValueError, match="0 or 1"):
        set_bricks(table.core, 0, np.full(108, 2))
    with pytest.raises(ValueError, match="level"):
        set_speed_level(table.core, 0, 7)
    with pytest.raises(ValueError, match="balls"):
        set_balls_left(table.core, 0, 0)
    with pytest.raises(ValueError):
        BreakoutCore(2, 2, frameskip=4, continuous=False, reward_scale=1.0)
    with pytest.raises(ValueError, match="frameskip"):
        BreakoutCore(2, 1, frameskip=9, continuous=False, reward_scale=1.0)

"""The rules of Snake and SnakeArena (cython_ext/snake.pyx), checked on the native core directly:
each test builds a small world, places snakes and food where it needs them, steps, and looks at
the grid, rewards and flags. Conformance with the Gymnasium API is tests/envs/test_conformance.py.
"""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from shoal._ext.snake import TILE_EMPTY, TILE_FOOD, TILE_SNAKE, TILE_WALL, SnakeCore
from shoal.snake import SnakeGame
from shoal.snake_arena import SnakeArenaGame
from shoal.vector_env import CoreBuffers
from tests.envs.setters import clear_world, place_food, place_snake

UP, RIGHT, DOWN, LEFT = 0, 1, 2, 3
EMPTY, WALL, FOOD, SNAKE = TILE_EMPTY, TILE_WALL, TILE_FOOD, TILE_SNAKE
SEE_WALL, SEE_OWN_BODY, SEE_OWN_HEAD, SEE_OTHER = 1, 3, 4, 5
NEXT_STEP, SAME_STEP, DISABLED = 0, 1, 2


class Worlds:
    """A SnakeCore bound to its own buffers, as the vector env binds it."""

    def __init__(self, worlds=1, snakes=1, *, mode=NEXT_STEP, max_episode_steps=0, threads=1,
                 width=8, height=8, num_food=0, vision=2, reward_food=1.0, reward_death=-1.0,
                 reward_step=0.0, leave_corpse=False, seed=0):
        self.core = SnakeCore(worlds, snakes, width=width, height=height, num_food=num_food,
                              vision=vision, reward_food=reward_food, reward_death=reward_death,
                              reward_step=reward_step, leave_corpse=leave_corpse)
        self.core.configure(mode, max_episode_steps, threads)
        self.snakes, self.num_food, self.vision = snakes, num_food, vision
        side = 2 * vision + 1
        observation_space = gymnasium.spaces.Box(0, 5, (side, side), np.uint8)
        self.buffers = CoreBuffers.bind(self.core, observation_space, gymnasium.spaces.Discrete(4))
        self.core.seed_worlds(np.arange(seed, seed + worlds, dtype=np.uint64),
                              np.ones(worlds, np.uint8))
        self.core.reset()

    def __getattr__(self, name):
        # The bound arrays: observations, rewards, ..., episode_stats[return/length/score/food, row]
        return getattr(self.buffers, name)

    def step(self, *actions):
        self.actions[:] = actions
        return self.core.step()

    def state(self, world=0):
        return self.core.state(world)

    def tile(self, x, y, world=0):
        return self.state(world)["tiles"][y, x]

    def staged(self, world=0):
        """Clear the world, for a test that places everything itself."""
        clear_world(self.core, world)
        return self


# ---- moving, eating, growing ----


def test_moving_shifts_the_body_without_growing():
    w = Worlds().staged()
    place_snake(w.core, 0, 0, [(1, 3), (2, 3), (3, 3)])
    w.step(RIGHT)
    assert w.core.body(0, 0) == [(2, 3), (3, 3), (4, 3)]
    assert w.tile(1, 3) == EMPTY
    assert w.rewards[0] == 0 and not w.terminations[0]


def test_each_food_grows_the_snake_by_one_and_pays_reward_food():
    w = Worlds(reward_food=2.5, reward_step=-0.25).staged()
    place_snake(w.core, 0, 0, [(1, 3)], direction=RIGHT)
    for x in (2, 3, 4):
        place_food(w.core, 0, x, 3)
    for expected_length, x in zip((2, 3, 4), (2, 3, 4)):
        w.step(RIGHT)
        state = w.state()
        assert state["lengths"][0] == expected_length
        assert w.rewards[0] == pytest.approx(2.5 - 0.25)
        assert w.core.body(0, 0)[0] == (1, 3)  # the tail stayed
    assert state["food_eaten"][0] == 3 and state["food_count"] == 0
    w.step(RIGHT)  # no food: the length holds
    assert w.state()["lengths"][0] == 4 and w.rewards[0] == pytest.approx(-0.25)
    assert w.core.body(0, 0) == [(2, 3), (3, 3), (4, 3), (5, 3)]


def test_reversing_into_the_neck_keeps_the_current_direction():
    w = Worlds().staged()
    place_snake(w.core, 0, 0, [(2, 3), (3, 3)])  # heading right
    w.step(LEFT)
    assert w.core.body(0, 0) == [(3, 3), (4, 3)] and not w.terminations[0]
    assert w.state()["directions"][0] == RIGHT


def test_a_single_cell_snake_may_turn_back():
    w = Worlds().staged()
    place_snake(w.core, 0, 0, [(3, 3)], direction=RIGHT)
    w.step(LEFT)
    assert w.core.body(0, 0) == [(2, 3)] and not w.terminations[0]


# ---- dying ----


@pytest.mark.parametrize("cells, action", [
    ([(0, 0)], UP), ([(0, 0)], LEFT), ([(7, 7)], DOWN), ([(7, 7)], RIGHT),
])
def test_running_into_a_wall_terminates_with_reward_death(cells, action):
    w = Worlds(reward_death=-3.0, reward_step=-0.5).staged()
    place_snake(w.core, 0, 0, cells)
    assert w.step(action) == 1
    assert w.terminations[0] and not w.truncations[0]
    assert w.rewards[0] == pytest.approx(-3.5)
    state = w.state()
    assert not state["alive"][0] and (state["tiles"] == EMPTY).all()


def test_running_into_the_own_body_terminates():
    w = Worlds().staged()
    place_snake(w.core, 0, 0, [(0, 2), (1, 2), (2, 2), (2, 1), (1, 1)])  # head (1, 1), moving left
    w.step(DOWN)  # (1, 2): a body cell that is not the tail
    assert w.terminations[0] and w.rewards[0] == -1.0
    assert w.episode_stats[2, 0] == 5  # score: the length at death


def test_the_head_may_enter_the_cell_its_own_tail_is_leaving():
    w = Worlds().staged()
    place_snake(w.core, 0, 0, [(1, 1), (2, 1), (2, 2), (1, 2)])  # a square, tail above the head
    for action in (UP, RIGHT, DOWN, LEFT) * 3:  # chase the tail round and round
        w.step(action)
        assert not w.terminations[0]
        assert w.state()["lengths"][0] == 4


def test_running_into_another_snake_kills_the_runner_only():
    w = Worlds(snakes=2).staged()
    place_snake(w.core, 0, 0, [(1, 3), (2, 3)])  # heading right, toward snake 1's body
    place_snake(w.core, 0, 1, [(3, 2), (3, 3), (3, 4), (3, 5)])
    w.step(RIGHT, DOWN)
    assert w.terminations.tolist() == [True, False]
    assert w.state()["alive"].tolist() == [False, True]
    assert w.core.body(0, 1) == [(3, 3), (3, 4), (3, 5), (3, 6)]


def test_snakes_move_in_row_order_and_tails_free_cells_only_for_later_snakes():
    # Snake 0 heads into snake 1's tail: snake 1 has not moved yet, so its tail is still there.
    w = Worlds(snakes=2).staged()
    place_snake(w.core, 0, 0, [(1, 3), (2, 3)])
    place_snake(w.core, 0, 1, [(3, 3), (3, 4), (3, 5)])
    w.step(RIGHT, DOWN)
    assert w.terminations.tolist() == [True, False]
    # Mirrored: snake 1 heads into snake 0's tail, which snake 0 left earlier this step.
    w = Worlds(snakes=2).staged()
    place_snake(w.core, 0, 1, [(1, 3), (2, 3)])
    place_snake(w.core, 0, 0, [(3, 3), (3, 4), (3, 5)])
    w.step(DOWN, RIGHT)
    assert w.terminations.tolist() == [False, False]
    assert w.core.body(0, 1) == [(2, 3), (3, 3)]


def test_two_heads_entering_one_cell_the_later_snake_dies():
    w = Worlds(snakes=2).staged()
    place_snake(w.core, 0, 0, [(2, 3)])
    place_snake(w.core, 0, 1, [(4, 3)])
    w.step(RIGHT, LEFT)
    assert w.terminations.tolist() == [False, True]
    assert w.core.body(0, 0) == [(3, 3)]


@pytest.mark.parametrize("leave_corpse", [False, True])
def test_a_dead_body_becomes_food_only_with_leave_corpse(leave_corpse):
    w = Worlds(snakes=2, leave_corpse=leave_corpse).staged()
    body = [(3, 0), (2, 0), (1, 0), (0, 0)]  # heading left, into the wall
    place_snake(w.core, 0, 0, body)
    place_snake(w.core, 0, 1, [(6, 6)])
    w.step(LEFT, UP)
    assert w.terminations.tolist() == [True, False]
    state = w.state()
    expected = FOOD if leave_corpse else EMPTY
    assert all(state["tiles"][y, x] == expected for x, y in body)
    assert state["food_count"] == (4 if leave_corpse else 0)
    # A corpse is food like any other: snake 1 eats it.
    if leave_corpse:
        place_snake(w.core, 0, 1, [(3, 2), (3, 1)])
        w.step(UP, UP)
        assert w.rewards[1] == 1.0 and w.state()["lengths"][1] == 3


# ---- food ----


def test_food_is_topped_up_to_num_food_after_eating():
    w = Worlds(num_food=5, width=6, height=6)
    rng = np.random.default_rng(0)
    for _ in range(200):
        w.step(rng.integers(0, 4))
        state = w.state()
        assert state["food_count"] == 5 == (state["tiles"] == FOOD).sum()


def test_food_top_up_stops_when_the_field_is_full():
    w = Worlds(width=2, height=2, num_food=3).staged()
    place_snake(w.core, 0, 0, [(0, 0), (1, 0)])
    w.step(DOWN)  # moves to (1, 1); then 2 empty cells take food, one piece short
    state = w.state()
    assert state["food_count"] == 2 and (state["tiles"] != EMPTY).all()
    w.step(LEFT)  # eats; the field is full again
    assert w.state()["food_count"] == 1 and w.state()["lengths"][0] == 3


# ---- observations ----


def test_the_observation_is_the_window_around_the_head_from_the_snakes_view():
    w = Worlds(snakes=2, vision=2).staged()
    place_snake(w.core, 0, 0, [(1, 2), (1, 1), (0, 1)])  # head (0, 1), by the left wall
    place_snake(w.core, 0, 1, [(2, 0)])
    place_food(w.core, 0, 2, 2)
    w.step(UP, RIGHT)  # snake 0: (1, 1) (0, 1) (0, 0); snake 1: (3, 0)
    expected = np.array([
        [1, 1, 1, 1, 1],
        [1, 1, 1, 1, 1],
        [1, 1, 4, 0, 0],
        [1, 1, 3, 3, 0],
        [1, 1, 0, 0, 2],
    ])
    np.testing.assert_array_equal(w.observations[0], expected)
    other = w.observations[1]  # from (3, 0): snake 0's body at (1, 1) is another snake
    assert other[2, 2] == SEE_OWN_HEAD and (other[:2] == SEE_WALL).all()
    assert other[3, 0] == SEE_OTHER and (other == SEE_OTHER).sum() == 1
    place_snake(w.core, 0, 1, [(2, 1)])
    w.step(RIGHT, UP)  # snake 1 -> (2, 0), next to snake 0's head at (1, 0)
    assert w.observations[1][2, 1] == SEE_OTHER and w.observations[0][2, 3] == SEE_OTHER


def reference_observation(state: dict, agent: int, vision: int) -> np.ndarray:
    """What snake `agent` should see, drawn from the state in plain numpy."""
    tiles = np.pad(state["tiles"], vision, constant_values=WALL)
    x, y = state["heads"][agent]
    window = tiles[y:y + 2 * vision + 1, x:x + 2 * vision + 1]
    seen = np.where(window >= SNAKE, SEE_OTHER, window)
    seen[window == SNAKE + agent] = SEE_OWN_BODY
    seen[vision, vision] = SEE_OWN_HEAD
    return seen.astype(np.uint8)


@pytest.mark.parametrize("vision", [1, 3, 4, 5, 7, 12])  # scalar and SIMD paths of the writer
def test_observations_match_a_reference_drawn_from_the_state(vision):
    w = Worlds(worlds=2, snakes=6, width=12, height=9, num_food=8, vision=vision,
               leave_corpse=True, seed=vision)
    rng = np.random.default_rng(vision)
    for _ in range(60):
        w.step(*rng.integers(0, 4, 12))
        for row in range(12):
            world, agent = divmod(row, 6)
            expected = reference_observation(w.state(world), agent, vision)
            np.testing.assert_array_equal(w.observations[row], expected)


# ---- respawning in the arena ----


def test_a_dead_snake_respawns_on_a_free_cell_and_starts_alive():
    w = Worlds(snakes=3, width=10, height=10).staged()
    place_snake(w.core, 0, 0, [(0, 1), (0, 0)])
    place_snake(w.core, 0, 1, [(5, 5)])
    place_snake(w.core, 0, 2, [(7, 7)])
    w.step(UP, LEFT, UP)
    assert w.terminations.tolist() == [True, False, False]
    assert w.awaiting_reset[0] and w.episode_stats[2, 0] == 2
    occupied = w.state()["tiles"] != EMPTY
    w.step(UP, LEFT, UP)  # NEXT_STEP: the row respawns, ignoring its action
    state = w.state()
    assert state["alive"][0] and state["lengths"][0] == 1
    x, y = state["heads"][0]
    assert not occupied[y, x] and state["tiles"][y, x] == SNAKE + 0
    assert not w.terminations[0] and w.rewards[0] == 0 and not w.episode_ended[0]
    w.step(DOWN if y < 9 else UP, LEFT, UP)  # the step after, it moves again
    assert w.state()["heads"][0].tolist() != [x, y] or w.terminations[0]


@pytest.mark.parametrize("snakes", [1, 3])
def test_the_respawn_step_ignores_the_action(snakes):
    outcomes = []
    for respawn_action in (UP, RIGHT, DOWN, LEFT):
        w = Worlds(snakes=snakes, width=10, height=10, num_food=2, seed=3).staged()
        place_snake(w.core, 0, 0, [(0, 0)])
        w.step(*[UP] * snakes)  # into the wall
        assert w.awaiting_reset[0]
        w.step(respawn_action, *[UP] * (snakes - 1))
        assert w.state()["alive"][0] and not w.terminations[0] and w.rewards[0] == 0
        outcomes.append((w.state()["heads"][0].tolist(), w.observations[0].copy()))
    for head, observation in outcomes[1:]:
        assert head == outcomes[0][0]
        np.testing.assert_array_equal(observation, outcomes[0][1])


def test_same_step_respawns_at_once_and_keeps_the_final_observation():
    w = Worlds(snakes=2, mode=SAME_STEP).staged()
    place_snake(w.core, 0, 0, [(0, 1), (0, 0)])
    place_snake(w.core, 0, 1, [(5, 5)])
    w.step(UP, LEFT)
    assert w.terminations[0] and w.episode_ended[0]
    assert w.state()["alive"][0]
    final = w.final_observations[0]
    assert final[2, 2] == SEE_OWN_HEAD and (final[:2] == SEE_WALL).all()
    assert (final[:, :2] == SEE_WALL).all()


def test_single_snake_worlds_restart_whole():
    w = Worlds(num_food=3, mode=SAME_STEP).staged()
    place_snake(w.core, 0, 0, [(0, 1), (0, 0)])
    w.step(UP)
    state = w.state()
    assert w.terminations[0] and state["alive"][0] and state["lengths"][0] == 1
    assert state["food_count"] == 3 and (state["tiles"] >= SNAKE).sum() == 1


def test_a_truncated_snake_is_removed_never_turned_into_food():
    w = Worlds(snakes=2, leave_corpse=True, max_episode_steps=3, width=12, height=12).staged()
    place_snake(w.core, 0, 0, [(2, 5), (3, 5), (4, 5)])
    place_snake(w.core, 0, 1, [(2, 9)])
    for _ in range(3):
        w.step(RIGHT, RIGHT)
    assert w.truncations.tolist() == [True, True] and not w.terminations.any()
    assert w.episode_stats[2, 0] == 3  # score
    w.step(RIGHT, RIGHT)  # NEXT_STEP: both respawn
    state = w.state()
    assert state["food_count"] == 0 and state["lengths"].tolist() == [1, 1]
    assert (state["tiles"] >= SNAKE).sum() == 2


def test_reset_of_one_row_respawns_that_snake_in_the_running_world():
    w = Worlds(snakes=2, mode=DISABLED, width=12, height=12).staged()
    place_snake(w.core, 0, 0, [(2, 5), (3, 5), (4, 5)])
    place_snake(w.core, 0, 1, [(2, 9), (3, 9)])
    w.core.reset(np.array([1, 0], np.uint8))
    state = w.state()
    assert state["lengths"].tolist() == [1, 2]
    assert (state["tiles"] == SNAKE).sum() == 1 and w.core.body(0, 1) == [(2, 9), (3, 9)]


# ---- crowded spawning ----


def test_crowded_spawn_places_who_fits_and_ends_the_others_episodes():
    w = Worlds(snakes=12, width=3, height=3, num_food=2, vision=1, mode=NEXT_STEP)
    state = w.state()
    assert state["alive"].sum() == 9 and state["food_count"] == 0
    w.step(*[UP] * 12)
    unplaced = ~state["alive"]
    assert (w.terminations[unplaced]).all() and (w.rewards[unplaced] == 0).all()
    assert (w.episode_stats[2, unplaced] == 0).all()  # score 0
    assert (w.observations[:, 1, 1] == SEE_OWN_HEAD).all()


def test_without_empty_cells_a_snake_spawns_in_place_of_food():
    w = Worlds(snakes=3, width=3, height=1, mode=DISABLED).staged()
    place_snake(w.core, 0, 0, [(0, 0)])
    place_food(w.core, 0, 1, 0)
    place_food(w.core, 0, 2, 0)
    w.core.reset(np.array([0, 1, 0], np.uint8))
    state = w.state()
    assert state["alive"].tolist() == [True, True, False] and state["food_count"] == 1
    w.core.reset(np.array([0, 0, 1], np.uint8))
    state = w.state()
    assert state["alive"].tolist() == [True, True, True] and state["food_count"] == 0
    w.core.reset(np.array([0, 0, 1], np.uint8))  # respawn: its own cell frees first
    assert w.state()["alive"].all()


@pytest.mark.parametrize("mode", [NEXT_STEP, SAME_STEP])
def test_crowded_spawning_always_ends_and_is_deterministic(mode):
    runs = []
    for _ in range(2):
        w = Worlds(worlds=2, snakes=20, width=3, height=3, num_food=4, vision=2, mode=mode,
                   leave_corpse=True, seed=7)
        actions = np.random.default_rng(3).integers(0, 4, (60, 40))
        trace = []
        for batch in actions:
            ended = w.step(*batch)
            trace.append((ended, w.observations.copy(), w.rewards.copy(), w.terminations.copy()))
        runs.append(trace)
    for (e0, o0, r0, t0), (e1, o1, r1, t1) in zip(*runs):
        assert e0 == e1
        np.testing.assert_array_equal(o0, o1)
        np.testing.assert_array_equal(r0, r1)
        np.testing.assert_array_equal(t0, t1)
    assert sum(ended for ended, *_ in runs[0]) > 0


def test_threads_do_not_change_the_result():
    results = []
    for threads in (1, 3):
        w = Worlds(worlds=4, snakes=16, width=12, height=10, num_food=6, threads=threads,
                   leave_corpse=True, seed=11)
        actions = np.random.default_rng(5).integers(0, 4, (50, 64))
        for batch in actions:
            w.step(*batch)
        results.append((w.observations.copy(), [w.state(i)["tiles"] for i in range(4)]))
    np.testing.assert_array_equal(results[0][0], results[1][0])
    for a, b in zip(results[0][1], results[1][1]):
        np.testing.assert_array_equal(a, b)


# ---- random play never breaks the world ----


def check_world(w: Worlds, world: int) -> None:
    state = w.state(world)
    tiles = state["tiles"]
    assert state["food_count"] == (tiles == FOOD).sum()
    assert state["food_count"] >= w.num_food or not (tiles == EMPTY).any()
    snake_cells = 0
    for agent in range(w.snakes):
        if not state["alive"][agent]:
            assert w.core.body(world, agent) == []
            continue
        body = w.core.body(world, agent)
        assert len(body) == len(set(body)) == state["lengths"][agent]
        assert body[-1] == tuple(state["heads"][agent]) and body[0] == tuple(state["tails"][agent])
        assert all(tiles[y, x] == SNAKE + agent for x, y in body)
        snake_cells += len(body)
    assert (tiles >= SNAKE).sum() == snake_cells
    assert tiles.max() < SNAKE + w.snakes and not (tiles == WALL).any()


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    worlds=st.integers(1, 3),
    snakes=st.integers(1, 10),
    width=st.integers(1, 9),
    height=st.integers(1, 9),
    num_food=st.integers(0, 12),
    vision=st.integers(1, 4),
    leave_corpse=st.booleans(),
    mode=st.sampled_from([NEXT_STEP, SAME_STEP, DISABLED]),
    max_episode_steps=st.sampled_from([0, 5, 40]),
    seed=st.integers(0, 2**32),
)
def test_random_play_keeps_the_world_consistent(worlds, snakes, width, height, num_food, vision,
                                                 leave_corpse, mode, max_episode_steps, seed):
    w = Worlds(worlds, snakes, width=width, height=height, num_food=num_food, vision=vision,
               leave_corpse=leave_corpse, mode=mode, max_episode_steps=max_episode_steps,
               seed=seed % 1000)
    rng = np.random.default_rng(seed)
    side, centre = 2 * vision + 1, vision
    off_centre = np.ones((side, side), bool)
    off_centre[centre, centre] = False
    for _ in range(40):
        if mode == DISABLED and w.awaiting_reset.any():
            w.core.reset(w.awaiting_reset.astype(np.uint8))
        w.step(*rng.integers(0, 4, worlds * snakes))
        assert w.observations.max() <= SEE_OTHER
        assert (w.observations[:, centre, centre] == SEE_OWN_HEAD).all()
        assert (w.observations[:, off_centre] != SEE_OWN_HEAD).all()
        if snakes == 1:
            assert not (w.observations == SEE_OTHER).any()
        assert np.isin(w.rewards, [0.0, 1.0, -1.0]).all()
        for world in range(worlds):
            check_world(w, world)


# ---- parameters ----


def test_defaults():
    game = SnakeGame()
    assert (game.width, game.height, game.num_food, game.vision) == (16, 16, 1, 5)
    assert game.observation_space().shape == (11, 11) and game.observation_space().high.max() == 5
    assert game.action_space().n == 4 and game.stat_names == ("score", "food_eaten")
    arena = SnakeArenaGame()
    assert arena.agents_per_world() == 256 and not arena.single_agent
    assert (arena.width, arena.height, arena.num_food, arena.leave_corpse) == (640, 360, 4096, True)


@pytest.mark.parametrize("game, kwargs, error, name", [
    (SnakeGame, dict(width=0), ValueError, "width"),
    (SnakeGame, dict(height=5000), ValueError, "height"),
    (SnakeGame, dict(width=2.0), TypeError, "width"),
    (SnakeGame, dict(vision=0), ValueError, "vision"),
    (SnakeGame, dict(vision=16), ValueError, "vision"),
    (SnakeGame, dict(width=4, height=4, num_food=16), ValueError, "num_food"),
    (SnakeGame, dict(num_food=-1), ValueError, "num_food"),
    (SnakeGame, dict(reward_food=float("nan")), ValueError, "reward_food"),
    (SnakeGame, dict(reward_death="x"), TypeError, "reward_death"),
    (SnakeArenaGame, dict(snakes_per_arena=0), ValueError, "snakes_per_arena"),
    (SnakeArenaGame, dict(snakes_per_arena=10, width=3, height=3, num_food=1), ValueError,
     "snakes_per_arena"),
    (SnakeArenaGame, dict(snakes_per_arena=4, width=3, height=3, num_food=9), ValueError,
     "num_food"),
    (SnakeArenaGame, dict(leave_corpse=1), TypeError, "leave_corpse"),
])
def test_bad_parameters_raise_naming_the_argument(game, kwargs, error, name):
    with pytest.raises(error, match=name):
        game(**kwargs)


def test_grids_too_large_for_memory_are_refused():
    with pytest.raises(ValueError, match="GiB"):
        SnakeGame(width=4096, height=4096).make_core(1024)


def test_setters_check_their_arguments():
    w = Worlds(snakes=2).staged()
    with pytest.raises(IndexError, match="world"):
        w.core.state(1)
    with pytest.raises(IndexError, match="agent"):
        place_snake(w.core, 0, 2, [(1, 1)])
    with pytest.raises(IndexError, match="outside"):
        place_food(w.core, 0, 8, 0)
    with pytest.raises(ValueError, match="neighbours"):
        place_snake(w.core, 0, 0, [(1, 1), (3, 1)])
    place_food(w.core, 0, 1, 1)
    with pytest.raises(ValueError, match="not empty"):
        place_snake(w.core, 0, 0, [(1, 1)])

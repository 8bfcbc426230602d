"""get_state / set_state: a restored env continues exactly like the one that was saved.

The trainer checkpoints its envs with these, so a resumed run must match an uninterrupted one
bit for bit: every id, every autoreset mode, through torch.save / torch.load(weights_only=True).
A state that does not fit the env is refused with a ValueError naming what differs, before
anything is written.
"""

from __future__ import annotations

import io

import numpy as np
import pytest
from gymnasium.vector import AutoresetMode

import shoal
from shoal._ext.snake import TILE_EMPTY, TILE_SNAKE

from .conftest import make_small_vec, random_actions

MODES = list(AutoresetMode)
#: A short time limit, so that episodes end (truncated) within a few dozen steps in every game.
TIME_LIMIT = 20
#: A changed game parameter per id, for the mismatch test (a new game adds one).
OTHER_PARAMETER = {
    "shoal/Breakout-v0": {"frameskip": 2},
    "shoal/Snake-v0": {"num_food": 3},
    "shoal/SnakeArena-v0": {"num_food": 5},
    "shoal/2048-v0": {"invalid_move_penalty": 0.5},
    "shoal/Maze-v0": {"vision": 3},
    "shoal/Drone-v0": {"num_gates": 4},
    "shoal/MMO-v0": {"npcs_per_world": 3},
}


def make(env_id: str, mode=AutoresetMode.NEXT_STEP, **kwargs) -> shoal.ShoalVectorEnv:
    return make_small_vec(
        env_id, worlds=3, max_episode_steps=TIME_LIMIT, autoreset_mode=mode, **kwargs
    )


def step(envs, actions) -> list:
    """One step as a trainer takes it, everything it returns recorded (copies). With autoreset
    off, rows that ended are reset first, and that reset is recorded too."""
    record = []
    if envs.autoreset_mode is AutoresetMode.DISABLED and envs.buffers.awaiting_reset.any():
        observations, infos = envs.reset(options={"reset_mask": envs.buffers.awaiting_reset.copy()})
        record += [observations.copy(), infos]
    observations, rewards, terminations, truncations, infos = envs.step(actions)
    return record + [observations.copy(), rewards.copy(), terminations.copy(), truncations.copy(),
                     infos]


def assert_same(a, b, where: str = "") -> None:
    """Equal values, dtypes and structure, through dicts and Gymnasium's object arrays."""
    assert type(a) is type(b), where
    if isinstance(a, dict):
        assert a.keys() == b.keys(), where
        for key in a:
            assert_same(a[key], b[key], f"{where}[{key!r}]")
    elif isinstance(a, (list, tuple)):
        assert len(a) == len(b), where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray) and a.dtype == object:
        assert a.shape == b.shape, where
        for i, (x, y) in enumerate(zip(a, b)):
            assert_same(x, y, f"{where}[{i}]")
    elif isinstance(a, np.ndarray):
        assert a.dtype == b.dtype and a.shape == b.shape, where
        assert np.array_equal(a, b), where
    else:
        assert a == b, where


def run_until_an_episode_just_ended(envs, actions) -> int:
    """Step at least a few times, then on until a step ends an episode: the state saved next
    then has rows waiting for their reset. Returns the steps taken."""
    for taken, action in enumerate(actions, start=1):
        *_, infos = step(envs, action)
        if taken >= 5 and infos:
            return taken
    raise AssertionError("no episode ended")


def saved_and_continued(env_id, mode, seed=0, steps=60):
    """An env run to an episode's end and saved; then continued `steps` steps, recorded."""
    envs = make(env_id, mode)
    envs.reset(seed=seed)
    actions = random_actions(envs, 200 + steps, seed=seed)
    taken = run_until_an_episode_just_ended(envs, actions)
    state = envs.get_state()
    later = actions[taken:taken + steps]
    trajectory = [step(envs, action) for action in later]
    return envs, state, later, trajectory


def restored(env_id, state, mode=AutoresetMode.NEXT_STEP, **kwargs) -> shoal.ShoalVectorEnv:
    envs = make(env_id, mode, **kwargs)
    envs.reset(seed=987_654)  # another seed: everything must come from the state
    envs.set_state(state)
    return envs


# ---- continuing exactly ----


@pytest.mark.parametrize("mode", MODES)
def test_a_restored_env_continues_exactly(env_id, mode):
    envs, state, later, trajectory = saved_and_continued(env_id, mode)
    assert any(record[-1] for record in trajectory), "the continuation should end episodes"
    resumed = restored(env_id, state, mode)
    assert_same(resumed.get_state(), state, "state after set_state")
    assert_same([step(resumed, action) for action in later], trajectory, "trajectory")
    assert_same(resumed.get_state(), envs.get_state(), "state at the end")


def test_threads_and_copy_may_differ_from_the_saved_env(env_id):
    _, state, later, trajectory = saved_and_continued(env_id, AutoresetMode.SAME_STEP)
    resumed = restored(env_id, state, AutoresetMode.SAME_STEP, num_threads=2, copy=False)
    assert_same([step(resumed, action) for action in later], trajectory)


def test_the_state_survives_a_torch_checkpoint(env_id):
    torch = pytest.importorskip("torch")
    _, state, later, trajectory = saved_and_continued(env_id, AutoresetMode.NEXT_STEP)
    buffer = io.BytesIO()
    torch.save({name: torch.from_numpy(array) for name, array in state.items()}, buffer)
    buffer.seek(0)
    tensors = torch.load(buffer, weights_only=True)
    loaded = {name: tensor.numpy() for name, tensor in tensors.items()}
    assert_same(loaded, state)
    resumed = restored(env_id, loaded)
    assert_same([step(resumed, action) for action in later], trajectory)


def test_the_state_is_numpy_arrays_only_and_a_copy(env_id):
    envs = make(env_id)
    envs.reset(seed=0)
    state = envs.get_state()
    assert all(type(array) is np.ndarray and array.dtype != object for array in state.values())
    kept = {name: array.copy() for name, array in state.items()}
    for array in state.values():
        array[...] = 0  # writing into the copy leaves the env alone
    assert_same(envs.get_state(), kept)


def test_records_view_the_games_tables_in_place_and_the_state_holds_their_bytes(env_id):
    envs = make(env_id)
    envs.reset(seed=0)
    for action in random_actions(envs, 5, seed=0):
        envs.step(action)
    records = envs.core.records()
    state = envs.core.get_state()
    assert {f"game.{name}" for name in records} == {name for name in state if name.startswith("game.")}
    for name, record in records.items():
        # The structured arrays' dtypes come from the C structs: their bytes are the structs'.
        raw = record.reshape(-1).view(np.uint8) if record.dtype.names else record.reshape(-1)
        assert np.array_equal(raw, state[f"game.{name}"].reshape(-1).view(raw.dtype))
        assert not record.flags.owndata  # a view of the core's memory, not a copy
    assert any(record.dtype.names for record in records.values())  # a struct table, by name


def test_a_write_into_the_records_is_what_the_game_plays_from():
    envs = make("shoal/Breakout-v0")
    envs.reset(seed=0)
    worlds = envs.core.records()["worlds"]
    assert "ball_x" in worlds.dtype.names and worlds["bricks"].shape == (len(worlds), 108)
    worlds["balls_left"][1] = 2
    worlds["score"][1] = 300
    assert envs.core.state(1)["balls_left"] == 2 and envs.core.state(1)["score"] == 300
    assert envs.core.state(0)["balls_left"] == 5 and envs.core.state(0)["score"] == 0
    assert envs.core.get_state()["game.worlds"][1].tobytes() == worlds[1].tobytes()


def test_drones_records_name_the_fields_of_its_worlds_gates_included():
    # Drone's dtype is spelled out in drone.pyx (Cython cannot type its array of Gate structs):
    # its fields must read what the core's own state() reads.
    envs = make("shoal/Drone-v0", task="race", num_gates=5)
    envs.reset(seed=0)
    worlds = envs.core.records()["worlds"]
    assert worlds.dtype.itemsize == envs.core.get_state()["game.worlds"].shape[1]
    for world in range(len(worlds)):
        state = envs.core.state(world)
        assert np.array_equal(worlds["gates"]["centre"][world][:5], state["gate_centres"])
        assert np.array_equal(worlds["gates"]["forward"][world][:5], state["gate_forwards"])
        assert np.array_equal(worlds["body"]["position"][world], state["position"])
        assert np.array_equal(worlds["body"]["quaternion"][world], state["quaternion"])
        assert worlds["next_gate"][world] == state["next_gate"]
        assert worlds["goal_distance"][world] == np.float32(state["goal_distance"])
        assert worlds["reach_step"][world] == state["reach_step"]
        assert bool(worlds["crashed"][world]) == state["crashed"]
        parameters = list(state["parameters"].values())
        assert np.array_equal(worlds["airframe"]["values"][world], parameters)
        assert worlds["airframe"]["hover_action"][world] == np.float32(state["hover_action"])


def test_a_state_saved_before_reset_still_needs_a_reset(env_id):
    state = make(env_id).get_state()
    envs = restored(env_id, state)
    with pytest.raises(shoal.ResetNeeded):
        envs.step(envs.action_space.sample())
    envs.reset(seed=0)
    envs.step(envs.action_space.sample())


# ---- refusals: a clear ValueError, and the env unchanged ----


def refuses(envs, state, message: str, error: type[Exception] = ValueError) -> None:
    before = envs.get_state()
    with pytest.raises(error, match=message):
        envs.set_state(state)
    assert_same(envs.get_state(), before, "an env that refused a state")


def test_states_from_other_envs_are_refused(env_id):
    _, state, _, _ = saved_and_continued(env_id, AutoresetMode.NEXT_STEP, steps=1)
    other_game = "shoal/Snake-v0" if env_id == "shoal/Breakout-v0" else "shoal/Breakout-v0"
    refuses(make(other_game), state, r"the state is of the game \w+, this env runs")
    refuses(make_small_vec(env_id, worlds=2, max_episode_steps=TIME_LIMIT), state,
            r"num_envs=\d+, this env has num_envs=\d+")
    changed = make(env_id, **OTHER_PARAMETER[env_id])
    (name, value), = OTHER_PARAMETER[env_id].items()
    refuses(changed, state, f"game parameters differ: {name} is .* in the state, {value} here")
    refuses(make(env_id, AutoresetMode.SAME_STEP), state,
            "autoreset_mode=NEXT_STEP, this env has autoreset_mode=SAME_STEP")
    refuses(make_small_vec(env_id, worlds=3, max_episode_steps=None), state,
            f"max_episode_steps={TIME_LIMIT}, this env has max_episode_steps=None")
    if env_id != "shoal/Breakout-v0":
        arena = "shoal/SnakeArena-v0" if env_id == "shoal/Snake-v0" else "shoal/Snake-v0"
        refuses(make(arena), state, "the state is of the game")


def test_damaged_states_are_refused(env_id):
    envs = make(env_id)
    envs.reset(seed=2)
    good = envs.get_state()

    def damaged(**changes) -> dict:
        state = {name: array.copy() for name, array in good.items()}
        for name, array in changes.items():
            if array is None:
                del state[name]
            else:
                state[name] = array
        return state

    for name in (name for name in good if name.startswith("game.")):  # cut short by one item
        refuses(envs, damaged(**{name: good[name][..., :-1].copy()}),
                rf"state\['{name}'\] must have shape .* same game, arguments and shoal build")
    refuses(envs, damaged(rngs=good["rngs"][:-1].copy()), r"state\['rngs'\] must have shape")
    refuses(envs, damaged(rngs=None), r"the state lacks \['rngs'\]")
    refuses(envs, {**good, "surprise": np.zeros(1)}, r"unknown entries \['surprise'\]")
    refuses(envs, damaged(episode_returns=good["episode_returns"].astype(np.float32)),
            r"state\['episode_returns'\] must have dtype float64, got float32")
    refuses(envs, damaged(format_version=np.array(99)),
            "format version 99, this shoal reads version 1")
    refuses(envs, damaged(game_parameters=np.frombuffer(b"{oops", np.uint8)), "damaged")
    refuses(envs, damaged(num_envs=np.array([3])), r"state\['num_envs'\] must be a 0-d int64 array")
    rngs = good["rngs"].copy()
    rngs.view(np.uint64)[0, 1] -= 1
    refuses(envs, damaged(rngs=rngs), "invalid generators")
    refuses(envs, [("rngs", good["rngs"])], "dict of arrays", TypeError)
    envs.set_state(good)  # the env still takes a sound state
    envs.step(envs.action_space.sample())


def test_damaged_game_states_that_would_reach_outside_memory_are_refused():
    envs = make("shoal/Breakout-v0")
    envs.reset(seed=0)
    good = envs.get_state()
    tables = good["game.worlds"].copy()
    tables[1] = 0xFF  # NaN everywhere
    refuses(envs, {**good, "game.worlds": tables}, "non-finite position or velocity in world 1")

    envs = make("shoal/SnakeArena-v0")
    envs.reset(seed=0)
    good = envs.get_state()
    tiles = good["game.tiles"].copy()
    tiles[0, 0, 3] = 0
    refuses(envs, {**good, "game.tiles": tiles}, "a gap in the walls")
    toward_head = good["game.toward_head"].copy()
    toward_head[1, 5, 5] = 4
    refuses(envs, {**good, "game.toward_head": toward_head}, "a direction other than 0 to 3")
    snakes = good["game.snakes"].copy()
    snakes[5] = 0xFF
    refuses(envs, {**good, "game.snakes": snakes}, "the snake of row 5 belongs to another row")
    # Another snake's bytes: its row and tile do not match the row it is loaded into.
    snakes = good["game.snakes"].copy()
    snakes[[0, 1]] = snakes[[1, 0]]
    refuses(envs, {**good, "game.snakes": snakes}, "the snake of row 0 belongs to another row")
    # A body whose tiles were emptied: the chain from tail to head is broken.
    tiles = good["game.tiles"].copy()
    tiles[tiles >= TILE_SNAKE] = TILE_EMPTY
    refuses(envs, {**good, "game.tiles": tiles}, "not a chain of its own tiles")


def test_closed_envs_refuse_get_and_set_state(env_id):
    envs = make(env_id)
    envs.reset(seed=0)
    state = envs.get_state()
    envs.close()
    with pytest.raises(shoal.ClosedEnvironmentError):
        envs.set_state(state)
    with pytest.raises(shoal.ClosedEnvironmentError):
        envs.get_state()

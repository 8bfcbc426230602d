"""The PettingZoo adapter (envs/parallel_env.py): PettingZoo's own API and seed tests, the
semantics shoal chose (ended agents held out until reset, one clock for the time limit), that
it runs the very core `make_vec` runs, and its errors. Skipped when pettingzoo is missing."""

from __future__ import annotations

import importlib
import sys
import warnings

import gymnasium
import numpy as np
import pytest

pytest.importorskip("pettingzoo")

from gymnasium.utils.env_checker import data_equivalence  # noqa: E402
from pettingzoo.test import api_test, parallel_api_test, parallel_seed_test  # noqa: E402
from pettingzoo.utils.conversions import parallel_to_aec  # noqa: E402

import shoal  # noqa: E402
from shoal._ext.snake import TILE_FOOD  # noqa: E402
from shoal.parallel_env import ShoalParallelEnv  # noqa: E402

from .conftest import is_single_agent, small_kwargs  # noqa: E402
from .setters import clear_world, place_snake  # noqa: E402

ARENA = "shoal/SnakeArena-v0"
MULTI_AGENT_IDS = [env_id for env_id in shoal.ENV_IDS if not is_single_agent(env_id)]
UP, RIGHT, DOWN, LEFT = range(4)


def make(env_id: str = ARENA, **kwargs) -> ShoalParallelEnv:
    return ShoalParallelEnv(env_id, **{**small_kwargs(env_id), **kwargs})


def random_actions(env: ShoalParallelEnv, rng: np.random.Generator) -> dict:
    # Drawn from one generator, not the spaces, so two envs get the same actions.
    space = env.vector_env.single_action_space
    if isinstance(space, gymnasium.spaces.Discrete):
        return {agent: int(rng.integers(space.n)) for agent in env.agents}
    return {agent: rng.uniform(space.low, space.high).astype(space.dtype) for agent in env.agents}


def staged_arena(**kwargs) -> ShoalParallelEnv:
    """An arena of 4 single-cell snakes on row 5, no food: agent_0 at (0, 5) dies by moving
    LEFT into the wall; the others live forever by moving LEFT and RIGHT in turn."""
    env = make(num_food=0, **kwargs)
    env.reset(seed=0)
    core = env.vector_env.core
    clear_world(core, 0)
    for agent, x in enumerate((0, 5, 10, 15)):
        place_snake(core, 0, agent, [(x, 5)])
    return env


def game_state(env: ShoalParallelEnv) -> dict:
    """The game's whole state in the world (get_state's "game." entries)."""
    state = env.vector_env.get_state()
    return {name: value for name, value in state.items() if name.startswith("game.")}


def safe(env: ShoalParallelEnv, step: int) -> dict:
    return {agent: RIGHT if step % 2 == 0 else LEFT for agent in env.agents}


# ---- PettingZoo's own tests ----


@pytest.mark.parametrize("max_episode_steps", ["game default", 6])
def test_pettingzoos_parallel_api_test_passes_without_warnings(env_id, max_episode_steps):
    limit = {} if max_episode_steps == "game default" else {"max_episode_steps": max_episode_steps}
    env = make(env_id, **limit)
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # its complaints ("Live agent was not given ...") warn
        parallel_api_test(env, num_cycles=300)
    env.close()


def test_pettingzoos_seed_test_passes():
    parallel_seed_test(make)


def test_pettingzoos_aec_api_test_passes_through_parallel_to_aec():
    for env_id in (ARENA, "shoal/2048-v0"):  # 2048: the AEC test samples with the action mask
        with warnings.catch_warnings():
            warnings.simplefilter("error")
            api_test(parallel_to_aec(make(env_id)), num_cycles=200)


# ---- the same core as make_vec ----


@pytest.mark.parametrize("env_id", MULTI_AGENT_IDS)
def test_it_returns_what_the_vector_env_returns_for_the_same_actions(env_id):
    for seed in range(2):
        env = make(env_id)
        envs = gymnasium.make_vec(env_id, num_envs=len(env.possible_agents), **small_kwargs(env_id))
        observations, _ = env.reset(seed=seed)
        batch, _ = envs.reset(seed=seed)
        assert data_equivalence(observations, dict(zip(env.possible_agents, batch)))
        rng = np.random.default_rng(seed)
        for _ in range(150):
            actions = random_actions(env, rng)
            observations, rewards, terminations, truncations, _ = env.step(actions)
            batch, batch_rewards, batch_terminations, batch_truncations, _ = envs.step(
                np.array(list(actions.values()))
            )
            agents = env.possible_agents
            assert list(observations) == agents
            assert np.array_equal(np.stack(list(observations.values())), batch)
            assert rewards == dict(zip(agents, batch_rewards.tolist()))
            assert terminations == dict(zip(agents, batch_terminations.tolist()))
            assert truncations == dict(zip(agents, batch_truncations.tolist()))
            if len(env.agents) < len(agents):
                break  # from here the vector env respawns the agent and the adapter does not


def test_same_seed_same_trajectory_and_another_seed_another_world():
    runs = []
    for seed in (5, 5, 6):
        env = make()
        rng = np.random.default_rng(0)
        trajectory = [env.reset(seed=seed)]
        for _ in range(300):
            if not env.agents:
                trajectory.append(env.reset())  # continues the world's stream
            trajectory.append(env.step(random_actions(env, rng)))
        runs.append(trajectory)
    assert data_equivalence(runs[0], runs[1])
    assert not data_equivalence(runs[0][0], runs[2][0])


# ---- ended agents ----


def test_a_dead_agent_leaves_agents_and_the_world_until_reset():
    env = staged_arena(leave_corpse=True)
    core = env.vector_env.core
    observations, rewards, terminations, truncations, infos = env.step(
        {"agent_0": LEFT, "agent_1": RIGHT, "agent_2": RIGHT, "agent_3": RIGHT}
    )
    assert set(observations) == set(rewards) == set(infos) == set(env.possible_agents)
    assert terminations == {"agent_0": True, "agent_1": False, "agent_2": False, "agent_3": False}
    assert not any(truncations.values())
    assert rewards["agent_0"] == -1.0
    assert infos["agent_0"]["episode_stats"] == {
        "return": -1.0, "length": 1, "score": 1.0, "food_eaten": 0.0
    }
    assert "episode_stats" not in infos["agent_1"]
    assert env.agents == ["agent_1", "agent_2", "agent_3"]
    assert core.state(0)["tiles"][5, 0] == TILE_FOOD  # its body fed the arena

    for step in range(1, 40):  # never respawned, as the NEXT_STEP vector env would
        results = env.step(safe(env, step))
        assert all(set(result) == {"agent_1", "agent_2", "agent_3"} for result in results)
        assert not core.state(0)["alive"][0]
    assert core.state(0)["tiles"][5, 0] == TILE_FOOD
    with pytest.raises(ValueError, match=r"episode ended: \['agent_0'\].*until reset"):
        env.step({**safe(env, 0), "agent_0": UP})

    observations, infos = env.reset(seed=1)
    assert env.agents == env.possible_agents and set(observations) == set(infos) == set(env.agents)
    assert core.state(0)["alive"].all()


@pytest.mark.parametrize("env_id", MULTI_AGENT_IDS)
def test_ended_agents_take_no_part_in_the_world(env_id):
    # Whatever sits in a held-out row's action slot must change nothing: two runs that differ
    # only there stay identical, in every result and, at the end, in the game's whole state.
    env_a, env_b = make(env_id), make(env_id)
    space = env_b.vector_env.single_action_space
    space.seed(0)
    rng = np.random.default_rng(1)
    env_a.reset(seed=3)
    env_b.reset(seed=3)
    steps_with_held_rows = 0
    for _ in range(1000):
        if not env_a.agents or steps_with_held_rows == 50:
            break
        held = [row for row, agent in enumerate(env_b.possible_agents) if agent not in env_b.agents]
        for row in held:
            env_b.vector_env.buffers.actions[row] = space.sample()
        steps_with_held_rows += bool(held)
        actions = random_actions(env_a, rng)
        assert data_equivalence(env_a.step(actions), env_b.step(actions))
    if not steps_with_held_rows:
        pytest.skip(f"no agent of {env_id} ended in 1000 random steps: nothing was held out")
    assert data_equivalence(game_state(env_a), game_state(env_b))


def test_the_time_limit_truncates_every_live_agent_on_the_same_step():
    env = staged_arena(max_episode_steps=5)
    env.step({**safe(env, 0), "agent_0": LEFT})  # agent_0 dies on step 1
    for step in range(1, 4):
        _, _, terminations, truncations, infos = env.step(safe(env, step))
        assert not any(terminations.values()) and not any(truncations.values()), step
    _, _, terminations, truncations, infos = env.step(safe(env, 4))
    assert truncations == dict.fromkeys(["agent_1", "agent_2", "agent_3"], True)
    assert not any(terminations.values())
    assert all(infos[agent]["episode_stats"]["length"] == 5 for agent in truncations)
    assert env.agents == []
    with pytest.raises(shoal.ResetNeeded, match="every agent's episode ended"):
        env.step({})


def test_the_episode_ends_when_every_agent_terminated():
    env = make(max_episode_steps=None)
    env.reset(seed=2)
    rng = np.random.default_rng(2)
    ended_at: dict[str, int] = {}
    for step in range(5000):
        live = list(env.agents)
        _, _, terminations, truncations, _ = env.step(random_actions(env, rng))
        assert list(terminations) == live and not any(truncations.values())
        ended_at.update({agent: step for agent, done in terminations.items() if done})
        if not env.agents:
            break
    assert sorted(ended_at) == env.possible_agents
    assert env.num_agents == 0 and env.max_num_agents == 4


# ---- spaces and infos ----


def test_each_agent_has_its_own_space_objects_equal_to_the_single_spaces():
    env = make()
    world = env.vector_env
    for agent in env.possible_agents:
        assert env.observation_space(agent) is env.observation_space(agent)
        assert env.action_space(agent) is env.action_space(agent)
        assert env.observation_space(agent) == world.single_observation_space
        assert env.action_space(agent) == world.single_action_space
    # Separate objects, as PettingZoo's seed test assumes (agent i's space seeded with 42 + i):
    # seeding or sampling one agent's space leaves the others' streams alone.
    assert env.action_space("agent_0") is not env.action_space("agent_1")
    env.observation_space("agent_0").seed(1)
    env.observation_space("agent_1").seed(2)
    env.observation_space("agent_0").sample()
    reference = world.single_observation_space
    reference.seed(2)
    assert np.array_equal(env.observation_space("agent_1").sample(), reference.sample())
    for lookup in (env.observation_space, env.action_space):
        with pytest.raises(ValueError, match=r"unknown agent 'agent_4'.*'agent_0' to 'agent_3'"):
            lookup("agent_4")


def test_action_masks_come_as_pettingzoos_int8_masks():
    env = ShoalParallelEnv("shoal/2048-v0")
    envs = gymnasium.make_vec("shoal/2048-v0", num_envs=1)
    _, infos = env.reset(seed=3)
    _, batch_infos = envs.reset(seed=3)
    rng = np.random.default_rng(0)
    for _ in range(30):
        mask = infos["agent_0"]["action_mask"]
        assert mask.dtype == np.int8
        assert np.array_equal(mask, batch_infos["action_mask"][0])
        action = env.action_space("agent_0").sample(mask)  # PettingZoo's way to use it
        assert mask[action] == 1
        action = int(rng.choice(np.flatnonzero(mask)))
        *_, infos = env.step({"agent_0": action})
        *_, batch_infos = envs.step(np.array([action]))
        if not env.agents:
            break


def test_agents_without_news_get_empty_infos():
    env = make()
    _, infos = env.reset(seed=0)
    assert infos == {agent: {} for agent in env.possible_agents}


# ---- rendering ----


def test_render_draws_the_frame_the_vector_env_draws():
    env = make(render_mode="rgb_array", render_env_index=2)
    envs = gymnasium.make_vec(ARENA, num_envs=4, render_mode="rgb_array", render_env_index=2,
                              **small_kwargs(ARENA))
    env.reset(seed=4)
    envs.reset(seed=4)
    assert np.array_equal(env.render(), envs.render())
    env.step(dict.fromkeys(env.agents, DOWN))
    envs.step(np.full(4, DOWN))
    frame = env.render()
    assert frame.dtype == np.uint8 and frame.ndim == 3 and np.array_equal(frame, envs.render())
    assert env.metadata["render_fps"] == envs.metadata["render_fps"]
    assert env.metadata["render_modes"] == ["human", "rgb_array"]


def test_render_without_a_render_mode_warns_and_returns_none():
    env = make()
    env.reset(seed=0)
    with pytest.warns(UserWarning, match="render_mode"):
        assert env.render() is None


# ---- errors ----


@pytest.mark.parametrize(
    "change, error, message",
    [
        (lambda a: [0, 1, 2, 3], TypeError, r"actions must be a dict .*got list"),
        (lambda a: {**a, "agent_9": 0}, ValueError,
         r"unknown agents \['agent_9'\].*'agent_0' to 'agent_3'"),
        (lambda a: {**a, 3: 0}, ValueError, r"unknown agents \[3\]"),
        (lambda a: {k: v for k, v in a.items() if k != "agent_2"}, ValueError,
         r"lacks the live agents \['agent_2'\]"),
        (lambda a: {**a, "agent_1": 7}, ValueError,
         r"actions\['agent_1'\] must be in \[0, 3\].*\[7\]"),
        (lambda a: {**a, "agent_3": 1.0}, TypeError, r"actions\['agent_3'\] must be integers"),
        (lambda a: {**a, "agent_0": [1, 2]}, ValueError,
         r"actions\['agent_0'\] must have shape \(\)"),
    ],
)
def test_bad_actions_raise_naming_the_agent_and_change_nothing(change, error, message):
    env = make()
    env.reset(seed=0)
    good = dict.fromkeys(env.agents, UP)
    with pytest.raises(error, match=message):
        env.step(change(good))
    assert env.agents == env.possible_agents
    env.step(good)  # still usable


def test_box_actions_are_checked_per_agent():
    env = ShoalParallelEnv("shoal/Drone-v0")
    env.reset(seed=0)
    with pytest.raises(ValueError, match=r"actions\['agent_0'\] must lie in \[-1.0, 1.0\]"):
        env.step({"agent_0": np.full(4, 2.0, np.float32)})
    env.step({"agent_0": np.zeros(4, np.float32)})


def test_misuse_of_the_env_raises_clearly():
    env = make()
    with pytest.raises(shoal.ResetNeeded, match="before reset"):
        env.step({})
    with pytest.raises(TypeError, match="seed must be None or an int, got str"):
        env.reset(seed="1")
    env.reset(seed=0, options={"options": 1})  # PettingZoo's API test passes these
    env.close()
    env.close()
    with pytest.raises(shoal.ClosedEnvironmentError):
        env.step({})
    with pytest.raises(shoal.ClosedEnvironmentError):
        env.reset()


@pytest.mark.parametrize(
    "env_id, kwargs, error, message",
    [
        (ARENA, {"num_envs": 8}, TypeError, r"sets \['num_envs'\] itself"),
        (ARENA, {"autoreset_mode": "NextStep", "copy": True}, TypeError,
         r"\['autoreset_mode', 'copy'\]"),
        (ARENA, {"snakes_per_arena": 0}, ValueError, "snakes_per_arena"),
        (ARENA, {"bogus": 1}, TypeError, "bogus"),
        ("CartPole-v1", {}, ValueError, "not a shoal id"),
    ],
)
def test_bad_construction_arguments_raise(env_id, kwargs, error, message):
    with pytest.raises(error, match=message):
        ShoalParallelEnv(env_id, **kwargs)


def test_without_pettingzoo_the_import_names_the_install_command(monkeypatch):
    monkeypatch.setitem(sys.modules, "pettingzoo", None)  # what a missing package looks like
    monkeypatch.delitem(sys.modules, "shoal.parallel_env")
    with pytest.raises(gymnasium.error.DependencyNotInstalled, match="pip install pettingzoo"):
        importlib.import_module("shoal.parallel_env")

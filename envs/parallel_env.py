"""PettingZoo's Parallel API over one world of a shoal env: `ShoalParallelEnv`.

    from shoal.parallel_env import ShoalParallelEnv
    env = ShoalParallelEnv("shoal/SnakeArena-v0", snakes_per_arena=8, width=40, height=24)
    observations, infos = env.reset(seed=0)
    while env.agents:
        actions = {agent: env.action_space(agent).sample() for agent in env.agents}
        observations, rewards, terminations, truncations, infos = env.step(actions)

The adapter holds a `ShoalVectorEnv` of exactly one world (num_envs = the game's agents per
world): agent "agent_i" is row i of that world, stepped by the same native core as
`gymnasium.make_vec`. Nothing of the game is implemented here; the adapter only turns dicts
keyed by agent into rows and back.

PettingZoo removes an agent from `env.agents` once its episode ends and never lets it back
before `reset()` (`parallel_api_test` fails with "agent cannot be revived once dead"). A shoal
world respawns its dead agents instead, so the adapter runs the world with autoreset off and
holds ended rows out: they stay out of `agents` and of every returned dict, and the world runs
on without them. The vector env's own step() refuses to step a world with ended rows in that
mode (for a Gymnasium user that is a mistake), so the adapter drives the core through the
vector env's buffers itself; reset, seeding, action checks and rendering are the vector env's.
This needs one thing of a game: an agent whose episode terminated takes no part in its world
until it is reset (Snake: a dead snake's body is already gone, as food or empty cells, and the
snake neither moves nor is seen). docs/parallel_env.md has the whole user documentation.

pettingzoo is not a dependency of shoal: it is imported here, so only importing this module
needs it.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any, NoReturn

import gymnasium
import numpy as np
from gymnasium.vector import AutoresetMode

try:
    from pettingzoo import ParallelEnv
except ImportError as error:
    from gymnasium.error import DependencyNotInstalled

    raise DependencyNotInstalled(
        f"shoal.parallel_env (PettingZoo's Parallel API) needs pettingzoo ({error}): "
        "pip install pettingzoo"
    ) from None

from shoal import vector_env_class
from shoal.vector_env import ResetNeeded, ShoalVectorEnv, check_actions

#: Arguments of the vector env that the adapter sets itself: one world, autoreset off (ended
#: agents are held out), and its own copies of the results.
ADAPTER_ARGUMENTS = frozenset({"num_envs", "autoreset_mode", "copy"})

Observations = dict[str, np.ndarray]
Infos = dict[str, dict[str, Any]]


def agent_name(index: int) -> str:
    """The name of the agent in row `index` of the world."""
    return f"agent_{index}"


class ShoalParallelEnv(ParallelEnv[str, np.ndarray, Any]):
    """One world of a shoal env as a PettingZoo `ParallelEnv`.

    `ShoalParallelEnv(env_id, **kwargs)` takes a shoal id and the keyword arguments that
    `gymnasium.make_vec(env_id, ...)` takes (the game's parameters, `max_episode_steps`,
    `render_mode`, `render_view`, `render_env_index`), except `num_envs`, `autoreset_mode`
    and `copy`, which the adapter sets.

    - Agents: `possible_agents` is "agent_0" to "agent_{n-1}", n = the game's agents per
      world; "agent_i" is row i of the world (SnakeArena: snake i, `render_env_index=i`).
      Single-agent ids give a world of one agent.
    - An agent whose episode ends (terminated or truncated) gets its last observation, reward
      and flags on that step, then leaves `agents` until `reset()`; the world runs on without
      it (it is never respawned). The episode is over when `agents` is empty: every agent
      terminated, or the time limit (`max_episode_steps`, counted from `reset()` and so the
      same for all) truncated those still alive.
    - Infos: `{}` per agent, plus `"action_mask"` (int8 [actions], PettingZoo's layout, ready
      for `action_space(agent).sample(mask)`) for games with masks, and `"episode_stats"`
      (plain numbers: return, length, the game's statistics) on the step the agent's episode
      ends.
    - `reset(seed=s)` seeds the world as `make_vec(...).reset(seed=s)` does: same seed and
      actions, same trajectory. `options` are accepted and unused.
    - `render()` draws the world as the vector env does (`render_mode` "rgb_array" returns the
      frame; "human" draws after every reset and step by itself).
    """

    def __init__(self, env_id: str, **kwargs: Any):
        taken = sorted(ADAPTER_ARGUMENTS & kwargs.keys())
        if taken:
            raise TypeError(
                f"{type(self).__name__} runs one world with autoreset off and sets {taken} "
                "itself: leave them out"
            )
        world_class: type[ShoalVectorEnv] = vector_env_class(env_id)
        num_agents = world_class.game_for(**kwargs).agents_per_world()
        self.vector_env = world_class(
            num_agents, autoreset_mode=AutoresetMode.DISABLED, copy=False, **kwargs
        )
        self.possible_agents: list[str] = [agent_name(row) for row in range(num_agents)]
        self.agents: list[str] = []  # no episode runs before reset()
        # One space object per agent, the same on every call: PettingZoo's seed test seeds
        # each agent's space with its own seed, which one shared object would merge.
        world = self.vector_env
        self.observation_spaces = {
            agent: copy.deepcopy(world.single_observation_space) for agent in self.possible_agents
        }
        self.action_spaces = {
            agent: copy.deepcopy(world.single_action_space) for agent in self.possible_agents
        }
        self.render_mode = world.render_mode
        self.metadata = {
            "name": env_id,
            "render_modes": list(world.metadata["render_modes"]),
            "render_fps": world.metadata["render_fps"],
        }
        # The live agents and their rows, in row order: `agents` is a copy for the user.
        self._live_agents: list[str] = []
        self._live_rows = np.zeros(0, dtype=np.intp)

    # ---- PettingZoo API ----

    def observation_space(self, agent: str) -> gymnasium.Space:
        return self.observation_spaces[self._check_agent(agent)]

    def action_space(self, agent: str) -> gymnasium.Space:
        return self.action_spaces[self._check_agent(agent)]

    def reset(
        self, seed: int | None = None, options: dict[str, Any] | None = None
    ) -> tuple[Observations, Infos]:
        """Start a new episode of the world with every agent; `seed` as in make_vec's reset
        (None continues the world's random stream). `options` are unused: PettingZoo's API
        test passes options={"options": 1} and expects them accepted."""
        if seed is not None and (isinstance(seed, bool) or not isinstance(seed, (int, np.integer))):
            raise TypeError(f"seed must be None or an int, got {type(seed).__name__}")
        self.vector_env.reset(seed=seed)
        self._set_live_rows(np.arange(len(self.possible_agents)))
        return self._observations_and_infos()

    def step(
        self, actions: Mapping[str, Any]
    ) -> tuple[Observations, dict[str, float], dict[str, bool], dict[str, bool], Infos]:
        """Step the world with one action per live agent. Returns dicts over the agents that
        were live before the step; those whose episode ended leave `agents`."""
        world = self.vector_env
        world.check_steppable(type(self).__name__)
        if not self._live_rows.size:
            raise ResetNeeded(
                f"{type(self).__name__}.step() after every agent's episode ended: call reset()"
            )
        rows = self._live_rows
        # Held-out rows keep their last action in the buffer; the game ignores them.
        world.advance(self._checked_actions(actions), rows)

        buffers = world.buffers
        agents = self._live_agents
        observations, infos = self._observations_and_infos()
        rewards = dict(zip(agents, buffers.rewards[rows].tolist()))
        terminations = dict(zip(agents, buffers.terminations[rows].tolist()))
        truncations = dict(zip(agents, buffers.truncations[rows].tolist()))
        ended = buffers.episode_ended[rows]
        for index in np.flatnonzero(ended):
            stats = dict(zip(world.stat_names, buffers.episode_stats[:, rows[index]].tolist()))
            stats["length"] = int(stats["length"])
            infos[agents[index]]["episode_stats"] = stats
        self._set_live_rows(rows[~ended])
        return observations, rewards, terminations, truncations, infos

    def render(self) -> np.ndarray | None:
        """The vector env's render() of the world: "rgb_array" returns the frame, uint8
        [height, width, 3]; the HUD and the "agent" view follow agent `render_env_index`."""
        return self.vector_env.render()

    def close(self) -> None:
        self.vector_env.close()

    # ---- helpers ----

    def _set_live_rows(self, rows: np.ndarray) -> None:
        self._live_rows = rows
        self._live_agents = [self.possible_agents[row] for row in rows.tolist()]
        self.agents = self._live_agents.copy()

    def _observations_and_infos(self) -> tuple[Observations, Infos]:
        """Observations and infos (with action masks) of the live agents, which the caller
        updates only afterwards: a step reports on the agents that were live before it.

        The observations are one copy of the live rows (the core rewrites its buffer on the
        next step); each agent's entry is a view of that copy.
        """
        buffers = self.vector_env.buffers
        rows, agents = self._live_rows, self._live_agents
        observations = dict(zip(agents, buffers.observations[rows]))
        if buffers.action_masks is None:
            return observations, {agent: {} for agent in agents}
        masks = buffers.action_masks[rows].astype(np.int8)
        return observations, {agent: {"action_mask": mask} for agent, mask in zip(agents, masks)}

    def _checked_actions(self, actions: Any) -> np.ndarray:
        """The actions of the live agents, in row order, as one checked array.

        Raises TypeError unless `actions` is a mapping, ValueError naming the agents that are
        unknown, whose episode ended, or that lack an action, and the vector env's action
        errors naming the agent whose action is wrong.
        """
        if not isinstance(actions, Mapping):
            raise TypeError(
                f"actions must be a dict {{agent: action}} over env.agents, got "
                f"{type(actions).__name__}"
            )
        agents = self._live_agents
        if len(actions) != len(agents) or any(agent not in actions for agent in agents):
            self._raise_for_agents(actions)
        space = self.vector_env.single_action_space
        values = [actions[agent] for agent in agents]
        try:
            return check_actions(space, np.asarray(values), (len(values), *space.shape), "actions")
        except (TypeError, ValueError):
            # Name the culprit; checking the batch at once keeps valid steps to a few numpy calls.
            for agent, value in zip(agents, values):
                check_actions(space, value, space.shape, f"actions[{agent!r}]")
            raise

    def _raise_for_agents(self, actions: Mapping[str, Any]) -> NoReturn:
        live = set(self._live_agents)
        unknown = [agent for agent in actions if agent not in self.observation_spaces]
        if unknown:
            raise ValueError(
                f"actions has unknown agents {unknown[:8]}; the agents are "
                f"{self._names_range()}"
            )
        ended = [agent for agent in actions if agent not in live]
        if ended:
            raise ValueError(
                f"actions has agents whose episode ended: {ended[:8]}; an agent leaves "
                "env.agents when its episode ends and takes no actions until reset()"
            )
        missing = [agent for agent in self._live_agents if agent not in actions]
        raise ValueError(
            f"actions lacks the live agents {missing[:8]}: each agent in env.agents needs an action"
        )

    def _check_agent(self, agent: Any) -> str:
        if agent not in self.observation_spaces:
            raise ValueError(f"unknown agent {agent!r}: the agents are {self._names_range()}")
        return agent

    def _names_range(self) -> str:
        names = self.possible_agents
        return repr(names[0]) if len(names) == 1 else f"{names[0]!r} to {names[-1]!r}"

"""MMO: its parameters, spaces and documentation. The rules live in cython_ext/mmo.pyx;
everything else (buffers, seeding, autoreset, time limits, action masks) is shared.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, ClassVar

import gymnasium
import numpy as np

from shoal._ext.mmo import (
    CHANNEL_HIGH,
    NUM_ACTIONS,
    SELF_HIGH,
    SKILL_NAMES,
    VIEW_SHAPE,
    MMOCore,
    spawn_radius_for,
)
from shoal.game import Game, Presentation
from shoal.parameters import flag, integer, reward
from shoal.vector_env import ShoalVectorEnv

if TYPE_CHECKING:
    from shoal.render.play import Controls
    from shoal.render.scenes.mmo import MMOScene

NOOP, NORTH, EAST, SOUTH, WEST = range(5)
ATTACK_NORTH, ATTACK_EAST, ATTACK_SOUTH, ATTACK_WEST = range(5, 9)
USE, EAT, DRINK, EQUIP, DROP, CRAFT = range(9, 15)
#: The largest map side; the smallest leaves room around the spawn region.
MIN_SIDE, MAX_SIDE = 32, 1024
MAX_AGENTS_PER_WORLD = 16384


def observation_high() -> np.ndarray:
    """The observation's upper bounds: each channel's window, then the agent's own numbers."""
    window = np.repeat(np.array(CHANNEL_HIGH, dtype=np.uint8), VIEW_SHAPE[0] * VIEW_SHAPE[1])
    return np.concatenate([window, np.array(SELF_HIGH, dtype=np.uint8)])


class MMOGame(Game):
    """The MMO's parameters. See MMOVectorEnv for the rules, spaces and arguments."""

    PARAMETERS = (
        integer("width", 256, MIN_SIDE, MAX_SIDE, "map width in tiles"),
        integer("height", 256, MIN_SIDE, MAX_SIDE, "map height in tiles"),
        # Kept as num_agents: the name agents_per_world is the Game's method.
        integer("agents_per_world", 256, 1, MAX_AGENTS_PER_WORLD,
                "agents sharing one map; `num_envs` must be a multiple", attribute="num_agents"),
        integer("npcs_per_world", 128, 0, MAX_AGENTS_PER_WORLD, "NPCs per map"),
        integer("respawn_delay", 10, 0, 10_000, "ticks a new agent waits off the map after a death"),
        flag("pvp", False, "agents may attack each other"),
        reward("reward_survival", 0.01, "per tick alive"),
        reward("reward_xp", 0.02, "per point of experience"),
        reward("reward_item", 0.1, "per level the best equipped item rises"),
        reward("reward_npc_kill", 0.1, "per NPC slain, times its tier"),
        reward("reward_death", 1.0, "subtracted on death"),
    )
    core_class = MMOCore
    agents_parameter = "agents_per_world"
    stat_names: ClassVar[tuple[str, ...]] = (
        "lifetime", *SKILL_NAMES, "best_item", "npc_kills", "agent_kills")
    #: The trainer's score: how long agents live.
    score_stat: ClassVar[str] = "lifetime"
    single_agent: ClassVar[bool] = False
    #: None: an agent's episode is its life; the world runs on.
    default_max_episode_steps: ClassVar[int | None] = None

    def check_together(self) -> None:
        # The spawn region, a disc that agents fill at most half of, must fit on the map.
        radius = spawn_radius_for(self.num_agents)
        if min(self.width, self.height) < 2 * radius + 4:
            raise ValueError(
                f"width and height must be at least {2 * radius + 4} for {self.num_agents} "
                f"agents (their spawn region has radius {radius}), got {self.width} x {self.height}"
            )

    def observation_space(self) -> gymnasium.spaces.Box:
        high = observation_high()
        return gymnasium.spaces.Box(np.zeros_like(high), high, high.shape, np.uint8)

    def action_space(self) -> gymnasium.spaces.Discrete:
        return gymnasium.spaces.Discrete(NUM_ACTIONS)


class MMOPresentation(Presentation):
    """How the MMO is drawn and played: the map or a camera on one agent, a key per action."""

    game: MMOGame
    render_view_doc = '`"world"`: the whole map; `"agent"`: a camera on that agent'

    def make_scene(self, view: str) -> MMOScene:
        from shoal.render.scenes.mmo import MMOScene

        return MMOScene(view, self.game.width, self.game.height)

    def scene_state(self, core: MMOCore, world: int, agent: int) -> dict[str, Any]:
        return {**core.state(world), "followed": agent}

    def render_fps(self) -> int:
        return 8

    def controls(self) -> Controls:
        from shoal.render.play import Controls

        moves = {"UP": NORTH, "RIGHT": EAST, "DOWN": SOUTH, "LEFT": WEST}
        attacks = {"W": ATTACK_NORTH, "D": ATTACK_EAST, "S": ATTACK_SOUTH, "A": ATTACK_WEST}
        others = {"E": USE, "F": EAT, "G": DRINK, "Q": EQUIP, "X": DROP, "C": CRAFT}
        return Controls(
            keys={**moves, **attacks, **others},
            idle_action=NOOP,
            help="ARROWS MOVE  WASD ATTACK  E USE  F EAT  G DRINK  Q EQUIP  X DROP  C CRAFT",
            first_action=NOOP,
        )


class MMOVectorEnv(ShoalVectorEnv, game=MMOGame, presentation=MMOPresentation):
    """
    ## Description

    A massively multi-agent open world: hundreds of agents share one procedurally generated
    map where they must eat, drink, gather, fight, craft and level up to survive. Each agent
    is one row of the vector env (`num_envs` = worlds x `agents_per_world`); the whole world
    steps once per vector step, in native code. Create it with
    `gymnasium.make_vec("shoal/MMO-v0", num_envs=N)`, N a multiple of `agents_per_world`.

    - **The map** (`width` x `height` tiles) is grass, forest, stone, water or mountain,
      drawn from two octaves of value noise per world: low ground is water, high ground
      mountain with stone on its slopes, and the rest forest where a second noise
      (moisture) is high, else grass. Water and mountain cannot be walked on. A grass disc of
      radius 12 in the middle (larger for more than 216 agents: they fill at most half
      of it) is the spawn region. Forest holds berries (30% of tiles), stone
      ore (15%), water next to land fish (20%); a gathered node grows back 100 ticks later.
    - **Agents** have health, food and water (0-100) and five skills, melee, ranged,
      foraging, fishing and mining, each with experience and a level (1 + isqrt(xp / 4), at
      most 10). Food falls by 1 every 3 ticks and water every 2; at 0 each costs 2 health a
      tick; with both above half, health regenerates 1 every 4 ticks.
    - **Items**: melee weapons, ranged weapons, armour and tools, levels 1-10, in an
      inventory of 8 slots and three equipment slots. Equipping needs the skill at the
      item's level: melee for melee weapons and armour, ranged for ranged weapons, the best
      gathering skill for tools. Weapons add 2 damage a level, armour takes 1 a level, and a
      tool adds a level / 3 to every harvest. Four ore craft an item of a random kind at level
      1 + mining level / 2.
    - **NPCs** (`npcs_per_world`) of tiers 1-5, the tier rising with the distance from the
      centre (tier t: 15 t health, 2 + 3 t damage). Each tick an NPC below a third of its
      health flees from the nearest agent within 4 tiles, else strikes an adjacent agent,
      else chases one it sees, else wanders. A slain NPC drops an item of level 2 t or
      2 t - 1 and comes back 50 ticks later near its home.
    - **Combat**: damage = 5 + the attacker's melee (or ranged) level + 2 x weapon level -
      the defender's armour level, at least 1; every hit gives 1 experience, a kill 2 t more.
      Agents fight other agents only with `pvp=True`.
    - **A tick**: the agents act in index order, then the NPCs; then needs and deaths, then
      regrowth.
    - **Death**: an agent at 0 health terminates (its row's `terminated`) and leaves the map;
      its best item drops where it fell. On the next step its row is a new agent (fresh
      needs, skills and inventory), which waits `respawn_delay` ticks off the map (its
      observation all zeros, only no-op allowed, no reward) and then appears on a free tile
      of the spawn region. The world runs on.

    ## Action Space

    `Discrete(15)`; `info["action_mask"]` (bool[num_envs, 15]) marks the actions that would
    do something (no-op always):

    | Num | Action |
    |-----|--------|
    | 0 | nothing |
    | 1-4 | move north, east, south, west (onto a free walkable tile) |
    | 5-8 | attack north, east, south, west: the adjacent tile, or with a ranged weapon the first creature within 3 tiles |
    | 9 | use: pick up the item underfoot, else gather a node on or next to the tile (berries and fish give rations, ore gives ore) |
    | 10 | eat a ration (+30 food) |
    | 11 | drink, next to water (+50 water) |
    | 12 | equip the best items the agent may use |
    | 13 | drop the worst item carried |
    | 14 | craft: 4 ore into an item |

    ## Observation Space

    `Box(0, high, (845,), uint8)`: an 11 x 15 window of tiles centred on the agent (rows
    north to south, columns west to east) in five channels, each 165 bytes, then 20 bytes
    about the agent itself. `high` is exact per entry (`envs.single_observation_space.high`).

    | Bytes | Channel | Values |
    |-------|---------|--------|
    | 0-164 | terrain | 0 void (beyond the map), 1 grass, 2 forest, 3 stone, 4 water, 5 mountain |
    | 165-329 | resources available | 0 none, 1 berries, 2 fish, 3 ore |
    | 330-494 | agents | 0 none, 1-4 the agent's level band (total level 5-50 in four bands); the agent itself at the centre |
    | 495-659 | NPCs | 0 none, 1-5 tier |
    | 660-824 | items on the ground | 0 none, 1 melee weapon, 2 ranged weapon, 3 armour, 4 tool |
    | 825-844 | the agent | health, food, water (0-100); the five skill levels (1-10); weapon level, weapon is ranged (0/1), armour level, tool level (0-10); items carried (0-8); rations, ore (0-255); x and y band of the map (0-15); the area's tier (1-5); an item underfoot (0/1); next to water (0/1) |

    ## Rewards

    Per tick, each term times its weight: `reward_survival` (0.01) while alive;
    `reward_xp` (0.02) per point of experience gained; `reward_item` (0.1) per level the best
    item equipped this life rises; `reward_npc_kill` (0.1) per NPC slain times its tier; and
    `-reward_death` (1.0) on the tick the agent dies.

    ## Starting State

    `reset` draws a new map, places every agent on a free tile of the spawn region with full
    health, food and water, level 1 in every skill and nothing carried, and gives every NPC a
    home outside the spawn region.

    ## Episode End

    Termination: the agent dies (health 0 from starving, thirst or blows).

    Truncation: only with `max_episode_steps` (default None: an agent's episode is its life).
    A truncated agent is replaced by a new one, like a dead one.

    Episode statistics (`info["episode_stats"]` when an agent's episode ends): `return`,
    `length`, `lifetime` (ticks), the level reached in `melee`, `ranged`, `foraging`,
    `fishing` and `mining`, `best_item` (the best item level equipped), `npc_kills`,
    `agent_kills`. The trainer's score is `lifetime`.

    ## Arguments

    ```python
    import gymnasium, shoal
    envs = gymnasium.make_vec("shoal/MMO-v0", num_envs=512, agents_per_world=128, pvp=True)
    ```

    One world as a PettingZoo `ParallelEnv` (with pettingzoo installed):
    `shoal.parallel_env.ShoalParallelEnv("shoal/MMO-v0", agents_per_world=64)`; an agent that
    dies leaves the PettingZoo episode (see docs/parallel_env.md).

    ## Version History

    - v0: Initial version.
    """

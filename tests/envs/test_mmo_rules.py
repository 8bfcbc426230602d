"""The MMO's rules (cython_ext/mmo.pyx), checked on a small world set up through the core's
test setters: needs and starvation, eating and drinking, gathering and regrowth, the skill
gates of equipment, combat with NPCs and (with pvp) agents, NPC behaviour, crafting, death,
the dropped item and the respawn, the view, and the action mask."""

from __future__ import annotations

import gymnasium
import numpy as np
import pytest

import shoal  # noqa: F401  (registers the ids)
from shoal._ext.mmo import (
    CHANNEL_HIGH,
    OBSERVATION_SIZE,
    SELF_FIELDS,
    VIEW_SHAPE,
    spawn_radius_for,
)
from shoal.mmo import (
    ATTACK_EAST,
    ATTACK_NORTH,
    CRAFT,
    DRINK,
    EAT,
    EAST,
    EQUIP,
    NOOP,
    NORTH,
    SOUTH,
    USE,
    WEST,
)
from tests.envs.setters import set_agent, set_npc, set_terrain

GRASS, FOREST, STONE, WATER, MOUNTAIN = 1, 2, 3, 4, 5
BERRIES, FISH, ORE = 1, 2, 3
MELEE_WEAPON, RANGED_WEAPON, ARMOUR, TOOL = 1, 2, 3, 4
MELEE, RANGED, FORAGING, FISHING, MINING = range(5)
CENTRE = 16  # the 32 x 32 map's centre: grass, the spawn region


def small_world(agents: int = 2, npcs: int = 1, **kwargs):
    """A 32 x 32 world; agent 0 at the centre, the others and the NPC out of the way; every
    tile around the centre grass."""
    envs = gymnasium.make_vec("shoal/MMO-v0", num_envs=agents, agents_per_world=agents,
                              npcs_per_world=npcs, width=32, height=32, **kwargs)
    envs.reset(seed=0)
    core = envs.core
    for row in range(CENTRE - 3, CENTRE + 4):
        for column in range(CENTRE - 3, CENTRE + 4):
            set_terrain(core, 0, row, column, GRASS)
    for agent in range(agents):  # agent 0 at the centre, the others far above it
        row = CENTRE if agent == 0 else CENTRE - 11 + agent // 8
        column = CENTRE if agent == 0 else CENTRE - 4 + agent % 8
        set_terrain(core, 0, row, column, GRASS)
        set_agent(core, 0, agent, row=row, column=column)
    if npcs:  # in a far corner
        set_terrain(core, 0, 2, 2, GRASS)
        set_npc(core, 0, 0, 2, 2, tier=1)
    return envs


def agent(envs, index=0):
    return envs.core.state(0)["agents"][index]


def act(envs, action, agent_index=0):
    actions = np.zeros(envs.num_envs, dtype=np.int64)
    actions[agent_index] = action
    return envs.step(actions)


def test_needs_drain_hurt_at_zero_and_health_regenerates_when_fed():
    envs = small_world()
    food, water = agent(envs)["food"], agent(envs)["water"]
    for _ in range(6):
        act(envs, NOOP)
    assert agent(envs)["food"] == food - 2 and agent(envs)["water"] == water - 3
    set_agent(envs.core, 0, 0, food=0, water=0, health=50)
    act(envs, NOOP)
    assert agent(envs)["health"] == 46  # 2 for hunger, 2 for thirst
    set_agent(envs.core, 0, 0, food=90, water=90, health=50)
    for _ in range(8):
        act(envs, NOOP)
    assert agent(envs)["health"] == 52  # 1 every 4 ticks


def test_eating_a_ration_and_drinking_next_to_water():
    envs = small_world()
    set_agent(envs.core, 0, 0, food=50, water=20, rations=2)
    *_, infos = act(envs, EAT)
    assert agent(envs)["food"] == 50 + 30 and agent(envs)["rations"] == 1
    assert not infos["action_mask"][0, DRINK]  # no water near
    act(envs, DRINK)
    set_terrain(envs.core, 0, CENTRE, CENTRE + 1, WATER)
    *_, infos = act(envs, NOOP)
    assert infos["action_mask"][0, DRINK]
    set_agent(envs.core, 0, 0, water=20)
    thirst = (envs.core.state(0)["tick"] + 1) % 2 == 0  # water falls on even ticks
    act(envs, DRINK)
    assert agent(envs)["water"] == 20 + 50 - thirst


def test_gathering_takes_the_node_gives_experience_and_the_node_grows_back():
    envs = small_world()
    set_terrain(envs.core, 0, CENTRE - 1, CENTRE, FOREST, BERRIES)
    act(envs, USE)
    state = envs.core.state(0)
    assert state["agents"][0]["rations"] == 1 and state["agents"][0]["xp"][FORAGING] == 1
    assert state["resources"][CENTRE - 1, CENTRE] == 0 and state["nodes"][CENTRE - 1, CENTRE] == BERRIES
    *_, infos = act(envs, NOOP)
    assert not infos["action_mask"][0, USE]  # nothing left to gather
    for _ in range(98):
        act(envs, NOOP)
    assert envs.core.state(0)["resources"][CENTRE - 1, CENTRE] == 0  # 99 ticks later
    act(envs, NOOP)
    assert envs.core.state(0)["resources"][CENTRE - 1, CENTRE] == BERRIES  # 100 ticks later
    set_terrain(envs.core, 0, CENTRE - 1, CENTRE, GRASS)  # no berries: the ore is next
    set_terrain(envs.core, 0, CENTRE + 1, CENTRE, STONE, ORE)
    act(envs, USE)
    assert agent(envs)["ore"] == 1 and agent(envs)["xp"][MINING] == 1


def test_equipment_needs_the_skill_at_the_items_level():
    envs = small_world()
    set_agent(envs.core, 0, 0, inventory=[(MELEE_WEAPON, 3), (TOOL, 1)])
    *_, infos = act(envs, EQUIP)
    state = agent(envs)
    assert state["equipped"] == [0, 0, 1]  # the tool (level 1); the level-3 weapon needs melee 3
    assert state["inventory"] == [(MELEE_WEAPON, 3)]
    assert not infos["action_mask"][0, EQUIP]
    set_agent(envs.core, 0, 0, xp=[16, 0, 0, 0, 0])  # melee level 3
    act(envs, EQUIP)
    state = agent(envs)
    assert state["levels"][MELEE] == 3 and state["equipped"][0] == 3 and not state["weapon_ranged"]
    assert state["best_item"] == 3 and state["inventory"] == []


def test_attacking_an_npc_deals_the_formula_and_a_kill_drops_an_item():
    envs = small_world(npcs=1)
    core = envs.core
    set_npc(core, 0, 0, CENTRE - 1, CENTRE, tier=2, health=30)
    set_agent(core, 0, 0, xp=[4, 0, 0, 0, 0])  # melee level 2
    act(envs, ATTACK_NORTH)
    npc = core.state(0)["npcs"][0]
    assert npc["health"] == 30 - (5 + 2)  # no weapon
    assert agent(envs)["xp"][MELEE] == 5
    set_npc(core, 0, 0, CENTRE - 1, CENTRE, tier=2, health=3)
    _, rewards, *_ = act(envs, ATTACK_NORTH)
    state = core.state(0)
    assert state["npcs"][0]["row"] == -1  # slain, back later
    assert state["agents"][0]["npc_kills"] == 1
    assert state["items"][CENTRE - 1, CENTRE] > 0 and state["item_levels"][CENTRE - 1, CENTRE] in (3, 4)
    # Survival, 1 + 4 experience (the hit and the tier-2 kill), and the kill times its tier.
    assert rewards[0] == pytest.approx(0.01 + 0.02 * 5 + 0.1 * 2)


def test_ranged_weapons_reach_three_tiles_and_melee_only_one():
    envs = small_world(npcs=1)
    core = envs.core
    set_npc(core, 0, 0, CENTRE, CENTRE + 3, tier=1, health=15)
    *_, infos = act(envs, NOOP)
    assert not infos["action_mask"][0, ATTACK_EAST]
    set_agent(core, 0, 0, inventory=[(RANGED_WEAPON, 1)])
    act(envs, EQUIP)
    *_, infos = act(envs, NOOP)
    assert agent(envs)["weapon_ranged"] and infos["action_mask"][0, ATTACK_EAST]
    health = core.state(0)["npcs"][0]["health"]
    act(envs, ATTACK_EAST)
    assert core.state(0)["npcs"][0]["health"] == health - (5 + 1 + 2)


def test_agents_fight_each_other_only_with_pvp():
    for pvp in (False, True):
        envs = small_world(npcs=0, pvp=pvp)
        set_agent(envs.core, 0, 1, row=CENTRE, column=CENTRE + 1)
        *_, infos = act(envs, NOOP)
        assert infos["action_mask"][0, ATTACK_EAST] == pvp
        act(envs, ATTACK_EAST)
        assert agent(envs, 1)["health"] == (100 - 6 if pvp else 100)


def test_npcs_chase_strike_and_flee():
    envs = small_world(npcs=1)
    core = envs.core
    set_npc(core, 0, 0, CENTRE, CENTRE + 3, tier=1)
    act(envs, NOOP)
    assert core.state(0)["npcs"][0]["column"] == CENTRE + 2  # one step closer
    set_npc(core, 0, 0, CENTRE, CENTRE + 1, tier=2)
    act(envs, NOOP)
    assert agent(envs)["health"] == 100 - (2 + 3 * 2)  # struck
    set_npc(core, 0, 0, CENTRE, CENTRE + 1, tier=2, health=5)  # below a third: runs
    act(envs, NOOP)
    assert core.state(0)["npcs"][0]["column"] == CENTRE + 2


def test_crafting_turns_ore_into_an_item():
    envs = small_world()
    set_agent(envs.core, 0, 0, ore=5, xp=[0, 0, 0, 0, 16])  # mining level 3
    act(envs, CRAFT)
    state = agent(envs)
    assert state["ore"] == 1 and len(state["inventory"]) == 1
    kind, level = state["inventory"][0]
    assert 1 <= kind <= 4 and level == 1 + 3 // 2
    *_, infos = act(envs, NOOP)
    assert not infos["action_mask"][0, CRAFT]


def test_death_terminates_drops_the_best_item_and_a_new_agent_respawns():
    envs = small_world()
    set_agent(envs.core, 0, 0, health=2, food=0, water=50,
              inventory=[(ARMOUR, 2), (MELEE_WEAPON, 5)])
    observations, rewards, terminations, truncations, infos = act(envs, NOOP)
    assert terminations[0] and not terminations[1] and not truncations.any()
    assert agent(envs)["row"] == -1  # off the map at once: it blocks nothing
    window = VIEW_SHAPE[0] * VIEW_SHAPE[1]
    assert (observations[0, :window] == GRASS).any()  # its last view, from where it fell
    assert rewards[0] == pytest.approx(-1.0)
    stats = infos["episode_stats"]
    assert infos["_episode_stats"][0] and stats["lifetime"][0] == 1
    state = envs.core.state(0)
    assert state["items"][CENTRE, CENTRE] == MELEE_WEAPON and state["item_levels"][CENTRE, CENTRE] == 5
    observations, rewards, _, _, infos = act(envs, NOOP)  # the row resets: a new agent waits
    assert agent(envs)["row"] == -1 and not observations[0].any() and rewards[0] == 0
    assert infos["action_mask"][0].tolist() == [True] + [False] * 14  # only no-op
    for _ in range(9):
        act(envs, NOOP)
    assert agent(envs)["row"] == -1  # 9 ticks of the 10 waited
    act(envs, NOOP)
    reborn = agent(envs)
    radius = spawn_radius_for(2)
    # On the map as the 10th tick ended: its first action comes after its first view.
    assert reborn["health"] == 100 and reborn["inventory"] == [] and reborn["lifetime"] == 0
    assert (reborn["row"] - CENTRE) ** 2 + (reborn["column"] - CENTRE) ** 2 <= radius ** 2


def test_the_view_is_the_window_of_the_map_around_the_agent():
    envs = gymnasium.make_vec("shoal/MMO-v0", num_envs=64, agents_per_world=32,
                              width=48, height=40)
    observations, _ = envs.reset(seed=5)
    rows, columns = VIEW_SHAPE
    window = rows * columns
    for _ in range(20):
        observations, *_ = envs.step(envs.action_space.sample())
    for world in range(2):
        state = envs.core.state(world)
        terrain = np.pad(state["terrain"], ((rows, rows), (columns, columns)))  # void beyond
        agents = np.zeros_like(state["terrain"])
        for index, a in enumerate(state["agents"]):
            if a["row"] >= 0:
                agents[a["row"], a["column"]] = 1
        agents = np.pad(agents, ((rows, rows), (columns, columns)))
        for index, a in enumerate(state["agents"]):
            observation = observations[world * 32 + index]
            assert observation.shape == (OBSERVATION_SIZE,)
            if a["row"] < 0:
                continue
            top, left = a["row"] + rows - rows // 2, a["column"] + columns - columns // 2
            expected = terrain[top:top + rows, left:left + columns]
            np.testing.assert_array_equal(observation[:window].reshape(rows, columns), expected)
            seen = observation[2 * window:3 * window].reshape(rows, columns) > 0
            np.testing.assert_array_equal(seen, agents[top:top + rows, left:left + columns] > 0)
            own = observation[-len(SELF_FIELDS):]
            assert own[0] == max(a["health"], 0) and own[1] == a["food"] and own[2] == a["water"]
            assert list(own[3:8]) == a["levels"]
    assert (observations <= envs.single_observation_space.high).all()
    assert len(CHANNEL_HIGH) == 5


def test_the_mask_says_which_moves_move():
    # One agent per world, so no other agent moves before it within a tick (NPCs move after
    # the agents): the mask of the last observation is exact. With many agents a tile masked
    # as taken may be freed by an agent earlier in the order, and then the move succeeds.
    envs = gymnasium.make_vec("shoal/MMO-v0", num_envs=64, agents_per_world=1,
                              width=40, height=40, npcs_per_world=40)
    _, infos = envs.reset(seed=1)
    rng = np.random.default_rng(0)
    steps = {NORTH: (-1, 0), EAST: (0, 1), SOUTH: (1, 0), WEST: (0, -1)}
    allowed = refused = 0
    ended = np.zeros(64, dtype=bool)  # these rows restart (a new world) on the next step
    for _ in range(40):
        before = [envs.core.state(world)["agents"][0] for world in range(64)]
        masks = infos["action_mask"]
        actions = rng.integers(1, 5, 64)  # moves, allowed or not
        restarted = ended
        _, _, terminations, truncations, infos = envs.step(actions)
        ended = terminations | truncations
        for world in range(64):
            after = envs.core.state(world)["agents"][0]
            if restarted[world] or terminations[world] or before[world]["row"] < 0:
                continue
            moved = (after["row"] - before[world]["row"], after["column"] - before[world]["column"])
            if masks[world, actions[world]]:
                assert moved == steps[actions[world]]
                allowed += 1
            else:
                assert moved == (0, 0)
                refused += 1
    assert allowed > 100 and refused > 10


def test_bad_parameters_are_clear_errors():
    cases = [
        (dict(width=16), r"width must be in \[32, 1024\]"),
        (dict(agents_per_world=0), r"agents_per_world must be in"),
        (dict(width=40, height=40, agents_per_world=2000), "width and height must be at least"),
        (dict(pvp=1), "pvp must be a bool"),
        (dict(reward_death=float("inf")), "reward_death must be finite"),
    ]
    for kwargs, message in cases:
        with pytest.raises((ValueError, TypeError), match=message):
            gymnasium.make_vec("shoal/MMO-v0", num_envs=kwargs.get("agents_per_world", 256) or 1,
                               **kwargs)
    with pytest.raises(TypeError, match="make_vec"):
        gymnasium.make("shoal/MMO-v0")


def test_a_state_with_an_agent_off_the_map_is_refused():
    envs = small_world()
    state = envs.get_state()
    agents = state["game.agents"]
    original = agents[1, :4].copy()
    agents[1, :4] = np.frombuffer(np.int32(3).tobytes(), np.uint8)  # tile 3: in the padding
    with pytest.raises(ValueError, match="agent 1 off the map"):
        envs.set_state(state)
    agents[1, :4] = original
    envs.set_state(state)


def test_an_npc_strikes_the_agent_beside_it_before_one_diagonal():
    envs = small_world(agents=2, npcs=1)
    core = envs.core
    set_agent(core, 0, 1, row=CENTRE - 1, column=CENTRE + 2)  # diagonal to the NPC, scanned first
    set_npc(core, 0, 0, CENTRE, CENTRE + 1, tier=1)  # beside agent 0 (to its east)
    act(envs, NOOP)
    assert agent(envs, 0)["health"] == 100 - 5 and agent(envs, 1)["health"] == 100
    assert core.state(0)["npcs"][0]["column"] == CENTRE + 1  # it struck instead of moving


def test_a_blow_to_zero_health_kills_even_when_health_would_regenerate():
    envs = small_world(npcs=1)
    core = envs.core
    while (core.state(0)["tick"] + 1) % 4:  # the next tick regenerates health
        act(envs, NOOP)
    set_agent(core, 0, 0, health=5, food=90, water=90)
    set_npc(core, 0, 0, CENTRE, CENTRE + 1, tier=1)  # strikes for exactly 5
    _, _, terminations, *_ = act(envs, NOOP)
    assert terminations[0]


def test_drinking_is_masked_when_full_and_a_slain_npc_returns_after_50_ticks():
    envs = small_world(npcs=1)
    core = envs.core
    set_terrain(core, 0, CENTRE, CENTRE - 1, WATER)
    set_agent(core, 0, 0, water=100)
    *_, infos = act(envs, NOOP)
    assert infos["action_mask"][0, DRINK] == (agent(envs)["water"] < 100)
    set_npc(core, 0, 0, CENTRE - 1, CENTRE, tier=1, health=1)
    act(envs, ATTACK_NORTH)
    slain = core.state(0)["tick"]
    while core.state(0)["npcs"][0]["row"] == -1:
        act(envs, NOOP)
    assert core.state(0)["tick"] - slain == 50


def test_a_state_whose_occupancy_disagrees_with_the_occupants_is_refused():
    envs = small_world()
    state = envs.get_state()
    free = np.flatnonzero(state["game.npc_at"] == -1)[100]
    state["game.npc_at"][free] = 0  # an NPC said to stand where it does not
    with pytest.raises(ValueError, match="npc_at'] does not match"):
        envs.set_state(state)

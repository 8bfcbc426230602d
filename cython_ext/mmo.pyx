# MMO: hundreds of agents share one persistent world where they must eat, drink, gather,
# fight, craft and level up to survive.
#
# The rules, in the order this file applies them:
#
#   the map     width x height tiles, each grass, forest, stone, water or mountain, from two
#               octaves of value noise drawn from the world's random stream: low ground is
#               water, high ground mountain, the slopes below it stone, and the rest forest
#               where a second noise (moisture) is high, else grass. Water and mountain cannot
#               be walked on; beyond the map is void. A disc of grass in the middle is the
#               spawn region, of radius 12 or, for many agents, large enough that they fill
#               at most half of it (spawn_radius_for).
#   resources   a forest tile holds berries (probability 0.3), a stone tile ore (0.15), a
#               water tile next to land fish (0.2). Gathering takes the node; it grows back
#               REGROW_TICKS ticks later.
#   agents      agents_per_world agents, each with health, food and water (0-100), five
#               skills (melee, ranged, foraging, fishing, mining) with experience and a level
#               (1 + isqrt(xp / 4), at most 10), an inventory of INVENTORY_SLOTS items,
#               rations and ore, and three equipment slots (weapon, armour, tool).
#   items       melee weapons, ranged weapons, armour and tools, each with a level 1-10.
#               Equipping needs the matching skill at the item's level: melee for melee
#               weapons and armour, ranged for ranged weapons, the best gathering skill for
#               tools. Weapons add damage, armour takes it away, tools add to every harvest.
#   a tick      (one vector step) the agents act in index order, then the NPCs, then needs,
#               deaths and regrowth:
#     actions   0 nothing; 1-4 move north, east, south, west onto a free walkable tile;
#               5-8 attack north, east, south, west: the adjacent tile, or with a ranged
#               weapon the first creature within RANGED_REACH tiles; 9 use: pick up the item
#               on the agent's tile, else gather a node on or next to it (berries or fish:
#               rations; ore); 10 eat a ration (+RATION_FOOD food); 11 drink next to water
#               (+DRINK_WATER water); 12 equip the best item the agent may use; 13 drop the
#               worst item in the inventory; 14 craft: CRAFT_ORE ore make an item of a random
#               kind at level 1 + mining level / 2. info["action_mask"] marks the actions
#               that would do something. A tile holds one item: an item dropped (or left by a
#               death) where a better or equal one lies is lost.
#     combat    damage = BASE_DAMAGE + attacker's skill level + 2 x weapon level - defender's
#               armour level, at least 1. Each hit gives the attacker 1 experience in the
#               skill used. Agents attack NPCs, and other agents only with pvp.
#     NPCs      npcs_per_world creatures of tiers 1-5, the tier rising with the distance of
#               their home from the centre (tier t: health 15 t, damage 2 + 3 t). Each tick an
#               NPC below a third of its health flees from the nearest agent within
#               NPC_SIGHT tiles, else attacks an adjacent agent, else chases one in sight, else
#               wanders (a random step one tick in four). A slain NPC drops an item of level
#               2 t - (0 or 1) on its tile and returns NPC_RESPAWN_TICKS later in its band.
#     needs     food falls by 1 every 3 ticks, water every 2; each at 0 costs 2 health a
#               tick; with both above half, health regenerates 1 every 4 ticks.
#     death     an agent at 0 health terminates and leaves the map at once (its final
#               observation still looks from where it fell); its best inventory item drops
#               there. When the loop resets its row (the next step) a new agent (fresh needs,
#               skills and inventory) waits respawn_delay ticks off the map (seeing nothing,
#               able only to do nothing), then appears on a free tile of the spawn region.
#   reward      per tick: survival (alive), experience (per point gained), items (per level
#               the best equipped item rises), NPC kills (times the NPC's tier), and death
#               (once), each times its weight.
#   observing   an 11 x 15 window of tiles centred on the agent, five channels (terrain,
#               available resources, agents by level band, NPCs by tier, items on the ground
#               by kind), then SELF_BYTES numbers about the agent itself. All uint8.
#   statistics  lifetime (ticks), the level of each skill, the best item level equipped,
#               NPC kills and agent kills.
#
# Layout in memory: each world's tile planes are padded by PAD tiles of void on every side, so
# a view is a plain window and a neighbour is an index offset, with no bounds checks.
cimport cython
from libc.stdint cimport int32_t, uint8_t
from libc.stdlib cimport calloc, free
from libc.string cimport memcpy, memset

from shoal._ext.core cimport VectorCore
from shoal._ext.portable_math cimport clamp_int
from shoal._ext.rng cimport Rng, rng_below, rng_uniform

import numpy as np

cdef enum:
    # Terrain (the terrain channel); walkable: grass, forest, stone.
    VOID = 0
    GRASS = 1
    FOREST = 2
    STONE = 3
    WATER = 4
    MOUNTAIN = 5
    # Resource nodes (the resource channel, while available).
    NO_NODE = 0
    BERRIES = 1
    FISH = 2
    ORE = 3
    # Skills.
    MELEE = 0
    RANGED = 1
    FORAGING = 2
    FISHING = 3
    MINING = 4
    SKILLS = 5
    MAX_LEVEL = 10
    # Item kinds (the item channel); 0: none.
    MELEE_WEAPON = 1
    RANGED_WEAPON = 2
    ARMOUR = 3
    TOOL = 4
    ITEM_KINDS = 4
    INVENTORY_SLOTS = 8
    # Equipment slots.
    WEAPON_SLOT = 0
    ARMOUR_SLOT = 1
    TOOL_SLOT = 2
    # Actions.
    NOOP = 0
    MOVE = 1  # 1-4
    ATTACK = 5  # 5-8
    USE = 9
    EAT = 10
    DRINK = 11
    EQUIP = 12
    DROP = 13
    CRAFT = 14
    ACTIONS = 15
    # The view and the padding that keeps it inside the planes.
    VIEW_ROWS = 11
    VIEW_COLUMNS = 15
    PAD = 8
    CHANNELS = 5
    SELF_BYTES = 20
    # Rules' numbers.
    SMALLEST_SPAWN_RADIUS = 12
    REGROW_TICKS = 100
    MAX_NEED = 100
    MAX_HEALTH = 100
    RATION_FOOD = 30
    DRINK_WATER = 50
    CRAFT_ORE = 4
    BASE_DAMAGE = 5
    RANGED_REACH = 3
    NPC_SIGHT = 4
    NPC_RESPAWN_TICKS = 50
    TIERS = 5
    MAX_CARRIED = 255  # rations and ore an agent can carry

# Python-visible rules, for the game module, the scene and the tests.
NUM_ACTIONS = ACTIONS
ACTION_NAMES = ("noop", "north", "east", "south", "west", "attack north", "attack east",
                "attack south", "attack west", "use", "eat", "drink", "equip", "drop", "craft")
SKILL_NAMES = ("melee", "ranged", "foraging", "fishing", "mining")
TERRAIN_NAMES = ("void", "grass", "forest", "stone", "water", "mountain")
ITEM_NAMES = ("none", "melee weapon", "ranged weapon", "armour", "tool")
NODE_NAMES = ("none", "berries", "fish", "ore")
CHANNEL_NAMES = ("terrain", "resources", "agents", "npcs", "items")  # the planes, in order
NUM_TIERS = TIERS
MAP_PADDING = PAD  # tiles of void around the map in every plane
VIEW_SHAPE = (VIEW_ROWS, VIEW_COLUMNS)
NUM_CHANNELS = CHANNELS
SELF_SIZE = SELF_BYTES
OBSERVATION_SIZE = CHANNELS * VIEW_ROWS * VIEW_COLUMNS + SELF_BYTES
MAX_SKILL_LEVEL = MAX_LEVEL
INVENTORY_SIZE = INVENTORY_SLOTS
# The highest value of each channel, then of each self byte (the observation's Box bounds).
CHANNEL_HIGH = (MOUNTAIN, ORE, 4, TIERS, ITEM_KINDS)
SELF_HIGH = (MAX_HEALTH, MAX_NEED, MAX_NEED, MAX_LEVEL, MAX_LEVEL, MAX_LEVEL, MAX_LEVEL,
             MAX_LEVEL, MAX_LEVEL, 1, MAX_LEVEL, MAX_LEVEL, INVENTORY_SLOTS, MAX_CARRIED,
             MAX_CARRIED, 15, 15, TIERS, 1, 1)
SELF_FIELDS = ("health", "food", "water", "melee", "ranged", "foraging", "fishing", "mining",
               "weapon level", "weapon is ranged", "armour level", "tool level",
               "items carried", "rations", "ore", "x band", "y band", "tier of the area",
               "on an item", "next to water")



def spawn_radius_for(int agents_per_world):
    """The spawn disc's radius: 12, or enough that the agents fill at most half of it."""
    cdef int radius = SMALLEST_SPAWN_RADIUS
    while 3 * radius * radius < 2 * agents_per_world:  # pi r^2 >= 2 agents, pi taken as 3
        radius += 1
    return radius


# Row and column change of each direction (north, east, south, west).
cdef int ROW_STEP[4]
cdef int COLUMN_STEP[4]
ROW_STEP[:] = [-1, 0, 1, 0]
COLUMN_STEP[:] = [0, 1, 0, -1]


cdef struct Agent:
    int tile  # index in the padded planes; -1 off the map (dead)
    int last_tile  # where it died: its final observation looks from there; -1 before
    int health, food, water
    int xp[SKILLS]
    uint8_t level[SKILLS]
    uint8_t equipped[3]  # level of the item in each slot; 0: empty
    uint8_t weapon_ranged  # the equipped weapon is a ranged one
    uint8_t inventory_kind[INVENTORY_SLOTS]  # 0: empty slot
    uint8_t inventory_level[INVENTORY_SLOTS]
    int rations, ore
    long long lifetime  # ticks alive
    int npc_kills, agent_kills
    int best_item  # best equipped item level this life
    int killed_npc_tiers  # this tick's kills, times their tiers (the reward's kill term)
    int xp_gained  # this tick
    int item_levels_gained  # this tick
    bint died  # this tick
    bint dead  # until its row is reset (the loop respawns it on the next step)
    int respawn_wait  # ticks left off the map before a new agent appears


cdef struct Npc:
    int tile  # -1 while waiting to respawn
    int tier, health
    int home_row, home_column  # its band: it respawns near here
    int respawn_timer


cdef struct WorldHead:
    long long tick
    int regrow_head, regrow_count  # the ring of depleted nodes (oldest first)


cdef struct Regrowth:
    int tile
    long long ready_tick


cdef inline int level_for(int xp) noexcept nogil:
    # 1 + floor(sqrt(xp / 4)), at most MAX_LEVEL: level 2 at 4 xp, 5 at 64, 10 at 324.
    cdef int level = 1
    while level < MAX_LEVEL and 4 * level * level <= xp:
        level += 1
    return level


cdef inline int agent_band(const Agent* a) noexcept nogil:
    # The level band others see: total level 5-50 in four bands.
    cdef int total = 0, skill
    for skill in range(SKILLS):
        total += a.level[skill]
    return 1 + (total - SKILLS) * 4 // (SKILLS * MAX_LEVEL - SKILLS + 1)


@cython.final
cdef class MMOCore(VectorCore):
    # Parameters.
    cdef readonly int width, height, npcs_per_world, spawn_radius, respawn_delay
    cdef readonly bint pvp
    cdef readonly float reward_survival, reward_xp, reward_item, reward_npc_kill, reward_death
    # Geometry of the padded planes.
    cdef readonly int stride  # width + 2 PAD
    cdef readonly Py_ssize_t plane_size  # stride * (height + 2 PAD)
    cdef int offsets[4]  # index change of one step north, east, south, west
    # State, per world (world w's block starts at w * plane_size, or w * agents, w * npcs).
    cdef uint8_t* planes  # [worlds, CHANNELS, plane_size]: what the views copy
    cdef uint8_t* item_levels  # [worlds, plane_size]: level of the item on the ground
    cdef uint8_t* nodes  # [worlds, plane_size]: the resource node a tile has (available or not)
    cdef int32_t* agent_at  # [worlds, plane_size]: the agent's index in its world, or -1
    cdef int32_t* npc_at  # [worlds, plane_size]: the NPC's index, or -1
    cdef Regrowth* regrowth  # [worlds, plane_size]: a ring per world
    cdef Agent* agents  # [rows]
    cdef Npc* npcs  # [worlds, npcs_per_world]
    cdef WorldHead* heads  # [worlds]

    def __cinit__(self, int num_worlds, int agents_per_world, *, int width, int height,
                  int npcs_per_world, int respawn_delay, bint pvp, float reward_survival,
                  float reward_xp,
                  float reward_item, float reward_npc_kill, float reward_death):
        self.spawn_radius = spawn_radius_for(agents_per_world)
        if (width < 2 * self.spawn_radius + 4 or height < 2 * self.spawn_radius + 4
                or npcs_per_world < 0 or respawn_delay < 0):
            raise ValueError("invalid MMO parameters (envs/mmo.py validates them)")
        self.respawn_delay = respawn_delay
        self.width, self.height, self.npcs_per_world = width, height, npcs_per_world
        self.pvp = pvp
        self.reward_survival, self.reward_xp, self.reward_item = reward_survival, reward_xp, reward_item
        self.reward_npc_kill, self.reward_death = reward_npc_kill, reward_death
        self.stride = width + 2 * PAD
        self.plane_size = <Py_ssize_t>self.stride * (height + 2 * PAD)
        self.offsets[0], self.offsets[1], self.offsets[2], self.offsets[3] = -self.stride, 1, self.stride, -1
        self.observation_bytes = OBSERVATION_SIZE
        self.num_game_stats = 4 + SKILLS  # lifetime, 5 levels, best item, npc kills, agent kills
        self.action_mask_size = ACTIONS
        cdef size_t tiles = <size_t>num_worlds * self.plane_size
        self.planes = <uint8_t*>calloc(tiles * CHANNELS, 1)
        self.item_levels = <uint8_t*>calloc(tiles, 1)
        self.nodes = <uint8_t*>calloc(tiles, 1)
        self.agent_at = <int32_t*>calloc(tiles, sizeof(int32_t))
        self.npc_at = <int32_t*>calloc(tiles, sizeof(int32_t))
        self.regrowth = <Regrowth*>calloc(tiles, sizeof(Regrowth))
        self.agents = <Agent*>calloc(<size_t>num_worlds * agents_per_world, sizeof(Agent))
        self.npcs = <Npc*>calloc(<size_t>num_worlds * max(npcs_per_world, 1), sizeof(Npc))
        self.heads = <WorldHead*>calloc(num_worlds, sizeof(WorldHead))
        if not (self.planes and self.item_levels and self.nodes and self.agent_at and self.npc_at
                and self.regrowth and self.agents and self.npcs and self.heads):
            raise MemoryError("could not allocate the MMO worlds")
        cdef Py_ssize_t i
        for i in range(<Py_ssize_t>num_worlds * agents_per_world):  # nobody on a map yet
            self.agents[i].tile = -1
            self.agents[i].last_tile = -1
        for i in range(<Py_ssize_t>num_worlds * npcs_per_world):
            self.npcs[i].tile = -1
        for i in range(<Py_ssize_t>tiles):
            self.agent_at[i] = -1
            self.npc_at[i] = -1

    def __dealloc__(self):
        free(self.planes)
        free(self.item_levels)
        free(self.nodes)
        free(self.agent_at)
        free(self.npc_at)
        free(self.regrowth)
        free(self.agents)
        free(self.npcs)
        free(self.heads)

    # ---- Where things are ----

    cdef inline uint8_t* plane(self, int world, int channel) noexcept nogil:
        return self.planes + (<size_t>world * CHANNELS + channel) * self.plane_size

    cdef inline int tile_of(self, int row, int column) noexcept nogil:
        return (row + PAD) * self.stride + column + PAD

    cdef inline int row_of(self, int tile) noexcept nogil:
        return tile // self.stride - PAD

    cdef inline int column_of(self, int tile) noexcept nogil:
        return tile % self.stride - PAD

    cdef inline bint walkable_free(self, int world, int tile) noexcept nogil:
        cdef uint8_t terrain = self.plane(world, 0)[tile]
        cdef size_t base = <size_t>world * self.plane_size
        return ((terrain == GRASS or terrain == FOREST or terrain == STONE)
                and self.agent_at[base + tile] < 0 and self.npc_at[base + tile] < 0)

    cdef inline int tier_at(self, int tile) noexcept nogil:
        # Tiers rise with the distance from the centre: five bands out to the map's edge.
        cdef int dr = self.row_of(tile) - self.height // 2
        cdef int dc = self.column_of(tile) - self.width // 2
        cdef int distance = max(dr if dr > 0 else -dr, dc if dc > 0 else -dc)
        cdef int reach = max(self.width, self.height) // 2
        return clamp_int(1 + distance * TIERS // (reach + 1), 1, TIERS)

    # ---- Making a world ----

    cdef void make_terrain(self, int world) noexcept nogil:
        # Two octaves of value noise (cells of 32 and 8 tiles) for height, one (16) for
        # moisture, bilinearly interpolated from random lattice values.
        cdef Rng* rng = &self.rngs[world]
        cdef uint8_t* terrain = self.plane(world, 0)
        cdef uint8_t* nodes = self.nodes + <size_t>world * self.plane_size
        cdef int row, column, tile, dr, dc
        cdef float height, moisture
        cdef unsigned int seed_height = <unsigned int>rng_below(rng, 0x7FFFFFFF)
        cdef unsigned int seed_detail = <unsigned int>rng_below(rng, 0x7FFFFFFF)
        cdef unsigned int seed_moisture = <unsigned int>rng_below(rng, 0x7FFFFFFF)
        memset(terrain, VOID, self.plane_size)
        memset(nodes, NO_NODE, self.plane_size)
        for row in range(self.height):
            for column in range(self.width):
                height = (0.7 * value_noise(seed_height, row, column, 32)
                          + 0.3 * value_noise(seed_detail, row, column, 8))
                moisture = value_noise(seed_moisture, row, column, 16)
                dr = row - self.height // 2
                dc = column - self.width // 2
                tile = self.tile_of(row, column)
                if dr * dr + dc * dc <= self.spawn_radius * self.spawn_radius:
                    terrain[tile] = GRASS  # the spawn region
                elif height < 0.3:
                    terrain[tile] = WATER
                elif height > 0.78:
                    terrain[tile] = MOUNTAIN
                elif height > 0.66:
                    terrain[tile] = STONE
                elif moisture > 0.55:
                    terrain[tile] = FOREST
                else:
                    terrain[tile] = GRASS
        # Resource nodes, available from the start.
        for row in range(self.height):
            for column in range(self.width):
                tile = self.tile_of(row, column)
                if terrain[tile] == FOREST and rng_uniform(rng) < 0.3:
                    nodes[tile] = BERRIES
                elif terrain[tile] == STONE and rng_uniform(rng) < 0.15:
                    nodes[tile] = ORE
                elif (terrain[tile] == WATER and self.next_to_land(terrain, tile)
                      and rng_uniform(rng) < 0.2):
                    nodes[tile] = FISH
        memcpy(self.plane(world, 1), nodes, self.plane_size)

    cdef inline bint next_to_land(self, const uint8_t* terrain, int tile) noexcept nogil:
        cdef int direction
        cdef uint8_t near
        for direction in range(4):
            near = terrain[tile + self.offsets[direction]]
            if near == GRASS or near == FOREST or near == STONE:
                return True
        return False

    cdef inline bint next_to_water(self, int world, int tile) noexcept nogil:
        cdef const uint8_t* terrain = self.plane(world, 0)
        cdef int direction
        for direction in range(4):
            if terrain[tile + self.offsets[direction]] == WATER:
                return True
        return False

    cdef int free_spawn_tile(self, int world) noexcept nogil:
        # A random free tile of the spawn disc; a scan of the disc if 64 draws all miss.
        cdef Rng* rng = &self.rngs[world]
        cdef int attempt, row, column, tile, dr, dc
        for attempt in range(64):
            dr = <int>rng_below(rng, 2 * self.spawn_radius + 1) - self.spawn_radius
            dc = <int>rng_below(rng, 2 * self.spawn_radius + 1) - self.spawn_radius
            if dr * dr + dc * dc > self.spawn_radius * self.spawn_radius:
                continue
            tile = self.tile_of(self.height // 2 + dr, self.width // 2 + dc)
            if self.walkable_free(world, tile):
                return tile
        for row in range(self.height):
            for column in range(self.width):
                tile = self.tile_of(row, column)
                if self.walkable_free(world, tile):
                    return tile
        return -1  # a full map: the agent waits off the map

    cdef int free_tile_near(self, int world, int row, int column, int radius) noexcept nogil:
        cdef Rng* rng = &self.rngs[world]
        cdef int attempt, tile, r, c
        for attempt in range(32):
            r = clamp_int(row + <int>rng_below(rng, 2 * radius + 1) - radius, 0, self.height - 1)
            c = clamp_int(column + <int>rng_below(rng, 2 * radius + 1) - radius, 0, self.width - 1)
            tile = self.tile_of(r, c)
            if self.walkable_free(world, tile):
                return tile
        return -1  # try again next tick

    cdef void place_agent(self, int world, int index, int tile) noexcept nogil:
        cdef Agent* a = &self.agents[world * self.agents_per_world + index]
        a.tile = tile
        if tile >= 0:
            self.agent_at[<size_t>world * self.plane_size + tile] = index
            self.plane(world, 2)[tile] = <uint8_t>agent_band(a)

    cdef void lift_agent(self, int world, int index) noexcept nogil:
        cdef Agent* a = &self.agents[world * self.agents_per_world + index]
        if a.tile >= 0:
            self.agent_at[<size_t>world * self.plane_size + a.tile] = -1
            self.plane(world, 2)[a.tile] = 0
        a.tile = -1

    cdef void spawn_npc(self, int world, int index) noexcept nogil:
        cdef Npc* n = &self.npcs[world * self.npcs_per_world + index]
        cdef int tile = self.free_tile_near(world, n.home_row, n.home_column, 6)
        n.tile = tile
        if tile < 0:
            n.respawn_timer = 1
            return
        n.tier = self.tier_at(tile)
        n.health = 15 * n.tier
        self.npc_at[<size_t>world * self.plane_size + tile] = index
        self.plane(world, 3)[tile] = <uint8_t>n.tier

    cdef void reset_world(self, int world) noexcept nogil:
        cdef size_t base = <size_t>world * self.plane_size
        cdef Py_ssize_t tile
        cdef int index, channel, dr, dc, outside
        cdef Rng* rng = &self.rngs[world]
        for channel in range(CHANNELS):
            memset(self.plane(world, channel), 0, self.plane_size)
        memset(self.item_levels + base, 0, self.plane_size)
        for tile in range(self.plane_size):
            self.agent_at[base + tile] = -1
            self.npc_at[base + tile] = -1
        self.heads[world].tick = 0
        self.heads[world].regrow_head = 0
        self.heads[world].regrow_count = 0
        self.make_terrain(world)
        for index in range(self.agents_per_world):
            self.agents[world * self.agents_per_world + index].tile = -1
            self.reset_agent(world * self.agents_per_world + index)
        # NPCs get homes outside the spawn region, spread over the map (a home drawn inside
        # it is pushed to its edge, so no draw is ever repeated).
        for index in range(self.npcs_per_world):
            dr = <int>rng_below(rng, self.height) - self.height // 2
            dc = <int>rng_below(rng, self.width) - self.width // 2
            outside = self.spawn_radius + 2
            while dr * dr + dc * dc <= outside * outside:
                if dr == 0 and dc == 0:
                    dr = 1
                dr, dc = 2 * dr, 2 * dc
            self.npcs[world * self.npcs_per_world + index].home_row = clamp_int(
                self.height // 2 + dr, 0, self.height - 1)
            self.npcs[world * self.npcs_per_world + index].home_column = clamp_int(
                self.width // 2 + dc, 0, self.width - 1)
            self.npcs[world * self.npcs_per_world + index].respawn_timer = 0
            self.spawn_npc(world, index)

    cdef void reset_agent(self, int row) noexcept nogil:
        # A new agent: on a free tile of the spawn region when the world starts, or after
        # respawn_delay ticks off the map in a running world.
        cdef int world = row // self.agents_per_world
        cdef int index = row - world * self.agents_per_world
        cdef Agent* a = &self.agents[row]
        self.lift_agent(world, index)
        memset(a, 0, sizeof(Agent))
        a.tile = -1
        a.last_tile = -1
        a.health = MAX_HEALTH
        a.food = MAX_NEED
        a.water = MAX_NEED
        cdef int skill
        for skill in range(SKILLS):
            a.level[skill] = 1
        if self.heads[world].tick > 0 and self.respawn_delay > 0:
            a.respawn_wait = self.respawn_delay
        else:
            self.place_agent(world, index, self.free_spawn_tile(world))

    # ---- A tick ----

    cdef void step_world(self, int world) noexcept nogil:
        cdef int first = world * self.agents_per_world, index, row
        cdef Agent* a
        cdef WorldHead* head = &self.heads[world]
        head.tick += 1
        for index in range(self.agents_per_world):
            a = &self.agents[first + index]
            a.xp_gained = 0
            a.item_levels_gained = 0
            a.killed_npc_tiers = 0
            a.died = False
        for index in range(self.agents_per_world):
            row = first + index
            a = &self.agents[row]
            if self.resetting[row] or a.tile < 0 or a.dead or a.health <= 0:
                continue
            self.act(world, index, (<int*>self.actions)[row])
        self.step_npcs(world)
        for index in range(self.agents_per_world):
            row = first + index
            a = &self.agents[row]
            if a.tile < 0 or a.dead or self.resetting[row]:
                continue
            self.live_a_tick(a, head.tick)
            if a.health <= 0:
                self.die(world, index)
        self.regrow(world)
        # New agents whose wait is over appear as the tick ends, so that their first action
        # comes after their first view of the map.
        for index in range(self.agents_per_world):
            a = &self.agents[first + index]
            if a.respawn_wait > 0 and not self.resetting[first + index]:
                a.respawn_wait -= 1
                if a.respawn_wait == 0:  # its turn: onto the map (or wait on if it is full)
                    self.place_agent(world, index, self.free_spawn_tile(world))
                    a.respawn_wait = 1 if a.tile < 0 else 0
        for index in range(self.agents_per_world):
            row = first + index
            if self.resetting[row]:
                continue
            a = &self.agents[row]
            if not a.died and (a.tile < 0 or a.dead):
                continue  # off the map, or waiting for its reset: nothing happens to it
            self.rewards[row] = (
                (0.0 if a.died else self.reward_survival)
                + self.reward_xp * a.xp_gained
                + self.reward_item * a.item_levels_gained
                + self.reward_npc_kill * a.killed_npc_tiers
                - (self.reward_death if a.died else 0.0)
            )
            if a.died:
                self.terminations[row] = 1

    cdef void live_a_tick(self, Agent* a, long long tick) noexcept nogil:
        if a.health <= 0:
            return  # struck down this tick: it dies, no regeneration saves it
        a.lifetime += 1
        if tick % 3 == 0 and a.food > 0:
            a.food -= 1
        if tick % 2 == 0 and a.water > 0:
            a.water -= 1
        if a.food == 0:
            a.health -= 2
        if a.water == 0:
            a.health -= 2
        if a.food > MAX_NEED // 2 and a.water > MAX_NEED // 2 and tick % 4 == 0 and a.health < MAX_HEALTH:
            a.health += 1

    cdef void die(self, int world, int index) noexcept nogil:
        # The best item carried stays on the ground where it fell; the body leaves the map, so
        # an agent held out of its world (autoreset DISABLED, the PettingZoo adapter) blocks
        # nothing and draws no NPC.
        cdef Agent* a = &self.agents[world * self.agents_per_world + index]
        cdef int slot, best = -1
        for slot in range(INVENTORY_SLOTS):
            if a.inventory_kind[slot] and (best < 0 or a.inventory_level[slot] > a.inventory_level[best]):
                best = slot
        if best >= 0:
            self.put_item(world, a.tile, a.inventory_kind[best], a.inventory_level[best])
            a.inventory_kind[best] = 0
            a.inventory_level[best] = 0
        a.last_tile = a.tile
        self.lift_agent(world, index)
        a.died = True
        a.dead = True

    cdef void put_item(self, int world, int tile, int kind, int level) noexcept nogil:
        # One item per tile: a better one replaces what lies there.
        cdef size_t base = <size_t>world * self.plane_size
        if level > self.item_levels[base + tile]:
            self.item_levels[base + tile] = <uint8_t>level
            self.plane(world, 4)[tile] = <uint8_t>kind

    cdef void gain_xp(self, int world, int index, int skill, int amount) noexcept nogil:
        cdef Agent* a = &self.agents[world * self.agents_per_world + index]
        a.xp[skill] += amount
        a.xp_gained += amount
        cdef int level = level_for(a.xp[skill])
        if level != a.level[skill]:
            a.level[skill] = <uint8_t>level
            self.plane(world, 2)[a.tile] = <uint8_t>agent_band(a)

    cdef void act(self, int world, int index, int action) noexcept nogil:
        cdef Agent* a = &self.agents[world * self.agents_per_world + index]
        cdef int target, slot
        if MOVE <= action < MOVE + 4:
            target = a.tile + self.offsets[action - MOVE]
            if self.walkable_free(world, target):
                self.agent_at[<size_t>world * self.plane_size + a.tile] = -1
                self.plane(world, 2)[a.tile] = 0
                self.place_agent(world, index, target)
        elif ATTACK <= action < ATTACK + 4:
            self.attack(world, index, action - ATTACK)
        elif action == USE:
            self.use(world, index)
        elif action == EAT:
            if a.rations > 0 and a.food < MAX_NEED:
                a.rations -= 1
                a.food = min(MAX_NEED, a.food + RATION_FOOD)
        elif action == DRINK:
            if self.next_to_water(world, a.tile):
                a.water = min(MAX_NEED, a.water + DRINK_WATER)
        elif action == EQUIP:
            self.equip_best(world, index)
        elif action == DROP:
            slot = self.worst_slot(a)
            if slot >= 0:
                self.put_item(world, a.tile, a.inventory_kind[slot], a.inventory_level[slot])
                a.inventory_kind[slot] = 0
                a.inventory_level[slot] = 0
        elif action == CRAFT:
            slot = self.free_slot(a)
            if a.ore >= CRAFT_ORE and slot >= 0:
                a.ore -= CRAFT_ORE
                a.inventory_kind[slot] = <uint8_t>(1 + rng_below(&self.rngs[world], ITEM_KINDS))
                a.inventory_level[slot] = <uint8_t>(1 + a.level[MINING] // 2)
                self.gain_xp(world, index, MINING, 2)

    # ---- Combat ----

    cdef int target_in(self, int world, int tile, int direction, int reach,
                       bint* is_agent) noexcept nogil:
        # The first creature within `reach` tiles from `tile` toward `direction` (its tile), or
        # -1; walls of mountain and the map's edge stop the search.
        cdef size_t base = <size_t>world * self.plane_size
        cdef int step, here = tile
        cdef uint8_t terrain
        for step in range(reach):
            here += self.offsets[direction]
            terrain = self.plane(world, 0)[here]
            if terrain == VOID or terrain == MOUNTAIN:
                return -1
            if self.npc_at[base + here] >= 0:
                is_agent[0] = False
                return here
            if self.agent_at[base + here] >= 0:
                is_agent[0] = True
                return here
        return -1

    cdef void attack(self, int world, int index, int direction) noexcept nogil:
        cdef Agent* a = &self.agents[world * self.agents_per_world + index]
        cdef size_t base = <size_t>world * self.plane_size
        cdef bint is_agent = False
        cdef bint ranged = a.weapon_ranged and a.equipped[WEAPON_SLOT] > 0
        cdef int skill = RANGED if ranged else MELEE
        cdef int tile = self.target_in(world, a.tile, direction, RANGED_REACH if ranged else 1,
                                       &is_agent)
        cdef int damage = BASE_DAMAGE + a.level[skill] + 2 * a.equipped[WEAPON_SLOT]
        cdef Agent* victim
        cdef Npc* n
        if tile < 0 or (is_agent and not self.pvp):
            return
        if is_agent:
            victim = &self.agents[world * self.agents_per_world + self.agent_at[base + tile]]
            if victim.health <= 0:
                return  # already falling this tick
            self.gain_xp(world, index, skill, 1)
            victim.health -= max(1, damage - victim.equipped[ARMOUR_SLOT])
            if victim.health <= 0:
                a.agent_kills += 1
        else:
            self.gain_xp(world, index, skill, 1)
            n = &self.npcs[world * self.npcs_per_world + self.npc_at[base + tile]]
            n.health -= damage
            if n.health <= 0:
                a.npc_kills += 1
                a.killed_npc_tiers += n.tier
                self.gain_xp(world, index, skill, 2 * n.tier)
                self.slay_npc(world, self.npc_at[base + tile])

    cdef void slay_npc(self, int world, int index) noexcept nogil:
        cdef Npc* n = &self.npcs[world * self.npcs_per_world + index]
        cdef Rng* rng = &self.rngs[world]
        self.npc_at[<size_t>world * self.plane_size + n.tile] = -1
        self.plane(world, 3)[n.tile] = 0
        self.put_item(world, n.tile, 1 + <int>rng_below(rng, ITEM_KINDS),
                      max(1, 2 * n.tier - <int>rng_below(rng, 2)))
        n.tile = -1
        n.respawn_timer = NPC_RESPAWN_TICKS + 1  # counted down once in the tick it falls

    # ---- Gathering and items ----

    cdef void use(self, int world, int index) noexcept nogil:
        # Pick up the item underfoot, else gather the first node found on or next to the tile.
        cdef Agent* a = &self.agents[world * self.agents_per_world + index]
        cdef size_t base = <size_t>world * self.plane_size
        cdef uint8_t* items = self.plane(world, 4)
        cdef uint8_t* available = self.plane(world, 1)
        cdef int slot = self.free_slot(a), direction, tile, node, skill, amount
        if items[a.tile] and slot >= 0:
            a.inventory_kind[slot] = items[a.tile]
            a.inventory_level[slot] = self.item_levels[base + a.tile]
            items[a.tile] = 0
            self.item_levels[base + a.tile] = 0
            return
        for direction in range(5):
            tile = a.tile if direction == 4 else a.tile + self.offsets[direction]
            node = available[tile]
            if node == NO_NODE:
                continue
            skill = FORAGING if node == BERRIES else (FISHING if node == FISH else MINING)
            amount = 1 + a.equipped[TOOL_SLOT] // 3
            if node == ORE:
                a.ore = min(MAX_CARRIED, a.ore + amount)
            else:
                a.rations = min(MAX_CARRIED, a.rations + amount)
            available[tile] = NO_NODE
            self.queue_regrowth(world, tile)
            self.gain_xp(world, index, skill, 1)
            return

    cdef void queue_regrowth(self, int world, int tile) noexcept nogil:
        cdef WorldHead* head = &self.heads[world]
        cdef Regrowth* ring = self.regrowth + <size_t>world * self.plane_size
        cdef int slot = <int>((head.regrow_head + head.regrow_count) % self.plane_size)
        ring[slot].tile = tile
        ring[slot].ready_tick = head.tick + REGROW_TICKS
        head.regrow_count += 1

    cdef void regrow(self, int world) noexcept nogil:
        # Nodes grow back in the order they were taken: the ring's oldest first.
        cdef WorldHead* head = &self.heads[world]
        cdef Regrowth* ring = self.regrowth + <size_t>world * self.plane_size
        cdef const uint8_t* nodes = self.nodes + <size_t>world * self.plane_size
        while head.regrow_count > 0 and ring[head.regrow_head].ready_tick <= head.tick:
            self.plane(world, 1)[ring[head.regrow_head].tile] = nodes[ring[head.regrow_head].tile]
            head.regrow_head = <int>((head.regrow_head + 1) % self.plane_size)
            head.regrow_count -= 1

    cdef inline int free_slot(self, const Agent* a) noexcept nogil:
        cdef int slot
        for slot in range(INVENTORY_SLOTS):
            if a.inventory_kind[slot] == 0:
                return slot
        return -1

    cdef inline int worst_slot(self, const Agent* a) noexcept nogil:
        cdef int slot, worst = -1
        for slot in range(INVENTORY_SLOTS):
            if a.inventory_kind[slot] and (worst < 0 or a.inventory_level[slot] < a.inventory_level[worst]):
                worst = slot
        return worst

    cdef inline int allowed_level(self, const Agent* a, int kind) noexcept nogil:
        # The highest item level of this kind the agent may equip.
        if kind == MELEE_WEAPON or kind == ARMOUR:
            return a.level[MELEE]
        if kind == RANGED_WEAPON:
            return a.level[RANGED]
        return max(a.level[FORAGING], max(a.level[FISHING], a.level[MINING]))

    cdef inline int slot_of(self, int kind) noexcept nogil:
        return WEAPON_SLOT if kind <= RANGED_WEAPON else (ARMOUR_SLOT if kind == ARMOUR else TOOL_SLOT)

    cdef int best_upgrade(self, const Agent* a) noexcept nogil:
        # The inventory slot whose item most raises an equipment slot's level, or -1.
        cdef int slot, kind, level, best = -1, best_gain = 0
        for slot in range(INVENTORY_SLOTS):
            kind = a.inventory_kind[slot]
            level = a.inventory_level[slot]
            if kind == 0 or level > self.allowed_level(a, kind):
                continue
            if level - a.equipped[self.slot_of(kind)] > best_gain:
                best_gain = level - a.equipped[self.slot_of(kind)]
                best = slot
        return best

    cdef void equip_best(self, int world, int index) noexcept nogil:
        # Equip upgrades until none is left; what they replace goes back to the inventory.
        cdef Agent* a = &self.agents[world * self.agents_per_world + index]
        cdef int slot = self.best_upgrade(a), kind, level, equipment, old_best
        while slot >= 0:
            kind = a.inventory_kind[slot]
            level = a.inventory_level[slot]
            equipment = self.slot_of(kind)
            a.inventory_kind[slot] = 0
            a.inventory_level[slot] = 0
            if a.equipped[equipment]:  # the old item back into the freed slot
                a.inventory_kind[slot] = <uint8_t>(
                    (RANGED_WEAPON if a.weapon_ranged else MELEE_WEAPON)
                    if equipment == WEAPON_SLOT else (ARMOUR if equipment == ARMOUR_SLOT else TOOL))
                a.inventory_level[slot] = a.equipped[equipment]
            a.equipped[equipment] = <uint8_t>level
            if equipment == WEAPON_SLOT:
                a.weapon_ranged = kind == RANGED_WEAPON
            old_best = a.best_item
            if level > a.best_item:
                a.best_item = level
                a.item_levels_gained += level - old_best
            slot = self.best_upgrade(a)

    # ---- NPCs ----

    cdef void step_npcs(self, int world) noexcept nogil:
        cdef int index
        cdef Npc* n
        for index in range(self.npcs_per_world):
            n = &self.npcs[world * self.npcs_per_world + index]
            if n.tile < 0:
                n.respawn_timer -= 1
                if n.respawn_timer <= 0:
                    self.spawn_npc(world, index)
                continue
            self.npc_turn(world, index)

    cdef void npc_turn(self, int world, int index) noexcept nogil:
        cdef Npc* n = &self.npcs[world * self.npcs_per_world + index]
        cdef size_t base = <size_t>world * self.plane_size
        cdef Rng* rng = &self.rngs[world]
        cdef int row = self.row_of(n.tile), column = self.column_of(n.tile)
        cdef int dr, dc, tile, nearest = -1, nearest_distance = NPC_SIGHT + 1, distance
        cdef int direction, best_direction = -1, step_row, step_column
        cdef Agent* victim
        cdef bint weak = 3 * n.health < 15 * n.tier
        # A living agent next to it (not diagonally) is struck, unless the NPC is weak.
        if not weak:
            for direction in range(4):
                tile = n.tile + self.offsets[direction]
                if self.agent_at[base + tile] >= 0:
                    victim = &self.agents[world * self.agents_per_world + self.agent_at[base + tile]]
                    if victim.health > 0:
                        victim.health -= max(1, 2 + 3 * n.tier - victim.equipped[ARMOUR_SLOT])
                        return
        # The nearest agent in sight (Chebyshev distance), scanning outward.
        for dr in range(-NPC_SIGHT, NPC_SIGHT + 1):
            for dc in range(-NPC_SIGHT, NPC_SIGHT + 1):
                tile = n.tile + dr * self.stride + dc
                if self.agent_at[base + tile] < 0:
                    continue
                distance = max(dr if dr > 0 else -dr, dc if dc > 0 else -dc)
                if distance < nearest_distance:
                    nearest_distance = distance
                    nearest = tile
        if nearest < 0:
            if rng_below(rng, 4) == 0:
                self.move_npc(world, index, <int>rng_below(rng, 4))
            return
        dr = self.row_of(nearest) - row
        dc = self.column_of(nearest) - column
        if weak:  # run
            dr, dc = -dr, -dc
        # One step along the larger difference (the other if that tile is taken).
        if (dr if dr > 0 else -dr) >= (dc if dc > 0 else -dc):
            best_direction = 2 if dr > 0 else 0
            direction = (1 if dc > 0 else 3) if dc != 0 else -1
        else:
            best_direction = 1 if dc > 0 else 3
            direction = (2 if dr > 0 else 0) if dr != 0 else -1
        if not self.move_npc(world, index, best_direction) and direction >= 0:
            self.move_npc(world, index, direction)

    cdef bint move_npc(self, int world, int index, int direction) noexcept nogil:
        cdef Npc* n = &self.npcs[world * self.npcs_per_world + index]
        cdef size_t base = <size_t>world * self.plane_size
        cdef int target = n.tile + self.offsets[direction]
        if not self.walkable_free(world, target):
            return False
        self.npc_at[base + n.tile] = -1
        self.plane(world, 3)[n.tile] = 0
        n.tile = target
        self.npc_at[base + target] = index
        self.plane(world, 3)[target] = <uint8_t>n.tier
        return True

    # ---- What the agents see ----

    cdef void write_observation(self, int row, char* out) noexcept nogil:
        cdef int world = row // self.agents_per_world
        cdef Agent* a = &self.agents[row]
        cdef uint8_t* target = <uint8_t*>out
        cdef int channel, line
        cdef int tile = a.tile if a.tile >= 0 else a.last_tile  # the dead see where they fell
        cdef const uint8_t* source
        if tile < 0:  # never on the map (no free tile for it): nothing to see
            memset(target, 0, self.observation_bytes)
            return
        self.write_self(world, a, tile, target + CHANNELS * VIEW_ROWS * VIEW_COLUMNS)
        tile -= (VIEW_ROWS // 2) * self.stride + VIEW_COLUMNS // 2
        for channel in range(CHANNELS):
            source = self.plane(world, channel) + tile
            for line in range(VIEW_ROWS):
                memcpy(target, source + line * self.stride, VIEW_COLUMNS)
                target += VIEW_COLUMNS

    cdef void write_self(self, int world, const Agent* a, int tile, uint8_t* out) noexcept nogil:
        cdef int skill, carried = 0, slot
        out[0] = <uint8_t>clamp_int(a.health, 0, MAX_HEALTH)
        out[1] = <uint8_t>a.food
        out[2] = <uint8_t>a.water
        for skill in range(SKILLS):
            out[3 + skill] = a.level[skill]
        out[8] = a.equipped[WEAPON_SLOT]
        out[9] = a.weapon_ranged
        out[10] = a.equipped[ARMOUR_SLOT]
        out[11] = a.equipped[TOOL_SLOT]
        for slot in range(INVENTORY_SLOTS):
            carried += a.inventory_kind[slot] != 0
        out[12] = <uint8_t>carried
        out[13] = <uint8_t>a.rations
        out[14] = <uint8_t>a.ore
        out[15] = <uint8_t>(self.column_of(tile) * 16 // self.width)
        out[16] = <uint8_t>(self.row_of(tile) * 16 // self.height)
        out[17] = <uint8_t>self.tier_at(tile)
        out[18] = self.plane(world, 4)[tile] != 0
        out[19] = self.next_to_water(world, tile)

    cdef void write_action_mask(self, int row, unsigned char* out) noexcept nogil:
        cdef int world = row // self.agents_per_world
        cdef Agent* a = &self.agents[row]
        cdef int direction, tile
        cdef bint is_agent, ranged
        memset(out, 0, ACTIONS)
        out[NOOP] = 1
        if a.tile < 0 or a.dead:
            return
        ranged = a.weapon_ranged and a.equipped[WEAPON_SLOT] > 0
        for direction in range(4):
            out[MOVE + direction] = self.walkable_free(world, a.tile + self.offsets[direction])
            tile = self.target_in(world, a.tile, direction, RANGED_REACH if ranged else 1, &is_agent)
            out[ATTACK + direction] = tile >= 0 and (self.pvp or not is_agent)
        out[USE] = ((self.plane(world, 4)[a.tile] != 0 and self.free_slot(a) >= 0)
                    or self.node_near(world, a.tile))
        out[EAT] = a.rations > 0 and a.food < MAX_NEED
        out[DRINK] = a.water < MAX_NEED and self.next_to_water(world, a.tile)
        out[EQUIP] = self.best_upgrade(a) >= 0
        out[DROP] = self.worst_slot(a) >= 0
        out[CRAFT] = a.ore >= CRAFT_ORE and self.free_slot(a) >= 0

    cdef inline bint node_near(self, int world, int tile) noexcept nogil:
        cdef const uint8_t* available = self.plane(world, 1)
        cdef int direction
        if available[tile]:
            return True
        for direction in range(4):
            if available[tile + self.offsets[direction]]:
                return True
        return False

    cdef void write_game_stats(self, int row, double* out) noexcept nogil:
        cdef Agent* a = &self.agents[row]
        cdef int skill
        out[0] = <double>a.lifetime
        for skill in range(SKILLS):
            out[1 + skill] = a.level[skill]
        out[1 + SKILLS] = a.best_item
        out[2 + SKILLS] = a.npc_kills
        out[3 + SKILLS] = a.agent_kills

    # ---- Snapshots ----

    cdef dict game_records(self):
        cdef size_t tiles = <size_t>self.num_worlds * self.plane_size
        return {
            "planes": np.asarray(<uint8_t[:tiles * CHANNELS]>self.planes),
            "item_levels": np.asarray(<uint8_t[:tiles]>self.item_levels),
            "nodes": np.asarray(<uint8_t[:tiles]>self.nodes),
            "agent_at": np.asarray(<int32_t[:tiles]>self.agent_at),
            "npc_at": np.asarray(<int32_t[:tiles]>self.npc_at),
            "regrowth": np.asarray(<Regrowth[:tiles]>self.regrowth),
            "agents": np.asarray(<Agent[:self.num_rows]>self.agents),
            "npcs": np.asarray(<Npc[:self.num_worlds * max(self.npcs_per_world, 1)]>self.npcs),
            "heads": np.asarray(<WorldHead[:self.num_worlds]>self.heads),
        }

    cdef check_game_state(self, dict arrays):
        # Every index a tick follows must land in its world's block: tiles of agents, NPCs and
        # regrowth entries inside the map (not in the padding, which the views and neighbour
        # offsets rely on being void), occupant indices in range, ring counters in range.
        cdef const unsigned char[:, ::1] agents = arrays["agents"]
        cdef const unsigned char[:, ::1] npcs = arrays["npcs"]
        cdef const unsigned char[:, ::1] heads = arrays["heads"]
        cdef const unsigned char[:, ::1] ring = arrays["regrowth"]
        cdef const Agent* a
        cdef const Npc* n
        cdef const WorldHead* h
        cdef const Regrowth* r
        cdef int i, world, slot
        for name, limit in (("agent_at", self.agents_per_world), ("npc_at", self.npcs_per_world)):
            values = arrays[name]
            if values.size and (int(values.min()) < -1 or int(values.max()) >= limit):
                raise ValueError(f"state['game.{name}'] holds an index outside [-1, {limit - 1}]")
        planes = arrays["planes"].reshape(self.num_worlds, CHANNELS, self.height + 2 * PAD, self.stride)
        for channel, high in enumerate(CHANNEL_HIGH):
            if int(planes[:, channel].max(initial=0)) > high:
                raise ValueError(f"state['game.planes'] holds a code above {high} in channel {channel}")
        shape = (self.num_worlds, self.height + 2 * PAD, self.stride)
        if int(arrays["nodes"].max(initial=0)) > ORE or int(arrays["item_levels"].max(initial=0)) > MAX_LEVEL:
            raise ValueError("state['game.nodes'] or state['game.item_levels'] holds a value out of range")
        # The padding must stay empty void in every plane: it is what keeps walking, views,
        # gathering and searches in bounds.
        for name, padded in (("planes", planes.reshape(-1, *shape[1:])),
                             ("nodes", arrays["nodes"].reshape(shape)),
                             ("item_levels", arrays["item_levels"].reshape(shape))):
            outside = padded.copy()
            outside[:, PAD:PAD + self.height, PAD:PAD + self.width] = 0
            if outside.any():
                raise ValueError(f"state['game.{name}'] holds something outside the map")
        for i in range(self.num_rows):
            a = <const Agent*>&agents[i, 0]
            if ((a.tile != -1 and not self.inside_map(a.tile))
                    or (a.last_tile != -1 and not self.inside_map(a.last_tile))):
                raise ValueError(f"state['game.agents'] holds agent {i} off the map")
            # What the agent's own observation shows must stay within its Box bounds.
            if not (a.health <= MAX_HEALTH and 0 <= a.food <= MAX_NEED and a.respawn_wait >= 0
                    and a.weapon_ranged <= 1 and 0 <= a.water <= MAX_NEED
                    and 0 <= a.rations <= MAX_CARRIED and 0 <= a.ore <= MAX_CARRIED
                    and all(a.level[s] <= MAX_LEVEL for s in range(SKILLS))
                    and all(a.equipped[s] <= MAX_LEVEL for s in range(3))
                    and all(a.inventory_kind[s] <= ITEM_KINDS and a.inventory_level[s] <= MAX_LEVEL
                            for s in range(INVENTORY_SLOTS))):
                raise ValueError(f"state['game.agents'] holds numbers out of range for agent {i}")
        for i in range(npcs.shape[0] if self.npcs_per_world else 0):
            n = <const Npc*>&npcs[i, 0]
            if ((n.tile != -1 and not self.inside_map(n.tile)) or not 0 <= n.tier <= TIERS
                    or not (0 <= n.home_row < self.height and 0 <= n.home_column < self.width)):
                raise ValueError(f"state['game.npcs'] holds NPC {i} off the map or of a bad tier")
        # Who stands where must agree both ways: a tick follows agent_at and npc_at to the
        # occupant and the occupant's tile back (a slain NPC clears its tile).
        for name, occupants, per_world in (("agent_at", agents, self.agents_per_world),
                                           ("npc_at", npcs, self.npcs_per_world)):
            expected = np.full(self.num_worlds * self.plane_size, -1, np.int64)
            for i in range(self.num_worlds * per_world):
                tile = (<const int*>&occupants[i, 0])[0]  # both structs start with their tile
                if tile >= 0:
                    expected[(i // per_world) * self.plane_size + tile] = i % per_world
            if not np.array_equal(expected, arrays[name]):
                raise ValueError(f"state['game.{name}'] does not match where the occupants stand")
        for world in range(self.num_worlds):
            h = <const WorldHead*>&heads[world, 0]
            if not (0 <= h.regrow_head < self.plane_size and 0 <= h.regrow_count <= self.plane_size):
                raise ValueError(f"state['game.heads'] holds a bad regrowth ring in world {world}")
            for slot in range(h.regrow_count):
                r = <const Regrowth*>&ring[<size_t>world * self.plane_size
                                          + (h.regrow_head + slot) % self.plane_size, 0]
                if not self.inside_map(r.tile):
                    raise ValueError(f"state['game.regrowth'] holds a tile off the map in world {world}")

    cdef inline bint inside_map(self, int tile) noexcept nogil:
        if tile < 0 or tile >= self.plane_size:
            return False
        return 0 <= self.row_of(tile) < self.height and 0 <= self.column_of(tile) < self.width

    # ---- Python-level inspection (never per step; the test setters are tests/envs/setters.py) ----

    def state(self, world):
        """A copy of one world for the scene and tests: terrain, resources (available nodes),
        nodes (all nodes), items (kinds) and item_levels (uint8 [height, width]); agents
        (dicts: row, column (-1 when off the map), health, food, water, levels, xp,
        equipped, weapon_ranged, inventory (kind, level) pairs, rations, ore, lifetime,
        npc_kills, agent_kills, best_item); npcs (row, column, tier, health); tick."""
        cdef int index = self.world_index(world)
        cdef int i
        cdef Agent* a
        cdef Npc* n
        planes = np.asarray(<uint8_t[:CHANNELS * self.plane_size]>(
            self.planes + <size_t>index * CHANNELS * self.plane_size)).reshape(
                CHANNELS, self.height + 2 * PAD, self.stride)
        inside = (slice(PAD, PAD + self.height), slice(PAD, PAD + self.width))

        def unpadded(pointer_array):
            return pointer_array.reshape(self.height + 2 * PAD, self.stride)[inside].copy()

        agents = []
        for i in range(self.agents_per_world):
            a = &self.agents[index * self.agents_per_world + i]
            agents.append({
                "row": self.row_of(a.tile) if a.tile >= 0 else -1,
                "column": self.column_of(a.tile) if a.tile >= 0 else -1,
                "health": a.health, "food": a.food, "water": a.water,
                "levels": [a.level[s] for s in range(SKILLS)],
                "xp": [a.xp[s] for s in range(SKILLS)],
                "equipped": [a.equipped[s] for s in range(3)],
                "weapon_ranged": bool(a.weapon_ranged),
                "inventory": [(a.inventory_kind[s], a.inventory_level[s])
                              for s in range(INVENTORY_SLOTS) if a.inventory_kind[s]],
                "rations": a.rations, "ore": a.ore, "lifetime": int(a.lifetime),
                "npc_kills": a.npc_kills, "agent_kills": a.agent_kills,
                "best_item": a.best_item,
            })
        npcs = []
        for i in range(self.npcs_per_world):
            n = &self.npcs[index * self.npcs_per_world + i]
            npcs.append({
                "row": self.row_of(n.tile) if n.tile >= 0 else -1,
                "column": self.column_of(n.tile) if n.tile >= 0 else -1,
                "tier": n.tier, "health": n.health,
            })
        cdef size_t base = <size_t>index * self.plane_size
        return {
            "terrain": planes[0][inside].copy(),
            "resources": planes[1][inside].copy(),
            "items": planes[4][inside].copy(),
            "item_levels": unpadded(np.asarray(<uint8_t[:self.plane_size]>(self.item_levels + base))),
            "nodes": unpadded(np.asarray(<uint8_t[:self.plane_size]>(self.nodes + base))),
            "agents": agents,
            "npcs": npcs,
            "tick": int(self.heads[index].tick),
        }


cdef float value_noise(unsigned int seed, int row, int column, int cell) noexcept nogil:
    # Value noise in [0, 1): random values on a lattice of `cell` tiles, bilinearly blended
    # with a smoothstep.
    cdef int r0 = row // cell, c0 = column // cell
    cdef float fr = (row - r0 * cell) / <float>cell, fc = (column - c0 * cell) / <float>cell
    fr = fr * fr * (3 - 2 * fr)
    fc = fc * fc * (3 - 2 * fc)
    cdef float top = lattice(seed, r0, c0) * (1 - fc) + lattice(seed, r0, c0 + 1) * fc
    cdef float bottom = lattice(seed, r0 + 1, c0) * (1 - fc) + lattice(seed, r0 + 1, c0 + 1) * fc
    return top * (1 - fr) + bottom * fr


cdef inline float lattice(unsigned int seed, int row, int column) noexcept nogil:
    # A hash of (seed, row, column) as a float in [0, 1).
    cdef unsigned int h = seed ^ (<unsigned int>row * 0x27D4EB2Du) ^ (<unsigned int>column * 0x165667B1u)
    h = (h ^ (h >> 15)) * 0x2C1B3C6Du
    h = (h ^ (h >> 12)) * 0x297A2D39u
    h ^= h >> 15
    return (h >> 8) * (1.0 / 16777216.0)

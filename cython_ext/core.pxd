# The shared native vector loop: one implementation of stepping, autoreset, time limits,
# episode accounting and threading for every shoal game.
#
# A game is a subclass of VectorCore that adds only its rules, by overriding the five hooks
# below, and two more that let get_state / set_state snapshot its state. The layout every game
# shares:
#
#   world   one independent simulation with its own Rng (a Breakout table, a Snake arena).
#   row     one agent; the vector env's rows are the agents of all worlds, world by world:
#           row = world * agents_per_world + agent. Single-agent games have one row per world.
#
# Buffers are numpy arrays allocated once by the Python wrapper (envs/vector_env.py) and bound
# here as raw pointers; the loop never allocates and never touches a Python object.
from shoal._ext.rng cimport Rng

cdef enum:
    MAX_GAME_STATS = 16

cdef enum AutoresetCode:
    AUTORESET_NEXT_STEP = 0
    AUTORESET_SAME_STEP = 1
    AUTORESET_DISABLED = 2


cdef class VectorCore:
    # Shape, fixed at construction.
    cdef readonly int num_worlds
    cdef readonly int agents_per_world
    cdef readonly int num_rows
    # Set by the game's __cinit__: bytes of one row's observation, number of game statistics
    # written per finished episode (after return and length, which the loop records itself).
    cdef readonly Py_ssize_t observation_bytes
    cdef readonly int num_game_stats
    # Games with action masks (info["action_mask"]) set the number of actions; 0: no masks.
    cdef readonly int action_mask_size

    # Loop settings (configure()).
    cdef readonly int autoreset_mode
    cdef readonly long long max_episode_steps  # 0: no time limit
    cdef readonly int num_threads
    cdef bint warned_after_fork

    cdef Rng* rngs  # one per world

    # Bound buffers (bind()); see envs/vector_env.py for dtypes and shapes.
    cdef object bound_arrays  # keeps the numpy arrays alive
    cdef object bound_observations
    cdef char* observations  # [num_rows, observation_bytes]
    cdef char* final_observations  # SAME_STEP: the last observation of rows that just ended
    cdef char* actions  # [num_rows] int32 (Discrete) or [num_rows, k] float32 (Box)
    cdef float* rewards
    cdef unsigned char* terminations
    cdef unsigned char* truncations
    cdef unsigned char* episode_ended  # the row's episode ended on this step
    cdef unsigned char* awaiting_reset  # ended, not reset yet (NEXT_STEP and DISABLED modes)
    cdef double* episode_stats  # [2 + num_game_stats, num_rows]: return, length, game stats
    cdef unsigned char* action_masks  # [num_rows, action_mask_size]: of the observations
    cdef unsigned char* final_action_masks  # SAME_STEP: of the final observations

    # Owned per-row state.
    cdef unsigned char* resetting  # this step resets the row instead of acting (NEXT_STEP)
    cdef double* episode_returns
    cdef long long* episode_lengths

    # ---- Hooks a game overrides (all run without the GIL, one world per thread) ----
    # Start a fresh world: everything in it, all its agents.
    cdef void reset_world(self, int world) noexcept nogil
    # Multi-agent games: start a new episode for one agent by respawning it into the running
    # world (remove it first if alive). Never called when agents_per_world == 1: the loop
    # restarts a single-agent world with reset_world.
    cdef void reset_agent(self, int row) noexcept nogil
    # Advance a world by one action per agent. Rewards, terminations and truncations of its
    # rows are zero on entry; add rewards, set terminations[row] = 1 when an agent's episode
    # ends by the rules. Rows with resetting[row] set were just reset: ignore their action.
    cdef void step_world(self, int world) noexcept nogil
    # Write one row's observation to `out` (observation_bytes bytes).
    cdef void write_observation(self, int row, char* out) noexcept nogil
    # Write the game's num_game_stats statistics of the row's episode that just ended.
    cdef void write_game_stats(self, int row, double* out) noexcept nogil
    # Games with action_mask_size > 0: write which actions have any effect for the row's
    # current state (action_mask_size bytes, 1 or 0). Called right after write_observation.
    cdef void write_action_mask(self, int row, unsigned char* out) noexcept nogil

    # ---- The state hooks a game overrides (with the GIL: records(), get_state, set_state) ----
    # The game's whole state as named numpy arrays that view its own memory, never copies. An
    # array of pointer-free structs is a structured array with the struct's fields, typed by
    # Cython from the struct: np.asarray(<MyWorld[:n]>self.worlds). records() hands them out;
    # get_state copies them out, as bytes, and set_state copies checked bytes in. Everything a
    # later step reads must be there, and no pointer (pointers are rebuilt by the
    # constructor). A change to what they hold (a struct's fields) bumps STATE_FORMAT_VERSION
    # (core.pyx).
    cdef dict game_records(self)
    # Raise ValueError unless `arrays` (named, typed and shaped like the views, C-contiguous
    # and aligned) is a state the rules can run from without reading or writing outside the
    # core's memory. Called before set_state writes anything.
    cdef check_game_state(self, dict arrays)

    # ---- The shared loop ----
    cdef void step_world_and_account(self, int world) noexcept nogil
    cdef void start_new_episode(self, int row) noexcept nogil
    cdef void start_episode(self, int row) noexcept nogil
    cdef void write_row(self, int row, char* observations, unsigned char* masks) noexcept nogil
    cdef dict state_views(self)  # the loop's and the game's (prefixed "game.")
    # For the games' Python-facing inspection and test setters: `world` as an index, or a
    # TypeError / IndexError naming it.
    cdef int world_index(self, world) except -1

# The shared native vector loop (declarations and the game contract: core.pxd).
from cython.parallel cimport prange
from libc.stdint cimport uint64_t
from libc.stdlib cimport calloc, free
from libc.string cimport memset

from shoal._ext.rng cimport rng_seed

import numbers
import os
import warnings

import numpy as np

cdef extern from *:
    """
    #ifdef _OPENMP
    #define SHOAL_HAS_OPENMP 1
    #else
    #define SHOAL_HAS_OPENMP 0
    #endif
    """
    const int SHOAL_HAS_OPENMP


# OpenMP's thread pool (GCC's libgomp) does not survive fork(): a child that enters a parallel
# region after its parent ran one hangs. These two flags describe the process, not any env:
# once forked from a parent that ran parallel steps, a process steps on one thread.
cdef bint parallel_region_used = False
cdef bint forked_after_parallel = False


def _after_fork_in_child():
    global forked_after_parallel
    if parallel_region_used:
        forked_after_parallel = True


os.register_at_fork(after_in_child=_after_fork_in_child)


def openmp_available():
    """True when the cores were compiled with OpenMP (num_threads > 1 runs in parallel)."""
    return bool(SHOAL_HAS_OPENMP)


#: Version of the layout of get_state. Bump it whenever what a state holds changes (a field
#: added to a game's struct included), so that an older state is refused, never misread.
STATE_FORMAT_VERSION = 1
#: Appended to every refusal of a state: what a state can be loaded into.
STATE_SCOPE = "a state loads only into an env of the same game, arguments and shoal build"


def checked_state_arrays(state, layout):
    """The arrays of `state` named in `layout` ({name: (dtype, shape)}), each checked for its
    dtype and shape and made C-contiguous and aligned (copied only where it is not).

    Accepts anything numpy converts (a CPU torch tensor, too). Raises ValueError naming the
    missing entries, or the entry whose dtype or shape differs.
    """
    missing = [name for name in layout if name not in state]
    if missing:
        raise ValueError(f"the state lacks {missing}; {STATE_SCOPE}")
    arrays = {}
    for name, (dtype, shape) in layout.items():
        array = np.asarray(state[name])
        if array.dtype != dtype:
            raise ValueError(
                f"state[{name!r}] must have dtype {np.dtype(dtype)}, got {array.dtype}; "
                f"{STATE_SCOPE}"
            )
        if array.shape != shape:
            raise ValueError(
                f"state[{name!r}] must have shape {shape}, got {array.shape}; {STATE_SCOPE}"
            )
        arrays[name] = np.require(array, requirements="CA")
    return arrays


def raw_bytes(name, array, dtype, Py_ssize_t nbytes):
    """The bytes of `array` itself, checked: never a copy, which the loop would outlive."""
    if not isinstance(array, np.ndarray):
        raise TypeError(f"{name} must be a numpy array, got {type(array).__name__}")
    if dtype is not None and array.dtype != dtype:
        raise ValueError(f"{name} must have dtype {np.dtype(dtype)}, got {array.dtype}")
    if not (array.flags.c_contiguous and array.flags.writeable):
        raise ValueError(f"{name} must be a C-contiguous, writeable array")
    if array.nbytes != nbytes or nbytes == 0:
        raise ValueError(f"{name} must hold {nbytes} bytes, got {array.nbytes}")
    return array.reshape(-1).view(np.uint8)


def as_bytes(record):
    """A structured array (of structs) as its raw bytes, [count, itemsize]; others unchanged."""
    if record.dtype.names is None:
        return record
    return record.reshape(-1).view(np.uint8).reshape(len(record), record.dtype.itemsize)


cdef class VectorCore:
    def __cinit__(self, int num_worlds, int agents_per_world, *args, **kwargs):
        # Arguments are validated by the Python wrapper; these checks only keep a direct
        # caller from corrupting memory.
        if num_worlds < 1 or agents_per_world < 1:
            raise ValueError(
                f"num_worlds and agents_per_world must be >= 1, got {num_worlds}, {agents_per_world}"
            )
        self.num_worlds = num_worlds
        self.agents_per_world = agents_per_world
        self.num_rows = num_worlds * agents_per_world
        self.autoreset_mode = AUTORESET_NEXT_STEP
        self.max_episode_steps = 0
        self.num_threads = 1
        self.rngs = <Rng*>calloc(num_worlds, sizeof(Rng))
        self.resetting = <unsigned char*>calloc(self.num_rows, 1)
        self.episode_returns = <double*>calloc(self.num_rows, sizeof(double))
        self.episode_lengths = <long long*>calloc(self.num_rows, sizeof(long long))
        if not (self.rngs and self.resetting and self.episode_returns and self.episode_lengths):
            raise MemoryError("could not allocate the vector core")
        # A valid state from the start (an all-zero PCG32 is stuck at zero); the wrapper
        # seeds every world properly at its first reset.
        cdef int world
        for world in range(num_worlds):
            rng_seed(&self.rngs[world], <uint64_t>world)

    def __dealloc__(self):
        free(self.rngs)
        free(self.resetting)
        free(self.episode_returns)
        free(self.episode_lengths)

    # ---- Python-facing setup (called once, or at reset; never per step) ----

    def configure(self, int autoreset_mode, long long max_episode_steps, int num_threads):
        if autoreset_mode not in (AUTORESET_NEXT_STEP, AUTORESET_SAME_STEP, AUTORESET_DISABLED):
            raise ValueError(f"unknown autoreset code {autoreset_mode}")
        self.autoreset_mode = autoreset_mode
        self.max_episode_steps = max(max_episode_steps, 0)
        self.num_threads = max(num_threads, 1)

    def bind(self, observations, final_observations, actions, rewards, terminations,
             truncations, episode_ended, awaiting_reset, episode_stats, action_masks=None,
             final_action_masks=None):
        """Bind the wrapper's numpy buffers to the loop (envs/vector_env.py, CoreBuffers).

        Each must be a C-contiguous, writeable numpy array of the exact dtype and size: the
        loop keeps raw pointers into them, so a copy made here would leave it writing into
        freed memory. The two action-mask buffers are given exactly when the game has masks.
        """
        n = self.num_rows
        if not 0 <= self.num_game_stats <= MAX_GAME_STATS:
            raise ValueError(f"a game may write at most {MAX_GAME_STATS} statistics")
        observation_bytes = n * self.observation_bytes
        cdef unsigned char[::1] obs = raw_bytes("observations", observations, None, observation_bytes)
        cdef unsigned char[::1] final_obs = raw_bytes(
            "final_observations", final_observations, None, observation_bytes)
        if actions.dtype not in (np.int32, np.float32) or actions.shape[:1] != (n,):
            raise ValueError(
                f"actions must be int32 or float32 with {n} rows, got {actions.dtype} {actions.shape}"
            )
        cdef unsigned char[::1] act = raw_bytes("actions", actions, None, actions.nbytes)
        cdef unsigned char[::1] rew = raw_bytes("rewards", rewards, np.float32, 4 * n)
        cdef unsigned char[::1] term = raw_bytes("terminations", terminations, np.bool_, n)
        cdef unsigned char[::1] trunc = raw_bytes("truncations", truncations, np.bool_, n)
        cdef unsigned char[::1] ended = raw_bytes("episode_ended", episode_ended, np.bool_, n)
        cdef unsigned char[::1] awaiting = raw_bytes("awaiting_reset", awaiting_reset, np.bool_, n)
        cdef unsigned char[::1] stats = raw_bytes(
            "episode_stats", episode_stats, np.float64, 8 * n * (2 + self.num_game_stats))
        cdef unsigned char[::1] masks
        cdef unsigned char[::1] final_masks
        if (action_masks is None) != (self.action_mask_size == 0) or (
                (final_action_masks is None) != (action_masks is None)):
            raise ValueError(
                f"action_masks and final_action_masks must be given exactly when the game has "
                f"action masks ({self.action_mask_size} actions)"
            )
        if action_masks is not None:
            size = n * self.action_mask_size
            masks = raw_bytes("action_masks", action_masks, np.bool_, size)
            final_masks = raw_bytes("final_action_masks", final_action_masks, np.bool_, size)
            self.action_masks = &masks[0]
            self.final_action_masks = &final_masks[0]
        self.bound_observations = observations
        self.bound_arrays = (final_observations, actions, rewards, terminations, truncations,
                             episode_ended, awaiting_reset, episode_stats, action_masks,
                             final_action_masks)
        self.observations = <char*>&obs[0]
        self.final_observations = <char*>&final_obs[0]
        self.actions = <char*>&act[0]
        self.rewards = <float*>&rew[0]
        self.terminations = &term[0]
        self.truncations = &trunc[0]
        self.episode_ended = &ended[0]
        self.awaiting_reset = &awaiting[0]
        self.episode_stats = <double*>&stats[0]

    def bind_observations(self, observations):
        """Write the next observations into `observations` (like the bound buffer).

        The vector env hands a fresh array to each step when it returns copies, so the loop
        writes every row straight into the array the user receives, in parallel, and no
        separate copy is needed. Every step writes every row, so nothing stale is left.
        """
        self._require_bound()
        cdef unsigned char[::1] obs = raw_bytes(
            "observations", observations, None, self.num_rows * self.observation_bytes)
        self.bound_observations = observations
        self.observations = <char*>&obs[0]

    def seed_worlds(self, const uint64_t[::1] seeds, const unsigned char[::1] world_mask):
        """Seed the Rng of every world whose mask entry is set from its 64-bit seed."""
        if seeds.shape[0] != self.num_worlds or world_mask.shape[0] != self.num_worlds:
            raise ValueError(f"seeds and world_mask need {self.num_worlds} entries")
        cdef int world
        for world in range(self.num_worlds):
            if world_mask[world]:
                rng_seed(&self.rngs[world], seeds[world])

    def reset(self, const unsigned char[::1] row_mask=None):
        """Reset all worlds (row_mask None) or the masked rows, and write their observations.

        A world whose rows are all masked is reset as a whole (reset_world); otherwise each
        masked row starts a new episode in the running world (reset_agent).
        """
        self._require_bound()
        if row_mask is not None and row_mask.shape[0] != self.num_rows:
            raise ValueError(f"row_mask needs {self.num_rows} entries")
        cdef const unsigned char* mask = NULL if row_mask is None else &row_mask[0]
        cdef int world, row, first, agents = self.agents_per_world, masked
        with nogil:
            for world in range(self.num_worlds):
                first = world * agents
                masked = agents
                if mask != NULL:
                    masked = 0
                    for row in range(first, first + agents):
                        masked += mask[row] != 0
                if masked == 0:
                    continue
                if masked == agents:
                    self.reset_world(world)
                else:
                    for row in range(first, first + agents):
                        if mask[row]:
                            self.reset_agent(row)
                for row in range(first, first + agents):
                    if mask == NULL or mask[row]:
                        self.start_episode(row)
                        self.write_row(row, self.observations, self.action_masks)

    def step(self):
        """Step every world once with the bound actions; returns how many episodes ended."""
        global parallel_region_used
        self._require_bound()
        cdef int world, row, ended = 0
        cdef int threads = self.num_threads
        if threads > 1 and forked_after_parallel:
            threads = 1
            if not self.warned_after_fork:
                self.warned_after_fork = True
                warnings.warn(
                    "this process was forked from one that had stepped shoal envs on several "
                    "threads, and OpenMP cannot run in such a child: stepping on one thread "
                    "(results are identical). Start workers with the 'spawn' or 'forkserver' "
                    "method to use threads in them.",
                    RuntimeWarning,
                    stacklevel=2,
                )
        elif threads > 1:
            parallel_region_used = True
        with nogil:
            if threads > 1:
                for world in prange(self.num_worlds, num_threads=threads, schedule="static"):
                    self.step_world_and_account(world)
            else:
                for world in range(self.num_worlds):
                    self.step_world_and_account(world)
            for row in range(self.num_rows):
                ended += self.episode_ended[row]
        return ended

    def episode_progress(self, int row):
        """(return so far, steps so far) of the row's current episode, for HUDs."""
        if not 0 <= row < self.num_rows:
            raise IndexError(f"row must be in [0, {self.num_rows - 1}], got {row}")
        return float(self.episode_returns[row]), int(self.episode_lengths[row])

    # ---- The game's tables, viewed in place (Python-facing, never per step) ----

    def records(self):
        """{name: numpy array} of the game's whole state, viewing the core's own memory.

        An array of structs is a structured array with the struct's fields (its dtype made by
        Cython from the struct), one element per world, row or tile: `records()["worlds"][0]
        ["ball_x"]`. For tests, tools and debuggers. Writes go straight into the running
        game and nothing checks them: a value the rules never make (an index out of its
        array, say) is undefined behaviour. set_state is the checked way to load a state.
        """
        return self.game_records()

    # ---- Snapshots (Python-facing, never per step) ----

    def state_layout(self):
        """{name: (dtype, shape)} of every array get_state returns; fixed at construction."""
        return {name: (view.dtype, view.shape) for name, view in self.state_views().items()}

    def get_state(self):
        """Copies of the core's whole state: the loop's per-world Rngs and per-row episode
        accounting, and the game's state (names prefixed "game."). See state_views."""
        return {name: view.copy() for name, view in self.state_views().items()}

    def set_state(self, state):
        """Load a state get_state returned, from a core of the same game and sizes.

        Everything is checked before anything is written, so a refused state (ValueError)
        leaves the core as it was.
        """
        views = self.state_views()
        extra = sorted(set(state) - set(views))
        if extra:
            raise ValueError(f"the state has unknown entries {extra}; {STATE_SCOPE}")
        arrays = checked_state_arrays(state, self.state_layout())
        # PCG32 needs an odd increment (rng.pxd); an even one can only come from damage.
        increments = arrays["rngs"].view(np.uint64)[:, 1]
        if not (increments & 1).all():
            raise ValueError(
                f"state['rngs'] holds invalid generators (even increments) for worlds "
                f"{np.flatnonzero((increments & 1) == 0)[:8].tolist()}"
            )
        self.check_game_state({
            name[len("game."):]: array for name, array in arrays.items() if name.startswith("game.")
        })
        for name, view in views.items():
            view[...] = arrays[name]

    cdef dict state_views(self):
        # Views of the core's own memory, alive only during one get_state / set_state call.
        # The bound buffers (observations, awaiting_reset, ...) are the wrapper's to save.
        cdef Py_ssize_t rows = self.num_rows
        rng_bytes = <unsigned char[:self.num_worlds * sizeof(Rng)]><unsigned char*>self.rngs
        views = {
            "rngs": np.asarray(rng_bytes).reshape(self.num_worlds, sizeof(Rng)),
            "resetting": np.asarray(<unsigned char[:rows]>self.resetting).view(np.bool_),
            "episode_returns": np.asarray(<double[:rows]>self.episode_returns),
            "episode_lengths": np.asarray(<long long[:rows]>self.episode_lengths).view(np.int64),
        }
        for name, record in self.game_records().items():
            views[f"game.{name}"] = as_bytes(record)
        return views

    cdef int world_index(self, world) except -1:
        if isinstance(world, bool) or not isinstance(world, numbers.Integral):
            raise TypeError(f"world must be an int, got {world!r} ({type(world).__name__})")
        if not 0 <= world < self.num_worlds:
            raise IndexError(f"world must be in [0, {self.num_worlds - 1}], got {world}")
        return <int>world

    def _require_bound(self):
        if self.observations == NULL:
            raise RuntimeError("the vector core has no buffers bound; call bind() first")

    # ---- The loop every game shares ----

    cdef void start_new_episode(self, int row) noexcept nogil:
        # An autoreset restarts a single-agent world whole, exactly as reset() does, so the
        # vector env matches Gymnasium's SyncVectorEnv; in a multi-agent world only the agent
        # respawns and the world runs on.
        if self.agents_per_world == 1:
            self.reset_world(row)
        else:
            self.reset_agent(row)
        self.start_episode(row)

    cdef void start_episode(self, int row) noexcept nogil:
        self.episode_returns[row] = 0.0
        self.episode_lengths[row] = 0
        self.awaiting_reset[row] = 0
        self.resetting[row] = 0

    cdef void step_world_and_account(self, int world) noexcept nogil:
        cdef int agents = self.agents_per_world
        cdef int first = world * agents, last = first + agents, row
        cdef int mode = self.autoreset_mode
        cdef int n = self.num_rows, column
        cdef double game_stats[MAX_GAME_STATS]

        # NEXT_STEP: a row that ended on the previous step is reset now, ignoring its action.
        for row in range(first, last):
            self.rewards[row] = 0.0
            self.terminations[row] = 0
            self.truncations[row] = 0
            if self.episode_ended[row]:
                # Statistics are non-zero only on rows whose episode ends on this step, so the
                # wrapper hands them out without masking.
                self.episode_ended[row] = 0
                for column in range(2 + self.num_game_stats):
                    self.episode_stats[column * n + row] = 0.0
            if mode == AUTORESET_NEXT_STEP and self.awaiting_reset[row]:
                self.start_new_episode(row)
                self.resetting[row] = 1

        self.step_world(world)

        # Episode accounting: returns, lengths, the time limit (a truncation), statistics.
        for row in range(first, last):
            if self.resetting[row]:
                self.resetting[row] = 0
                continue
            self.episode_returns[row] += self.rewards[row]
            self.episode_lengths[row] += 1
            if self.max_episode_steps > 0 and self.episode_lengths[row] >= self.max_episode_steps:
                self.truncations[row] = 1
            if self.terminations[row] or self.truncations[row]:
                self.episode_ended[row] = 1
                # Column-major [statistic, row]: each statistic is one contiguous array.
                self.episode_stats[row] = self.episode_returns[row]
                self.episode_stats[n + row] = <double>self.episode_lengths[row]
                self.write_game_stats(row, game_stats)
                for column in range(self.num_game_stats):
                    self.episode_stats[(2 + column) * n + row] = game_stats[column]
                self.awaiting_reset[row] = 1

        # SAME_STEP: keep the last observation of each ended row, then reset them at once.
        # Two passes, so that no last observation shows an agent respawned before it.
        if mode == AUTORESET_SAME_STEP:
            for row in range(first, last):
                if self.episode_ended[row]:
                    self.write_row(row, self.final_observations, self.final_action_masks)
            for row in range(first, last):
                if self.episode_ended[row]:
                    self.start_new_episode(row)

        for row in range(first, last):
            self.write_row(row, self.observations, self.action_masks)

    cdef void write_row(self, int row, char* observations, unsigned char* masks) noexcept nogil:
        # The row's observation into `observations`, and with it its action mask into `masks`.
        self.write_observation(row, observations + row * self.observation_bytes)
        if self.action_mask_size > 0:
            self.write_action_mask(row, masks + row * self.action_mask_size)

    # ---- Default hooks ----

    cdef void reset_world(self, int world) noexcept nogil:
        cdef int row
        for row in range(world * self.agents_per_world, (world + 1) * self.agents_per_world):
            self.reset_agent(row)

    cdef void reset_agent(self, int row) noexcept nogil:
        pass

    cdef void step_world(self, int world) noexcept nogil:
        pass

    cdef void write_observation(self, int row, char* out) noexcept nogil:
        pass

    cdef void write_game_stats(self, int row, double* out) noexcept nogil:
        pass

    cdef void write_action_mask(self, int row, unsigned char* out) noexcept nogil:
        pass

    cdef dict game_records(self):
        # No silent default: a game that forgot its state would restore wrongly.
        raise NotImplementedError(
            f"{type(self).__name__} does not implement game_records: its state cannot be saved"
        )

    cdef check_game_state(self, dict arrays):
        pass  # for games whose rules are memory-safe on any bytes of their state

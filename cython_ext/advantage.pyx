# The advantage op on the CPU: GAE with V-trace's clipped importance weights.
#
# For each segment s (a row of [S, H] arrays), backwards over its H steps:
#
#   rho_t = min(ratio_t, rho_clip)        c_t = min(ratio_t, c_clip)        V_H = next_value
#   delta_t = rho_t * (r_t + gamma * (1 - d_t) * V_{t+1} - V_t)
#   A_t = delta_t + gamma * gae_lambda * c_t * (1 - d_t) * A_{t+1}              A_H = 0
#
# With every ratio 1 this is plain GAE. The arithmetic is float32 in the order written, the
# same as the torch reference (shoal/trainer/advantage.py), and rows are independent, so they
# run in parallel with the GIL released. The caller (the trainer's dispatch) hands in the
# tensors' own memory: no copy on the way in or out.
from cython.parallel cimport prange


cdef inline float advantage_step(const float* values, const float* rewards,
                                 const float* dones, const float* ratios, float* out,
                                 Py_ssize_t t, float* next_value, float next_advantage,
                                 float gamma, float gamma_lambda, float rho_clip,
                                 float c_clip) noexcept nogil:
    # One step of the recursion for one row; returns A_t and moves next_value to V_t.
    cdef float not_done = <float>1.0 - dones[t]
    cdef float ratio = ratios[t]
    cdef float rho = ratio if ratio < rho_clip else rho_clip
    cdef float c = ratio if ratio < c_clip else c_clip
    cdef float delta = rho * (rewards[t] + gamma * not_done * next_value[0] - values[t])
    next_advantage = delta + gamma_lambda * c * not_done * next_advantage
    out[t] = next_advantage
    next_value[0] = values[t]
    return next_advantage


cdef enum:
    # Rows walked side by side. One row's recursion is a chain of dependent multiply-adds,
    # so a lone row waits on their latency; four independent chains keep the core busy.
    ROWS_PER_BLOCK = 4


cdef void advantage_rows(const float* values, const float* rewards, const float* dones,
                         const float* ratios, const float* next_values, float* out, int rows,
                         Py_ssize_t horizon, float gamma, float gamma_lambda, float rho_clip,
                         float c_clip) noexcept nogil:
    # `rows` (<= ROWS_PER_BLOCK) consecutive rows of [*, horizon] arrays, backwards over t.
    cdef float v0 = next_values[0], v1 = 0, v2 = 0, v3 = 0
    cdef float a0 = 0, a1 = 0, a2 = 0, a3 = 0
    cdef Py_ssize_t t, h = horizon
    if rows == ROWS_PER_BLOCK:
        v1, v2, v3 = next_values[1], next_values[2], next_values[3]
        for t in range(h - 1, -1, -1):
            a0 = advantage_step(values, rewards, dones, ratios, out, t, &v0, a0, gamma,
                                gamma_lambda, rho_clip, c_clip)
            a1 = advantage_step(values + h, rewards + h, dones + h, ratios + h, out + h, t,
                                &v1, a1, gamma, gamma_lambda, rho_clip, c_clip)
            a2 = advantage_step(values + 2 * h, rewards + 2 * h, dones + 2 * h,
                                ratios + 2 * h, out + 2 * h, t, &v2, a2, gamma, gamma_lambda,
                                rho_clip, c_clip)
            a3 = advantage_step(values + 3 * h, rewards + 3 * h, dones + 3 * h,
                                ratios + 3 * h, out + 3 * h, t, &v3, a3, gamma, gamma_lambda,
                                rho_clip, c_clip)
        return
    cdef int k
    for k in range(rows):  # the last few rows
        v0, a0 = next_values[k], 0
        for t in range(h - 1, -1, -1):
            a0 = advantage_step(values + k * h, rewards + k * h, dones + k * h, ratios + k * h,
                                out + k * h, t, &v0, a0, gamma, gamma_lambda, rho_clip, c_clip)


def compute_advantages(const float[:, ::1] values, const float[:, ::1] rewards,
                       const float[:, ::1] dones, const float[:, ::1] ratios,
                       const float[::1] next_value, float[:, ::1] out, double gamma,
                       double gae_lambda, float rho_clip, float c_clip, int num_threads=1):
    """Write the advantages of [S, H] float32 arrays into `out` (shapes checked here, values
    by the caller). Rows run on `num_threads` OpenMP threads."""
    cdef Py_ssize_t segments = values.shape[0], horizon = values.shape[1]
    for name, array in (("rewards", rewards), ("dones", dones), ("ratios", ratios), ("out", out)):
        if array.shape[0] != segments or array.shape[1] != horizon:
            raise ValueError(
                f"{name} must have shape ({segments}, {horizon}), got "
                f"({array.shape[0]}, {array.shape[1]})"
            )
    if next_value.shape[0] != segments:
        raise ValueError(f"next_value must have shape ({segments},), got ({next_value.shape[0]},)")
    if segments == 0 or horizon == 0:
        return
    # Scalars rounded to float32 as torch rounds the reference's Python scalars; the product
    # gamma * gae_lambda is taken in double first, as Python does.
    cdef float gamma_f = <float>gamma
    cdef float gamma_lambda = <float>(gamma * gae_lambda)
    cdef Py_ssize_t block, first, blocks = (segments + ROWS_PER_BLOCK - 1) // ROWS_PER_BLOCK
    cdef int rows
    with nogil:
        for block in prange(blocks, num_threads=max(num_threads, 1), schedule="static"):
            first = block * ROWS_PER_BLOCK
            rows = <int>min(ROWS_PER_BLOCK, segments - first)
            advantage_rows(&values[first, 0], &rewards[first, 0], &dones[first, 0],
                           &ratios[first, 0], &next_value[first], &out[first, 0], rows, horizon,
                           gamma_f, gamma_lambda, rho_clip, c_clip)

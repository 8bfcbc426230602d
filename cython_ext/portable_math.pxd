# Small math shared by the game cores: clamps, and math that gives the same bits on every CPU. libm's sin and cos are picked per CPU at run
# time (SSE, AVX, FMA paths) and promise no such thing, so the games' trigonometry uses these:
# plain arithmetic, and square roots (exact IEEE operations) where needed.


cdef inline float clamp(float value, float low, float high) noexcept nogil:
    # Two steps, each of which compiles to one branch-free max / min instruction.
    value = low if value < low else value
    return high if value > high else value


cdef inline int clamp_int(int value, int low, int high) noexcept nogil:
    return low if value < low else (high if value > high else value)


cdef inline void cosine_sine(double angle, double* cosine, double* sine) noexcept nogil:
    # cos and sin of an angle in [-pi, pi], from the Taylor series of the half angle (at most
    # pi / 2: error below 1e-11) and the double-angle formulas.
    cdef double h = 0.5 * angle
    cdef double h2 = h * h
    cdef double s = h * (1 + h2 * (-1 / 6.0 + h2 * (1 / 120.0 + h2 * (-1 / 5040.0 + h2 * (
        1 / 362880.0 + h2 * (-1 / 39916800.0 + h2 * (1 / 6227020800.0 + h2 * (
            -1 / 1307674368000.0))))))))
    cdef double c = 1 + h2 * (-1 / 2.0 + h2 * (1 / 24.0 + h2 * (-1 / 720.0 + h2 * (
        1 / 40320.0 + h2 * (-1 / 3628800.0 + h2 * (1 / 479001600.0 + h2 * (
            -1 / 87178291200.0 + h2 * (1 / 20922789888000.0))))))))
    sine[0] = 2 * s * c
    cosine[0] = 1 - 2 * s * s

# The random number generator every shoal world owns: PCG32 (O'Neill, 2014).
#
# Small (16 bytes), fast, statistically strong, and fully determined by its seed, so a
# world's trajectory depends only on its own seed and actions: no libc rand(), no global
# state, identical results for any thread count.
from libc.stdint cimport uint32_t, uint64_t

cdef struct Rng:
    uint64_t state
    uint64_t increment  # selects the stream; always odd


cdef inline uint64_t splitmix64(uint64_t x) noexcept nogil:
    # Spreads nearby seeds (0, 1, 2, ...) over the whole state space.
    x = x + <uint64_t>0x9E3779B97F4A7C15
    x = (x ^ (x >> 30)) * <uint64_t>0xBF58476D1CE4E5B9
    x = (x ^ (x >> 27)) * <uint64_t>0x94D049BB133111EB
    return x ^ (x >> 31)


cdef inline uint32_t rng_next(Rng* rng) noexcept nogil:
    cdef uint64_t old = rng.state
    rng.state = old * <uint64_t>6364136223846793005 + rng.increment
    cdef uint32_t xorshifted = <uint32_t>(((old >> 18) ^ old) >> 27)
    cdef uint32_t rotation = <uint32_t>(old >> 59)
    return (xorshifted >> rotation) | (xorshifted << ((-rotation) & 31))


cdef inline void rng_seed(Rng* rng, uint64_t seed) noexcept nogil:
    rng.state = 0
    rng.increment = (splitmix64(seed ^ <uint64_t>0x5851F42D4C957F2D) << 1) | 1
    rng_next(rng)
    rng.state += splitmix64(seed)
    rng_next(rng)


cdef inline uint32_t rng_below(Rng* rng, uint32_t bound) noexcept nogil:
    # Uniform integer in [0, bound) without modulo bias (Lemire, 2019). bound must be > 0.
    cdef uint64_t product = <uint64_t>rng_next(rng) * bound
    cdef uint32_t low = <uint32_t>product
    cdef uint32_t threshold
    if low < bound:
        threshold = (-bound) % bound
        while low < threshold:
            product = <uint64_t>rng_next(rng) * bound
            low = <uint32_t>product
    return <uint32_t>(product >> 32)


cdef inline float rng_uniform(Rng* rng) noexcept nogil:
    # Uniform float in [0, 1): the top 24 bits fill a float's mantissa exactly.
    return (rng_next(rng) >> 8) * (1.0 / 16777216.0)

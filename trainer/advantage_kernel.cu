// The advantage op on CUDA: GAE with V-trace's clipped importance weights (the definition is
// in advantage.py). Plain CUDA C with a C launcher, no torch headers, so `nvcc -c` compiles
// it on its own (CI does, wherever nvcc exists) and advantage_binding.cpp hands it tensors.
//
// One thread per segment walks its row backwards, as the CPU kernel does; the float32
// arithmetic follows the same order, so the three implementations agree to rounding.
#include <cuda_runtime.h>

__global__ void shoal_advantage_kernel(const float* __restrict__ values,
                                       const float* __restrict__ rewards,
                                       const float* __restrict__ dones,
                                       const float* __restrict__ ratios,
                                       const float* __restrict__ next_values,
                                       float* __restrict__ out, long long segments, int horizon,
                                       float gamma, float gamma_lambda, float rho_clip,
                                       float c_clip) {
    long long segment = (long long)blockIdx.x * blockDim.x + threadIdx.x;
    if (segment >= segments) return;
    long long row = segment * horizon;
    float next_value = next_values[segment];
    float next_advantage = 0.0f;
    for (int t = horizon - 1; t >= 0; --t) {
        float ratio = ratios[row + t];
        float not_done = 1.0f - dones[row + t];
        float rho = ratio < rho_clip ? ratio : rho_clip;
        float c = ratio < c_clip ? ratio : c_clip;
        // __fmul_rn / __fadd_rn: no fused multiply-add, the same rounding as the CPU kernel.
        float bootstrap = __fmul_rn(__fmul_rn(gamma, not_done), next_value);
        float delta = __fmul_rn(rho, __fsub_rn(__fadd_rn(rewards[row + t], bootstrap),
                                               values[row + t]));
        float carry = __fmul_rn(__fmul_rn(__fmul_rn(gamma_lambda, c), not_done), next_advantage);
        next_advantage = __fadd_rn(delta, carry);
        out[row + t] = next_advantage;
        next_value = values[row + t];
    }
}

// Launches on `stream` (torch's current stream); returns the launch's error code.
extern "C" int shoal_advantage_launch(const float* values, const float* rewards,
                                      const float* dones, const float* ratios,
                                      const float* next_values, float* out, long long segments,
                                      int horizon, float gamma, float gamma_lambda,
                                      float rho_clip, float c_clip, cudaStream_t stream) {
    if (segments == 0 || horizon == 0) return 0;
    const int threads = 256;
    long long blocks = (segments + threads - 1) / threads;
    shoal_advantage_kernel<<<(unsigned int)blocks, threads, 0, stream>>>(
        values, rewards, dones, ratios, next_values, out, segments, horizon, gamma, gamma_lambda,
        rho_clip, c_clip);
    return (int)cudaGetLastError();
}

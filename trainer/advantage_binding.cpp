// torch binding of the CUDA advantage kernel (advantage_kernel.cu): checks the tensors and
// launches on torch's current CUDA stream. Built on first use by advantage.py.
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/extension.h>

extern "C" int shoal_advantage_launch(const float* values, const float* rewards,
                                      const float* dones, const float* ratios,
                                      const float* next_values, float* out, long long segments,
                                      int horizon, float gamma, float gamma_lambda,
                                      float rho_clip, float c_clip, cudaStream_t stream);

static void check(const torch::Tensor& tensor, const char* name) {
    TORCH_CHECK(tensor.is_cuda(), name, " must be a CUDA tensor");
    TORCH_CHECK(tensor.scalar_type() == torch::kFloat32, name, " must be float32");
    TORCH_CHECK(tensor.is_contiguous(), name, " must be contiguous");
}

void compute_advantages(torch::Tensor values, torch::Tensor rewards, torch::Tensor dones,
                        torch::Tensor ratios, torch::Tensor next_value, torch::Tensor out,
                        double gamma, double gae_lambda, double rho_clip, double c_clip) {
    check(values, "values");
    check(rewards, "rewards");
    check(dones, "dones");
    check(ratios, "ratios");
    check(next_value, "next_value");
    check(out, "out");
    TORCH_CHECK(values.dim() == 2, "values must be [S, H]");
    const c10::cuda::CUDAGuard guard(values.device());
    // gamma * gae_lambda rounded to float once, as the torch reference's scalar product is.
    const float gamma_lambda = static_cast<float>(gamma * gae_lambda);
    const int error = shoal_advantage_launch(
        values.data_ptr<float>(), rewards.data_ptr<float>(), dones.data_ptr<float>(),
        ratios.data_ptr<float>(), next_value.data_ptr<float>(), out.data_ptr<float>(),
        values.size(0), static_cast<int>(values.size(1)), static_cast<float>(gamma),
        gamma_lambda, static_cast<float>(rho_clip), static_cast<float>(c_clip),
        c10::cuda::getCurrentCUDAStream().stream());
    TORCH_CHECK(error == 0, "the advantage kernel failed to launch: ",
                cudaGetErrorString(static_cast<cudaError_t>(error)));
}

PYBIND11_MODULE(TORCH_EXTENSION_NAME, module) {
    module.def("compute_advantages", &compute_advantages,
               "GAE with V-trace's clipped importance weights (CUDA)");
}

// CUDA-only binding: device guard and current stream around the launchers of
// sapa_cuda.cu, registered as the CUDA kernels of the sapa_mm ops. Compiled
// only into a CUDAExtension (WITH_CUDA).
#include <ATen/cuda/CUDAContext.h>
#include <c10/cuda/CUDAGuard.h>
#include <torch/library.h>

#include "sapa_cuda.h"
#include "sapa_ops.h"

namespace sapa_mm {
namespace {

using Launcher = void (*)(const at::Tensor&, const at::Tensor&, at::Tensor&,
                          const WindowGeometry&, cudaStream_t);

template <Launcher launcher>
void on_current_stream(const at::Tensor& x, const at::Tensor& y,
                       at::Tensor& out, const WindowGeometry& g) {
  const c10::cuda::CUDAGuard guard(out.device());
  launcher(x, y, out, g, at::cuda::getCurrentCUDAStream());
}

struct CudaBackend {
  static constexpr auto window_dot = &on_current_stream<cuda::window_dot>;
  static constexpr auto window_sum = &on_current_stream<cuda::window_sum>;
  static constexpr auto window_gather =
      &on_current_stream<cuda::window_gather>;
};

}  // namespace
}  // namespace sapa_mm

SAPA_MM_REGISTER_BACKEND(CUDA, sapa_mm::CudaBackend)

// CUDA-only binding: the CUDA kernels of the sapa_mm ops, CudaBackend
// (cuda_backend.h) over the GPU, with the device guard and the current
// stream held around each launch. Compiled only into a CUDAExtension
// (WITH_CUDA). It needs c10/cuda's stream and guard headers only (not
// ATen/cuda/CUDAContext.h, which pulls in the cuBLAS, cuSPARSE and cuSOLVER
// headers that toolkits with only nvcc and cudart lack).
#include <c10/cuda/CUDAGuard.h>
#include <c10/cuda/CUDAStream.h>
#include <torch/library.h>

#include "cuda_backend.h"
#include "cuda_executor.h"
#include "norm_ops.h"

namespace sapa_mm {
namespace cuda {
namespace {

struct GpuDevice {
  using Executor = CudaExecutor;
  struct Scope {
    explicit Scope(const at::Tensor& on)
        : guard(on.device()),
          executor{c10::cuda::getCurrentCUDAStream(on.device().index())
                       .stream()} {}
    c10::cuda::CUDAGuard guard;
    CudaExecutor executor;
  };
};

using GpuBackend = CudaBackend<GpuDevice>;

}  // namespace
}  // namespace cuda
}  // namespace sapa_mm

SAPA_MM_REGISTER_BACKEND(sapa_mm, CUDA, sapa_mm::cuda::GpuBackend)
SAPA_MM_REGISTER_NORM_OPS(sapa_mm, CUDA, sapa_mm::cuda::GpuBackend)

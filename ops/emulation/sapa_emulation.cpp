// The CUDA code path on CPU tensors: the backend glue of the CUDA ops
// (cuda_backend.h) and the launchers (launchers.cuh) with the CUDA kernels
// compiled for the host, run by HostExecutor, registered as the CPU kernels
// of the torch.ops.sapa_mm_cuda_emulation library (the sapa_mm schemas,
// defined in ops/sapa.cpp). sapa_mm.ops.emulation routes the sapa_mm ops
// there.
#include <torch/library.h>

#include "../cuda/cuda_backend.h"
#include "../cuda/launchers.cuh"
#include "host_executor.h"
#include "norm_ops.h"

namespace sapa_mm {
namespace cuda {
namespace emulation {
namespace {

// No device to guard and no stream: the executor is all there is.
struct EmulatedDevice {
  using Executor = HostExecutor;
  struct Scope {
    explicit Scope(const at::Tensor&) {}
    HostExecutor executor;
  };
};

using EmulatedBackend = CudaBackend<EmulatedDevice>;

}  // namespace
}  // namespace emulation

template struct Launchers<emulation::HostExecutor>;

}  // namespace cuda
}  // namespace sapa_mm

SAPA_MM_REGISTER_BACKEND(sapa_mm_cuda_emulation, CPU,
                         sapa_mm::cuda::emulation::EmulatedBackend)
SAPA_MM_REGISTER_NORM_OPS(sapa_mm_cuda_emulation, CPU,
                          sapa_mm::cuda::emulation::EmulatedBackend)

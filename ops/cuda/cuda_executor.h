// The executor of the CUDA launchers (launchers.h) on the GPU: it launches a
// kernel on a stream. Its member templates are defined in sapa_cuda.cu,
// where the launchers are instantiated; this header needs only
// cuda_runtime_api.h, so the host-compiled glue (sapa_cuda_ops.cpp) can hold
// one.
#pragma once

#include <cstdint>

#include <cuda_runtime_api.h>

#include <ATen/core/Tensor.h>

#include "launchers.h"

namespace sapa_mm {
namespace cuda {

struct CudaExecutor {
  cudaStream_t stream;

  // Spans over the tensors' memory; an undefined tensor gives an absent span.
  template <typename T>
  auto input(const at::Tensor& t, const char* name) const;
  template <typename T>
  auto output(const at::Tensor& t, const char* name) const;
  // Launches kernel over min(blocks, kMaxBlocks) blocks of Kernel::kThreads
  // threads on the stream; throws if the launch fails.
  template <typename Kernel>
  void launch(const Kernel& kernel, int64_t blocks, const char* name) const;
};

extern template struct Launchers<CudaExecutor>;

}  // namespace cuda
}  // namespace sapa_mm

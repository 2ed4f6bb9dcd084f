// Launchers of the CUDA window primitives (semantics in sapa_ops.h). They take
// the stream explicitly and include no c10/cuda header, so sapa_cuda.cu
// compiles with nvcc against the headers of a CPU-only torch wheel; the
// device guard and the current stream live in sapa_cuda_ops.cpp.
#pragma once

#include <cuda_runtime.h>

#include <ATen/core/Tensor.h>

#include "sapa_window.h"

namespace sapa_mm {
namespace cuda {

void window_dot(const at::Tensor& a, const at::Tensor& b, at::Tensor& out,
                const WindowGeometry& g, cudaStream_t stream);
void window_sum(const at::Tensor& t, const at::Tensor& b, at::Tensor& out,
                const WindowGeometry& g, cudaStream_t stream);
void window_gather(const at::Tensor& t, const at::Tensor& a, at::Tensor& out,
                   const WindowGeometry& g, cudaStream_t stream);

}  // namespace cuda
}  // namespace sapa_mm

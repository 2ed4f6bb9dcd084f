// Launchers of the CUDA window primitives; see sapa_cuda.h.
#include <algorithm>

#include <ATen/Dispatch.h>
#include <c10/util/Exception.h>

#include "sapa_cuda.h"
#include "sapa_kernel.cuh"

namespace sapa_mm {
namespace cuda {
namespace {

constexpr int kThreads = 256;
constexpr int64_t kMaxBlocks = 65535;

template <typename Kernel>
void launch(Kernel kernel, int64_t n, const at::Tensor& x, const at::Tensor& y,
            at::Tensor& out, const WindowGeometry& g, int64_t C,
            cudaStream_t stream, const char* name) {
  if (n == 0) return;
  const int64_t blocks = std::min((n + kThreads - 1) / kThreads, kMaxBlocks);
  AT_DISPATCH_FLOATING_TYPES_AND2(
      at::ScalarType::Half, at::ScalarType::BFloat16, out.scalar_type(), "sapa_cuda_launch",
      [&] {
        kernel.template operator()<scalar_t>(
            blocks, kThreads, stream, n, x.const_data_ptr<scalar_t>(),
            y.const_data_ptr<scalar_t>(), out.mutable_data_ptr<scalar_t>(), g,
            C);
      });
  const cudaError_t err = cudaGetLastError();
  TORCH_CHECK(err == cudaSuccess, name, " failed to launch: ",
              cudaGetErrorString(err));
}

// Each launcher starts one kernel template for the dispatched scalar type.
struct DotLauncher {
  template <typename scalar_t, typename... Args>
  void operator()(int64_t blocks, int threads, cudaStream_t stream,
                  Args... args) const {
    window_dot_kernel<scalar_t><<<blocks, threads, 0, stream>>>(args...);
  }
};
struct SumLauncher {
  template <typename scalar_t, typename... Args>
  void operator()(int64_t blocks, int threads, cudaStream_t stream,
                  Args... args) const {
    window_sum_kernel<scalar_t><<<blocks, threads, 0, stream>>>(args...);
  }
};
struct GatherLauncher {
  template <typename scalar_t, typename... Args>
  void operator()(int64_t blocks, int threads, cudaStream_t stream,
                  Args... args) const {
    window_gather_kernel<scalar_t><<<blocks, threads, 0, stream>>>(args...);
  }
};

}  // namespace

void window_dot(const at::Tensor& a, const at::Tensor& b, at::Tensor& out,
                const WindowGeometry& g, cudaStream_t stream) {
  launch(DotLauncher{}, out.numel(), a, b, out, g, a.size(3), stream,
         "sapa_window_dot_cuda");
}

void window_sum(const at::Tensor& t, const at::Tensor& b, at::Tensor& out,
                const WindowGeometry& g, cudaStream_t stream) {
  launch(SumLauncher{}, out.numel(), t, b, out, g, b.size(3), stream,
         "sapa_window_sum_cuda");
}

void window_gather(const at::Tensor& t, const at::Tensor& a, at::Tensor& out,
                   const WindowGeometry& g, cudaStream_t stream) {
  launch(GatherLauncher{}, out.numel(), t, a, out, g, a.size(3), stream,
         "sapa_window_gather_cuda");
}

}  // namespace cuda
}  // namespace sapa_mm

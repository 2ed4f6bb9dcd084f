// The GPU side of the CUDA launchers: CudaExecutor launches the kernels of
// launchers.cuh with <<<>>>, and the launchers are instantiated for it. Only
// ATen core headers and the CUDA runtime are included (no c10/cuda), so this
// file compiles with nvcc against the headers of a CPU-only torch wheel too.
#include <algorithm>

#include <c10/util/Exception.h>

#include "cuda_executor.h"
#include "launchers.cuh"

namespace sapa_mm {
namespace cuda {
namespace {

// One block of a kernel (see runtime.cuh): its shared memory, and the
// calling thread's work.
template <typename Kernel>
__global__ void __launch_bounds__(Kernel::kThreads, Kernel::kMinBlocks)
    run(const Kernel kernel) {
  __shared__ typename Kernel::Shared shared;
  kernel(Thread{}, shared);
}

}  // namespace

template <typename T>
auto CudaExecutor::input(const at::Tensor& t, const char*) const {
  return Span<const T>{t.defined() ? t.const_data_ptr<T>() : nullptr};
}

template <typename T>
auto CudaExecutor::output(const at::Tensor& t, const char*) const {
  return Span<T>{t.defined() ? t.mutable_data_ptr<T>() : nullptr};
}

template <typename Kernel>
void CudaExecutor::launch(const Kernel& kernel, int64_t blocks,
                          const char* name) const {
  blocks = std::min(blocks, kMaxBlocks);
  if (blocks == 0) return;
  run<Kernel><<<static_cast<unsigned>(blocks), Kernel::kThreads, 0, stream>>>(
      kernel);
  const cudaError_t err = cudaGetLastError();
  TORCH_CHECK(err == cudaSuccess, "sapa_mm: CUDA kernel ", name,
              " failed to launch: ", cudaGetErrorString(err));
}

template struct Launchers<CudaExecutor>;

}  // namespace cuda
}  // namespace sapa_mm

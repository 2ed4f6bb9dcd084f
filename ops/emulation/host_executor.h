// The executor of the CUDA launchers (launchers.h) in the CPU emulation: it
// hands the kernels checked spans over the tensors and runs them with
// host_runtime's launcher, then checks that every output element was
// written exactly once.
#pragma once

#include <algorithm>
#include <memory>
#include <vector>

#include <ATen/core/Tensor.h>
#include <c10/util/Exception.h>

#include "../cuda/launchers.h"
#include "../cuda/runtime.cuh"

namespace sapa_mm {
namespace cuda {
namespace emulation {

// Caps the grid of every emulated launch (0: only the launcher's cap), so
// that small test problems run the kernels' grid-stride loops.
void set_max_blocks(int64_t blocks);
int64_t max_blocks();

class HostExecutor {
 public:
  template <typename T>
  Span<const T> input(const at::Tensor& t, const char* name) const {
    if (!t.defined()) return {};
    return {t.const_data_ptr<T>(), 0, t.numel(), name, nullptr, 0};
  }

  template <typename T>
  Span<T> output(const at::Tensor& t, const char* name) {
    if (!t.defined()) return {};
    logs_.push_back(std::make_unique<WriteLog>(name, t.numel()));
    return {t.mutable_data_ptr<T>(), 0, t.numel(), name, logs_.back().get(),
            0};
  }

  template <typename Kernel>
  void launch(const Kernel& kernel, int64_t blocks, const char* name) {
    const int64_t cap = max_blocks();
    blocks = std::min(blocks, kMaxBlocks);
    if (cap > 0) blocks = std::min(blocks, cap);
    if (blocks > 0) emulation::launch(kernel, blocks, name);
    for (const auto& log : logs_) {
      const std::string missing = log->unwritten();
      TORCH_CHECK(missing.empty(), "sapa_mm CUDA emulation: kernel ", name,
                  " finished, but ", missing);
    }
    logs_.clear();
  }

 private:
  std::vector<std::unique_ptr<WriteLog>> logs_;
};

}  // namespace emulation
}  // namespace cuda
}  // namespace sapa_mm

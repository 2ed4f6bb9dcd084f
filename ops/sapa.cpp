// The one binding file: the schemas of the sapa_mm operators and the Python
// module sapa_mm._ext. Kernels are registered per dispatch key by the backend
// files (cpu/sapa_cpu.cpp, cuda/sapa_cuda_ops.cpp, and for the CUDA
// emulation's library emulation/sapa_emulation.cpp); the layout and semantics
// of each op are documented in include/sapa_ops.h and include/norm_ops.h.
#include <torch/extension.h>
#include <torch/library.h>

#include "cpu/isa.h"
#ifdef SAPA_MM_CUDA_EMULATION
#include "emulation/host_executor.h"
#endif

namespace {

// The schemas of the sapa_mm operators; sapa_mm/ops/library.py holds the
// same ones for when the extension is missing (a test checks they agree).
void define_ops(torch::Library& m) {
  m.def("similarity(Tensor query, Tensor key, int kernel_size) -> Tensor");
  m.def(
      "similarity_backward(Tensor grad, Tensor query, Tensor key, "
      "int kernel_size, bool[2] output_mask) -> (Tensor, Tensor)");
  m.def(
      "similarity_softmax(Tensor query, Tensor key, int kernel_size) -> "
      "Tensor");
  m.def(
      "similarity_softmax_backward(Tensor grad, Tensor weights, Tensor query, "
      "Tensor key, int kernel_size, bool[2] output_mask) -> (Tensor, Tensor)");
  m.def("aggregate(Tensor weights, Tensor value, int kernel_size) -> Tensor");
  m.def(
      "aggregate_backward(Tensor grad, Tensor weights, Tensor value, "
      "int kernel_size, bool[2] output_mask) -> (Tensor, Tensor)");
  m.def("channel_stats(Tensor x, float eps) -> (Tensor, Tensor)");
  m.def(
      "channel_stats_linear(Tensor x, Tensor weight, float eps) -> "
      "(Tensor, Tensor, Tensor)");
  m.def(
      "channel_norm_backward_(Tensor(a!) grad, Tensor x, Tensor mean, "
      "Tensor rstd) -> ()");
  m.def(
      "channel_linear_norm_backward(Tensor grad, Tensor weight, Tensor x, "
      "Tensor mean, Tensor rstd) -> Tensor");
}

}  // namespace

TORCH_LIBRARY(sapa_mm, m) { define_ops(m); }

#ifdef SAPA_MM_CUDA_EMULATION
// The same ops with the CUDA code path run on CPU tensors
// (ops/emulation/sapa_emulation.cpp).
TORCH_LIBRARY(sapa_mm_cuda_emulation, m) { define_ops(m); }
#endif

PYBIND11_MODULE(TORCH_EXTENSION_NAME, m) {
  m.doc() = "Compiled SAPA kernels; use them through sapa_mm.ops.";
  m.def(
      "with_cuda",
      [] {
#ifdef WITH_CUDA
        return true;
#else
        return false;
#endif
      },
      "Whether the CUDA kernels were compiled in.");
  m.def(
      "with_openmp",
      [] {
#ifdef _OPENMP
        return true;
#else
        return false;
#endif
      },
      "Whether the CPU kernels were compiled with OpenMP.");
  m.def(
      "cpu_capability", [] { return sapa_mm::cpu::capability_name(); },
      "The instruction set the CPU kernels run with: 'avx2' or 'default'.");
  m.def(
      "with_cuda_emulation",
      [] {
#ifdef SAPA_MM_CUDA_EMULATION
        return true;
#else
        return false;
#endif
      },
      "Whether the CPU emulation of the CUDA code path was compiled in (the "
      "ops of torch.ops.sapa_mm_cuda_emulation).");
#ifdef SAPA_MM_CUDA_EMULATION
  m.def("set_emulation_max_blocks", &sapa_mm::cuda::emulation::set_max_blocks,
        py::arg("blocks"),
        "Caps the grid of every emulated launch (0: no cap), so that small "
        "problems run the kernels' grid-stride loops.");
#endif
}

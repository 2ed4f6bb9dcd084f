// The one binding file: the schemas of the sapa_mm operators and the Python
// module sapa_mm._ext. Kernels are registered per dispatch key by the backend
// files (cpu/sapa_cpu.cpp, cuda/sapa_cuda_ops.cpp); the layout and semantics
// of each op are documented in include/sapa_ops.h (the channel LayerNorm
// ops channel_stats, channel_stats_linear, channel_norm_backward_ and
// channel_linear_norm_backward: in cpu/norm_kernels.h).
#include <torch/extension.h>
#include <torch/library.h>

#include "../cpu/isa.h"

TORCH_LIBRARY(sapa_mm, m) {
  m.def("similarity(Tensor query, Tensor key, int kernel_size) -> Tensor");
  m.def(
      "similarity_backward(Tensor grad, Tensor query, Tensor key, "
      "int kernel_size) -> (Tensor, Tensor)");
  m.def(
      "similarity_softmax(Tensor query, Tensor key, int kernel_size) -> "
      "Tensor");
  m.def(
      "similarity_softmax_backward(Tensor grad, Tensor weights, Tensor query, "
      "Tensor key, int kernel_size) -> (Tensor, Tensor)");
  m.def("aggregate(Tensor weights, Tensor value, int kernel_size) -> Tensor");
  m.def(
      "aggregate_backward(Tensor grad, Tensor weights, Tensor value, "
      "int kernel_size) -> (Tensor, Tensor)");
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
}

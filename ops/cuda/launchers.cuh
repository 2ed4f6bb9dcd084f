// Bodies of the launchers declared in launchers.h: the dtype, K and layout
// dispatch, the kernels' parameters and their grids. Included where an
// executor is defined (sapa_cuda.cu, ops/emulation/sapa_emulation.cpp), so
// the GPU and the CPU emulation run the same launch arithmetic.
//
// An executor provides input<T>(tensor, name) and output<T>(tensor, name)
// (Spans; an undefined output gives an absent span) and launch(kernel,
// blocks, name), which may run fewer blocks than asked for: every kernel
// loops grid-stride.
#pragma once

#include <type_traits>

#include <ATen/Dispatch.h>
#include <c10/util/Exception.h>

#include "fast_kernels.cuh"
#include "launchers.h"
#include "norm_kernels.cuh"
#include "simple_kernels.cuh"

namespace sapa_mm {
namespace cuda {
namespace detail {

#define SAPA_CUDA_DISPATCH(TYPE, NAME, ...)                              \
  AT_DISPATCH_FLOATING_TYPES_AND2(at::ScalarType::Half,                  \
                                  at::ScalarType::BFloat16, TYPE, NAME,  \
                                  __VA_ARGS__)

template <int K>
using KernelSize = std::integral_constant<int, K>;
template <fast::Layout L>
using LayoutTag = std::integral_constant<fast::Layout, L>;

// f(KernelSize<K>{}, LayoutTag<L>{}) for the runtime K and layout.
template <typename F>
void dispatch_window(int64_t K, bool channels_last, const F& f) {
  const auto with_layout = [&](auto k) {
    if (channels_last) {
      f(k, LayoutTag<fast::Layout::kChannelsLast>{});
    } else {
      f(k, LayoutTag<fast::Layout::kPlanar>{});
    }
  };
  switch (K) {
    case 1: return with_layout(KernelSize<1>{});
    case 3: return with_layout(KernelSize<3>{});
    case 5: return with_layout(KernelSize<5>{});
    case 7: return with_layout(KernelSize<7>{});
    default:
      TORCH_CHECK(false, "sapa_mm: the fast CUDA kernels take K <= 7, got ",
                  K);
  }
}

template <typename F>
void dispatch_layout(bool channels_last, const F& f) {
  if (channels_last) {
    f(LayoutTag<fast::Layout::kChannelsLast>{});
  } else {
    f(LayoutTag<fast::Layout::kPlanar>{});
  }
}

// Whether channels-last tensors can move V channels at a time: C a multiple
// of V and every pointer aligned to the vector.
template <typename scalar_t, int V>
bool vectorizable(bool channels_last, int64_t C,
                  std::initializer_list<const at::Tensor*> tensors) {
  if (!channels_last || C % V != 0) return false;
  for (const at::Tensor* t : tensors) {
    if (t->defined() && reinterpret_cast<uintptr_t>(t->const_data_ptr()) %
                                (V * sizeof(scalar_t)) !=
                            0) {
      return false;
    }
  }
  return true;
}

// Threads of WindowDot that share one point's channels: one with the fused
// softmax (it needs the whole point), else enough to keep the SMs busy when
// each point has many channels.
inline int32_t dot_groups(int64_t C, bool softmax) {
  if (softmax) return 1;
  return C >= 128 ? 4 : (C >= 64 ? 2 : 1);
}

// Channels per work item of WindowSum (a multiple of every vector width).
constexpr int32_t kSumChunk = 32;

}  // namespace detail

template <typename Executor>
void Launchers<Executor>::window_dot(Executor& ex, const at::Tensor& a,
                                     const at::Tensor& b,
                                     const at::Tensor& out,
                                     const WindowGeometry& g,
                                     bool channels_last, bool softmax) {
  const int64_t points = a.size(0) * g.H * g.W;
  SAPA_CUDA_DISPATCH(a.scalar_type(), "sapa_window_dot_cuda", [&] {
    detail::dispatch_window(g.K, channels_last, [&](auto k, auto layout) {
      using Kernel = fast::WindowDot<scalar_t, decltype(k)::value,
                                     decltype(layout)::value>;
      const int32_t groups = detail::dot_groups(a.size(1), softmax);
      const Kernel kernel{ex.template input<scalar_t>(a, "a"),
                          ex.template input<scalar_t>(b, "b"),
                          ex.template output<scalar_t>(out, "out"),
                          g,
                          points,
                          static_cast<int32_t>(a.size(1)),
                          groups,
                          softmax};
      ex.launch(kernel, ceil_div<int64_t>(points, Kernel::kThreads / groups),
                "fast::WindowDot");
    });
  });
}

namespace detail {

// WindowSum, with (kSoftmaxBackward) or without the softmax's backward
// before the sum; absent tensors are undefined.
template <bool kSoftmaxBackward, typename Executor>
void launch_window_sum(Executor& ex, const at::Tensor& t,
                       const at::Tensor& softmaxed, const at::Tensor& b,
                       const at::Tensor& out,
                       const at::Tensor& grad_similarity,
                       const WindowGeometry& g, bool channels_last) {
  const int64_t points = t.size(0) * g.H * g.W, C = b.size(1);
  SAPA_CUDA_DISPATCH(t.scalar_type(), "sapa_window_sum_cuda", [&] {
    dispatch_window(g.K, channels_last, [&](auto k, auto layout) {
      using Kernel = fast::WindowSum<scalar_t, decltype(k)::value,
                                     decltype(layout)::value,
                                     kSoftmaxBackward>;
      const Kernel kernel{
          ex.template input<scalar_t>(t, "t"),
          ex.template input<scalar_t>(softmaxed, "softmaxed"),
          ex.template input<scalar_t>(b, "b"),
          ex.template output<scalar_t>(out, "out"),
          ex.template output<scalar_t>(grad_similarity, "grad_similarity"),
          g,
          points,
          static_cast<int32_t>(C),
          kSumChunk,
          vectorizable<scalar_t, Kernel::V>(channels_last, C, {&b, &out})};
      const int64_t chunks =
          out.defined() ? ceil_div<int64_t>(C, kSumChunk) : 1;
      ex.launch(kernel, ceil_div<int64_t>(points, Kernel::kThreads) * chunks,
                kSoftmaxBackward ? "fast::WindowSum<softmax backward>"
                                 : "fast::WindowSum");
    });
  });
}

}  // namespace detail

template <typename Executor>
void Launchers<Executor>::window_sum(Executor& ex, const at::Tensor& t,
                                     const at::Tensor& b,
                                     const at::Tensor& out,
                                     const WindowGeometry& g,
                                     bool channels_last) {
  detail::launch_window_sum<false>(ex, t, at::Tensor(), b, out, at::Tensor(),
                                   g, channels_last);
}

template <typename Executor>
void Launchers<Executor>::softmax_backward(
    Executor& ex, const at::Tensor& grad, const at::Tensor& weights,
    const at::Tensor& b, const at::Tensor& out,
    const at::Tensor& grad_similarity, const WindowGeometry& g,
    bool channels_last) {
  detail::launch_window_sum<true>(ex, grad, weights, b, out, grad_similarity,
                                  g, channels_last);
}

template <typename Executor>
void Launchers<Executor>::window_gather(Executor& ex, const at::Tensor& t,
                                        const at::Tensor& a,
                                        const at::Tensor& out,
                                        const WindowGeometry& g,
                                        bool channels_last) {
  const int64_t low_points = a.size(0) * g.h * g.w, C = a.size(1);
  SAPA_CUDA_DISPATCH(t.scalar_type(), "sapa_window_gather_cuda", [&] {
    detail::dispatch_window(g.K, channels_last, [&](auto k, auto layout) {
      using Kernel = fast::WindowGather<scalar_t, decltype(k)::value,
                                        decltype(layout)::value>;
      const Kernel kernel{
          ex.template input<scalar_t>(t, "t"),
          ex.template input<scalar_t>(a, "a"),
          ex.template output<scalar_t>(out, "out"),
          g,
          low_points,
          static_cast<int32_t>(C),
          detail::vectorizable<scalar_t, Kernel::V>(channels_last, C, {&a})};
      ex.launch(kernel,
                ceil_div<int64_t>(low_points * ceil_div<int64_t>(
                                                   C, Kernel::kChunk),
                                  Kernel::kThreads),
                "fast::WindowGather");
    });
  });
}

namespace detail {

// A simple kernel (one thread per output element) over channels-last
// tensors: first and second are its inputs, C the channels of its features.
template <template <typename> class Kernel, typename Executor>
void launch_simple(Executor& ex, const at::Tensor& first,
                   const at::Tensor& second, const at::Tensor& out,
                   const WindowGeometry& g, int64_t C, const char* name) {
  SAPA_CUDA_DISPATCH(out.scalar_type(), "sapa_simple_kernel_cuda", [&] {
    const Kernel<scalar_t> kernel{
        {ex.template input<scalar_t>(first, "first"),
         ex.template input<scalar_t>(second, "second"),
         ex.template output<scalar_t>(out, "out"), g, C, out.numel()}};
    ex.launch(kernel,
              ceil_div<int64_t>(out.numel(), Kernel<scalar_t>::kThreads),
              name);
  });
}

}  // namespace detail

template <typename Executor>
void Launchers<Executor>::simple_window_dot(Executor& ex, const at::Tensor& a,
                                            const at::Tensor& b,
                                            const at::Tensor& out,
                                            const WindowGeometry& g) {
  detail::launch_simple<simple::WindowDot>(ex, a, b, out, g, a.size(1),
                                           "simple::WindowDot");
}

template <typename Executor>
void Launchers<Executor>::simple_window_sum(Executor& ex, const at::Tensor& t,
                                            const at::Tensor& b,
                                            const at::Tensor& out,
                                            const WindowGeometry& g) {
  detail::launch_simple<simple::WindowSum>(ex, t, b, out, g, b.size(1),
                                           "simple::WindowSum");
}

template <typename Executor>
void Launchers<Executor>::simple_window_gather(Executor& ex,
                                               const at::Tensor& t,
                                               const at::Tensor& a,
                                               const at::Tensor& out,
                                               const WindowGeometry& g) {
  detail::launch_simple<simple::WindowGather>(ex, t, a, out, g, a.size(1),
                                              "simple::WindowGather");
}

template <typename Executor>
void Launchers<Executor>::channel_stats(Executor& ex, const at::Tensor& x,
                                        const at::Tensor& mean,
                                        const at::Tensor& rstd, double eps,
                                        bool channels_last) {
  const int64_t points = mean.numel();
  SAPA_CUDA_DISPATCH(x.scalar_type(), "sapa_channel_stats_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    detail::dispatch_layout(channels_last, [&](auto layout) {
      using Kernel = fast::ChannelStats<scalar_t, decltype(layout)::value>;
      const Kernel kernel{ex.template input<scalar_t>(x, "x"),
                          ex.template output<acc_t>(mean, "mean"),
                          ex.template output<acc_t>(rstd, "rstd"),
                          points,
                          static_cast<int32_t>(x.size(1)),
                          static_cast<int32_t>(x.size(2) * x.size(3)),
                          static_cast<acc_t>(eps)};
      ex.launch(kernel, ceil_div<int64_t>(points, Kernel::kThreads),
                "fast::ChannelStats");
    });
  });
}

template <typename Executor>
void Launchers<Executor>::channel_norm_backward(
    Executor& ex, const at::Tensor& grad, const at::Tensor& x,
    const at::Tensor& mean, const at::Tensor& rstd, bool channels_last) {
  const int64_t points = mean.numel();
  SAPA_CUDA_DISPATCH(x.scalar_type(), "sapa_channel_norm_backward_cuda", [&] {
    using acc_t = at::opmath_type<scalar_t>;
    detail::dispatch_layout(channels_last, [&](auto layout) {
      using Kernel =
          fast::ChannelNormBackward<scalar_t, decltype(layout)::value>;
      const Kernel kernel{ex.template output<scalar_t>(grad, "grad"),
                          ex.template input<scalar_t>(x, "x"),
                          ex.template input<acc_t>(mean, "mean"),
                          ex.template input<acc_t>(rstd, "rstd"),
                          points,
                          static_cast<int32_t>(x.size(1)),
                          static_cast<int32_t>(x.size(2) * x.size(3))};
      ex.launch(kernel, ceil_div<int64_t>(points, Kernel::kThreads),
                "fast::ChannelNormBackward");
    });
  });
}

#undef SAPA_CUDA_DISPATCH

}  // namespace cuda
}  // namespace sapa_mm

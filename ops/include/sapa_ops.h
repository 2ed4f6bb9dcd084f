// The four SAPA operators, composed from three device primitives.
//
// All tensors are channels-last (NHWC) and contiguous:
//   similarity(query (B,H,W,D), key (B,h,w,D))          -> (B,H,W,K*K)
//   aggregate(weights (B,H,W,K*K), value (B,h,w,C))      -> (B,H,W,C)
// and their backward passes. Each is one of three window primitives, which a
// backend (CPU or CUDA) implements:
//   window_dot(a (B,H,W,C), b (B,h,w,C))     out[p,k] = <a[p], b[tap(p,k)]>
//   window_sum(t (B,H,W,K*K), b (B,h,w,C))   out[p]   = sum_k t[p,k] b[tap(p,k)]
//   window_gather(t (B,H,W,K*K), a (B,H,W,C)) out[q]  = sum_{tap(p,k)=q} t[p,k] a[p]
// window_gather is the transpose of window_sum written as a gather over the
// output points whose windows cover q, so backward needs no atomics and is
// deterministic on every device.
#pragma once

#include <tuple>

#include <ATen/ATen.h>

#include "sapa_window.h"

namespace sapa_mm {

namespace detail {

inline void check_nhwc(const char* op, const char* name, const at::Tensor& t) {
  TORCH_CHECK(t.dim() == 4, op, ": ", name, " must be 4-D (B, H, W, C), got ",
              t.sizes());
  TORCH_CHECK(t.is_contiguous(), op, ": ", name,
              " must be a contiguous channels-last (B, H, W, C) tensor");
  TORCH_CHECK(at::isFloatingType(t.scalar_type()), op, ": ", name,
              " must be floating point, got ", t.scalar_type());
}

// Checks a (high-res, low-res) pair of NHWC tensors and returns the geometry.
inline WindowGeometry geometry(const char* op, const char* hi_name,
                               const at::Tensor& hi, const char* lo_name,
                               const at::Tensor& lo, int64_t kernel_size) {
  check_nhwc(op, hi_name, hi);
  check_nhwc(op, lo_name, lo);
  TORCH_CHECK(kernel_size > 0 && kernel_size % 2 == 1, op,
              ": kernel_size must be odd and positive, got ", kernel_size);
  TORCH_CHECK(hi.device() == lo.device(), op, ": ", hi_name, " is on ",
              hi.device(), " but ", lo_name, " is on ", lo.device());
  TORCH_CHECK(hi.scalar_type() == lo.scalar_type(), op, ": ", hi_name, " is ",
              hi.scalar_type(), " but ", lo_name, " is ", lo.scalar_type());
  TORCH_CHECK(hi.size(0) == lo.size(0), op, ": batch sizes differ, ", hi_name,
              " ", hi.sizes(), " vs ", lo_name, " ", lo.sizes());
  TORCH_CHECK(lo.size(1) > 0 && lo.size(2) > 0 && hi.size(1) >= lo.size(1) &&
                  hi.size(2) >= lo.size(2),
              op, ": ", hi_name, " ", hi.sizes(),
              " must be at least as large as ", lo_name, " ", lo.sizes(),
              " in (H, W)");
  return WindowGeometry(lo.size(1), lo.size(2), hi.size(1), hi.size(2),
                        kernel_size);
}

inline void check_same_shape(const char* op, const char* name,
                             const at::Tensor& t, at::IntArrayRef expected) {
  TORCH_CHECK(t.sizes() == expected, op, ": ", name, " must have shape ",
              expected, ", got ", t.sizes());
}

}  // namespace detail

// Backend must provide static window_dot, window_sum and window_gather with
// the signature (const Tensor& in_hi, const Tensor& in_lo_or_hi, Tensor& out,
// const WindowGeometry&); outputs are preallocated and fully overwritten.
template <typename Backend>
struct SapaOps {
  static at::Tensor similarity(const at::Tensor& query, const at::Tensor& key,
                               int64_t kernel_size) {
    const auto g =
        detail::geometry("similarity", "query", query, "key", key, kernel_size);
    TORCH_CHECK(query.size(3) == key.size(3),
                "similarity: query and key channels differ, query ",
                query.sizes(), " vs key ", key.sizes());
    auto out = at::empty({query.size(0), g.H, g.W, g.taps()}, query.options());
    Backend::window_dot(query, key, out, g);
    return out;
  }

  static std::tuple<at::Tensor, at::Tensor> similarity_backward(
      const at::Tensor& grad, const at::Tensor& query, const at::Tensor& key,
      int64_t kernel_size) {
    const auto g = detail::geometry("similarity_backward", "query", query,
                                    "key", key, kernel_size);
    detail::check_nhwc("similarity_backward", "grad", grad);
    detail::check_same_shape("similarity_backward", "grad", grad,
                             {query.size(0), g.H, g.W, g.taps()});
    auto grad_query = at::empty_like(query);
    auto grad_key = at::empty_like(key);
    Backend::window_sum(grad, key, grad_query, g);
    Backend::window_gather(grad, query, grad_key, g);
    return {grad_query, grad_key};
  }

  static at::Tensor aggregate(const at::Tensor& weights,
                              const at::Tensor& value, int64_t kernel_size) {
    const auto g = detail::geometry("aggregate", "weights", weights, "value",
                                    value, kernel_size);
    TORCH_CHECK(weights.size(3) == g.taps(), "aggregate: weights ",
                weights.sizes(), " must have kernel_size**2 = ", g.taps(),
                " channels");
    auto out =
        at::empty({value.size(0), g.H, g.W, value.size(3)}, value.options());
    Backend::window_sum(weights, value, out, g);
    return out;
  }

  static std::tuple<at::Tensor, at::Tensor> aggregate_backward(
      const at::Tensor& grad, const at::Tensor& weights,
      const at::Tensor& value, int64_t kernel_size) {
    const auto g = detail::geometry("aggregate_backward", "weights", weights,
                                    "value", value, kernel_size);
    detail::check_nhwc("aggregate_backward", "grad", grad);
    detail::check_same_shape("aggregate_backward", "grad", grad,
                             {value.size(0), g.H, g.W, value.size(3)});
    auto grad_weights = at::empty_like(weights);
    auto grad_value = at::empty_like(value);
    Backend::window_dot(grad, value, grad_weights, g);
    Backend::window_gather(weights, grad, grad_value, g);
    return {grad_weights, grad_value};
  }
};

// Registers SapaOps<Backend> as the kernels of the sapa_mm ops for one
// dispatch key; the dispatcher then picks the backend from the inputs' device.
#define SAPA_MM_REGISTER_BACKEND(dispatch_key, Backend)                    \
  TORCH_LIBRARY_IMPL(sapa_mm, dispatch_key, m) {                           \
    m.impl("similarity", &::sapa_mm::SapaOps<Backend>::similarity);        \
    m.impl("similarity_backward",                                          \
           &::sapa_mm::SapaOps<Backend>::similarity_backward);             \
    m.impl("aggregate", &::sapa_mm::SapaOps<Backend>::aggregate);          \
    m.impl("aggregate_backward",                                           \
           &::sapa_mm::SapaOps<Backend>::aggregate_backward);              \
  }

}  // namespace sapa_mm

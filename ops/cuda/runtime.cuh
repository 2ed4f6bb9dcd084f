// The vocabulary the CUDA kernels are written in, so that one source compiles
// with nvcc for the GPU and with the host compiler for the CPU emulation of
// ops/emulation/ (which is how the kernels are tested without a GPU):
//
//   Thread           the calling thread's indices: block(), blocks(),
//                    thread(), threads() (blockIdx.x, gridDim.x,
//                    threadIdx.x, blockDim.x), and sync() (__syncthreads).
//   Span<T>          global memory: load(i), store(i, v), load_vec<N>(i),
//                    offset(i). Spans of const T are inputs.
//   SharedArray<T,N> a block's shared memory: load(i), store(i, v).
//   Vec<T, N>        N values moved as one aligned vector.
//
// A kernel is a struct with
//   static constexpr int kThreads;   the block size it is launched with,
//   static constexpr int kMinBlocks; blocks that must fit on one SM (with
//                                    kThreads, it bounds the registers),
//   static constexpr bool kSyncs;    whether it calls sync(),
//   struct Shared;                   its shared memory (SharedArrays),
//   void operator()(const Thread&, Shared&) const;  one thread's work,
// and its parameters as members (Spans, sizes); an executor (CudaExecutor
// in sapa_cuda.cu, HostExecutor in ops/emulation/) launches it over a 1-D
// grid. On the GPU these are thin inline wrappers over pointers and
// builtins; in the emulation every access is checked: global accesses for
// bounds and vector alignment, outputs for being written exactly once,
// shared memory for bounds, uninitialised reads and races between barriers.
#pragma once

#include <cstdint>
#include <type_traits>

#include <ATen/OpMathType.h>

#if defined(__CUDACC__)
#define SAPA_EMULATION 0
#define SAPA_KERNEL_FN __device__ __forceinline__
#define SAPA_KERNEL_AND_HOST_FN __host__ __device__ __forceinline__
#define SAPA_UNROLL _Pragma("unroll")
#else
#define SAPA_EMULATION 1
#define SAPA_KERNEL_FN inline
#define SAPA_KERNEL_AND_HOST_FN inline
#define SAPA_UNROLL
#endif

namespace sapa_mm {
namespace cuda {

// N values of T that move as one load or store of N * sizeof(T) bytes.
template <typename T, int N>
struct alignas(sizeof(T) * N) Vec {
  T v[N];
};

// The Shared of a kernel without shared memory.
struct NoShared {};

// A grid-stride loop over n items, one thread per item: index runs over the
// items of the calling thread (t, a Thread).
#define SAPA_FOR_EACH_ITEM(t, index, n)                                   \
  for (int64_t index = (t).block() * int64_t{(t).threads()} + (t).thread(); \
       index < (n); index += (t).blocks() * int64_t{(t).threads()})

template <typename T>
SAPA_KERNEL_AND_HOST_FN T ceil_div(T a, T b) {
  return (a + b - 1) / b;
}

}  // namespace cuda
}  // namespace sapa_mm

#if SAPA_EMULATION
#include "../emulation/host_runtime.h"
#else
#include <cuda_runtime.h>

namespace sapa_mm {
namespace cuda {

struct Thread {
  __device__ __forceinline__ int64_t block() const { return blockIdx.x; }
  __device__ __forceinline__ int64_t blocks() const { return gridDim.x; }
  __device__ __forceinline__ int thread() const { return threadIdx.x; }
  __device__ __forceinline__ int threads() const { return blockDim.x; }
  __device__ __forceinline__ void sync() const { __syncthreads(); }
};

template <typename T>
struct Span {
  T* __restrict__ data;

  __host__ __device__ bool present() const { return data != nullptr; }
  __host__ __device__ Span offset(int64_t i) const { return {data + i}; }
  __device__ __forceinline__ T load(int64_t i) const { return data[i]; }
  __device__ __forceinline__ void store(int64_t i, T value) const {
    data[i] = value;
  }
  // Aligned by the caller: (data + i) must be a multiple of the vector size.
  template <int N>
  __device__ __forceinline__ Vec<typename std::remove_const<T>::type, N>
  load_vec(int64_t i) const {
    return *reinterpret_cast<
        const Vec<typename std::remove_const<T>::type, N>*>(data + i);
  }
  template <int N>
  __device__ __forceinline__ void store_vec(int64_t i,
                                            const Vec<T, N>& value) const {
    *reinterpret_cast<Vec<T, N>*>(data + i) = value;
  }
};

template <typename T, int N>
struct SharedArray {
  T data[N];

  __device__ __forceinline__ T load(int i) const { return data[i]; }
  __device__ __forceinline__ void store(int i, T value) { data[i] = value; }
};

__device__ __forceinline__ float kernel_exp(float x) { return ::expf(x); }
__device__ __forceinline__ double kernel_exp(double x) { return ::exp(x); }
__device__ __forceinline__ float kernel_sqrt(float x) { return ::sqrtf(x); }
__device__ __forceinline__ double kernel_sqrt(double x) { return ::sqrt(x); }

}  // namespace cuda
}  // namespace sapa_mm
#endif

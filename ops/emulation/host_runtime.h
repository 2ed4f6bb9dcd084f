// The host side of ops/cuda/runtime.cuh: CUDA kernels compiled for the CPU
// and run over the grid their launcher chose, so the test suite exercises the
// CUDA code path on machines without a GPU.
//
// Every block runs on one host thread (blocks run in parallel). A kernel that
// calls sync() runs each of its CUDA threads as a fiber (ucontext): a fiber
// runs until it reaches sync() or returns, and the barrier opens once every
// thread of the block waits at it; threads that return while others wait
// fail the launch ("barrier divergence"), as __syncthreads in divergent code
// is undefined on a GPU. Fibers run in forward order between even barriers
// and in reverse order between odd ones.
//
// Checks, each of which fails the launch with a message naming the kernel,
// block, thread and index:
//   * global loads and stores within the tensor, vector accesses aligned to
//     their size;
//   * every element of an output written exactly once (no thread writes
//     what another wrote, none is left unwritten);
//   * shared memory: indices in bounds, no read of an element not yet written
//     in this block (shared memory starts as NaN bytes), and no race: an
//     element that one thread writes is neither read nor written by another
//     thread until the next barrier, nor written after another thread read it
//     in the same interval (what compute-sanitizer's racecheck reports).
// It cannot see the GPU's rounding (fused multiply-adds, expf), its memory
// model beyond the barriers, warp scheduling or timing.
#pragma once

#if !defined(SAPA_EMULATION)
#error "include ../cuda/runtime.cuh, which includes this header"
#endif

#include <atomic>
#include <cmath>
#include <cstdint>
#include <cstring>
#include <memory>
#include <string>
#include <type_traits>

namespace sapa_mm {
namespace cuda {
namespace emulation {

// Ends the calling emulated thread; its launch fails with `what`.
[[noreturn]] void fail(const std::string& what);

// Blocks the calling emulated thread until every thread of its block calls
// it (__syncthreads).
void barrier();

// The emulated thread running on this host thread, and the number of
// barriers its block has passed.
int current_thread();
int64_t current_epoch();

// Per-element bookkeeping of one shared-memory element.
struct SharedShadow {
  int32_t writer = -1;
  int32_t reader = -1;  // kManyReaders if several threads read it
  int64_t write_epoch = -1;
  int64_t read_epoch = -1;
};
void check_shared_access(SharedShadow& shadow, int64_t index, int64_t size,
                         bool write);

// How often each element of an output has been written during a launch.
class WriteLog {
 public:
  WriteLog(const char* name, int64_t size);
  void record(int64_t index);
  // "" where every element was written exactly once, else what was not.
  std::string unwritten() const;

 private:
  const char* name_;
  int64_t size_;
  std::unique_ptr<std::atomic<uint8_t>[]> counts_;
};

[[noreturn]] void fail_global_access(const char* name, int64_t index,
                                     int64_t count, int64_t begin,
                                     int64_t end, bool write);
[[noreturn]] void fail_alignment(const char* name, const void* address,
                                 int64_t bytes);

}  // namespace emulation

struct Thread {
  int64_t block_, blocks_;
  int thread_, threads_;

  int64_t block() const { return block_; }
  int64_t blocks() const { return blocks_; }
  int thread() const { return thread_; }
  int threads() const { return threads_; }
  void sync() const { emulation::barrier(); }
};

// Global memory: data[i] is valid for begin <= i < end (offset() shifts
// both); stores are logged where the span has a log.
template <typename T>
struct Span {
  T* data;
  int64_t begin, end;
  const char* name;
  emulation::WriteLog* log;
  int64_t log_base;

  bool present() const { return data != nullptr; }
  Span offset(int64_t i) const {
    return {data + i, begin - i, end - i, name, log, log_base + i};
  }
  T load(int64_t i) const {
    check(i, 1, false);
    return data[i];
  }
  void store(int64_t i, T value) const {
    static_assert(!std::is_const<T>::value, "store into an input span");
    check(i, 1, true);
    if (log != nullptr) log->record(log_base + i);
    data[i] = value;
  }
  template <int N>
  Vec<typename std::remove_const<T>::type, N> load_vec(int64_t i) const {
    check(i, N, false);
    check_alignment<N>(i);
    Vec<typename std::remove_const<T>::type, N> out;
    for (int n = 0; n < N; ++n) out.v[n] = data[i + n];
    return out;
  }
  template <int N>
  void store_vec(int64_t i, const Vec<T, N>& value) const {
    check(i, N, true);
    check_alignment<N>(i);
    for (int n = 0; n < N; ++n) store(i + n, value.v[n]);
  }

 private:
  void check(int64_t i, int64_t count, bool write) const {
    if (i < begin || i + count > end) {
      emulation::fail_global_access(name, i, count, begin, end, write);
    }
  }
  template <int N>
  void check_alignment(int64_t i) const {
    constexpr int64_t bytes = sizeof(Vec<typename std::remove_const<T>::type,
                                         N>);
    if (reinterpret_cast<uintptr_t>(data + i) % bytes != 0) {
      emulation::fail_alignment(name, data + i, bytes);
    }
  }
};

// One block's shared memory: a fresh array per block, filled with NaN bytes,
// with a shadow entry per element for the race checks.
template <typename T, int N>
class SharedArray {
 public:
  SharedArray() { std::memset(data_, 0xff, sizeof(data_)); }

  T load(int i) const {
    emulation::check_shared_access(shadow_[bounded(i)], i, N, false);
    return data_[i];
  }
  void store(int i, T value) {
    emulation::check_shared_access(shadow_[bounded(i)], i, N, true);
    data_[i] = value;
  }

 private:
  static int bounded(int i) { return (i < 0 || i >= N) ? 0 : i; }
  T data_[N];
  mutable emulation::SharedShadow shadow_[N];
};

inline float kernel_exp(float x) { return std::exp(x); }
inline double kernel_exp(double x) { return std::exp(x); }
inline float kernel_sqrt(float x) { return std::sqrt(x); }
inline double kernel_sqrt(double x) { return std::sqrt(x); }

namespace emulation {

// A kernel, type-erased for the launcher in host_runtime.cpp.
struct KernelLaunch {
  const char* name;
  int threads;
  bool syncs;
  const void* kernel;
  void* (*new_shared)();
  void (*delete_shared)(void*);
  void (*run)(const void* kernel, const Thread& thread, void* shared);
};

// Runs the grid; throws c10::Error with the first failure.
void run_grid(const KernelLaunch& launch, int64_t blocks);

template <typename Kernel>
void launch(const Kernel& kernel, int64_t blocks, const char* name) {
  using Shared = typename Kernel::Shared;
  const KernelLaunch l{
      name,
      Kernel::kThreads,
      Kernel::kSyncs,
      &kernel,
      []() -> void* { return new Shared(); },
      [](void* shared) { delete static_cast<Shared*>(shared); },
      [](const void* k, const Thread& thread, void* shared) {
        (*static_cast<const Kernel*>(k))(thread, *static_cast<Shared*>(shared));
      }};
  run_grid(l, blocks);
}

}  // namespace emulation
}  // namespace cuda
}  // namespace sapa_mm

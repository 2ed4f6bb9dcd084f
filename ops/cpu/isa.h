// Instruction sets of the CPU kernels.
//
// Compiled for the compiler's default target (x86-64: SSE2), the vectorised
// channel loops would use 4-float registers on CPUs that have 8-float AVX2
// ones with fused multiply-add, at less than half the speed. Like ATen's
// DispatchStub, sapa_mm therefore compiles its kernel bodies once per
// instruction set and picks one at run time: each .cpp includes its kernel
// header (one that says "compiled once per instruction set") once with
// SAPA_CPU_ISA = generic, and, on x86-64 with GCC, once more with
// SAPA_CPU_ISA = avx2 between SAPA_MM_BEGIN_AVX2 and SAPA_MM_END_AVX2, which
// compile the functions defined in between for AVX2 + FMA (SAPA_CPU_ISA_AVX2
// is 0 or 1 accordingly, for the few places that use intrinsics). Every copy
// sits in its own namespace, so no inline function is defined twice.
// SAPA_MM_CPU_CAPABILITY=default selects the portable copy (as
// ATEN_CPU_CAPABILITY does for ATen); the tests run both.
#pragma once

#include <cstdlib>
#include <cstring>

#if defined(__GNUC__) && !defined(__clang__) && defined(__x86_64__)
#define SAPA_MM_CPU_AVX2 1
// The intrinsics, declared for any target; the AVX2 copies may call them.
#include <immintrin.h>
#define SAPA_MM_BEGIN_AVX2 \
  _Pragma("GCC push_options") _Pragma("GCC target(\"avx2,fma\")")
#define SAPA_MM_END_AVX2 _Pragma("GCC pop_options")
#else
#define SAPA_MM_CPU_AVX2 0
#endif

namespace sapa_mm {
namespace cpu {

enum class Capability { kDefault, kAvx2 };

// The instruction set the kernels run with: the best the CPU supports,
// unless SAPA_MM_CPU_CAPABILITY=default.
inline Capability capability() {
  static const Capability chosen = [] {
#if SAPA_MM_CPU_AVX2
    const char* env = std::getenv("SAPA_MM_CPU_CAPABILITY");
    const bool forced_default =
        env != nullptr && std::strcmp(env, "default") == 0;
    if (!forced_default && __builtin_cpu_supports("avx2") &&
        __builtin_cpu_supports("fma")) {
      return Capability::kAvx2;
    }
#endif
    return Capability::kDefault;
  }();
  return chosen;
}

inline const char* capability_name() {
  return capability() == Capability::kAvx2 ? "avx2" : "default";
}

}  // namespace cpu
}  // namespace sapa_mm

// Calls SAPA_CPU_ISA-namespaced fn of the chosen instruction set.
#if SAPA_MM_CPU_AVX2
#define SAPA_MM_CPU_CALL(fn, ...)                                    \
  (::sapa_mm::cpu::capability() == ::sapa_mm::cpu::Capability::kAvx2 \
       ? ::sapa_mm::cpu::avx2::fn(__VA_ARGS__)                       \
       : ::sapa_mm::cpu::generic::fn(__VA_ARGS__))
#else
#define SAPA_MM_CPU_CALL(fn, ...) ::sapa_mm::cpu::generic::fn(__VA_ARGS__)
#endif

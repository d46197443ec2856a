#include "include/CCPUFeatures.h"

int cnnz_cpu_has_avx2_fma(void) {
#if defined(__x86_64__) || defined(__i386__)
  /* The compiler runtime reads CPUID and XGETBV: AVX counts only when the OS saves the YMM registers. */
  __builtin_cpu_init();
  return __builtin_cpu_supports("avx2") && __builtin_cpu_supports("fma");
#else
  return 0;
#endif
}

int cnnz_cpu_has_avx512(void) {
#if defined(__x86_64__) || defined(__i386__)
  /* As above: also true only when the OS saves the ZMM and mask registers. */
  __builtin_cpu_init();
  return cnnz_cpu_has_avx2_fma() && __builtin_cpu_supports("avx512f") && __builtin_cpu_supports("avx512bw") &&
         __builtin_cpu_supports("avx512dq") && __builtin_cpu_supports("avx512vl");
#else
  return 0;
#endif
}

int cnnz_cpu_has_avx512_vnni(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return cnnz_cpu_has_avx512() && __builtin_cpu_supports("avx512vnni");
#else
  return 0;
#endif
}

int cnnz_cpu_has_avx_vnni(void) {
#if defined(__x86_64__) || defined(__i386__)
  __builtin_cpu_init();
  return cnnz_cpu_has_avx2_fma() && __builtin_cpu_supports("avxvnni");
#else
  return 0;
#endif
}

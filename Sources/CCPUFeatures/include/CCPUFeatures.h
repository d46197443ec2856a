/* Run-time CPU feature checks for kernel dispatch. Internal to cnnz: no stable API. */
#ifndef CCPUFEATURES_H
#define CCPUFEATURES_H

/* 1 when the CPU and the OS support AVX2 and FMA (x86-64 only), else 0. */
int cnnz_cpu_has_avx2_fma(void);

/* 1 when the CPU and the OS support AVX-512 F, BW, DQ and VL (and AVX2 + FMA), else 0. */
int cnnz_cpu_has_avx512(void);

/* 1 when the CPU and the OS support AVX-512 VNNI (vpdpbusd on zmm) besides the AVX-512 above, else 0. */
int cnnz_cpu_has_avx512_vnni(void);

/* 1 when the CPU and the OS support AVX-VNNI (the VEX vpdpbusd on ymm) and AVX2 + FMA, else 0. */
int cnnz_cpu_has_avx_vnni(void);

/* The CPU the calling thread runs on, or -1 where that is unknown (off Linux). glibc 2.35 and later
   read it from the thread's rseq area, without a system call. */
int cnnz_current_cpu(void);

/* Bytes of a saved affinity mask (a cpu_set_t on Linux). */
#define CNNZ_CPU_MASK_BYTES 128

/* Saves the calling thread's affinity mask into `mask` (CNNZ_CPU_MASK_BYTES bytes). Returns how
   many CPUs it holds, or 0 (off Linux, or an error). */
int cnnz_affinity_get(void *mask);

/* Sets the calling thread's affinity to the saved `mask` without CPU `cpu` (the kernel moves the
   thread off `cpu` before the call returns), or to `mask` itself when `cpu` is not in it or is its
   only CPU. 1 when `cpu` was left out, else 0. (Linux only: WorkerPool's helpers keep off their
   caller's CPU.) */
int cnnz_affinity_set_without(const void *mask, int cpu);

#endif

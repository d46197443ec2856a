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

#endif

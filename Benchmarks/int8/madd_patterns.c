/* Issue 14's question for the AVX2 int8 GEMM: vpmaddwd on int16 (exact; XNNPACK's choice) or
 * vpmaddubsw on u8 x s8 (twice the products per instruction, but its int16 pair sums saturate:
 * 255 * 127 * 2 > 32767), with AVX-VNNI's vpdpbusd beside them. Throughput of each pattern:
 * 8 independent int32 accumulators, weights loaded from a small rotating buffer in L1, useful
 * multiply-adds per second of this thread's CPU time (the machine is shared).
 *
 *   cc -O2 Benchmarks/int8/madd_patterns.c -o /tmp/madd && /tmp/madd   (x86-64 with AVX-VNNI) */
#include <immintrin.h>
#include <stdio.h>
#include <stdint.h>
#include <time.h>
static double now(void){ struct timespec t; clock_gettime(CLOCK_THREAD_CPUTIME_ID,&t); return t.tv_sec+t.tv_nsec*1e-9; }
__attribute__((target("avx2"),noinline)) int32_t wd(const int16_t *b, long n){ /* vpmaddwd: 16 MACs per instruction */
  __m256i a0=_mm256_set1_epi32(0x00030002), s[8]; for(int i=0;i<8;i++) s[i]=_mm256_setzero_si256();
  for(long k=0;k<n;k++){ for(int i=0;i<8;i++) s[i]=_mm256_add_epi32(s[i],_mm256_madd_epi16(a0,_mm256_loadu_si256((const __m256i*)(b+16*((k*8+i)&63))))); }
  __m256i t=s[0]; for(int i=1;i<8;i++) t=_mm256_add_epi32(t,s[i]); return _mm256_extract_epi32(t,0);}
__attribute__((target("avx2"),noinline)) int32_t ubsw(const int8_t *b, long n){ /* vpmaddubsw + vpmaddwd(1) : 32 MACs */
  __m256i a0=_mm256_set1_epi32(0x05040302), one=_mm256_set1_epi16(1), s[8]; for(int i=0;i<8;i++) s[i]=_mm256_setzero_si256();
  for(long k=0;k<n;k++){ for(int i=0;i<8;i++) s[i]=_mm256_add_epi32(s[i],_mm256_madd_epi16(_mm256_maddubs_epi16(a0,_mm256_loadu_si256((const __m256i*)(b+32*((k*8+i)&63)))),one)); }
  __m256i t=s[0]; for(int i=1;i<8;i++) t=_mm256_add_epi32(t,s[i]); return _mm256_extract_epi32(t,0);}
__attribute__((target("avx2,avxvnni"),noinline)) int32_t vnni(const int8_t *b, long n){ /* vpdpbusd ymm: 32 MACs */
  __m256i a0=_mm256_set1_epi32(0x05040302), s[8]; for(int i=0;i<8;i++) s[i]=_mm256_setzero_si256();
  for(long k=0;k<n;k++){ for(int i=0;i<8;i++) s[i]=_mm256_dpbusd_avx_epi32(s[i],a0,_mm256_loadu_si256((const __m256i*)(b+32*((k*8+i)&63)))); }
  __m256i t=s[0]; for(int i=1;i<8;i++) t=_mm256_add_epi32(t,s[i]); return _mm256_extract_epi32(t,0);}
int main(void){ static int16_t b16[64*16]; static int8_t b8[64*32]; for(int i=0;i<64*16;i++) b16[i]=(int16_t)(i%7); for(int i=0;i<64*32;i++) b8[i]=(int8_t)(i%7);
  long n=4000000; volatile int32_t sink;
  for(int r=0;r<3;r++){
  double t0=now(); sink=wd(b16,n); double t1=now(); sink=ubsw(b8,n); double t2=now(); sink=vnni(b8,n); double t3=now();
  printf("vpmaddwd %.1f GMAC/s, vpmaddubsw+vpmaddwd %.1f GMAC/s, vpdpbusd ymm %.1f GMAC/s\n", n*8*16/(t1-t0)/1e9, n*8*32/(t2-t1)/1e9, n*8*32/(t3-t2)/1e9);}
  (void)sink; }

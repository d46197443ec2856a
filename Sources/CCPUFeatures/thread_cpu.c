/* Where the calling thread runs, and its affinity: WorkerPool's helper threads keep off their
   caller's CPU (see WorkerPool.swift, `avoidCallersCPU`). */
#if defined(__linux__)
#define _GNU_SOURCE
#include <sched.h>
#include <string.h>
_Static_assert(sizeof(cpu_set_t) <= 128, "CNNZ_CPU_MASK_BYTES");
#endif
#include "include/CCPUFeatures.h"

int cnnz_current_cpu(void) {
#if defined(__linux__)
  return sched_getcpu();
#else
  return -1;
#endif
}

int cnnz_affinity_get(void *mask) {
#if defined(__linux__)
  cpu_set_t set;
  if (sched_getaffinity(0, sizeof set, &set) != 0) return 0;
  memcpy(mask, &set, sizeof set);
  return CPU_COUNT(&set);
#else
  (void)mask;
  return 0;
#endif
}

int cnnz_affinity_set_without(const void *mask, int cpu) {
#if defined(__linux__)
  cpu_set_t set;
  memcpy(&set, mask, sizeof set);
  int leave = cpu >= 0 && cpu < CPU_SETSIZE && CPU_ISSET(cpu, &set) && CPU_COUNT(&set) >= 2;
  if (leave) CPU_CLR(cpu, &set);
  return sched_setaffinity(0, sizeof set, &set) == 0 && leave;
#else
  (void)mask;
  (void)cpu;
  return 0;
#endif
}

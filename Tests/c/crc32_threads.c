/*
 * czlib_crc32 (Sources/CZlib/shim.c) from eight threads at once, its first calls included, built
 * with ThreadSanitizer by Tests/c/run.sh: the lazily cached CPU check must be race-free (a plain
 * int read and written by several threads is undefined behaviour in C11, however benign), and
 * every thread's CRC must equal zlib's. ThreadSanitizer exits non-zero on a report.
 */
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>

#include "CZlib.h"

enum { THREADS = 8, BYTES = 4096 };

static unsigned char data[BYTES];
static uint32_t results[THREADS];

static void *work(void *argument) {
    size_t index = (size_t)argument;
    results[index] = czlib_crc32(0, data, sizeof data);
    return NULL;
}

int main(void) {
    pthread_t threads[THREADS];
    size_t i;
    uint32_t expected;
    for (i = 0; i < BYTES; i++) data[i] = (unsigned char)(i * 131 + 7);
    for (i = 0; i < THREADS; i++) pthread_create(&threads[i], NULL, work, (void *)i);
    for (i = 0; i < THREADS; i++) pthread_join(threads[i], NULL);
    expected = czlib_crc32_table(0, data, sizeof data);
    for (i = 0; i < THREADS; i++) {
        if (results[i] != expected) {
            fprintf(stderr, "thread %zu: CRC %08x, zlib %08x\n", i, (unsigned)results[i], (unsigned)expected);
            return 1;
        }
    }
    printf("czlib_crc32 from %d threads: %08x, as zlib\n", THREADS, (unsigned)expected);
    return 0;
}

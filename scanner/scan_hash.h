/* scan_hash.h — XXH3-64 of guest pages, at the speed of the CPU (internal).
 *
 * The Debian shared libxxhash is built for baseline x86-64 (SSE2) and
 * called through the PLT; compiled in, with AVX2 where the CPU has it,
 * hashing a cache-hot 4 KiB page is 2-3x faster. The digest is the same
 * XXH3-64 on every path. */
#ifndef KSMD_SCAN_HASH_H
#define KSMD_SCAN_HASH_H

#include <stddef.h>
#include <stdint.h>

/* XXH3-64 (seed 0) of len bytes at data; the AVX2 code path when the CPU
 * supports it, else SSE2. Thread-safe. */
uint64_t scan_hash_xxh3(const void *data, size_t len);

/* The AVX2 build (scan_hash_avx2.c, compiled with -mavx2); call only when
 * __builtin_cpu_supports("avx2"). */
uint64_t scan_hash_xxh3_avx2(const void *data, size_t len);

#endif

/* scan_hash.c — XXH3-64 dispatch: AVX2 when the CPU has it, else the
 * compiled-in baseline (see scan_hash.h). */
#include "scanner/scan_hash.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

static uint64_t xxh3_base(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

uint64_t scan_hash_xxh3(const void *data, size_t len)
{
	static uint64_t (*fn)(const void *, size_t);
	uint64_t (*f)(const void *, size_t) = __atomic_load_n(&fn, __ATOMIC_RELAXED);
	if (!f) {
#if defined(__x86_64__) && defined(KSMD_HAVE_AVX2_HASH)
		__builtin_cpu_init();
		f = __builtin_cpu_supports("avx2") ? scan_hash_xxh3_avx2 : xxh3_base;
#else
		f = xxh3_base;
#endif
		__atomic_store_n(&fn, f, __ATOMIC_RELAXED);
	}
	return f(data, len);
}

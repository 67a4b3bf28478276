/* scan_hash_avx2.c — XXH3-64 compiled for AVX2. mk/scanner.mk builds this
 * file with -mavx2 (and defines KSMD_HAVE_AVX2_HASH for scan_hash.c);
 * without those flags it is the baseline code again, still correct. */
#include "scanner/scan_hash.h"

#define XXH_INLINE_ALL
#include <xxhash.h>

uint64_t scan_hash_xxh3_avx2(const void *data, size_t len)
{
	return XXH3_64bits(data, len);
}

/*
 * strpool.h - interned strings for one report.
 *
 * A report has many lines but few distinct names, roles, purposes and
 * descriptions.  Interning keeps one copy of each and lets stages pass
 * entries around by value; memory grows with the distinct strings, not with
 * the number of events.  Everything is freed with the pool.
 */
#ifndef AOD_STRPOOL_H
#define AOD_STRPOOL_H

#include <stddef.h>

typedef struct aod_strpool aod_strpool;

/* New empty pool, NULL when out of memory. */
aod_strpool *aod_strpool_new(void);

/* Frees the pool and every string it returned.  Accepts NULL. */
void aod_strpool_free(aod_strpool *p);

/* Returns the pooled copy of s (borrowed from the pool, lives until
 * aod_strpool_free); NULL for s == NULL, and NULL when out of memory (check
 * with s != NULL). */
const char *aod_strpool_intern(aod_strpool *p, const char *s);
const char *aod_strpool_internn(aod_strpool *p, const char *s, size_t n);

/* Pool-owned memory (not interned), zeroed; NULL when out of memory. */
void *aod_strpool_alloc(aod_strpool *p, size_t size);

/* Bytes the pool holds, for the benchmark's memory notes. */
size_t aod_strpool_bytes(const aod_strpool *p);

#endif

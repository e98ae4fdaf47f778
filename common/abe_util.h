/*
 * abe_util.h — small shared helpers: SPEC §2.1 timestamps, UUID4 ids from the kernel CSPRNG, clocks,
 * and UTF-8 code-point counting. Pure functions; no allocation unless stated.
 */
#ifndef ABE_UTIL_H
#define ABE_UTIL_H

#include <stddef.h>
#include <stdint.h>

#define ABE_TS_LEN 28   /* "2026-11-22T17:48:12.567454Z" + NUL */
#define ABE_UUID_LEN 37 /* 36 chars + NUL */

/* abe_now_iso — current UTC time as "YYYY-MM-DDTHH:MM:SS.ffffffZ" into out[ABE_TS_LEN]; returns out. */
char *abe_now_iso(char out[ABE_TS_LEN]);

/* abe_uuid4 — random lowercase UUID4 (getrandom(2)) into out[ABE_UUID_LEN]; returns out. */
char *abe_uuid4(char out[ABE_UUID_LEN]);

/* abe_mono_ns — CLOCK_MONOTONIC in nanoseconds. */
uint64_t abe_mono_ns(void);

/* abe_utf8_cp_count — number of code points in a valid UTF-8 string of len bytes. */
size_t abe_utf8_cp_count(const char *s, size_t len);

#endif

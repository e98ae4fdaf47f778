/*
 * bench_util.h — helpers shared by the perf/ benchmark programs (bench_conversations, bench_executions,
 * bench_engine, bench_writes, sqlite_ceiling; perf/README.md documents each tool).
 *
 * The benchmarks are separate executables, one per C file directly in perf/; this small library (built as the
 * static library abe_bench from perf/common/bench_util.c, see CMakeLists.txt) holds the one version of what
 * they all need, so their reported numbers are computed the same way everywhere:
 *   - time: a monotonic clock in ns and an EINTR-safe sleep;
 *   - samples: a growable array of latencies in ms, and nearest-rank statistics over it (mean, p50, p99,
 *     max), printed as one aligned line or packed as a JSON object;
 *   - HTTP: a growable response-body buffer for libcurl, keep-alive easy-handle setup, one blocking request
 *     that is timed, and a GET /health probe;
 *   - command line: strict integer and seconds parsing, the --url base normalisation;
 *   - workflows: the JSON body of a benchmark workflow (a chain or a set of independent timed steps).
 *
 * Percentiles: every tool reports NEAREST-RANK percentiles (the value at rank ceil(p/100 · n) of the sorted
 * samples, never an interpolation between two samples), as perf/README.md states for each tool; that is the
 * only percentile definition here (bench_percentile_nearest_rank). bench_writes used to compute the rank as
 * (size_t)(p/100·n + 0.999999); for the p50 and p99 it reports that gives the same rank as ceil for every n,
 * so its numbers do not change.
 *
 * Threads: everything here is reentrant; a bench_samples_t / bench_buf_t / CURL handle belongs to one
 * thread at a time. Memory: functions that return or grow memory say who frees it.
 */
#ifndef BENCH_UTIL_H
#define BENCH_UTIL_H

#include <curl/curl.h>
#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

/* ---- time ------------------------------------------------------------------------------------------- */

/* CLOCK_MONOTONIC in nanoseconds (arbitrary origin; only differences mean anything). */
uint64_t bench_mono_ns(void);

/* Sleeps ns nanoseconds, resuming after EINTR so the full time passes. */
void bench_sleep_ns(uint64_t ns);

/* Sleeps ms milliseconds (ms <= 0: returns at once). */
void bench_sleep_ms(long ms);

/* ---- samples and statistics ------------------------------------------------------------------------- */

/* A growable array of samples in ms. Zero-initialise ({0}); release with bench_samples_free. */
typedef struct bench_samples {
    double *ms;
    size_t n, cap;
} bench_samples_t;

/* Appends v. Returns 0, or -1 when memory ran out (s is unchanged then). */
int bench_samples_add(bench_samples_t *s, double v);

/* Appends every sample of src to dst (src unchanged). Returns 0, or -1 when memory ran out. */
int bench_samples_append(bench_samples_t *dst, const bench_samples_t *src);

/* Frees the array and resets s to empty. */
void bench_samples_free(bench_samples_t *s);

/* qsort comparator for doubles, ascending. */
int bench_cmp_double(const void *a, const void *b);

/*
 * Nearest-rank percentile of the ASCENDING-sorted v[0..n): the value at rank ceil(p/100 · n), clamped to
 * 1..n. p in percent (50 = median). Returns 0.0 when n is 0.
 */
double bench_percentile_nearest_rank(const double *v, size_t n, double p);

/* Summary of a sample set, all in ms; all fields 0 for an empty set. */
typedef struct bench_stats {
    size_t n;
    double mean, p50, p99, max;
} bench_stats_t;

/*
 * Sorts s->ms in place (ascending) and returns its count, mean (summed in sorted order), nearest-rank p50
 * and p99, and max.
 */
bench_stats_t bench_summarize(bench_samples_t *s);

/*
 * Prints one line to out:
 *   "<label, left-aligned in label_width> n=<n, left-aligned in n_width> [mean=%8.2f ms  ]p50=%8.2f ms  "
 *   "p99=%8.2f ms  max=%8.2f ms\n"
 * with the "mean=" column only when with_mean is non-zero.
 */
void bench_stats_print(FILE *out, const char *label, int label_width, int n_width, int with_mean,
                       const bench_stats_t *st);

/*
 * New JSON object {count_key: n, "mean_ms", "p50_ms", "p99_ms", "max_ms"} (in that order). The caller owns
 * the reference. NULL when memory ran out.
 */
json_t *bench_stats_json(const char *count_key, const bench_stats_t *st);

/*
 * Writes doc to path, indented by 2 with 9 significant digits for reals. Returns 0, or -1 when doc is NULL
 * or the file cannot be written. Does not take the reference.
 */
int bench_write_json(const json_t *doc, const char *path);

/* ---- HTTP (libcurl) --------------------------------------------------------------------------------- */

/* A growable, always NUL-terminated response body. Zero-initialise; release with bench_buf_free. */
typedef struct bench_buf {
    char *data; /* NULL until the first byte arrives */
    size_t len, cap;
} bench_buf_t;

/*
 * CURLOPT_WRITEFUNCTION for a bench_buf_t (CURLOPT_WRITEDATA): appends size·nmemb bytes. Returns the byte
 * count, or 0 when memory ran out, which makes libcurl fail the transfer with a write error.
 */
size_t bench_on_body(char *ptr, size_t size, size_t nmemb, void *arg);

/* Empties b (keeps its memory). */
void bench_buf_reset(bench_buf_t *b);

/* Frees b's memory and resets it to empty. */
void bench_buf_free(bench_buf_t *b);

/* A new header list holding "Content-Type: application/json" (free with curl_slist_free_all), or NULL. */
struct curl_slist *bench_json_headers(void);

/*
 * A new easy handle (one keep-alive connection once used) whose body goes to resp, sending hdrs (may be
 * NULL; must outlive the handle), with a whole-request timeout of timeout_s seconds, TCP_NODELAY and
 * NOSIGNAL (safe in threads). NULL when libcurl cannot create one. Free with curl_easy_cleanup.
 */
CURL *bench_new_handle(bench_buf_t *resp, struct curl_slist *hdrs, long timeout_s);

/*
 * One blocking request on c to base + path: POST of the NUL-terminated body, or GET when body is NULL.
 * resp (the handle's WRITEDATA) is emptied first and holds the response body afterwards.
 * Returns the HTTP status; -1 on a transport error, when base + path does not fit 2 KiB, or (only when
 * out is not NULL) when a 200 carries no parsable JSON. Whenever the result is not 200, err gets
 * "<METHOD> <path>: <reason>" ("HTTP <status> <first 160 bytes of the body>" for a non-200 answer).
 * *ms (when ms is not NULL) gets the wall time of the exchange in ms, measured around curl_easy_perform.
 * *out (when out is not NULL) gets the parsed body of a 200 (new reference, caller decrefs), else NULL.
 */
long bench_http(CURL *c, const char *base, const char *path, const char *body, bench_buf_t *resp, double *ms,
                json_t **out, char *err, size_t errlen);

/*
 * GET base + "/health" once on a fresh handle without extra headers, timeout timeout_s seconds.
 * Returns 0 when it answered 200; -1 otherwise with err set as bench_http does (or to
 * "cannot create a libcurl handle"). curl_global_init must have run.
 */
int bench_probe_health(const char *base, long timeout_s, char *err, size_t errlen);

/*
 * A tool's start-up: curl_global_init, then bench_probe_health(base, timeout_s). On failure prints
 * "<tool>: curl_global_init failed" or "<tool>: <base> is not serving: <reason>" to stderr, undoes the
 * init and returns -1 (the tools then exit 2); 0 when the daemon answered 200 (call curl_global_cleanup at
 * the end).
 */
int bench_start(const char *tool, const char *base, long timeout_s);

/* ---- command line ----------------------------------------------------------------------------------- */

/*
 * Strict base-10 integer: the whole of val, no overflow, lo <= value <= hi. Returns 0 and sets *out, or -1
 * (*out unchanged).
 */
int bench_parse_long(const char *val, long lo, long hi, long *out);

/* bench_parse_long for an int destination. */
int bench_parse_int(const char *val, long lo, long hi, int *out);

/* A run time in seconds: the whole of val a number, 0 < value <= 86400 (decimals allowed). 0 or -1. */
int bench_parse_seconds(const char *val, double *out);

/*
 * Copies the daemon base URL val into dst[cap] without its trailing '/' characters. Returns 0, or -1 when
 * nothing is left or it does not fit (dst unchanged then).
 */
int bench_set_base_url(char *dst, size_t cap, const char *val);

/* ---- workflows -------------------------------------------------------------------------------------- */

/*
 * The POST /api/v1/workflows body of a benchmark workflow named "<name_prefix>-<index>": steps s0..s<steps-1>
 * of duration_ms step_ms each; with parallel 0 a sequential chain (each step depends_on the previous one,
 * "parallel_execution":false), otherwise independent steps with "parallel_execution":true.
 * steps 0..500, name_prefix at most 64 bytes. Returns a malloc'd string (caller frees) or NULL.
 */
char *bench_workflow_body(const char *name_prefix, int index, int steps, int step_ms, int parallel);

#endif /* BENCH_UTIL_H */

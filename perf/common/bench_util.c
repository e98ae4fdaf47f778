/*
 * bench_util.c — the shared helpers of the perf/ benchmark programs (declared and documented in
 * bench_util.h): monotonic time and sleeping, latency samples with nearest-rank statistics, the libcurl
 * body buffer, handle setup, one timed request and the /health probe, strict option parsing, and the
 * benchmark workflow body. Built as the static library abe_bench and linked into every perf/ program.
 */
#include "bench_util.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

/* ---- time ------------------------------------------------------------------------------------------- */

uint64_t bench_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

void bench_sleep_ns(uint64_t ns)
{
    struct timespec ts = {.tv_sec = (time_t)(ns / 1000000000ull), .tv_nsec = (long)(ns % 1000000000ull)};
    while (nanosleep(&ts, &ts) != 0 && errno == EINTR) {
    }
}

void bench_sleep_ms(long ms)
{
    if (ms > 0) bench_sleep_ns((uint64_t)ms * 1000000ull);
}

/* ---- samples and statistics ------------------------------------------------------------------------- */

int bench_samples_add(bench_samples_t *s, double v)
{
    if (s->n == s->cap) {
        size_t cap = s->cap ? s->cap * 2 : 1024;
        double *p = realloc(s->ms, cap * sizeof(*p));
        if (!p) return -1;
        s->ms = p;
        s->cap = cap;
    }
    s->ms[s->n++] = v;
    return 0;
}

int bench_samples_append(bench_samples_t *dst, const bench_samples_t *src)
{
    if (src->n == 0) return 0;
    if (dst->n + src->n > dst->cap) {
        size_t cap = dst->cap ? dst->cap : 1024;
        while (cap < dst->n + src->n)
            cap *= 2;
        double *p = realloc(dst->ms, cap * sizeof(*p));
        if (!p) return -1;
        dst->ms = p;
        dst->cap = cap;
    }
    memcpy(dst->ms + dst->n, src->ms, src->n * sizeof(*src->ms));
    dst->n += src->n;
    return 0;
}

void bench_samples_free(bench_samples_t *s)
{
    free(s->ms);
    s->ms = NULL;
    s->n = s->cap = 0;
}

int bench_cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double bench_percentile_nearest_rank(const double *v, size_t n, double p)
{
    if (n == 0) return 0.0;
    double exact = (p / 100.0) * (double)n;
    size_t rank = exact > 0 ? (size_t)exact : 0;
    if ((double)rank < exact) rank++;
    if (rank < 1) rank = 1;
    if (rank > n) rank = n;
    return v[rank - 1];
}

bench_stats_t bench_summarize(bench_samples_t *s)
{
    bench_stats_t st = {0};
    st.n = s->n;
    if (!s->n) return st;
    qsort(s->ms, s->n, sizeof(double), bench_cmp_double);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->ms[i];
    st.mean = sum / (double)s->n;
    st.p50 = bench_percentile_nearest_rank(s->ms, s->n, 50);
    st.p99 = bench_percentile_nearest_rank(s->ms, s->n, 99);
    st.max = s->ms[s->n - 1];
    return st;
}

void bench_stats_print(FILE *out, const char *label, int label_width, int n_width, int with_mean,
                       const bench_stats_t *st)
{
    fprintf(out, "%-*s n=%-*zu ", label_width, label, n_width, st->n);
    if (with_mean) fprintf(out, "mean=%8.2f ms  ", st->mean);
    fprintf(out, "p50=%8.2f ms  p99=%8.2f ms  max=%8.2f ms\n", st->p50, st->p99, st->max);
}

json_t *bench_stats_json(const char *count_key, const bench_stats_t *st)
{
    return json_pack("{s:I,s:f,s:f,s:f,s:f}", count_key, (json_int_t)st->n, "mean_ms", st->mean, "p50_ms",
                     st->p50, "p99_ms", st->p99, "max_ms", st->max);
}

int bench_write_json(const json_t *doc, const char *path)
{
    if (!doc || json_dump_file(doc, path, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) != 0) return -1;
    return 0;
}

/* ---- HTTP (libcurl) --------------------------------------------------------------------------------- */

size_t bench_on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    bench_buf_t *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return 0; /* makes libcurl fail the transfer */
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

void bench_buf_reset(bench_buf_t *b)
{
    b->len = 0;
    if (b->data) b->data[0] = '\0';
}

void bench_buf_free(bench_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

struct curl_slist *bench_json_headers(void)
{
    return curl_slist_append(NULL, "Content-Type: application/json");
}

CURL *bench_new_handle(bench_buf_t *resp, struct curl_slist *hdrs, long timeout_s)
{
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, bench_on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, timeout_s);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    return c;
}

long bench_http(CURL *c, const char *base, const char *path, const char *body, bench_buf_t *resp, double *ms,
                json_t **out, char *err, size_t errlen)
{
    const char *method = body ? "POST" : "GET";
    char url[2048];
    if (out) *out = NULL;
    if ((size_t)snprintf(url, sizeof(url), "%s%s", base, path) >= sizeof(url)) {
        snprintf(err, errlen, "%s %.160s: URL too long", method, path);
        return -1;
    }
    bench_buf_reset(resp);
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    uint64_t t0 = bench_mono_ns();
    CURLcode rc = curl_easy_perform(c);
    if (ms) *ms = (double)(bench_mono_ns() - t0) / 1e6;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", method, path, curl_easy_strerror(rc));
        return -1;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        snprintf(err, errlen, "%s %s: HTTP %ld %.160s", method, path, status, resp->data ? resp->data : "");
    if (out && status == 200) {
        *out = resp->data ? json_loadb(resp->data, resp->len, 0, NULL) : NULL;
        if (!*out) {
            snprintf(err, errlen, "%s %s: 200 with an unparsable body", method, path);
            return -1;
        }
    }
    return status;
}

int bench_probe_health(const char *base, long timeout_s, char *err, size_t errlen)
{
    bench_buf_t resp = {0};
    CURL *c = bench_new_handle(&resp, NULL, timeout_s);
    if (!c) {
        snprintf(err, errlen, "cannot create a libcurl handle");
        return -1;
    }
    long st = bench_http(c, base, "/health", NULL, &resp, NULL, NULL, err, errlen);
    curl_easy_cleanup(c);
    bench_buf_free(&resp);
    return st == 200 ? 0 : -1;
}

int bench_start(const char *tool, const char *base, long timeout_s)
{
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "%s: curl_global_init failed\n", tool);
        return -1;
    }
    char err[256];
    if (bench_probe_health(base, timeout_s, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s: %s is not serving: %s\n", tool, base, err);
        curl_global_cleanup();
        return -1;
    }
    return 0;
}

/* ---- command line ----------------------------------------------------------------------------------- */

int bench_parse_long(const char *val, long lo, long hi, long *out)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(val, &end, 10);
    if (errno || !*val || *end || n < lo || n > hi) return -1;
    *out = n;
    return 0;
}

int bench_parse_int(const char *val, long lo, long hi, int *out)
{
    long n;
    if (bench_parse_long(val, lo, hi, &n) != 0) return -1;
    *out = (int)n;
    return 0;
}

int bench_parse_seconds(const char *val, double *out)
{
    char *end = NULL;
    errno = 0;
    double t = strtod(val, &end);
    if (errno || !*val || *end || !(t > 0) || t > 86400) return -1;
    *out = t;
    return 0;
}

int bench_set_base_url(char *dst, size_t cap, const char *val)
{
    size_t l = strlen(val);
    while (l > 0 && val[l - 1] == '/')
        l--;
    if (l == 0 || l >= cap) return -1;
    snprintf(dst, cap, "%.*s", (int)l, val);
    return 0;
}

/* ---- workflows -------------------------------------------------------------------------------------- */

char *bench_workflow_body(const char *name_prefix, int index, int steps, int step_ms, int parallel)
{
    if (steps < 0 || steps > 500 || strlen(name_prefix) > 64) return NULL;
    /* per step at most {"name":"s499","duration_ms":-2147483648,"depends_on":["s498"]}, = 65 bytes */
    size_t cap = 256 + (size_t)steps * 96;
    char *b = malloc(cap);
    if (!b) return NULL;
    size_t n = (size_t)snprintf(b, cap, "{\"name\":\"%s-%d\",\"parallel_execution\":%s,\"steps\":[",
                                name_prefix, index, parallel ? "true" : "false");
    for (int i = 0; i < steps; i++) {
        n += (size_t)snprintf(b + n, cap - n, "%s{\"name\":\"s%d\",\"duration_ms\":%d", i ? "," : "", i,
                              step_ms);
        if (i > 0 && !parallel) n += (size_t)snprintf(b + n, cap - n, ",\"depends_on\":[\"s%d\"]", i - 1);
        n += (size_t)snprintf(b + n, cap - n, "}");
    }
    snprintf(b + n, cap - n, "]}");
    return b;
}

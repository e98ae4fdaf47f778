/*
 * bench_writes.c — closed-loop durable-write benchmark against a running daemon, built as
 * build/bin/bench_writes (perf/README.md documents it and compares it with sqlite_ceiling).
 *
 * CONNS threads each own one libcurl easy handle (one HTTP/1.1 keep-alive connection) and send
 * POST /api/v1/conversations {"agent_id":"agent-research","user_message":"bench <thread>-<n>"} back to back
 * for SECONDS. Each 200 is a write the daemon acknowledged only after its group commit was fsynced
 * (SPEC §2.4, §9.2), so writes/s here is the daemon's durable write rate; it is directly comparable with
 * sqlite_ceiling, which inserts the same rows (1 conversation + 2 messages) with plain SQLite.
 * Latency is measured per request from just before it is sent until its response is complete; p50/p99 are
 * nearest-rank over the successful requests. Requests still in flight when the time is up are finished and
 * counted; the rate uses the measured wall time.
 *
 * Usage: bench_writes URL [-c CONNS] [-d SECONDS]     (defaults: 16 connections, 10 s)
 * Output: one summary block; non-200 answers are counted by status (503 backpressure included) and the first
 * one is printed. Exit status 0 when every request answered 200, 1 otherwise, 2 on a usage error or when
 * GET URL/health does not answer 200 at start.
 */
#include <curl/curl.h>
#include <errno.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CONNS 1024

typedef struct client {
    pthread_t thread;
    int index;
    double *lat_ms; /* successful request latencies */
    size_t n, cap;
    uint64_t ok, failed, transport, s503;
    char first_error[256];
} client_t;

static struct {
    char url[512];
    char health[512];
    int conns;
    double seconds;
    uint64_t deadline_ns;
} opt;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

/* Response bodies are not needed beyond the first error; keep at most 200 bytes of the last one. */
typedef struct sink {
    char buf[200];
    size_t n;
} sink_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *ud)
{
    sink_t *s = ud;
    size_t add = size * nmemb;
    size_t room = sizeof(s->buf) - 1 - s->n;
    size_t take = add < room ? add : room;
    memcpy(s->buf + s->n, ptr, take);
    s->n += take;
    s->buf[s->n] = '\0';
    return add;
}

static int push(client_t *c, double ms)
{
    if (c->n == c->cap) {
        size_t ncap = c->cap ? c->cap * 2 : 4096;
        double *nl = realloc(c->lat_ms, ncap * sizeof(*nl));
        if (nl == NULL) return -1;
        c->lat_ms = nl;
        c->cap = ncap;
    }
    c->lat_ms[c->n++] = ms;
    return 0;
}

static void *client_main(void *arg)
{
    client_t *c = arg;
    CURL *h = curl_easy_init();
    if (h == NULL) {
        snprintf(c->first_error, sizeof(c->first_error), "curl_easy_init failed");
        c->failed++;
        return NULL;
    }
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    hdrs = curl_slist_append(hdrs, "Expect:");
    sink_t sink;
    char body[128];
    curl_easy_setopt(h, CURLOPT_URL, opt.url);
    curl_easy_setopt(h, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TCP_NODELAY, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    for (uint64_t i = 0; mono_ns() < opt.deadline_ns; i++) {
        snprintf(body, sizeof(body), "{\"agent_id\":\"agent-research\",\"user_message\":\"bench %d-%llu\"}",
                 c->index, (unsigned long long)i);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        sink.n = 0;
        sink.buf[0] = '\0';
        uint64_t t0 = mono_ns();
        CURLcode rc = curl_easy_perform(h);
        double ms = (double)(mono_ns() - t0) / 1e6;
        long status = 0;
        if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200) {
            c->ok++;
            if (push(c, ms) != 0) break;
            continue;
        }
        c->failed++;
        if (rc != CURLE_OK) c->transport++;
        if (status == 503) c->s503++;
        if (c->first_error[0] == '\0')
            snprintf(c->first_error, sizeof(c->first_error), "%s",
                     rc != CURLE_OK ? curl_easy_strerror(rc) : "");
        if (c->first_error[0] == '\0')
            snprintf(c->first_error, sizeof(c->first_error), "HTTP %ld %s", status, sink.buf);
        if (rc != CURLE_OK) {
            struct timespec ts = {0, 10000000L}; /* do not spin on a dead daemon */
            nanosleep(&ts, NULL);
        }
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return x < y ? -1 : x > y;
}

/* Nearest-rank percentile of sorted v[0..n). */
static double pct(const double *v, size_t n, double p)
{
    if (n == 0) return 0.0;
    size_t k = (size_t)(p / 100.0 * (double)n + 0.999999);
    if (k < 1) k = 1;
    if (k > n) k = n;
    return v[k - 1];
}

static int health_ok(void)
{
    CURL *h = curl_easy_init();
    if (h == NULL) return 0;
    sink_t sink = {.n = 0};
    curl_easy_setopt(h, CURLOPT_URL, opt.health);
    curl_easy_setopt(h, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(h, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(h, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(h, CURLOPT_WRITEDATA, &sink);
    long status = 0;
    if (curl_easy_perform(h) == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(h);
    return status == 200;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: bench_writes URL [-c CONNS] [-d SECONDS]\n"
            "  URL: daemon base URL, e.g. http://127.0.0.1:8000; CONNS 1-%d (16); SECONDS > 0 (10)\n",
            MAX_CONNS);
}

int main(int argc, char **argv)
{
    const char *base = NULL;
    opt.conns = 16;
    opt.seconds = 10.0;
    for (int i = 1; i < argc; i++) {
        char *end = NULL;
        errno = 0;
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            long v = strtol(argv[++i], &end, 10);
            if (errno != 0 || *end != '\0' || v < 1 || v > MAX_CONNS) {
                usage();
                return 2;
            }
            opt.conns = (int)v;
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            double v = strtod(argv[++i], &end);
            if (errno != 0 || *end != '\0' || !(v > 0.0) || v > 86400.0) {
                usage();
                return 2;
            }
            opt.seconds = v;
        } else if (argv[i][0] != '-' && base == NULL) {
            base = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if (base == NULL || strlen(base) > 400) {
        usage();
        return 2;
    }
    size_t bl = strlen(base);
    while (bl > 0 && base[bl - 1] == '/')
        bl--;
    snprintf(opt.url, sizeof(opt.url), "%.*s/api/v1/conversations", (int)bl, base);
    snprintf(opt.health, sizeof(opt.health), "%.*s/health", (int)bl, base);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    if (!health_ok()) {
        fprintf(stderr, "bench_writes: GET %s did not answer 200\n", opt.health);
        return 2;
    }
    static client_t clients[MAX_CONNS];
    uint64_t t0 = mono_ns();
    opt.deadline_ns = t0 + (uint64_t)(opt.seconds * 1e9);
    int started = 0;
    for (int i = 0; i < opt.conns; i++) {
        clients[i].index = i;
        if (pthread_create(&clients[i].thread, NULL, client_main, &clients[i]) != 0) {
            fprintf(stderr, "bench_writes: cannot start thread %d\n", i);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(clients[i].thread, NULL);
    double wall = (double)(mono_ns() - t0) / 1e9;

    uint64_t ok = 0, failed = 0, transport = 0, s503 = 0;
    size_t n = 0;
    const char *first = NULL;
    for (int i = 0; i < started; i++) {
        ok += clients[i].ok;
        failed += clients[i].failed;
        transport += clients[i].transport;
        s503 += clients[i].s503;
        n += clients[i].n;
        if (first == NULL && clients[i].first_error[0]) first = clients[i].first_error;
    }
    double *all = malloc((n ? n : 1) * sizeof(*all));
    if (all == NULL) {
        fprintf(stderr, "bench_writes: out of memory\n");
        return 2;
    }
    size_t k = 0;
    double sum = 0.0;
    for (int i = 0; i < started; i++) {
        memcpy(all + k, clients[i].lat_ms, clients[i].n * sizeof(*all));
        k += clients[i].n;
        free(clients[i].lat_ms);
    }
    for (size_t i = 0; i < n; i++)
        sum += all[i];
    qsort(all, n, sizeof(*all), cmp_double);
    printf("bench_writes: %d connections, %.1f s against %s\n", started, wall, opt.url);
    printf("writes:   %llu ok, %.1f/s durable; %llu failed (%llu transport, %llu 503)\n",
           (unsigned long long)ok, (double)ok / wall, (unsigned long long)failed,
           (unsigned long long)transport, (unsigned long long)s503);
    printf("latency:  mean %.2f ms  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", n ? sum / (double)n : 0.0,
           pct(all, n, 50), pct(all, n, 99), n ? all[n - 1] : 0.0);
    if (first != NULL) printf("first failure: %s\n", first);
    free(all);
    curl_global_cleanup();
    return failed == 0 && ok > 0 ? 0 : 1;
}

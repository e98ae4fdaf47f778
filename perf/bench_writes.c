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
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define MAX_CONNS 1024

typedef struct client {
    pthread_t thread;
    int index;
    bench_samples_t lat; /* successful request latencies, ms */
    uint64_t ok, failed, transport, s503;
    char first_error[256];
} client_t;

static struct {
    char base[401]; /* the URL argument (at most 400 bytes) without trailing '/' */
    char url[512];
    char health[512];
    int conns;
    double seconds;
    uint64_t deadline_ns;
} opt;

static void *client_main(void *arg)
{
    client_t *c = arg;
    struct curl_slist *hdrs = bench_json_headers();
    hdrs = hdrs ? curl_slist_append(hdrs, "Expect:") : NULL;
    bench_buf_t resp = {0};
    CURL *h = hdrs ? bench_new_handle(&resp, hdrs, 60L) : NULL;
    if (h == NULL) {
        snprintf(c->first_error, sizeof(c->first_error), "curl_easy_init failed");
        c->failed++;
        curl_slist_free_all(hdrs);
        return NULL;
    }
    char body[128];
    curl_easy_setopt(h, CURLOPT_URL, opt.url);
    for (uint64_t i = 0; bench_mono_ns() < opt.deadline_ns; i++) {
        snprintf(body, sizeof(body), "{\"agent_id\":\"agent-research\",\"user_message\":\"bench %d-%llu\"}",
                 c->index, (unsigned long long)i);
        curl_easy_setopt(h, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(h, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
        bench_buf_reset(&resp);
        uint64_t t0 = bench_mono_ns();
        CURLcode rc = curl_easy_perform(h);
        double ms = (double)(bench_mono_ns() - t0) / 1e6;
        long status = 0;
        if (rc == CURLE_OK) curl_easy_getinfo(h, CURLINFO_RESPONSE_CODE, &status);
        if (status == 200) {
            c->ok++;
            if (bench_samples_add(&c->lat, ms) != 0) break;
            continue;
        }
        c->failed++;
        if (rc != CURLE_OK) c->transport++;
        if (status == 503) c->s503++;
        if (c->first_error[0] == '\0')
            snprintf(c->first_error, sizeof(c->first_error), "%s",
                     rc != CURLE_OK ? curl_easy_strerror(rc) : "");
        if (c->first_error[0] == '\0')
            snprintf(c->first_error, sizeof(c->first_error), "HTTP %ld %.199s", status,
                     resp.data ? resp.data : "");
        if (rc != CURLE_OK) bench_sleep_ms(10); /* do not spin on a dead daemon */
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(h);
    bench_buf_free(&resp);
    return NULL;
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
        if (strcmp(argv[i], "-c") == 0 && i + 1 < argc) {
            if (bench_parse_int(argv[++i], 1, MAX_CONNS, &opt.conns) != 0) {
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "-d") == 0 && i + 1 < argc) {
            if (bench_parse_seconds(argv[++i], &opt.seconds) != 0) {
                usage();
                return 2;
            }
        } else if (argv[i][0] != '-' && base == NULL) {
            base = argv[i];
        } else {
            usage();
            return 2;
        }
    }
    if (base == NULL || strlen(base) > 400 || bench_set_base_url(opt.base, sizeof(opt.base), base) != 0) {
        usage();
        return 2;
    }
    snprintf(opt.url, sizeof(opt.url), "%s/api/v1/conversations", opt.base);
    snprintf(opt.health, sizeof(opt.health), "%s/health", opt.base);

    curl_global_init(CURL_GLOBAL_DEFAULT);
    char err[256];
    if (bench_probe_health(opt.base, 5L, err, sizeof(err)) != 0) {
        fprintf(stderr, "bench_writes: GET %s did not answer 200\n", opt.health);
        return 2;
    }
    static client_t clients[MAX_CONNS];
    uint64_t t0 = bench_mono_ns();
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
    double wall = (double)(bench_mono_ns() - t0) / 1e9;

    uint64_t ok = 0, failed = 0, transport = 0, s503 = 0;
    const char *first = NULL;
    bench_samples_t all = {0};
    for (int i = 0; i < started; i++) {
        ok += clients[i].ok;
        failed += clients[i].failed;
        transport += clients[i].transport;
        s503 += clients[i].s503;
        if (first == NULL && clients[i].first_error[0]) first = clients[i].first_error;
        int oom = bench_samples_append(&all, &clients[i].lat) != 0;
        bench_samples_free(&clients[i].lat);
        if (oom) {
            fprintf(stderr, "bench_writes: out of memory\n");
            return 2;
        }
    }
    bench_stats_t st = bench_summarize(&all);
    printf("bench_writes: %d connections, %.1f s against %s\n", started, wall, opt.url);
    printf("writes:   %llu ok, %.1f/s durable; %llu failed (%llu transport, %llu 503)\n",
           (unsigned long long)ok, (double)ok / wall, (unsigned long long)failed,
           (unsigned long long)transport, (unsigned long long)s503);
    printf("latency:  mean %.2f ms  p50 %.2f ms  p99 %.2f ms  max %.2f ms\n", st.mean, st.p50, st.p99,
           st.max);
    if (first != NULL) printf("first failure: %s\n", first);
    bench_samples_free(&all);
    curl_global_cleanup();
    return failed == 0 && ok > 0 ? 0 : 1;
}

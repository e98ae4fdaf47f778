/*
 * bench_executions.c — closed-loop benchmark of workflow executions (SPEC §3.6, §4) against a running
 * daemon; built as build/bin/bench_executions.
 *
 * Each of N client threads creates one workflow at start — a chain of S steps of D ms each (sequential, or
 * with --parallel S independent steps) — then, until the run time is up, executes it and polls
 * GET /api/v1/workflows/executions/{id} every P ms until the execution is success or failed. Reported per
 * execution, from the daemon's own persisted timestamps (so the poll interval does not blur them):
 *   - execute: latency of POST …/execute (the create_execution commit, SPEC §4.4 point 1), client-timed;
 *   - start delay: started_at − created_at (runner pick-up: start_execution after the create reply);
 *   - overhead: (completed_at − started_at) − the ideal run time (S·D sequential, ⌈S/M⌉·D parallel with
 *     M = --max-parallel, the daemon's MAX_PARALLEL_STEPS), i.e. what the
 *     engine's timers and transitions add on top of the simulated durations.
 * With -d 0 every execution is pure engine and persistence work, which measures transition throughput.
 *
 * Exit status: 0 when nothing failed, 1 when a request failed or an execution ended "failed", 2 on a
 * usage error or when the daemon does not answer GET /health at start.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "bench_util.h"

#define MAX_CLIENTS 1024
#define MAX_URL 512
#define MAX_STEPS 500

enum { M_EXECUTE = 0, M_START_DELAY, M_OVERHEAD, M__COUNT };
static const char *const M_NAMES[M__COUNT] = {"execute", "start_delay", "overhead"};

typedef struct client {
    pthread_t thread;
    int index;
    bench_samples_t m[M__COUNT];
    uint64_t executions; /* finished with success */
    uint64_t failures;
    char first_error[256];
} client_t;

static struct {
    char base[MAX_URL];
    int clients;
    double duration_s;
    int steps;
    int step_ms;
    int parallel;
    int poll_ms;
    int max_parallel;
    const char *json_path;
    uint64_t deadline_ns;
} opt;

/* One request; body NULL means GET. Returns the parsed JSON body of a 200 (new reference) or NULL (err). */
static json_t *request_json(CURL *c, const char *path, const char *body, bench_buf_t *resp, double *ms,
                            char *err, size_t errlen)
{
    json_t *j = NULL;
    bench_http(c, opt.base, path, body, resp, ms, &j, err, errlen);
    return j;
}

static void note_failure(client_t *cl, const char *err)
{
    cl->failures++;
    if (!cl->first_error[0]) snprintf(cl->first_error, sizeof(cl->first_error), "%s", err);
}

/* SPEC §2.1 timestamp "YYYY-MM-DDTHH:MM:SS.ffffffZ" to seconds since the epoch; -1 when malformed. */
static double parse_ts(const char *s)
{
    struct tm tm;
    memset(&tm, 0, sizeof(tm));
    int us = 0;
    if (!s || sscanf(s, "%4d-%2d-%2dT%2d:%2d:%2d.%6dZ", &tm.tm_year, &tm.tm_mon, &tm.tm_mday, &tm.tm_hour,
                     &tm.tm_min, &tm.tm_sec, &us) != 7)
        return -1;
    tm.tm_year -= 1900;
    tm.tm_mon -= 1;
    return (double)timegm(&tm) + us / 1e6;
}

static void *client_main(void *arg)
{
    client_t *cl = arg;
    bench_buf_t resp = {0};
    struct curl_slist *hdrs = bench_json_headers();
    CURL *c = hdrs ? bench_new_handle(&resp, hdrs, 35L) : NULL;
    char err[256], path[256], exec_path[256];
    char *body = bench_workflow_body("bench", cl->index, opt.steps, opt.step_ms, opt.parallel);
    double ms;
    if (!c || !body) {
        note_failure(cl, "out of memory");
        goto out;
    }
    json_t *wf = request_json(c, "/api/v1/workflows", body, &resp, &ms, err, sizeof(err));
    if (!wf) {
        note_failure(cl, err);
        goto out;
    }
    snprintf(path, sizeof(path), "/api/v1/workflows/%s/execute",
             json_string_value(json_object_get(wf, "id")));
    json_decref(wf);
    int waves = (opt.steps + opt.max_parallel - 1) / opt.max_parallel;
    double ideal = opt.parallel ? (double)waves * opt.step_ms : (double)opt.steps * opt.step_ms;
    while (bench_mono_ns() < opt.deadline_ns) {
        json_t *ex = request_json(c, path, "{}", &resp, &ms, err, sizeof(err));
        if (!ex) {
            note_failure(cl, err);
            continue;
        }
        bench_samples_add(&cl->m[M_EXECUTE], ms);
        snprintf(exec_path, sizeof(exec_path), "/api/v1/workflows/executions/%s",
                 json_string_value(json_object_get(ex, "execution_id")));
        json_decref(ex);
        for (;;) {
            json_t *g = request_json(c, exec_path, NULL, &resp, NULL, err, sizeof(err));
            if (!g) {
                note_failure(cl, err);
                break;
            }
            json_t *e = json_object_get(g, "execution");
            const char *st = json_string_value(json_object_get(e, "status"));
            if (st && (strcmp(st, "success") == 0 || strcmp(st, "failed") == 0)) {
                double created = parse_ts(json_string_value(json_object_get(e, "created_at")));
                double started = parse_ts(json_string_value(json_object_get(e, "started_at")));
                double completed = parse_ts(json_string_value(json_object_get(e, "completed_at")));
                if (strcmp(st, "success") != 0 || created < 0 || started < 0 || completed < 0) {
                    note_failure(cl, "execution failed or has malformed timestamps");
                } else {
                    cl->executions++;
                    bench_samples_add(&cl->m[M_START_DELAY], (started - created) * 1000.0);
                    bench_samples_add(&cl->m[M_OVERHEAD], (completed - started) * 1000.0 - ideal);
                }
                json_decref(g);
                break;
            }
            json_decref(g);
            bench_sleep_ms(opt.poll_ms);
        }
    }
out:
    free(body);
    if (c) curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    bench_buf_free(&resp);
    return NULL;
}

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: bench_executions [--url URL] [-c CLIENTS] [-t SECONDS] [-s STEPS] [-d STEP_MS] [--parallel]\n"
        "                        [--poll-ms MS] [--max-parallel M] [--json FILE]\n"
        "  --url URL      daemon base URL (default http://127.0.0.1:8000)\n"
        "  -c CLIENTS     concurrent clients, each with its own workflow, 1-%d (default 8)\n"
        "  -t SECONDS     run time in seconds, > 0 (default 10)\n"
        "  -s STEPS       steps per workflow, 0-%d (default 5)\n"
        "  -d STEP_MS     duration_ms of every step, 0-600000 (default 20)\n"
        "  --parallel     independent steps run in parallel instead of a sequential chain\n"
        "  --poll-ms MS   status poll interval, 1-10000 (default 10)\n"
        "  --max-parallel M  the daemon's MAX_PARALLEL_STEPS, for the ideal parallel run time, 1-500 "
        "(default 16)\n"
        "  --json FILE    also write the results as JSON to FILE\n",
        MAX_CLIENTS, MAX_STEPS);
}

static int parse_args(int argc, char **argv)
{
    snprintf(opt.base, sizeof(opt.base), "http://127.0.0.1:8000");
    opt.clients = 8;
    opt.duration_s = 10;
    opt.steps = 5;
    opt.step_ms = 20;
    opt.poll_ms = 10;
    opt.max_parallel = 16;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (strcmp(a, "--parallel") == 0) {
            opt.parallel = 1;
            continue;
        }
        const char *val = i + 1 < argc ? argv[++i] : NULL;
        if (!val) {
            fprintf(stderr, "bench_executions: %s needs a value\n", a);
            return -1;
        }
        int bad = 0;
        if (strcmp(a, "--url") == 0) {
            bad = bench_set_base_url(opt.base, sizeof(opt.base), val);
        } else if (strcmp(a, "-c") == 0) {
            bad = bench_parse_int(val, 1, MAX_CLIENTS, &opt.clients);
        } else if (strcmp(a, "-t") == 0) {
            bad = bench_parse_seconds(val, &opt.duration_s);
        } else if (strcmp(a, "-s") == 0) {
            bad = bench_parse_int(val, 0, MAX_STEPS, &opt.steps);
        } else if (strcmp(a, "-d") == 0) {
            bad = bench_parse_int(val, 0, 600000, &opt.step_ms);
        } else if (strcmp(a, "--poll-ms") == 0) {
            bad = bench_parse_int(val, 1, 10000, &opt.poll_ms);
        } else if (strcmp(a, "--max-parallel") == 0) {
            bad = bench_parse_int(val, 1, 500, &opt.max_parallel);
        } else if (strcmp(a, "--json") == 0) {
            opt.json_path = val;
        } else {
            fprintf(stderr, "bench_executions: unknown option %s\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "bench_executions: bad value for %s: %s\n", a, val);
            return -1;
        }
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    if (bench_start("bench_executions", opt.base, 35L) != 0) return 2;
    client_t *cl = calloc((size_t)opt.clients, sizeof(*cl));
    if (!cl) return 2;
    uint64_t t0 = bench_mono_ns();
    opt.deadline_ns = t0 + (uint64_t)(opt.duration_s * 1e9);
    int started = 0;
    for (int i = 0; i < opt.clients; i++) {
        cl[i].index = i;
        if (pthread_create(&cl[i].thread, NULL, client_main, &cl[i]) != 0) break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(cl[i].thread, NULL);
    double elapsed = (double)(bench_mono_ns() - t0) / 1e9;

    bench_samples_t all[M__COUNT] = {{0}};
    uint64_t executions = 0, failures = 0;
    const char *first_error = NULL;
    for (int i = 0; i < started; i++) {
        executions += cl[i].executions;
        failures += cl[i].failures;
        if (!first_error && cl[i].first_error[0]) first_error = cl[i].first_error;
        for (int k = 0; k < M__COUNT; k++)
            bench_samples_append(&all[k], &cl[i].m[k]);
    }
    bench_stats_t st[M__COUNT];
    for (int k = 0; k < M__COUNT; k++)
        st[k] = bench_summarize(&all[k]);
    printf("bench_executions: %d clients, %.1f s against %s; %d %s steps of %d ms\n", started, elapsed,
           opt.base, opt.steps, opt.parallel ? "parallel" : "sequential", opt.step_ms);
    printf("executions: %llu succeeded, %.1f/s (%.1f step transitions/s), %llu failures\n",
           (unsigned long long)executions, (double)executions / elapsed,
           (double)executions * opt.steps / elapsed, (unsigned long long)failures);
    for (int k = 0; k < M__COUNT; k++)
        bench_stats_print(stdout, M_NAMES[k], 12, 8, 1, &st[k]);
    if (first_error) printf("first failure: %s\n", first_error);

    int rc = failures ? 1 : 0;
    if (opt.json_path) {
        json_t *m = json_object();
        for (int k = 0; k < M__COUNT; k++)
            json_object_set_new(m, M_NAMES[k], bench_stats_json("n", &st[k]));
        json_t *out =
            json_pack("{s:s,s:i,s:f,s:i,s:i,s:b,s:I,s:f,s:I,s:o}", "url", opt.base, "clients", started,
                      "duration_s", elapsed, "steps", opt.steps, "step_ms", opt.step_ms, "parallel",
                      opt.parallel, "executions", (json_int_t)executions, "executions_per_s",
                      (double)executions / elapsed, "failures", (json_int_t)failures, "metrics_ms", m);
        if (bench_write_json(out, opt.json_path) != 0) {
            fprintf(stderr, "bench_executions: cannot write %s\n", opt.json_path);
            rc = 2;
        }
        json_decref(out);
    }
    for (int k = 0; k < M__COUNT; k++)
        bench_samples_free(&all[k]);
    for (int i = 0; i < started; i++)
        for (int k = 0; k < M__COUNT; k++)
            bench_samples_free(&cl[i].m[k]);
    free(cl);
    curl_global_cleanup();
    return rc;
}

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
#include <errno.h>
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#define MAX_CLIENTS 1024
#define MAX_URL 512
#define MAX_STEPS 500

enum { M_EXECUTE = 0, M_START_DELAY, M_OVERHEAD, M__COUNT };
static const char *const M_NAMES[M__COUNT] = {"execute", "start_delay", "overhead"};

typedef struct samples {
    double *ms;
    size_t n, cap;
} samples_t;

typedef struct client {
    pthread_t thread;
    int index;
    samples_t m[M__COUNT];
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

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

static void sleep_ms(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int samples_add(samples_t *s, double v)
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

typedef struct buf {
    char *data;
    size_t len, cap;
} buf_t;

static size_t on_body(char *ptr, size_t size, size_t nmemb, void *arg)
{
    buf_t *b = arg;
    size_t n = size * nmemb;
    if (b->len + n + 1 > b->cap) {
        size_t cap = b->cap ? b->cap : 4096;
        while (cap < b->len + n + 1)
            cap *= 2;
        char *p = realloc(b->data, cap);
        if (!p) return 0;
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/* One request; body NULL means GET. Returns the parsed JSON body of a 200 (new reference) or NULL (err). */
static json_t *do_request(CURL *c, const char *path, const char *body, buf_t *resp, double *ms, char *err,
                          size_t errlen)
{
    char url[MAX_URL + 256];
    snprintf(url, sizeof(url), "%s%s", opt.base, path);
    resp->len = 0;
    if (resp->data) resp->data[0] = '\0';
    curl_easy_setopt(c, CURLOPT_URL, url);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POST, 1L);
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE, (long)strlen(body));
    } else {
        curl_easy_setopt(c, CURLOPT_HTTPGET, 1L);
    }
    uint64_t t0 = mono_ns();
    CURLcode rc = curl_easy_perform(c);
    if (ms) *ms = (double)(mono_ns() - t0) / 1e6;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", body ? "POST" : "GET", path, curl_easy_strerror(rc));
        return NULL;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    json_t *j = status == 200 && resp->data ? json_loads(resp->data, 0, NULL) : NULL;
    if (!j)
        snprintf(err, errlen, "%s %s: HTTP %ld %.160s", body ? "POST" : "GET", path, status,
                 resp->data ? resp->data : "");
    return j;
}

static CURL *new_handle(buf_t *resp, struct curl_slist *hdrs)
{
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    if (hdrs) curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_body);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, resp);
    curl_easy_setopt(c, CURLOPT_TIMEOUT, 35L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    curl_easy_setopt(c, CURLOPT_TCP_NODELAY, 1L);
    return c;
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

/* The workflow body: a chain of opt.steps steps (or independent ones with --parallel). malloc'd. */
static char *workflow_body(int index)
{
    size_t cap = 256 + (size_t)opt.steps * 96;
    char *b = malloc(cap);
    if (!b) return NULL;
    size_t n = (size_t)snprintf(b, cap, "{\"name\":\"bench-%d\",\"parallel_execution\":%s,\"steps\":[", index,
                                opt.parallel ? "true" : "false");
    for (int i = 0; i < opt.steps; i++) {
        n += (size_t)snprintf(b + n, cap - n, "%s{\"name\":\"s%d\",\"duration_ms\":%d", i ? "," : "", i,
                              opt.step_ms);
        if (i > 0 && !opt.parallel) n += (size_t)snprintf(b + n, cap - n, ",\"depends_on\":[\"s%d\"]", i - 1);
        n += (size_t)snprintf(b + n, cap - n, "}");
    }
    snprintf(b + n, cap - n, "]}");
    return b;
}

static void *client_main(void *arg)
{
    client_t *cl = arg;
    buf_t resp = {0};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *c = hdrs ? new_handle(&resp, hdrs) : NULL;
    char err[256], path[256], exec_path[256];
    char *body = workflow_body(cl->index);
    double ms;
    if (!c || !body) {
        note_failure(cl, "out of memory");
        goto out;
    }
    json_t *wf = do_request(c, "/api/v1/workflows", body, &resp, &ms, err, sizeof(err));
    if (!wf) {
        note_failure(cl, err);
        goto out;
    }
    snprintf(path, sizeof(path), "/api/v1/workflows/%s/execute",
             json_string_value(json_object_get(wf, "id")));
    json_decref(wf);
    int waves = (opt.steps + opt.max_parallel - 1) / opt.max_parallel;
    double ideal = opt.parallel ? (double)waves * opt.step_ms : (double)opt.steps * opt.step_ms;
    while (mono_ns() < opt.deadline_ns) {
        json_t *ex = do_request(c, path, "{}", &resp, &ms, err, sizeof(err));
        if (!ex) {
            note_failure(cl, err);
            continue;
        }
        samples_add(&cl->m[M_EXECUTE], ms);
        snprintf(exec_path, sizeof(exec_path), "/api/v1/workflows/executions/%s",
                 json_string_value(json_object_get(ex, "execution_id")));
        json_decref(ex);
        for (;;) {
            json_t *g = do_request(c, exec_path, NULL, &resp, NULL, err, sizeof(err));
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
                    samples_add(&cl->m[M_START_DELAY], (started - created) * 1000.0);
                    samples_add(&cl->m[M_OVERHEAD], (completed - started) * 1000.0 - ideal);
                }
                json_decref(g);
                break;
            }
            json_decref(g);
            sleep_ms(opt.poll_ms);
        }
    }
out:
    free(body);
    if (c) curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    free(resp.data);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n). */
static double percentile(const double *v, size_t n, double p)
{
    if (n == 0) return 0.0;
    size_t rank = (size_t)((p / 100.0) * (double)n);
    if ((double)rank < (p / 100.0) * (double)n) rank++;
    if (rank < 1) rank = 1;
    return v[rank - 1];
}

typedef struct stats {
    size_t n;
    double mean, p50, p99, max;
} stats_t;

static stats_t summarize(samples_t *s)
{
    stats_t st = {0};
    st.n = s->n;
    if (!s->n) return st;
    qsort(s->ms, s->n, sizeof(double), cmp_double);
    double sum = 0;
    for (size_t i = 0; i < s->n; i++)
        sum += s->ms[i];
    st.mean = sum / (double)s->n;
    st.p50 = percentile(s->ms, s->n, 50);
    st.p99 = percentile(s->ms, s->n, 99);
    st.max = s->ms[s->n - 1];
    return st;
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

static int parse_int(const char *val, long lo, long hi, int *out)
{
    char *end = NULL;
    errno = 0;
    long n = strtol(val, &end, 10);
    if (errno || !*val || *end || n < lo || n > hi) return -1;
    *out = (int)n;
    return 0;
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
            size_t l = strlen(val);
            while (l > 0 && val[l - 1] == '/')
                l--;
            bad = l == 0 || l >= sizeof(opt.base);
            if (!bad) snprintf(opt.base, sizeof(opt.base), "%.*s", (int)l, val);
        } else if (strcmp(a, "-c") == 0) {
            bad = parse_int(val, 1, MAX_CLIENTS, &opt.clients);
        } else if (strcmp(a, "-t") == 0) {
            char *end = NULL;
            errno = 0;
            double t = strtod(val, &end);
            bad = errno || *end || !(t > 0) || t > 86400;
            if (!bad) opt.duration_s = t;
        } else if (strcmp(a, "-s") == 0) {
            bad = parse_int(val, 0, MAX_STEPS, &opt.steps);
        } else if (strcmp(a, "-d") == 0) {
            bad = parse_int(val, 0, 600000, &opt.step_ms);
        } else if (strcmp(a, "--poll-ms") == 0) {
            bad = parse_int(val, 1, 10000, &opt.poll_ms);
        } else if (strcmp(a, "--max-parallel") == 0) {
            bad = parse_int(val, 1, 500, &opt.max_parallel);
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

static int probe(void)
{
    buf_t resp = {0};
    CURL *c = new_handle(&resp, NULL);
    if (!c) return -1;
    char err[256];
    json_t *j = do_request(c, "/health", NULL, &resp, NULL, err, sizeof(err));
    curl_easy_cleanup(c);
    free(resp.data);
    if (!j) {
        fprintf(stderr, "bench_executions: %s is not serving: %s\n", opt.base, err);
        return -1;
    }
    json_decref(j);
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) return 2;
    if (probe() != 0) {
        curl_global_cleanup();
        return 2;
    }
    client_t *cl = calloc((size_t)opt.clients, sizeof(*cl));
    if (!cl) return 2;
    uint64_t t0 = mono_ns();
    opt.deadline_ns = t0 + (uint64_t)(opt.duration_s * 1e9);
    int started = 0;
    for (int i = 0; i < opt.clients; i++) {
        cl[i].index = i;
        if (pthread_create(&cl[i].thread, NULL, client_main, &cl[i]) != 0) break;
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(cl[i].thread, NULL);
    double elapsed = (double)(mono_ns() - t0) / 1e9;

    samples_t all[M__COUNT] = {{0}};
    uint64_t executions = 0, failures = 0;
    const char *first_error = NULL;
    for (int i = 0; i < started; i++) {
        executions += cl[i].executions;
        failures += cl[i].failures;
        if (!first_error && cl[i].first_error[0]) first_error = cl[i].first_error;
        for (int k = 0; k < M__COUNT; k++)
            for (size_t j = 0; j < cl[i].m[k].n; j++)
                samples_add(&all[k], cl[i].m[k].ms[j]);
    }
    stats_t st[M__COUNT];
    for (int k = 0; k < M__COUNT; k++)
        st[k] = summarize(&all[k]);
    printf("bench_executions: %d clients, %.1f s against %s; %d %s steps of %d ms\n", started, elapsed,
           opt.base, opt.steps, opt.parallel ? "parallel" : "sequential", opt.step_ms);
    printf("executions: %llu succeeded, %.1f/s (%.1f step transitions/s), %llu failures\n",
           (unsigned long long)executions, (double)executions / elapsed,
           (double)executions * opt.steps / elapsed, (unsigned long long)failures);
    for (int k = 0; k < M__COUNT; k++)
        printf("%-12s n=%-8zu mean=%8.2f ms  p50=%8.2f ms  p99=%8.2f ms  max=%8.2f ms\n", M_NAMES[k], st[k].n,
               st[k].mean, st[k].p50, st[k].p99, st[k].max);
    if (first_error) printf("first failure: %s\n", first_error);

    int rc = failures ? 1 : 0;
    if (opt.json_path) {
        json_t *m = json_object();
        for (int k = 0; k < M__COUNT; k++)
            json_object_set_new(m, M_NAMES[k],
                                json_pack("{s:I,s:f,s:f,s:f,s:f}", "n", (json_int_t)st[k].n, "mean_ms",
                                          st[k].mean, "p50_ms", st[k].p50, "p99_ms", st[k].p99, "max_ms",
                                          st[k].max));
        json_t *out =
            json_pack("{s:s,s:i,s:f,s:i,s:i,s:b,s:I,s:f,s:I,s:o}", "url", opt.base, "clients", started,
                      "duration_s", elapsed, "steps", opt.steps, "step_ms", opt.step_ms, "parallel",
                      opt.parallel, "executions", (json_int_t)executions, "executions_per_s",
                      (double)executions / elapsed, "failures", (json_int_t)failures, "metrics_ms", m);
        if (!out || json_dump_file(out, opt.json_path, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) != 0) {
            fprintf(stderr, "bench_executions: cannot write %s\n", opt.json_path);
            rc = 2;
        }
        json_decref(out);
    }
    for (int k = 0; k < M__COUNT; k++)
        free(all[k].ms);
    for (int i = 0; i < started; i++)
        for (int k = 0; k < M__COUNT; k++)
            free(cl[i].m[k].ms);
    free(cl);
    curl_global_cleanup();
    return rc;
}

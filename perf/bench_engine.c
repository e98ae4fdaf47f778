/*
 * bench_engine.c — capacity benchmark of the workflow engine (SPEC §3.6, §4) against a running daemon; built
 * as build/bin/bench_engine. It answers the workflows issue's perf questions, one mode each:
 *
 *   rate      closed loop: CONNS connections (one libcurl multi handle, one thread) call
 *             POST /api/v1/workflows/{id}/execute back to back for SECONDS; reports executions started per
 *             second and the execute latency, then waits until nothing is pending or running.
 *   inflight  fires N executes as fast as the daemon accepts them on CONNS connections while a separate
 *             thread probes GET /api/v1/health every PROBE_MS on its own connection and a monitor thread
 *             samples the running/pending totals (list route, limit=1) and the CPU of the given pids;
 *             reports the health latency before the ramp, during it, and from the end of the ramp until
 *             every execution finished, the peak number in flight and the time to drain.
 *   seed      creates K workflows and runs N executions across them (fire as in inflight, no probe), then
 *             waits for the drain: fills the database for the read measurements.
 *   reads     SAMPLES sequential requests each (one keep-alive connection) of the execution list variants,
 *             the per-workflow list and the execution detail; prints p50/p99/max per query.
 *
 * The workflow is a sequential chain of STEPS steps of STEP_MS each (default 3 × 100 ms, the issue's
 * example). Every execute counts as started when it answered 200 (the create is committed and the run
 * starts on that worker, SPEC §3.6); a 503 is counted and the same slot retries 100 ms later; any other
 * answer is a failure. Percentiles are nearest rank.
 *
 * Exit status: 0 when nothing failed (503 retries are not failures), 1 when a request failed or the drain
 * timed out, 2 on a usage error or when the daemon does not answer GET /health at start.
 */
#include <curl/curl.h>
#include <jansson.h>
#include <pthread.h>
#include <stdatomic.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "bench_util.h"

#define MAX_URL 512
#define MAX_CONNS 4096
#define MAX_PIDS 4
#define MAX_WORKFLOWS 1000

typedef enum { MODE_RATE, MODE_INFLIGHT, MODE_SEED, MODE_READS } mode_t_;

static struct {
    char base[MAX_URL];
    mode_t_ mode;
    int conns;
    double seconds;
    long n;
    int steps;
    int step_ms;
    int probe_ms;
    int sample_ms;
    int workflows;
    int samples;
    int drain_timeout_s;
    int timeline;
    const char *workflow_id; /* reads: per-workflow list target; NULL = the newest execution's */
    int pids[MAX_PIDS];
    int npids;
} opt;

/* ---- small helpers --------------------------------------------------------------------------------- */

static struct curl_slist *g_json_hdr;

/* A keep-alive handle with the JSON Content-Type and a 60 s request timeout. */
static CURL *new_handle(bench_buf_t *resp)
{
    return bench_new_handle(resp, g_json_hdr, 60L);
}

/* Sorts s in place and prints "n= p50= p99= max=" (ms). */
static void print_stats(const char *label, bench_samples_t *s)
{
    bench_stats_t st = bench_summarize(s);
    bench_stats_print(stdout, label, 34, 7, 0, &st);
}

/* The "total" of GET path (a list), or -1 with err set. */
static long list_total(CURL *c, bench_buf_t *resp, const char *path, char *err, size_t errlen)
{
    json_t *j = NULL;
    long st = bench_http(c, opt.base, path, NULL, resp, NULL, &j, err, errlen);
    if (st != 200) {
        json_decref(j);
        return -1;
    }
    json_t *t = json_object_get(j, "total");
    long total = json_is_integer(t) ? (long)json_integer_value(t) : -1;
    if (total < 0) snprintf(err, errlen, "GET %s: no integer total", path);
    json_decref(j);
    return total;
}

/* CPU time (user + system) of pid in seconds, or -1 when /proc/<pid>/stat cannot be read. */
static double proc_cpu_s(int pid)
{
    char path[64], line[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(line, 1, sizeof(line) - 1, f);
    fclose(f);
    line[n] = '\0';
    const char *p = strrchr(line, ')'); /* comm may hold spaces; fields restart after its ')' */
    if (!p) return -1;
    unsigned long long ut = 0, stt = 0;
    /* after ')': state(3) ppid pgrp session tty tpgid flags minflt cminflt majflt cmajflt utime(14) stime(15)
     */
    if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %llu %llu", &ut, &stt) != 2) return -1;
    return (double)(ut + stt) / (double)sysconf(_SC_CLK_TCK);
}

/* ---- workflows ------------------------------------------------------------------------------------- */

/* Creates one sequential workflow of opt.steps × opt.step_ms; returns its id (malloc'd) or NULL. */
static char *create_workflow(CURL *c, bench_buf_t *resp, int index)
{
    char *body = bench_workflow_body("bench-engine", index, opt.steps, opt.step_ms, 0);
    if (!body) return NULL;
    char err[256];
    json_t *j = NULL;
    long st = bench_http(c, opt.base, "/api/v1/workflows", body, resp, NULL, &j, err, sizeof(err));
    free(body);
    const char *id = st == 200 ? json_string_value(json_object_get(j, "id")) : NULL;
    char *out = id ? strdup(id) : NULL;
    if (!out) fprintf(stderr, "bench_engine: cannot create a workflow: %s\n", st == 200 ? "no id" : err);
    json_decref(j);
    return out;
}

/* ---- the execute driver (libcurl multi) ------------------------------------------------------------ */

typedef struct slot {
    CURL *h;
    bench_buf_t resp;
    uint64_t t0;
    uint64_t not_before; /* retry time after a 503 */
    int busy;
    char url[MAX_URL + 128];
} slot_t;

typedef struct fire {
    char **wf_ids;
    int nwf;
    long limit;           /* stop once this many were accepted (0 = no limit) */
    uint64_t deadline_ns; /* stop issuing at this time (0 = none) */
    bench_samples_t lat;  /* latency of the 200s, ms */
    atomic_long accepted; /* read by the monitor thread */
    long issued, busy, s503, failed;
    char first_error[256];
    char first_503[256];
    uint64_t t_start, t_end;
} fire_t;

static void fire_note_failure(fire_t *f, const char *msg)
{
    f->failed++;
    if (!f->first_error[0]) snprintf(f->first_error, sizeof(f->first_error), "%s", msg);
}

/* Runs the execute load until limit/deadline; returns 0, or -1 when the multi handle could not be set up. */
static int fire_run(fire_t *f, int conns)
{
    CURLM *m = curl_multi_init();
    slot_t *slots = calloc((size_t)conns, sizeof(*slots));
    if (!m || !slots) {
        free(slots);
        if (m) curl_multi_cleanup(m);
        return -1;
    }
    curl_multi_setopt(m, CURLMOPT_MAXCONNECTS, (long)conns);
    for (int i = 0; i < conns; i++) {
        slots[i].h = new_handle(&slots[i].resp);
        if (!slots[i].h) {
            for (int k = 0; k < i; k++)
                curl_easy_cleanup(slots[k].h);
            free(slots);
            curl_multi_cleanup(m);
            return -1;
        }
        curl_easy_setopt(slots[i].h, CURLOPT_POST, 1L);
        curl_easy_setopt(slots[i].h, CURLOPT_POSTFIELDS, "");
        curl_easy_setopt(slots[i].h, CURLOPT_POSTFIELDSIZE, 0L);
        curl_easy_setopt(slots[i].h, CURLOPT_PRIVATE, &slots[i]);
    }
    f->t_start = bench_mono_ns();
    for (;;) {
        uint64_t now = bench_mono_ns();
        int may_issue = (!f->deadline_ns || now < f->deadline_ns) && f->failed < 1000;
        for (int i = 0; i < conns && may_issue; i++) {
            slot_t *s = &slots[i];
            if (s->busy || now < s->not_before) continue;
            if (f->limit && atomic_load(&f->accepted) + f->busy >= f->limit) break;
            snprintf(s->url, sizeof(s->url), "%s/api/v1/workflows/%s/execute", opt.base,
                     f->wf_ids[f->issued % f->nwf]);
            curl_easy_setopt(s->h, CURLOPT_URL, s->url);
            s->resp.len = 0;
            s->t0 = now;
            s->busy = 1;
            f->busy++;
            f->issued++;
            curl_multi_add_handle(m, s->h);
        }
        if (f->busy == 0) {
            int waiting = 0; /* slots sleeping out a 503 still count when more executions are wanted */
            for (int i = 0; i < conns; i++)
                waiting |= slots[i].not_before > now;
            int want = may_issue && (!f->limit || atomic_load(&f->accepted) < f->limit);
            if (!want || !waiting) break;
            bench_sleep_ns(1000000);
            continue;
        }
        int running = 0;
        curl_multi_perform(m, &running);
        CURLMsg *msg;
        int left;
        while ((msg = curl_multi_info_read(m, &left))) {
            if (msg->msg != CURLMSG_DONE) continue;
            slot_t *s = NULL;
            curl_easy_getinfo(msg->easy_handle, CURLINFO_PRIVATE, (char **)&s);
            CURLcode rc = msg->data.result;
            curl_multi_remove_handle(m, s->h);
            uint64_t done = bench_mono_ns();
            s->busy = 0;
            f->busy--;
            long status = 0;
            curl_easy_getinfo(s->h, CURLINFO_RESPONSE_CODE, &status);
            char err[256];
            if (rc != CURLE_OK) {
                snprintf(err, sizeof(err), "execute: %s", curl_easy_strerror(rc));
                fire_note_failure(f, err);
            } else if (status == 200) {
                atomic_fetch_add(&f->accepted, 1);
                bench_samples_add(&f->lat, (double)(done - s->t0) / 1e6);
                f->t_end = done;
            } else if (status == 503) {
                if (!f->s503++)
                    snprintf(f->first_503, sizeof(f->first_503), "%.200s",
                             s->resp.data && s->resp.len ? s->resp.data : "");
                s->not_before = done + 100000000ull;
            } else {
                snprintf(err, sizeof(err), "execute: HTTP %ld %.160s", status,
                         s->resp.data && s->resp.len ? s->resp.data : "");
                fire_note_failure(f, err);
            }
        }
        curl_multi_poll(m, NULL, 0, 1, NULL);
    }
    if (!f->t_end) f->t_end = bench_mono_ns();
    for (int i = 0; i < conns; i++) {
        curl_easy_cleanup(slots[i].h);
        bench_buf_free(&slots[i].resp);
    }
    free(slots);
    curl_multi_cleanup(m);
    return 0;
}

/* ---- health probe and monitor threads ---------------------------------------------------------------- */

typedef struct tsample {
    uint64_t t;
    double v;
} tsample_t;

typedef struct tseries {
    tsample_t *s;
    size_t n, cap;
} tseries_t;

static int tseries_add(tseries_t *ts, uint64_t t, double v)
{
    if (ts->n == ts->cap) {
        size_t cap = ts->cap ? ts->cap * 2 : 4096;
        tsample_t *p = realloc(ts->s, cap * sizeof(*p));
        if (!p) return -1;
        ts->s = p;
        ts->cap = cap;
    }
    ts->s[ts->n++] = (tsample_t){t, v};
    return 0;
}

static atomic_int g_stop;

typedef struct probe {
    pthread_t th;
    tseries_t lat; /* (send time, latency ms) of each GET /api/v1/health */
    long failed;
    char first_error[256];
} probe_t;

static void *probe_main(void *arg)
{
    probe_t *p = arg;
    bench_buf_t resp = {0};
    CURL *c = new_handle(&resp);
    if (!c) return NULL;
    uint64_t next = bench_mono_ns();
    char err[256];
    while (!atomic_load(&g_stop)) {
        uint64_t t = bench_mono_ns();
        if (t < next) {
            bench_sleep_ns(next - t);
            t = bench_mono_ns();
        }
        next += (uint64_t)opt.probe_ms * 1000000ull;
        if (next < t) next = t; /* after a stall, probe again at once instead of bursting */
        double ms = 0;
        long st = bench_http(c, opt.base, "/api/v1/health", NULL, &resp, &ms, NULL, err, sizeof(err));
        if (st != 200) {
            if (!p->failed++) snprintf(p->first_error, sizeof(p->first_error), "%s", err);
            continue;
        }
        tseries_add(&p->lat, t, ms);
    }
    curl_easy_cleanup(c);
    bench_buf_free(&resp);
    return NULL;
}

typedef struct mon {
    pthread_t th, cpu_th;
    fire_t *fire;
    tseries_t running, pending, accepted;
    tseries_t cpu[MAX_PIDS]; /* cumulative CPU seconds */
    atomic_ullong ramp_end;  /* set by main when the ramp ended */
    atomic_ullong drained;   /* first sample after ramp_end with running + pending = 0 */
    atomic_long peak_inflight;
    long failed;
    char first_error[256];
} mon_t;

static void *mon_main(void *arg)
{
    mon_t *m = arg;
    bench_buf_t resp = {0};
    CURL *c = new_handle(&resp);
    if (!c) return NULL;
    char err[256];
    while (!atomic_load(&g_stop)) {
        uint64_t t = bench_mono_ns();
        uint64_t ramp_end = atomic_load(&m->ramp_end);
        long run =
            list_total(c, &resp, "/api/v1/workflows/executions?status=running&limit=1", err, sizeof(err));
        long pend = run < 0 ? -1
                            : list_total(c, &resp, "/api/v1/workflows/executions?status=pending&limit=1", err,
                                         sizeof(err));
        if (run < 0 || pend < 0) {
            if (!m->failed++) snprintf(m->first_error, sizeof(m->first_error), "%s", err);
        } else {
            uint64_t t2 = bench_mono_ns(); /* the totals describe the end of the requests */
            tseries_add(&m->running, t2, (double)run);
            tseries_add(&m->pending, t2, (double)pend);
            if (run + pend > atomic_load(&m->peak_inflight)) atomic_store(&m->peak_inflight, run + pend);
            if (ramp_end && run + pend == 0 && !atomic_load(&m->drained))
                atomic_store(&m->drained, bench_mono_ns());
        }
        uint64_t spent = bench_mono_ns() - t, period = (uint64_t)opt.sample_ms * 1000000ull;
        if (spent < period) bench_sleep_ns(period - spent);
    }
    curl_easy_cleanup(c);
    bench_buf_free(&resp);
    return NULL;
}

/*
 * CPU and progress sampler: its own thread because the monitor's list requests can take a second each when
 * the worker's event loop is busy, and the CPU samples must stay evenly spaced.
 */
static void *cpu_main(void *arg)
{
    mon_t *m = arg;
    uint64_t period = (uint64_t)opt.sample_ms * 1000000ull, next = bench_mono_ns();
    while (!atomic_load(&g_stop)) {
        uint64_t t = bench_mono_ns();
        for (int i = 0; i < opt.npids; i++)
            tseries_add(&m->cpu[i], t, proc_cpu_s(opt.pids[i]));
        if (m->fire) tseries_add(&m->accepted, t, (double)atomic_load(&m->fire->accepted));
        next += period;
        t = bench_mono_ns();
        if (next > t) bench_sleep_ns(next - t);
    }
    return NULL;
}

/* Health latency of the probes sent in [from, to). */
static void print_window(const char *label, const tseries_t *ts, uint64_t from, uint64_t to)
{
    bench_samples_t s = {0};
    for (size_t i = 0; i < ts->n; i++)
        if (ts->s[i].t >= from && ts->s[i].t < to) bench_samples_add(&s, ts->s[i].v);
    print_stats(label, &s);
    bench_samples_free(&s);
}

/* CPU share (percent of one core) of pid index k over [from, to], from the monitor's samples. */
static double cpu_share(const mon_t *m, int k, uint64_t from, uint64_t to)
{
    const tseries_t *ts = &m->cpu[k];
    const tsample_t *a = NULL, *b = NULL;
    for (size_t i = 0; i < ts->n; i++) {
        if (ts->s[i].v < 0) continue;
        if (!a && ts->s[i].t >= from) a = &ts->s[i];
        if (ts->s[i].t <= to) b = &ts->s[i];
    }
    if (!a || !b || b->t <= a->t) return -1;
    return 100.0 * (b->v - a->v) / ((double)(b->t - a->t) / 1e9);
}

/* "N %" or "n/a" (fewer than two samples in the window, e.g. a window shorter than --sample-ms). */
static void fmt_share(char *out, size_t len, double share)
{
    if (share < 0)
        snprintf(out, len, "n/a");
    else
        snprintf(out, len, "%.0f %%", share);
}

/* Last value of ts at or before t (or 0). */
static double value_at(const tseries_t *ts, uint64_t t)
{
    double v = 0;
    for (size_t i = 0; i < ts->n && ts->s[i].t <= t; i++)
        v = ts->s[i].v;
    return v;
}

/* ---- modes ----------------------------------------------------------------------------------------- */

static char **make_workflows(int count)
{
    bench_buf_t resp = {0};
    CURL *c = new_handle(&resp);
    char **ids = calloc((size_t)count, sizeof(*ids));
    int ok = c && ids;
    for (int i = 0; ok && i < count; i++)
        ok = (ids[i] = create_workflow(c, &resp, i)) != NULL;
    if (c) curl_easy_cleanup(c);
    bench_buf_free(&resp);
    if (!ok && ids) {
        for (int i = 0; i < count; i++)
            free(ids[i]);
        free(ids);
        ids = NULL;
    }
    return ids;
}

static void free_workflows(char **ids, int count)
{
    for (int i = 0; ids && i < count; i++)
        free(ids[i]);
    free(ids);
}

/* Polls until no execution is pending or running; returns the seconds waited, or -1 on timeout/error. */
static double wait_drained(void)
{
    bench_buf_t resp = {0};
    CURL *c = new_handle(&resp);
    if (!c) return -1;
    uint64_t t0 = bench_mono_ns(), limit = t0 + (uint64_t)opt.drain_timeout_s * 1000000000ull;
    char err[256];
    double waited = -1;
    while (bench_mono_ns() < limit) {
        long run =
            list_total(c, &resp, "/api/v1/workflows/executions?status=running&limit=1", err, sizeof(err));
        long pend =
            list_total(c, &resp, "/api/v1/workflows/executions?status=pending&limit=1", err, sizeof(err));
        if (run < 0 || pend < 0) {
            fprintf(stderr, "bench_engine: drain poll failed: %s\n", err);
            break;
        }
        if (run + pend == 0) {
            waited = (double)(bench_mono_ns() - t0) / 1e9;
            break;
        }
        bench_sleep_ns((uint64_t)opt.sample_ms * 1000000ull);
    }
    curl_easy_cleanup(c);
    bench_buf_free(&resp);
    return waited;
}

static void print_fire(const char *what, fire_t *f)
{
    double el = (double)(f->t_end - f->t_start) / 1e9;
    long acc = atomic_load(&f->accepted);
    printf("%s: %ld started in %.2f s = %.1f executions/s; %ld × 503 (retried), %ld failed\n", what, acc, el,
           el > 0 ? (double)acc / el : 0.0, f->s503, f->failed);
    print_stats("execute latency (200s)", &f->lat);
    if (f->first_503[0]) printf("first 503: %s\n", f->first_503);
    if (f->first_error[0]) printf("first failure: %s\n", f->first_error);
}

/*
 * The rate mode (seed 0: execute back to back for -t seconds) and the seed mode (seed 1: until -n were
 * accepted): print the execute statistics, then wait until nothing is pending or running.
 */
static int mode_rate_or_seed(int seed)
{
    char **wf = make_workflows(opt.workflows);
    if (!wf) return 1;
    fire_t f = {.wf_ids = wf, .nwf = opt.workflows};
    if (seed)
        f.limit = opt.n;
    else
        f.deadline_ns = bench_mono_ns() + (uint64_t)(opt.seconds * 1e9);
    if (fire_run(&f, opt.conns) != 0) {
        free_workflows(wf, opt.workflows);
        return 1;
    }
    if (seed)
        printf("bench_engine seed: %ld executions over %d workflows (%d × %d ms steps), %d connections\n",
               opt.n, opt.workflows, opt.steps, opt.step_ms, opt.conns);
    else
        printf("bench_engine rate: %d connections, %.1f s, %d × %d ms sequential steps, against %s\n",
               opt.conns, opt.seconds, opt.steps, opt.step_ms, opt.base);
    print_fire("executions", &f);
    double drain = wait_drained();
    if (drain < 0)
        printf("drain: still pending/running after %d s\n", opt.drain_timeout_s);
    else
        printf("drain: all finished %.2f s after the last execute answered\n", drain);
    bench_samples_free(&f.lat);
    free_workflows(wf, opt.workflows);
    return f.failed || drain < 0 ? 1 : 0;
}

static int mode_inflight(void)
{
    char **wf = make_workflows(opt.workflows);
    if (!wf) return 1;
    fire_t f = {.wf_ids = wf, .nwf = opt.workflows, .limit = opt.n};
    probe_t p = {0};
    mon_t m = {.fire = &f};
    if (pthread_create(&p.th, NULL, probe_main, &p) != 0 || pthread_create(&m.th, NULL, mon_main, &m) != 0 ||
        pthread_create(&m.cpu_th, NULL, cpu_main, &m) != 0) {
        fprintf(stderr, "bench_engine: cannot start threads\n");
        return 1;
    }
    bench_sleep_ns(1000000000ull); /* baseline second */
    uint64_t t_ramp = bench_mono_ns();
    if (fire_run(&f, opt.conns) != 0) {
        free_workflows(wf, opt.workflows);
        return 1;
    }
    uint64_t t_ramp_end = bench_mono_ns();
    atomic_store(&m.ramp_end, t_ramp_end);
    uint64_t limit = t_ramp_end + (uint64_t)opt.drain_timeout_s * 1000000000ull;
    while (!atomic_load(&m.drained) && bench_mono_ns() < limit)
        bench_sleep_ns(10000000ull);
    uint64_t t_drained = atomic_load(&m.drained);
    bench_sleep_ns(1000000000ull); /* an idle second after the drain */
    uint64_t t_end = bench_mono_ns();
    atomic_store(&g_stop, 1);
    pthread_join(p.th, NULL);
    pthread_join(m.th, NULL);
    pthread_join(m.cpu_th, NULL);

    printf("bench_engine inflight: %ld executions of %d × %d ms sequential steps, %d connections, health "
           "probe every %d ms, against %s\n",
           opt.n, opt.steps, opt.step_ms, opt.conns, opt.probe_ms, opt.base);
    print_fire("ramp", &f);
    printf("peak in flight (running + pending, sampled every %d ms): %ld\n", opt.sample_ms,
           atomic_load(&m.peak_inflight));
    if (t_drained)
        printf("drain: all finished %.2f s after the first execute, %.2f s after the ramp ended\n",
               (double)(t_drained - t_ramp) / 1e9, (double)(t_drained - t_ramp_end) / 1e9);
    else
        printf("drain: NOT finished %d s after the ramp ended\n", opt.drain_timeout_s);
    uint64_t run_end = t_drained ? t_drained : t_end;
    print_window("health: baseline (1 s before)", &p.lat, 0, t_ramp);
    print_window("health: during the ramp", &p.lat, t_ramp, t_ramp_end);
    print_window("health: ramp end -> all finished", &p.lat, t_ramp_end, run_end);
    print_window("health: whole run", &p.lat, t_ramp, run_end);
    if (p.failed) printf("health probe failures: %ld, first: %s\n", p.failed, p.first_error);
    if (m.failed) printf("monitor failures: %ld, first: %s\n", m.failed, m.first_error);
    for (int k = 0; k < opt.npids; k++) {
        char a[32], b[32];
        fmt_share(a, sizeof(a), cpu_share(&m, k, t_ramp, t_ramp_end));
        fmt_share(b, sizeof(b), cpu_share(&m, k, t_ramp_end, run_end));
        printf("cpu pid %d: ramp %s, ramp end -> finished %s of one core\n", opt.pids[k], a, b);
    }
    if (opt.timeline) {
        printf(
            "timeline (per second from the first execute: accepted, running, pending, health n/p50/max ms");
        for (int k = 0; k < opt.npids; k++)
            printf(", cpu%% %d", opt.pids[k]);
        printf(")\n");
        for (uint64_t t = t_ramp; t < t_end; t += 1000000000ull) {
            uint64_t u = t + 1000000000ull;
            bench_samples_t s = {0};
            for (size_t i = 0; i < p.lat.n; i++)
                if (p.lat.s[i].t >= t && p.lat.s[i].t < u) bench_samples_add(&s, p.lat.s[i].v);
            bench_stats_t st = bench_summarize(&s);
            printf("  %4.0f s %7.0f %7.0f %7.0f   %4zu %7.2f %8.2f", (double)(t - t_ramp) / 1e9,
                   value_at(&m.accepted, u), value_at(&m.running, u), value_at(&m.pending, u), st.n, st.p50,
                   st.max);
            for (int k = 0; k < opt.npids; k++) {
                char a[32];
                fmt_share(a, sizeof(a), cpu_share(&m, k, t, u));
                printf(" %7s", a);
            }
            printf("\n");
            bench_samples_free(&s);
        }
    }
    int rc = f.failed || p.failed || !t_drained ? 1 : 0;
    bench_samples_free(&f.lat);
    free(p.lat.s);
    free(m.running.s);
    free(m.pending.s);
    free(m.accepted.s);
    for (int k = 0; k < MAX_PIDS; k++)
        free(m.cpu[k].s);
    free_workflows(wf, opt.workflows);
    return rc;
}

static int mode_reads(void)
{
    bench_buf_t resp = {0};
    CURL *c = new_handle(&resp);
    if (!c) return 1;
    char err[256], path[MAX_URL];
    int rc = 1;
    json_t *j = NULL, *page = NULL;
    char **ids = NULL;
    size_t nids = 0;
    long total = list_total(c, &resp, "/api/v1/workflows/executions?limit=1", err, sizeof(err));
    if (total <= 0) {
        fprintf(stderr, "bench_engine: no executions to read (%s)\n", total < 0 ? err : "total 0");
        goto out;
    }
    if (bench_http(c, opt.base, "/api/v1/workflows/executions?limit=1", NULL, &resp, NULL, &j, err,
                   sizeof(err)) != 200)
        goto out;
    char wf[128];
    snprintf(wf, sizeof(wf), "%s",
             opt.workflow_id ? opt.workflow_id
                             : json_string_value(json_object_get(
                                   json_array_get(json_object_get(j, "items"), 0), "workflow_id")));
    /* execution ids for the detail route: 200 from the middle of the list */
    long mid = total > 400 ? total / 2 : 0;
    snprintf(path, sizeof(path), "/api/v1/workflows/executions?limit=200&offset=%ld", mid);
    if (bench_http(c, opt.base, path, NULL, &resp, NULL, &page, err, sizeof(err)) != 200) goto out;
    json_t *items = json_object_get(page, "items");
    ids = calloc(json_array_size(items) + 1, sizeof(*ids));
    for (size_t i = 0; ids && i < json_array_size(items); i++) {
        const char *id = json_string_value(json_object_get(json_array_get(items, i), "execution_id"));
        if (id) ids[nids++] = strdup(id);
    }
    if (!nids) {
        fprintf(stderr, "bench_engine: no execution ids found\n");
        goto out;
    }
    long wf_total = 0;
    snprintf(path, sizeof(path), "/api/v1/workflows/%s/executions?limit=1", wf);
    wf_total = list_total(c, &resp, path, err, sizeof(err));
    printf("bench_engine reads: %ld executions stored (%ld in workflow %s), %d sequential samples per query, "
           "one keep-alive connection, against %s\n",
           total, wf_total, wf, opt.samples, opt.base);
    long deep = total > 50 ? total - 50 : 0;
    char q_wf[MAX_URL], q_deep[MAX_URL], q_wfs[MAX_URL];
    snprintf(q_wf, sizeof(q_wf), "/api/v1/workflows/%s/executions?limit=50", wf);
    snprintf(q_wfs, sizeof(q_wfs), "/api/v1/workflows/executions?workflow_id=%s&status=success&limit=50", wf);
    snprintf(q_deep, sizeof(q_deep), "/api/v1/workflows/executions?offset=%ld&limit=50", deep);
    const char *queries[][2] = {
        {"list limit=50", "/api/v1/workflows/executions?limit=50"},
        {"list status=success", "/api/v1/workflows/executions?status=success&limit=50"},
        {"list status=running (empty)", "/api/v1/workflows/executions?status=running&limit=50"},
        {"list offset=900", "/api/v1/workflows/executions?offset=900&limit=50"},
        {"list offset=total-50", q_deep},
        {"per-workflow list", q_wf},
        {"workflow_id+status=success", q_wfs},
        {"get execution {id}", NULL},
        {"GET /api/v1/health, 10 ms apart", "/api/v1/health"},
    };
    int failed = 0;
    for (size_t q = 0; q < sizeof(queries) / sizeof(queries[0]); q++) {
        bench_samples_t s = {0};
        int is_health = strcmp(queries[q][0], "GET /api/v1/health, 10 ms apart") == 0;
        int count = is_health ? 500 : opt.samples; /* 5 s: long enough to meet the worker's 1 s timers */
        for (int i = 0; i < count; i++) {
            const char *p = queries[q][1];
            if (is_health) bench_sleep_ns(10000000ull);
            if (!p) {
                snprintf(path, sizeof(path), "/api/v1/workflows/executions/%s", ids[(size_t)i % nids]);
                p = path;
            }
            double ms = 0;
            long st = bench_http(c, opt.base, p, NULL, &resp, &ms, NULL, err, sizeof(err));
            if (st != 200) {
                if (!failed++) fprintf(stderr, "bench_engine: %s\n", err);
                continue;
            }
            bench_samples_add(&s, ms);
        }
        char label[96];
        snprintf(label, sizeof(label), "%s", queries[q][0]);
        print_stats(label, &s);
        bench_samples_free(&s);
    }
    rc = failed ? 1 : 0;
out:
    for (size_t i = 0; i < nids; i++)
        free(ids[i]);
    free(ids);
    json_decref(j);
    json_decref(page);
    curl_easy_cleanup(c);
    bench_buf_free(&resp);
    return rc;
}

/* ---- command line ---------------------------------------------------------------------------------- */

static void usage(FILE *f)
{
    fprintf(
        f,
        "usage: bench_engine MODE [--url URL] [options]\n"
        "  modes: rate | inflight | seed | reads\n"
        "  --url URL        daemon base URL (default http://127.0.0.1:8000)\n"
        "  -c CONNS         concurrent execute connections, 1-%d (default 64)\n"
        "  -t SECONDS       rate: run time (default 10)\n"
        "  -n N             inflight/seed: executions to start (default 10000)\n"
        "  -s STEPS         steps per workflow, 0-500 (default 3)\n"
        "  -d STEP_MS       duration_ms of every step, 0-600000 (default 100)\n"
        "  -w WORKFLOWS     workflows the executions are spread over, 1-%d (default 1)\n"
        "  --probe-ms MS    inflight: health probe period (default 10)\n"
        "  --sample-ms MS   running/pending sampling and drain poll period (default 200)\n"
        "  --pid PID        inflight: also report this process's CPU share (up to %d times)\n"
        "  --timeline       inflight: print one line per second\n"
        "  --drain-timeout S  give up waiting for the drain after S seconds (default 600)\n"
        "  -r SAMPLES       reads: requests per query (default 200)\n"
        "  --workflow ID    reads: workflow for the per-workflow list (default: the newest execution's)\n",
        MAX_CONNS, MAX_WORKFLOWS, MAX_PIDS);
}

static int parse_args(int argc, char **argv)
{
    snprintf(opt.base, sizeof(opt.base), "http://127.0.0.1:8000");
    opt.conns = 64;
    opt.seconds = 10;
    opt.n = 10000;
    opt.steps = 3;
    opt.step_ms = 100;
    opt.probe_ms = 10;
    opt.sample_ms = 200;
    opt.workflows = 1;
    opt.samples = 200;
    opt.drain_timeout_s = 600;
    if (argc < 2) return -1;
    if (strcmp(argv[1], "-h") == 0 || strcmp(argv[1], "--help") == 0) {
        usage(stdout);
        exit(0);
    }
    if (strcmp(argv[1], "rate") == 0)
        opt.mode = MODE_RATE;
    else if (strcmp(argv[1], "inflight") == 0)
        opt.mode = MODE_INFLIGHT;
    else if (strcmp(argv[1], "seed") == 0)
        opt.mode = MODE_SEED;
    else if (strcmp(argv[1], "reads") == 0)
        opt.mode = MODE_READS;
    else {
        fprintf(stderr, "bench_engine: unknown mode %s\n", argv[1]);
        return -1;
    }
    for (int i = 2; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--timeline") == 0) {
            opt.timeline = 1;
            continue;
        }
        const char *val = i + 1 < argc ? argv[++i] : NULL;
        if (!val) {
            fprintf(stderr, "bench_engine: %s needs a value\n", a);
            return -1;
        }
        int bad = 0;
        if (strcmp(a, "--url") == 0) {
            bad = bench_set_base_url(opt.base, sizeof(opt.base), val);
        } else if (strcmp(a, "-c") == 0) {
            bad = bench_parse_int(val, 1, MAX_CONNS, &opt.conns);
        } else if (strcmp(a, "-t") == 0) {
            bad = bench_parse_seconds(val, &opt.seconds);
        } else if (strcmp(a, "-n") == 0) {
            bad = bench_parse_long(val, 1, 100000000, &opt.n);
        } else if (strcmp(a, "-s") == 0) {
            bad = bench_parse_int(val, 0, 500, &opt.steps);
        } else if (strcmp(a, "-d") == 0) {
            bad = bench_parse_int(val, 0, 600000, &opt.step_ms);
        } else if (strcmp(a, "-w") == 0) {
            bad = bench_parse_int(val, 1, MAX_WORKFLOWS, &opt.workflows);
        } else if (strcmp(a, "--probe-ms") == 0) {
            bad = bench_parse_int(val, 1, 10000, &opt.probe_ms);
        } else if (strcmp(a, "--sample-ms") == 0) {
            bad = bench_parse_int(val, 10, 60000, &opt.sample_ms);
        } else if (strcmp(a, "--drain-timeout") == 0) {
            bad = bench_parse_int(val, 1, 86400, &opt.drain_timeout_s);
        } else if (strcmp(a, "-r") == 0) {
            bad = bench_parse_int(val, 1, 1000000, &opt.samples);
        } else if (strcmp(a, "--workflow") == 0) {
            bad = strlen(val) == 0 || strlen(val) > 100 || strspn(val, "0123456789abcdef-") != strlen(val);
            if (!bad) opt.workflow_id = val;
        } else if (strcmp(a, "--pid") == 0) {
            bad = opt.npids == MAX_PIDS || bench_parse_int(val, 1, 1 << 22, &opt.pids[opt.npids]);
            if (!bad) opt.npids++;
        } else {
            fprintf(stderr, "bench_engine: unknown option %s\n", a);
            return -1;
        }
        if (bad) {
            fprintf(stderr, "bench_engine: bad value for %s: %s\n", a, val);
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
    if (bench_start("bench_engine", opt.base, 60L) != 0) return 2;
    g_json_hdr = bench_json_headers();
    if (!g_json_hdr) {
        fprintf(stderr, "bench_engine: out of memory\n");
        curl_global_cleanup();
        return 2;
    }
    int rc;
    switch (opt.mode) {
    case MODE_RATE:
        rc = mode_rate_or_seed(0);
        break;
    case MODE_INFLIGHT:
        rc = mode_inflight();
        break;
    case MODE_SEED:
        rc = mode_rate_or_seed(1);
        break;
    default:
        rc = mode_reads();
        break;
    }
    fflush(stdout);
    curl_slist_free_all(g_json_hdr);
    curl_global_cleanup();
    return rc;
}

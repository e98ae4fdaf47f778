/*
 * bench_conversations.c — closed-loop benchmark of the conversation write path (SPEC §3.4) against a
 * running daemon; built as build/bin/bench_conversations (perf/README.md documents it).
 *
 * N client threads each own one keep-alive libcurl handle and repeat the SPEC §12.1 conversation scenario
 * without think time for T seconds: POST /api/v1/conversations with the load-test body, then three
 * POST /api/v1/conversations/{id}/messages {"content":"Follow-up message <i>"}. Every request is timed
 * from just before it is sent until its response is complete. At the end it prints completed scenarios/s,
 * requests/s, failures, and latency p50/p99 (nearest rank over every sample) per request kind; optionally
 * the same as JSON. Because every request is a write, this measures the persistence group commit (§9.2)
 * as much as the HTTP path.
 *
 * Exit status: 0 when no request failed, 1 when any failed (transport error or status other than 200),
 * 2 on a usage error or when the daemon does not answer GET /health at start.
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

enum { KIND_CREATE = 0, KIND_MESSAGE = 1, KIND__COUNT };
static const char *const KIND_NAMES[KIND__COUNT] = {"conversation:create", "conversation:message"};

static const char CREATE_BODY[] = "{\"agent_id\":\"%s\",\"user_message\":\"Hello agent, please summarise the "
                                  "performance pipeline.\",\"context\":{\"topic\":\"performance\"}}";

typedef struct samples {
    double *ms; /* latencies in ms */
    size_t n, cap;
} samples_t;

typedef struct client {
    pthread_t thread;
    int index;
    samples_t lat[KIND__COUNT];
    uint64_t scenarios; /* scenarios whose four requests all succeeded */
    uint64_t failures;
    char first_error[256];
} client_t;

static struct {
    char base[MAX_URL];
    const char *agent;
    int clients;
    double duration_s;
    const char *json_path;
    uint64_t deadline_ns;
} opt;

static uint64_t mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
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
        if (!p) return 0; /* makes curl fail the transfer */
        b->data = p;
        b->cap = cap;
    }
    memcpy(b->data + b->len, ptr, n);
    b->len += n;
    b->data[b->len] = '\0';
    return n;
}

/*
 * One request on the client's keep-alive handle. body NULL means GET. Returns the HTTP status (0 on a
 * transport error, message in err) and the elapsed time in *ms; the response body is left in resp.
 */
static long do_request(CURL *c, const char *path, const char *body, buf_t *resp, double *ms, char *err,
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
    *ms = (double)(mono_ns() - t0) / 1e6;
    if (rc != CURLE_OK) {
        snprintf(err, errlen, "%s %s: %s", body ? "POST" : "GET", path, curl_easy_strerror(rc));
        return 0;
    }
    long status = 0;
    curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    if (status != 200)
        snprintf(err, errlen, "%s %s: HTTP %ld %.160s", body ? "POST" : "GET", path, status,
                 resp->data ? resp->data : "");
    return status;
}

static CURL *new_handle(buf_t *resp, struct curl_slist *hdrs)
{
    CURL *c = curl_easy_init();
    if (!c) return NULL;
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
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

static void *client_main(void *arg)
{
    client_t *cl = arg;
    buf_t resp = {0};
    struct curl_slist *hdrs = curl_slist_append(NULL, "Content-Type: application/json");
    CURL *c = hdrs ? new_handle(&resp, hdrs) : NULL;
    if (!c) {
        note_failure(cl, "cannot create a libcurl handle");
        curl_slist_free_all(hdrs);
        return NULL;
    }
    char create_body[512];
    snprintf(create_body, sizeof(create_body), CREATE_BODY, opt.agent);
    char err[256];
    while (mono_ns() < opt.deadline_ns) {
        double ms;
        long st = do_request(c, "/api/v1/conversations", create_body, &resp, &ms, err, sizeof(err));
        samples_add(&cl->lat[KIND_CREATE], ms);
        if (st != 200) {
            note_failure(cl, err);
            continue;
        }
        json_t *j = json_loadb(resp.data, resp.len, 0, NULL);
        const char *id = json_string_value(json_object_get(j, "conversation_id"));
        if (!id || strlen(id) > 64) {
            note_failure(cl, "create: response without conversation_id");
            json_decref(j);
            continue;
        }
        char path[128];
        snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", id);
        json_decref(j);
        int ok = 1;
        for (int i = 1; i <= 3; i++) {
            char body[64];
            snprintf(body, sizeof(body), "{\"content\":\"Follow-up message %d\"}", i);
            st = do_request(c, path, body, &resp, &ms, err, sizeof(err));
            samples_add(&cl->lat[KIND_MESSAGE], ms);
            if (st != 200) {
                note_failure(cl, err);
                ok = 0;
                break;
            }
        }
        if (ok) cl->scenarios++;
    }
    curl_easy_cleanup(c);
    curl_slist_free_all(hdrs);
    free(resp.data);
    return NULL;
}

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

/* Nearest-rank percentile of sorted v[0..n): the value at rank ceil(p/100 · n). */
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
    fprintf(f,
            "usage: bench_conversations [--url URL] [-c CLIENTS] [-t SECONDS] [--agent ID] [--json FILE]\n"
            "  --url URL      daemon base URL (default http://127.0.0.1:8000)\n"
            "  -c CLIENTS     concurrent keep-alive clients, 1-%d (default 8)\n"
            "  -t SECONDS     run time in seconds, > 0 (default 10)\n"
            "  --agent ID     agent_id of the created conversations (default agent-research)\n"
            "  --json FILE    also write the results as JSON to FILE\n",
            MAX_CLIENTS);
}

static int parse_args(int argc, char **argv)
{
    snprintf(opt.base, sizeof(opt.base), "http://127.0.0.1:8000");
    opt.agent = "agent-research";
    opt.clients = 8;
    opt.duration_s = 10;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        const char *val = i + 1 < argc ? argv[i + 1] : NULL;
        char *end = NULL;
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!val) {
            fprintf(stderr, "bench_conversations: %s needs a value\n", a);
            return -1;
        }
        i++;
        errno = 0;
        if (strcmp(a, "--url") == 0) {
            size_t l = strlen(val);
            while (l > 0 && val[l - 1] == '/')
                l--;
            if (l == 0 || l >= sizeof(opt.base)) {
                fprintf(stderr, "bench_conversations: bad --url\n");
                return -1;
            }
            snprintf(opt.base, sizeof(opt.base), "%.*s", (int)l, val);
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--clients") == 0) {
            long n = strtol(val, &end, 10);
            if (errno || *end || n < 1 || n > MAX_CLIENTS) {
                fprintf(stderr, "bench_conversations: -c must be 1-%d\n", MAX_CLIENTS);
                return -1;
            }
            opt.clients = (int)n;
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--time") == 0) {
            double t = strtod(val, &end);
            if (errno || *end || !(t > 0) || t > 86400) {
                fprintf(stderr, "bench_conversations: -t must be a number of seconds > 0\n");
                return -1;
            }
            opt.duration_s = t;
        } else if (strcmp(a, "--agent") == 0) {
            if (strlen(val) == 0 || strlen(val) > 100 || strpbrk(val, "\"\\")) {
                fprintf(stderr, "bench_conversations: --agent must be 1-100 characters without quotes\n");
                return -1;
            }
            opt.agent = val;
        } else if (strcmp(a, "--json") == 0) {
            opt.json_path = val;
        } else {
            fprintf(stderr, "bench_conversations: unknown option %s\n", a);
            return -1;
        }
    }
    return 0;
}

/* GET /health once; returns 0 when it answers 200. */
static int probe(void)
{
    buf_t resp = {0};
    CURL *c = new_handle(&resp, NULL);
    if (!c) return -1;
    double ms;
    char err[256];
    long st = do_request(c, "/health", NULL, &resp, &ms, err, sizeof(err));
    curl_easy_cleanup(c);
    free(resp.data);
    if (st != 200) {
        fprintf(stderr, "bench_conversations: %s is not serving: %s\n", opt.base, err);
        return -1;
    }
    return 0;
}

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    if (curl_global_init(CURL_GLOBAL_DEFAULT) != 0) {
        fprintf(stderr, "bench_conversations: curl_global_init failed\n");
        return 2;
    }
    if (probe() != 0) {
        curl_global_cleanup();
        return 2;
    }
    client_t *cl = calloc((size_t)opt.clients, sizeof(*cl));
    if (!cl) {
        fprintf(stderr, "bench_conversations: out of memory\n");
        return 2;
    }
    uint64_t t0 = mono_ns();
    opt.deadline_ns = t0 + (uint64_t)(opt.duration_s * 1e9);
    int started = 0;
    for (int i = 0; i < opt.clients; i++) {
        cl[i].index = i;
        if (pthread_create(&cl[i].thread, NULL, client_main, &cl[i]) != 0) {
            fprintf(stderr, "bench_conversations: cannot start client %d\n", i);
            break;
        }
        started++;
    }
    for (int i = 0; i < started; i++)
        pthread_join(cl[i].thread, NULL);
    double elapsed = (double)(mono_ns() - t0) / 1e9;

    samples_t all[KIND__COUNT + 1] = {{0}};
    uint64_t scenarios = 0, failures = 0;
    const char *first_error = NULL;
    for (int i = 0; i < started; i++) {
        scenarios += cl[i].scenarios;
        failures += cl[i].failures;
        if (!first_error && cl[i].first_error[0]) first_error = cl[i].first_error;
        for (int k = 0; k < KIND__COUNT; k++)
            for (size_t j = 0; j < cl[i].lat[k].n; j++) {
                samples_add(&all[k], cl[i].lat[k].ms[j]);
                samples_add(&all[KIND__COUNT], cl[i].lat[k].ms[j]);
            }
    }
    stats_t st[KIND__COUNT + 1];
    for (int k = 0; k <= KIND__COUNT; k++)
        st[k] = summarize(&all[k]);
    size_t requests = st[KIND__COUNT].n;

    printf("bench_conversations: %d clients, %.1f s against %s (agent %s)\n", started, elapsed, opt.base,
           opt.agent);
    printf("scenarios: %llu completed, %.1f/s\n", (unsigned long long)scenarios, (double)scenarios / elapsed);
    printf("requests:  %zu, %.1f/s, %llu failed\n", requests, (double)requests / elapsed,
           (unsigned long long)failures);
    for (int k = 0; k <= KIND__COUNT; k++)
        printf("%-22s n=%-8zu mean=%8.2f ms  p50=%8.2f ms  p99=%8.2f ms  max=%8.2f ms\n",
               k < KIND__COUNT ? KIND_NAMES[k] : "all", st[k].n, st[k].mean, st[k].p50, st[k].p99, st[k].max);
    if (first_error) printf("first failure: %s\n", first_error);

    int rc = failures ? 1 : 0;
    if (opt.json_path) {
        json_t *lat = json_object();
        for (int k = 0; k <= KIND__COUNT; k++)
            json_object_set_new(lat, k < KIND__COUNT ? KIND_NAMES[k] : "all",
                                json_pack("{s:I,s:f,s:f,s:f,s:f}", "requests", (json_int_t)st[k].n, "mean_ms",
                                          st[k].mean, "p50_ms", st[k].p50, "p99_ms", st[k].p99, "max_ms",
                                          st[k].max));
        json_t *out =
            json_pack("{s:s,s:i,s:f,s:I,s:f,s:I,s:f,s:I,s:o}", "url", opt.base, "clients", started,
                      "duration_s", elapsed, "scenarios", (json_int_t)scenarios, "scenarios_per_s",
                      (double)scenarios / elapsed, "requests", (json_int_t)requests, "requests_per_s",
                      (double)requests / elapsed, "failures", (json_int_t)failures, "latency_ms", lat);
        if (!out || json_dump_file(out, opt.json_path, JSON_INDENT(2) | JSON_REAL_PRECISION(9)) != 0) {
            fprintf(stderr, "bench_conversations: cannot write %s\n", opt.json_path);
            rc = 2;
        }
        json_decref(out);
    }
    for (int k = 0; k <= KIND__COUNT; k++)
        free(all[k].ms);
    for (int i = 0; i < opt.clients; i++)
        for (int k = 0; k < KIND__COUNT; k++)
            free(cl[i].lat[k].ms);
    free(cl);
    curl_global_cleanup();
    return rc;
}

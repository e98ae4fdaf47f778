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
#include <jansson.h>
#include <pthread.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "bench_util.h"

#define MAX_CLIENTS 1024
#define MAX_URL 512

enum { KIND_CREATE = 0, KIND_MESSAGE = 1, KIND__COUNT };
static const char *const KIND_NAMES[KIND__COUNT] = {"conversation:create", "conversation:message"};

static const char CREATE_BODY[] = "{\"agent_id\":\"%s\",\"user_message\":\"Hello agent, please summarise the "
                                  "performance pipeline.\",\"context\":{\"topic\":\"performance\"}}";

typedef struct client {
    pthread_t thread;
    int index;
    bench_samples_t lat[KIND__COUNT];
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

static void note_failure(client_t *cl, const char *err)
{
    cl->failures++;
    if (!cl->first_error[0]) snprintf(cl->first_error, sizeof(cl->first_error), "%s", err);
}

static void *client_main(void *arg)
{
    client_t *cl = arg;
    bench_buf_t resp = {0};
    struct curl_slist *hdrs = bench_json_headers();
    CURL *c = hdrs ? bench_new_handle(&resp, hdrs, 35L) : NULL;
    if (!c) {
        note_failure(cl, "cannot create a libcurl handle");
        curl_slist_free_all(hdrs);
        return NULL;
    }
    char create_body[512];
    snprintf(create_body, sizeof(create_body), CREATE_BODY, opt.agent);
    char err[256];
    while (bench_mono_ns() < opt.deadline_ns) {
        double ms;
        long st =
            bench_http(c, opt.base, "/api/v1/conversations", create_body, &resp, &ms, NULL, err, sizeof(err));
        bench_samples_add(&cl->lat[KIND_CREATE], ms);
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
            st = bench_http(c, opt.base, path, body, &resp, &ms, NULL, err, sizeof(err));
            bench_samples_add(&cl->lat[KIND_MESSAGE], ms);
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
    bench_buf_free(&resp);
    return NULL;
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
        if (strcmp(a, "-h") == 0 || strcmp(a, "--help") == 0) {
            usage(stdout);
            exit(0);
        }
        if (!val) {
            fprintf(stderr, "bench_conversations: %s needs a value\n", a);
            return -1;
        }
        i++;
        if (strcmp(a, "--url") == 0) {
            if (bench_set_base_url(opt.base, sizeof(opt.base), val) != 0) {
                fprintf(stderr, "bench_conversations: bad --url\n");
                return -1;
            }
        } else if (strcmp(a, "-c") == 0 || strcmp(a, "--clients") == 0) {
            if (bench_parse_int(val, 1, MAX_CLIENTS, &opt.clients) != 0) {
                fprintf(stderr, "bench_conversations: -c must be 1-%d\n", MAX_CLIENTS);
                return -1;
            }
        } else if (strcmp(a, "-t") == 0 || strcmp(a, "--time") == 0) {
            if (bench_parse_seconds(val, &opt.duration_s) != 0) {
                fprintf(stderr, "bench_conversations: -t must be a number of seconds > 0\n");
                return -1;
            }
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

int main(int argc, char **argv)
{
    if (parse_args(argc, argv) != 0) {
        usage(stderr);
        return 2;
    }
    if (bench_start("bench_conversations", opt.base, 35L) != 0) return 2;
    client_t *cl = calloc((size_t)opt.clients, sizeof(*cl));
    if (!cl) {
        fprintf(stderr, "bench_conversations: out of memory\n");
        return 2;
    }
    uint64_t t0 = bench_mono_ns();
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
    double elapsed = (double)(bench_mono_ns() - t0) / 1e9;

    bench_samples_t all[KIND__COUNT + 1] = {{0}};
    uint64_t scenarios = 0, failures = 0;
    const char *first_error = NULL;
    for (int i = 0; i < started; i++) {
        scenarios += cl[i].scenarios;
        failures += cl[i].failures;
        if (!first_error && cl[i].first_error[0]) first_error = cl[i].first_error;
        for (int k = 0; k < KIND__COUNT; k++) {
            bench_samples_append(&all[k], &cl[i].lat[k]);
            bench_samples_append(&all[KIND__COUNT], &cl[i].lat[k]);
        }
    }
    bench_stats_t st[KIND__COUNT + 1];
    for (int k = 0; k <= KIND__COUNT; k++)
        st[k] = bench_summarize(&all[k]);
    size_t requests = st[KIND__COUNT].n;

    printf("bench_conversations: %d clients, %.1f s against %s (agent %s)\n", started, elapsed, opt.base,
           opt.agent);
    printf("scenarios: %llu completed, %.1f/s\n", (unsigned long long)scenarios, (double)scenarios / elapsed);
    printf("requests:  %zu, %.1f/s, %llu failed\n", requests, (double)requests / elapsed,
           (unsigned long long)failures);
    for (int k = 0; k <= KIND__COUNT; k++)
        bench_stats_print(stdout, k < KIND__COUNT ? KIND_NAMES[k] : "all", 22, 8, 1, &st[k]);
    if (first_error) printf("first failure: %s\n", first_error);

    int rc = failures ? 1 : 0;
    if (opt.json_path) {
        json_t *lat = json_object();
        for (int k = 0; k <= KIND__COUNT; k++)
            json_object_set_new(lat, k < KIND__COUNT ? KIND_NAMES[k] : "all",
                                bench_stats_json("requests", &st[k]));
        json_t *out =
            json_pack("{s:s,s:i,s:f,s:I,s:f,s:I,s:f,s:I,s:o}", "url", opt.base, "clients", started,
                      "duration_s", elapsed, "scenarios", (json_int_t)scenarios, "scenarios_per_s",
                      (double)scenarios / elapsed, "requests", (json_int_t)requests, "requests_per_s",
                      (double)requests / elapsed, "failures", (json_int_t)failures, "latency_ms", lat);
        if (bench_write_json(out, opt.json_path) != 0) {
            fprintf(stderr, "bench_conversations: cannot write %s\n", opt.json_path);
            rc = 2;
        }
        json_decref(out);
    }
    for (int k = 0; k <= KIND__COUNT; k++)
        bench_samples_free(&all[k]);
    for (int i = 0; i < opt.clients; i++)
        for (int k = 0; k < KIND__COUNT; k++)
            bench_samples_free(&cl[i].lat[k]);
    free(cl);
    curl_global_cleanup();
    return rc;
}

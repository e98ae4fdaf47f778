/*
 * test_foundation.c — the foundation issue against the real binary: service routes, the error pipeline
 * (404/405/413/414/415/422/431, correlation ids), HEAD, keep-alive, two workers serving, a SIGKILLed worker
 * replaced, graceful SIGTERM with no accepted request failing, --check-config exit codes.
 */
#include <criterion/criterion.h>
#include <curl/curl.h>
#include <pthread.h>
#include <stdatomic.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <arpa/inet.h>
#include <netinet/in.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <errno.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abe_it.h"

static abe_it_daemon_t D;

static void start_default(void)
{
    const char *env[] = {"LOG_FORMAT=json", "MAX_BODY_BYTES=2048", NULL};
    cr_assert_eq(abe_it_start(&D, env), 0, "daemon did not start");
}

static void stop_default(void)
{
    abe_it_stop(&D, 20);
    abe_it_cleanup(&D);
}

static void assert_envelope(abe_it_resp_t *r, long status, const char *detail)
{
    char cid[256];
    cr_assert_eq(r->status, status, "status %ld body %s", r->status, r->body);
    cr_assert_not_null(r->json, "body is not JSON: %s", r->body);
    if (detail) cr_assert_str_eq(json_string_value(json_object_get(r->json, "detail")), detail);
    cr_assert_not_null(abe_it_header(r, "x-correlation-id", cid, sizeof(cid)));
    cr_assert_str_eq(json_string_value(json_object_get(r->json, "correlation_id")), cid);
    char ct[128];
    cr_assert_not_null(abe_it_header(r, "content-type", ct, sizeof(ct)));
    cr_assert_str_eq(ct, "application/json");
}

TestSuite(foundation, .init = start_default, .fini = stop_default, .timeout = 120);

Test(foundation, service_routes)
{
    abe_it_resp_t r = abe_it_get(&D, "/");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "message")),
                     "advanced-backend multi-agent platform API");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "version")), "2.0.0");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "operational");
    cr_assert_eq(json_array_size(json_object_get(r.json, "features")), 6);
    const char *ts = json_string_value(json_object_get(r.json, "timestamp"));
    cr_assert(ts && strlen(ts) == 27 && ts[26] == 'Z' && ts[19] == '.', "timestamp %s", ts);
    abe_it_resp_free(&r);

    const char *ok_paths[] = {"/health", "/health/live", "/api/v1/ping"};
    for (int i = 0; i < 3; i++) {
        r = abe_it_get(&D, ok_paths[i]);
        cr_assert_eq(r.status, 200);
        cr_assert_str_eq(r.body, "{\"status\":\"ok\"}");
        abe_it_resp_free(&r);
    }
    r = abe_it_get(&D, "/health/ready");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(r.body, "{\"status\":\"ready\"}");
    abe_it_resp_free(&r);

    r = abe_it_get(&D, "/api/v1/health");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "status")), "ok");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "workers")), 2);
    cr_assert(json_is_integer(json_object_get(r.json, "uptime_seconds")));
    cr_assert(strncmp(r.body, "{\"status\":\"ok\",\"version\":\"2.0.0\",\"uptime_seconds\":", 50) == 0, "%s",
              r.body);
    abe_it_resp_free(&r);
}

Test(foundation, head_has_headers_no_body)
{
    abe_it_resp_t r;
    abe_it_request(&D, "HEAD", "/health", NULL, NULL, 0, NULL, &r);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, 0);
    char cl[32];
    cr_assert_not_null(abe_it_header(&r, "content-length", cl, sizeof(cl)));
    cr_assert_str_eq(cl, "15");
    abe_it_resp_free(&r);
}

Test(foundation, not_found_and_method_not_allowed)
{
    abe_it_resp_t r = abe_it_get(&D, "/nope");
    assert_envelope(&r, 404, "Not Found");
    abe_it_resp_free(&r);
    r = abe_it_get(&D, "/api/v1/agents/");
    assert_envelope(&r, 404, "Not Found");
    abe_it_resp_free(&r);

    r = abe_it_delete(&D, "/health");
    assert_envelope(&r, 405, "Method Not Allowed");
    char allow[64];
    cr_assert_not_null(abe_it_header(&r, "allow", allow, sizeof(allow)));
    cr_assert_str_eq(allow, "GET, HEAD");
    abe_it_resp_free(&r);

    abe_it_request(&D, "PUT", "/api/v1/workflows/abc", "application/json", "{}", 2, NULL, &r);
    assert_envelope(&r, 405, "Method Not Allowed");
    cr_assert_str_eq(abe_it_header(&r, "allow", allow, sizeof(allow)), "GET, HEAD, DELETE");
    abe_it_resp_free(&r);

    /* %2F never splits a segment: this is workflow id "abc/execute", and POST is not allowed there */
    r = abe_it_post_json(&D, "/api/v1/workflows/abc%2Fexecute", "{}");
    assert_envelope(&r, 405, "Method Not Allowed");
    abe_it_resp_free(&r);
}

Test(foundation, correlation_id_echo_and_replace)
{
    abe_it_resp_t r;
    const char *good[] = {"X-Correlation-ID: my-id_1.2", NULL};
    abe_it_request(&D, "GET", "/nope", NULL, NULL, 0, good, &r);
    char cid[256];
    cr_assert_str_eq(abe_it_header(&r, "x-correlation-id", cid, sizeof(cid)), "my-id_1.2");
    cr_assert_str_eq(json_string_value(json_object_get(r.json, "correlation_id")), "my-id_1.2");
    abe_it_resp_free(&r);

    const char *bad[] = {"X-Correlation-ID: bad id!", NULL};
    abe_it_request(&D, "GET", "/health", NULL, NULL, 0, bad, &r);
    abe_it_header(&r, "x-correlation-id", cid, sizeof(cid));
    cr_assert_eq(strlen(cid), 36, "replaced by a UUID4: %s", cid);
    cr_assert_eq(cid[14], '4');
    abe_it_resp_free(&r);

    const char *two[] = {"X-Correlation-ID: one", "X-Correlation-ID: two", NULL};
    abe_it_request(&D, "GET", "/health", NULL, NULL, 0, two, &r);
    abe_it_header(&r, "x-correlation-id", cid, sizeof(cid));
    cr_assert_eq(strlen(cid), 36, "two headers get a new id: %s", cid);
    abe_it_resp_free(&r);
}

Test(foundation, body_and_header_limits)
{
    abe_it_resp_t r;
    char *big = malloc(3000);
    memset(big, ' ', 2999);
    big[0] = '{';
    big[2998] = '}';
    big[2999] = '\0';
    abe_it_request(&D, "POST", "/api/v1/workflows", "application/json", big, 2999, NULL, &r);
    assert_envelope(&r, 413, "Request body too large");
    abe_it_resp_free(&r);
    free(big);

    abe_it_request(&D, "POST", "/api/v1/workflows", "text/plain", "{}", 2, NULL, &r);
    assert_envelope(&r, 415, "Content-Type must be application/json");
    abe_it_resp_free(&r);

    r = abe_it_post_json(&D, "/api/v1/workflows", "{\"a\":");
    assert_envelope(&r, 422, NULL);
    json_t *issue = json_array_get(json_object_get(r.json, "detail"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(issue, "type")), "json_invalid");
    cr_assert_str_eq(json_string_value(json_array_get(json_object_get(issue, "loc"), 0)), "body");
    abe_it_resp_free(&r);

    r = abe_it_post_json(&D, "/api/v1/workflows", "  ");
    assert_envelope(&r, 422, NULL);
    issue = json_array_get(json_object_get(r.json, "detail"), 0);
    cr_assert_str_eq(json_string_value(json_object_get(issue, "type")), "missing");
    abe_it_resp_free(&r);

    char *uri = malloc(9000);
    strcpy(uri, "/health?x=");
    memset(uri + 10, 'a', 8500);
    uri[8510] = '\0';
    r = abe_it_get(&D, uri);
    assert_envelope(&r, 414, "URI Too Long");
    abe_it_resp_free(&r);
    free(uri);

    char *hdr = malloc(17000);
    strcpy(hdr, "X-Big: ");
    memset(hdr + 7, 'b', 16500);
    hdr[16507] = '\0';
    const char *hdrs[] = {hdr, NULL};
    abe_it_request(&D, "GET", "/health", NULL, NULL, 0, hdrs, &r);
    assert_envelope(&r, 431, "Request Header Fields Too Large");
    abe_it_resp_free(&r);
    free(hdr);

    /* Host counts toward the 16 KiB header limit although h2o keeps it outside the header list */
    char *host = malloc(17000);
    strcpy(host, "Host: ");
    memset(host + 6, 'h', 16500);
    host[16506] = '\0';
    const char *host_hdrs[] = {host, NULL};
    abe_it_request(&D, "GET", "/health", NULL, NULL, 0, host_hdrs, &r);
    assert_envelope(&r, 431, "Request Header Fields Too Large");
    abe_it_resp_free(&r);
    free(host);

    /* no key anywhere may hold U+0000, unknown fields included (SPEC §2.1) */
    const char *nul_key = "{\"name\":\"w\",\"steps\":[{\"name\":\"a\",\"x\\u0000\":1}],\"\\u0000\":2}";
    r = abe_it_post_json(&D, "/api/v1/workflows", nul_key);
    assert_envelope(&r, 422, NULL);
    char *issues = json_dumps(json_object_get(r.json, "detail"), JSON_COMPACT);
    cr_assert_str_eq(issues,
                     "[{\"loc\":[\"body\",\"steps\",0],\"msg\":\"Value error, NUL characters are not "
                     "allowed\",\"type\":\"value_error\"},{\"loc\":[\"body\"],\"msg\":\"Value error, NUL "
                     "characters are not allowed\",\"type\":\"value_error\"}]");
    free(issues);
    abe_it_resp_free(&r);

    /* the daemon keeps serving after all of that */
    r = abe_it_get(&D, "/health");
    cr_assert_eq(r.status, 200);
    abe_it_resp_free(&r);
}

static size_t sink(char *p, size_t s, size_t n, void *u)
{
    (void)p;
    (void)u;
    return s * n;
}

Test(foundation, keep_alive_reuses_connection)
{
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1/ping", D.base_url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    for (int i = 0; i < 5; i++) {
        cr_assert_eq(curl_easy_perform(c), CURLE_OK);
        long code = 0, connects = -1;
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        curl_easy_getinfo(c, CURLINFO_NUM_CONNECTS, &connects);
        cr_assert_eq(code, 200);
        if (i > 0) cr_assert_eq(connects, 0, "request %d opened a new connection", i);
    }
    curl_easy_cleanup(c);
}

static int count_distinct_access_pids(void)
{
    char *log = abe_it_read_log(&D);
    int pids[8], n = 0;
    for (char *line = strtok(log, "\n"); line; line = strtok(NULL, "\n")) {
        json_t *o = json_loads(line, 0, NULL);
        if (o && json_object_get(o, "correlation_id")) {
            int pid = (int)json_integer_value(json_object_get(o, "pid"));
            int seen = 0;
            for (int i = 0; i < n; i++)
                seen |= pids[i] == pid;
            if (!seen && n < 8) pids[n++] = pid;
        }
        json_decref(o);
    }
    free(log);
    return n;
}

typedef struct hammer {
    int n_ok, n_refused, n_failed, requests;
} hammer_t;

static void *hammer_thread(void *arg)
{
    hammer_t *h = arg;
    for (int i = 0; i < h->requests; i++) {
        abe_it_resp_t r;
        const char *close_hdr[] = {"Connection: close", NULL};
        int rc = abe_it_request(&D, "GET", "/api/v1/health", NULL, NULL, 0, close_hdr, &r);
        if (rc == 0 && r.status == 200)
            h->n_ok++;
        else if (rc != 0)
            h->n_refused++;
        else
            h->n_failed++;
        abe_it_resp_free(&r);
    }
    return NULL;
}

Test(foundation, two_workers_both_serve)
{
    pid_t w[4];
    cr_assert_eq(abe_it_children(&D, "abe-worker", w, 4), 2);
    pid_t p[2];
    cr_assert_eq(abe_it_children(&D, "abe-persist", p, 2), 1);
    hammer_t h[4] = {{.requests = 100}, {.requests = 100}, {.requests = 100}, {.requests = 100}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer_thread, &h[i]);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(h[i].n_ok, 100);
    cr_assert_eq(count_distinct_access_pids(), 2, "access log should show both worker pids");
}

static int two_workers_ready(void *arg)
{
    pid_t *old = arg, w[4];
    int n = abe_it_children(&D, "abe-worker", w, 4);
    if (n != 2) return 0;
    for (int i = 0; i < n; i++)
        if (w[i] == *old) return 0;
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/health");
    int ok = r.status == 200 && json_integer_value(json_object_get(r.json, "workers")) == 2;
    abe_it_resp_free(&r);
    return ok;
}

Test(foundation, killed_worker_is_replaced)
{
    pid_t w[4];
    cr_assert_eq(abe_it_children(&D, "abe-worker", w, 4), 2);
    cr_assert_eq(kill(w[0], SIGKILL), 0);
    /* the other worker keeps answering meanwhile */
    for (int i = 0; i < 20; i++) {
        abe_it_resp_t r = abe_it_get(&D, "/api/v1/ping");
        cr_assert_eq(r.status, 200);
        abe_it_resp_free(&r);
    }
    cr_assert(abe_it_wait_until(two_workers_ready, &w[0], 10000), "worker not replaced");
    char *log = abe_it_read_log(&D);
    cr_assert(strstr(log, "respawning"), "respawn not logged");
    free(log);
}

Test(foundation, graceful_stop_fails_no_accepted_request)
{
    hammer_t h[4] = {{.requests = 400}, {.requests = 400}, {.requests = 400}, {.requests = 400}};
    pthread_t t[4];
    for (int i = 0; i < 4; i++)
        pthread_create(&t[i], NULL, hammer_thread, &h[i]);
    usleep(300000);
    int status = abe_it_stop(&D, 15);
    for (int i = 0; i < 4; i++)
        pthread_join(t[i], NULL);
    cr_assert_eq(status, 0, "exit status %d", status);
    int ok = 0, failed = 0;
    for (int i = 0; i < 4; i++) {
        ok += h[i].n_ok;
        failed += h[i].n_failed;
    }
    cr_assert_gt(ok, 0);
    cr_assert_eq(failed, 0, "%d accepted requests failed", failed);
    /* nothing left behind */
    pid_t w[4];
    cr_assert_eq(abe_it_children(&D, "abe-worker", w, 4), 0);
}

static int run_binary(const char *const *argv, const char *const *env)
{
    pid_t pid = fork();
    if (pid == 0) {
        for (const char *const *e = env; e && *e; e++)
            putenv((char *)*e);
        int null = open("/dev/null", 1);
        dup2(null, 1);
        dup2(null, 2);
        execv(ABE_BINARY, (char *const *)argv);
        _exit(127);
    }
    int status;
    waitpid(pid, &status, 0);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(cli, check_config_exit_codes, .timeout = 30)
{
    const char *ok_argv[] = {ABE_BINARY, "--check-config", "--config",
                             ABE_SOURCE_DIR "/conf/advanced-backend.yaml", NULL};
    const char *ok_env[] = {"AGENTS_CONFIG_DIR=" ABE_SOURCE_DIR "/conf", NULL};
    cr_assert_eq(run_binary(ok_argv, ok_env), 0);
    const char *bad_env[] = {"AGENTS_CONFIG_DIR=" ABE_SOURCE_DIR "/conf", "UVICORN_PORT=99999", NULL};
    cr_assert_eq(run_binary(ok_argv, bad_env), 78);
    const char *t_argv[] = {ABE_BINARY, "-t", "--config", "/nonexistent/file.yaml", NULL};
    cr_assert_eq(run_binary(t_argv, ok_env), 78);
    const char *bad_agents[] = {"AGENTS_CONFIG_DIR=" ABE_SOURCE_DIR "/tests/unit/fixtures/agents/broken",
                                NULL};
    cr_assert_eq(run_binary(ok_argv, bad_agents), 78);
    const char *usage_argv[] = {ABE_BINARY, "--bogus", NULL};
    cr_assert_eq(run_binary(usage_argv, ok_env), 2);
}

/* Worker CPU ticks (utime + stime) from /proc/<pid>/stat. */
static long cpu_ticks(pid_t pid)
{
    char path[64], buf[1024];
    snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
    FILE *f = fopen(path, "r");
    if (!f) return -1;
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    char *p = strrchr(buf, ')');
    long ut = 0, st = 0;
    /* fields after ')': state(3) ... utime(14) stime(15) */
    if (!p || sscanf(p + 2, "%*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u %ld %ld", &ut, &st) != 2) return -1;
    return ut + st;
}

/* Out of descriptors, a worker pauses accepting instead of spinning, and keeps serving the connections it
 * has (nginx's behaviour on EMFILE). */
Test(limits, out_of_descriptors_does_not_spin, .timeout = 60)
{
    abe_it_daemon_t d;
    const char *env[] = {"UVICORN_WORKERS=1", "ABE_IT_NOFILE=128", NULL};
    cr_assert_eq(abe_it_start(&d, env), 0);
    pid_t w[2];
    cr_assert_eq(abe_it_children(&d, "abe-worker", w, 2), 1);

    CURL *keep = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1/ping", d.base_url);
    curl_easy_setopt(keep, CURLOPT_URL, url);
    curl_easy_setopt(keep, CURLOPT_WRITEFUNCTION, sink);
    cr_assert_eq(curl_easy_perform(keep), CURLE_OK);

    /* The daemon may hold 128 descriptors: 200 idle connections exhaust the worker's table. */
    int fds[200], nfds = 0;
    struct sockaddr_in a = {.sin_family = AF_INET,
                            .sin_port = htons((uint16_t)d.port),
                            .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    for (int i = 0; i < 200; i++) {
        int fd = socket(AF_INET, SOCK_STREAM, 0);
        if (fd < 0) break;
        if (connect(fd, (struct sockaddr *)&a, sizeof(a)) != 0) {
            close(fd);
            break;
        }
        fds[nfds++] = fd;
    }
    usleep(300000);
    long t0 = cpu_ticks(w[0]);
    usleep(1000000);
    long t1 = cpu_ticks(w[0]);
    cr_assert(t0 >= 0, "cannot read worker %d's CPU time: %s (%d connections open)", (int)w[0],
              strerror(errno), nfds);
    cr_assert(t1 - t0 < 30, "worker burned %ld ticks in 1 s with no work (spinning on accept)", t1 - t0);
    /* the established keep-alive connection is still served promptly */
    cr_assert_eq(curl_easy_perform(keep), CURLE_OK);
    long code = 0;
    curl_easy_getinfo(keep, CURLINFO_RESPONSE_CODE, &code);
    cr_assert_eq(code, 200);
    curl_easy_cleanup(keep);
    for (int i = 0; i < nfds; i++)
        close(fds[i]);
    char *log = abe_it_read_log(&d);
    cr_assert(strstr(log, "pausing accepts"), "EMFILE not reached or not logged:\n%.2000s", log);
    free(log);
    /* after the idle connections are gone, new connections are accepted again */
    usleep(300000);
    abe_it_resp_t r = abe_it_get(&d, "/api/v1/ping");
    cr_assert_eq(r.status, 200);
    abe_it_resp_free(&r);
    cr_assert_eq(abe_it_stop(&d, 20), 0);
    abe_it_cleanup(&d);
}

static int count_substr(const char *hay, const char *needle)
{
    int n = 0;
    for (const char *p = hay; (p = strstr(p, needle)); p += strlen(needle))
        n++;
    return n;
}

/* WORKER_MAX_REQUESTS: a worker drains and exits after N requests, a fresh one replaces it without a
 * failed request, and a running execution is handed back and finished by the next worker. */
Test(limits, worker_recycling_loses_nothing, .timeout = 90)
{
    abe_it_daemon_t d;
    const char *env[] = {"UVICORN_WORKERS=1", "WORKER_MAX_REQUESTS=25", NULL};
    cr_assert_eq(abe_it_start(&d, env), 0);
    abe_it_resp_t r = abe_it_post_json(
        &d, "/api/v1/workflows",
        "{\"name\":\"recycle\",\"steps\":[{\"name\":\"a\",\"duration_ms\":300},{\"name\":\"b\",\"depends_"
        "on\":[\"a\"],"
        "\"duration_ms\":300},{\"name\":\"c\",\"depends_on\":[\"b\"],\"duration_ms\":300}]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/workflows/%s/execute",
             json_string_value(json_object_get(r.json, "id")));
    abe_it_resp_free(&r);
    r = abe_it_post_json(&d, path, "{}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    snprintf(path, sizeof(path), "/api/v1/workflows/executions/%s",
             json_string_value(json_object_get(r.json, "execution_id")));
    abe_it_resp_free(&r);

    for (int i = 0; i < 120; i++) {
        const char *close_hdr[] = {"Connection: close", NULL};
        abe_it_resp_t p;
        cr_assert_eq(abe_it_request(&d, "GET", "/api/v1/ping", NULL, NULL, 0, close_hdr, &p), 0,
                     "request %d failed at the transport level", i);
        cr_assert_eq(p.status, 200, "request %d -> %ld", i, p.status);
        abe_it_resp_free(&p);
    }
    char *log = abe_it_read_log(&d);
    cr_assert_geq(count_substr(log, "recycled; starting a fresh one"), 3, "%s", log);
    cr_assert_eq(count_substr(log, "respawning"), 0, "a recycle was treated as a crash:\n%s", log);
    free(log);

    const char *status = NULL;
    for (int i = 0; i < 150; i++) {
        r = abe_it_get(&d, path);
        status = json_string_value(json_object_get(json_object_get(r.json, "execution"), "status"));
        int done = status && (strcmp(status, "success") == 0 || strcmp(status, "failed") == 0);
        if (done) break;
        abe_it_resp_free(&r);
        usleep(100000);
    }
    cr_assert_str_eq(status, "success", "execution did not finish across recycles: %s", r.body);
    abe_it_resp_free(&r);
    cr_assert_eq(abe_it_stop(&d, 20), 0);
    abe_it_cleanup(&d);
}

typedef struct ping_arg {
    abe_it_daemon_t *d;
    atomic_int *stop;
    atomic_int failed;
} ping_arg_t;

/* Keep-alive pings until *stop; counts any answer other than 200. */
static void *ping_loop(void *arg)
{
    ping_arg_t *pa = arg;
    CURL *c = curl_easy_init();
    char url[128];
    snprintf(url, sizeof(url), "%s/api/v1/ping", pa->d->base_url);
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, sink);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    while (!atomic_load(pa->stop)) {
        long code = 0;
        if (curl_easy_perform(c) == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &code);
        if (code != 200) atomic_fetch_add(&pa->failed, 1);
    }
    curl_easy_cleanup(c);
    return NULL;
}

/* Recycling under load with executions in flight on two workers: an adoption racing a worker's hand-back
 * must never leave an execution owned by a pid that is gone (regression: they stayed `running`). */
Test(limits, recycling_two_workers_executions_all_finish, .timeout = 120)
{
    abe_it_daemon_t d;
    const char *env[] = {"WORKER_MAX_REQUESTS=10", NULL};
    cr_assert_eq(abe_it_start(&d, env), 0);
    abe_it_resp_t r = abe_it_post_json(
        &d, "/api/v1/workflows",
        "{\"name\":\"churn\",\"steps\":[{\"name\":\"a\",\"duration_ms\":200},{\"name\":\"b\",\"depends_on\":["
        "\"a\"],"
        "\"duration_ms\":300},{\"name\":\"c\",\"depends_on\":[\"b\"],\"duration_ms\":200}]}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    char exec_path[160];
    snprintf(exec_path, sizeof(exec_path), "/api/v1/workflows/%s/execute",
             json_string_value(json_object_get(r.json, "id")));
    abe_it_resp_free(&r);

    enum { N = 150 };
    static char ids[N][40];
    /* Background pings on both workers keep them recycling while the executes arrive. */
    atomic_int stop = 0;
    ping_arg_t pa = {.d = &d, .stop = &stop};
    pthread_t pt[3];
    for (int t = 0; t < 3; t++)
        pthread_create(&pt[t], NULL, ping_loop, &pa);
    for (int i = 0; i < N; i++) {
        r = abe_it_post_json(&d, exec_path, "{}");
        cr_assert_eq(r.status, 200, "execute %d -> %ld %s", i, r.status, r.body);
        snprintf(ids[i], sizeof(ids[i]), "%s", json_string_value(json_object_get(r.json, "execution_id")));
        abe_it_resp_free(&r);
    }
    atomic_store(&stop, 1);
    for (int t = 0; t < 3; t++)
        pthread_join(pt[t], NULL);
    cr_assert_eq(atomic_load(&pa.failed), 0, "%d ping requests failed during recycling",
                 atomic_load(&pa.failed));
    for (int i = 0; i < N; i++) {
        char path[192];
        snprintf(path, sizeof(path), "/api/v1/workflows/executions/%.40s", ids[i]);
        const char *status = NULL;
        for (int t = 0; t < 200; t++) {
            r = abe_it_get(&d, path);
            status = json_string_value(json_object_get(json_object_get(r.json, "execution"), "status"));
            if (status && strcmp(status, "success") == 0) break;
            abe_it_resp_free(&r);
            usleep(100000);
        }
        cr_assert_str_eq(status, "success", "execution %d stuck: %s", i, r.body);
        abe_it_resp_free(&r);
    }
    cr_assert_eq(abe_it_stop(&d, 20), 0);
    abe_it_cleanup(&d);
}

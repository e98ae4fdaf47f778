/*
 * test_workflows.c — integration tests for workflows and executions (SPEC §3.5, §3.6, §4) against the real
 * daemon (tests/integration/abe_it.h), two workers each.
 *
 * Covered: the full lifecycle with exact response shapes; sequential and parallel scheduling observed
 * through the persisted step timestamps (a diamond whose middle steps overlap); failure with skipped
 * descendants and an independent branch; replay (404/409/422/200, a 3-long lineage, replay after delete,
 * mode=failed carry-over, a failed-mode replay with nothing to run); pagination and 422 issue lists;
 * the SPEC §3.5 400s; delete 204/404/409; retention; the purge CLI with the daemon up and down; and the
 * crash guarantees of SPEC §4.5 — SIGKILL of the worker that owns a running execution (found read-only in
 * the DB) and SIGKILL of the whole daemon followed by a restart. Step durations are 0–300 ms so the suite
 * stays fast.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abe_it.h"

static abe_it_daemon_t D;

static void start_default(void)
{
    cr_assert_eq(abe_it_start(&D, NULL), 0, "daemon did not start");
}

/* Stop the daemon and fail when its log holds a sanitizer report (daemon built with ABE_SANITIZE). */
static void stop_daemon(void)
{
    if (D.pid > 0) abe_it_stop(&D, 30);
    char *log = abe_it_read_log(&D);
    const char *bad = NULL;
    if (log) {
        const char *marks[] = {"AddressSanitizer", "LeakSanitizer", "runtime error:"};
        for (size_t i = 0; i < 3 && !bad; i++)
            bad = strstr(log, marks[i]);
        if (bad) fprintf(stderr, "sanitizer report in the daemon log:\n%.4000s\n", bad);
    }
    free(log);
    abe_it_cleanup(&D);
    cr_assert_null(bad, "the daemon reported a sanitizer error");
}

TestSuite(workflows, .init = start_default, .fini = stop_daemon, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------------------- */

static void msleep(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

/* Compact serialisation of v (for exact-shape comparisons); caller frees. */
static char *dump(json_t *v)
{
    return json_dumps(v, JSON_COMPACT | JSON_PRESERVE_ORDER | JSON_ENCODE_ANY);
}

/* The keys of object o joined by ',' into buf (insertion order). */
static const char *keys_of(json_t *o, char *buf, size_t len)
{
    buf[0] = '\0';
    const char *k;
    json_t *v;
    size_t used = 0;
    json_object_foreach(o, k, v)
    {
        int n = snprintf(buf + used, len - used, "%s%s", used ? "," : "", k);
        if (n < 0 || (size_t)n >= len - used) break;
        used += (size_t)n;
    }
    return buf;
}

static const char *str(json_t *o, const char *key)
{
    json_t *v = json_object_get(o, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

static long long num(json_t *o, const char *key)
{
    return (long long)json_integer_value(json_object_get(o, key));
}

/* POST /api/v1/workflows with body; asserts 200 and returns the id (static buffer per call slot). */
static char *create_wf(const char *body)
{
    abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/workflows", body);
    cr_assert_eq(r.status, 200, "create failed: %ld %s", r.status, r.body);
    char *id = strdup(str(r.json, "id"));
    abe_it_resp_free(&r);
    return id;
}

static char *execute(const char *wf)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/workflows/%s/execute", wf);
    abe_it_resp_t r = abe_it_post_json(&D, path, NULL);
    cr_assert_eq(r.status, 200, "execute failed: %ld %s", r.status, r.body);
    char *id = strdup(str(r.json, "execution_id"));
    abe_it_resp_free(&r);
    return id;
}

/* GET the execution; returns the whole body (new reference) or NULL when not 200. */
static json_t *get_exec(const char *id, long *status)
{
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/workflows/executions/%s", id);
    abe_it_resp_t r = abe_it_get(&D, path);
    if (status) *status = r.status;
    json_t *j = r.status == 200 && r.json ? json_incref(r.json) : NULL;
    abe_it_resp_free(&r);
    return j;
}

/* Poll until the execution is success/failed (timeout_ms); returns the body (new reference). */
static json_t *wait_done(const char *id, int timeout_ms)
{
    for (int waited = 0; waited <= timeout_ms; waited += 25) {
        json_t *j = get_exec(id, NULL);
        if (j) {
            const char *st = str(json_object_get(j, "execution"), "status");
            if (st && (strcmp(st, "success") == 0 || strcmp(st, "failed") == 0)) return j;
            json_decref(j);
        }
        msleep(25);
    }
    char *log = abe_it_read_log(&D);
    size_t len = log ? strlen(log) : 0;
    fprintf(stderr, "daemon log (tail):\n%s\n", log ? log + (len > 6000 ? len - 6000 : 0) : "");
    free(log);
    cr_assert_fail("execution %s did not finish within %d ms", id, timeout_ms);
    return NULL;
}

/* The ExecutionStep named name in body["steps"]. */
static json_t *step_of(json_t *body, const char *name)
{
    size_t i;
    json_t *s;
    json_array_foreach(json_object_get(body, "steps"), i, s) if (strcmp(str(s, "name"), name) == 0) return s;
    cr_assert_fail("no step %s", name);
    return NULL;
}

/* Timestamps sort lexically (SPEC §9.1). */
static int ts_le(const char *a, const char *b)
{
    return a && b && strcmp(a, b) <= 0;
}
static int ts_lt(const char *a, const char *b)
{
    return a && b && strcmp(a, b) < 0;
}

static void expect_error(abe_it_resp_t *r, long status, const char *detail)
{
    cr_assert_eq(r->status, status, "expected %ld, got %ld: %s", status, r->status, r->body);
    cr_assert_str_eq(str(r->json, "detail"), detail);
    cr_assert_not_null(str(r->json, "correlation_id"));
}

/* Expect a 422 whose detail serialises exactly to issues_json. */
static void expect_issues(abe_it_resp_t *r, const char *issues_json)
{
    cr_assert_eq(r->status, 422, "expected 422, got %ld: %s", r->status, r->body);
    char *d = dump(json_object_get(r->json, "detail"));
    cr_assert_str_eq(d, issues_json);
    free(d);
}

/* ---- lifecycle ----------------------------------------------------------------------------------- */

Test(workflows, full_lifecycle_sequential)
{
    abe_it_resp_t r = abe_it_post_json(
        &D, "/api/v1/workflows",
        "{\"name\":\"Pipeline "
        "é\",\"description\":\"d\",\"steps\":[{\"name\":\"fetch\",\"agent_id\":\"agent-research\","
        "\"parameters\":{\"depth\":1,\"nested\":{\"x\":[1,2]}},\"duration_ms\":60},{\"name\":\"sum\","
        "\"depends_on\":"
        "[\"fetch\",\"fetch\"],\"type\":\"t\",\"description\":\"s\",\"duration_ms\":60.0},{\"name\":\"out\","
        "\"depends_on\":[\"sum\"],\"duration_ms\":0}]}");
    char keys[256];
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(keys_of(r.json, keys, sizeof(keys)), "id,workflow_id,status");
    cr_assert_str_eq(str(r.json, "id"), str(r.json, "workflow_id"));
    cr_assert_str_eq(str(r.json, "status"), "created");
    char *wf = strdup(str(r.json, "id"));
    abe_it_resp_free(&r);

    char path[256];
    snprintf(path, sizeof(path), "/api/v1/workflows/%s", wf);
    r = abe_it_get(&D, path);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(keys_of(r.json, keys, sizeof(keys)),
                     "id,name,description,steps,parallel_execution,status,created_at");
    cr_assert_str_eq(str(r.json, "name"), "Pipeline é");
    json_t *steps = json_object_get(r.json, "steps");
    cr_assert_eq(json_array_size(steps), 3);
    char *s0 = dump(json_array_get(steps, 0));
    cr_assert_str_eq(
        s0, "{\"name\":\"fetch\",\"agent_id\":\"agent-research\",\"parameters\":{\"depth\":1,\"nested\":"
            "{\"x\":[1,2]}},\"depends_on\":[],\"fail\":false,\"type\":null,\"description\":null,"
            "\"duration_ms\":60}");
    free(s0);
    char *s1 = dump(json_array_get(steps, 1));
    cr_assert_str_eq(
        s1,
        "{\"name\":\"sum\",\"agent_id\":null,\"parameters\":{},\"depends_on\":[\"fetch\",\"fetch\"],"
        "\"fail\":false,\"type\":\"t\",\"description\":\"s\",\"duration_ms\":60}",
        "depends_on kept as sent, integral real stored as an integer");
    free(s1);
    cr_assert(json_is_false(json_object_get(r.json, "parallel_execution")));
    abe_it_resp_free(&r);

    r = abe_it_get(&D, "/api/v1/workflows");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(keys_of(r.json, keys, sizeof(keys)), "workflows,total,limit,offset,timestamp");
    cr_assert_eq(num(r.json, "total"), 1);
    cr_assert_eq(num(r.json, "limit"), 100);
    json_t *summary = json_array_get(json_object_get(r.json, "workflows"), 0);
    cr_assert_str_eq(keys_of(summary, keys, sizeof(keys)),
                     "id,name,description,parallel_execution,status,created_at,step_count");
    cr_assert_eq(num(summary, "step_count"), 3);
    abe_it_resp_free(&r);

    snprintf(path, sizeof(path), "/api/v1/workflows/%s/execute", wf);
    r = abe_it_post_json(&D, path, "ignored body");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(keys_of(r.json, keys, sizeof(keys)), "execution_id,status");
    cr_assert_str_eq(str(r.json, "status"), "started");
    char *ex = strdup(str(r.json, "execution_id"));
    abe_it_resp_free(&r);

    /* Read-your-write: the execution exists right after the response, on any worker. */
    long st;
    json_t *early = get_exec(ex, &st);
    cr_assert_eq(st, 200);
    json_t *e = json_object_get(early, "execution");
    cr_assert(strcmp(str(e, "status"), "pending") == 0 || strcmp(str(e, "status"), "running") == 0);
    cr_assert_eq(num(e, "total_steps"), 3);
    json_decref(early);

    json_t *done = wait_done(ex, 10000);
    e = json_object_get(done, "execution");
    cr_assert_str_eq(keys_of(e, keys, sizeof(keys)),
                     "execution_id,workflow_id,status,created_at,started_at,completed_at,steps_completed,"
                     "total_steps,step_order,replay_of,replay_mode,input_snapshot,error");
    cr_assert_str_eq(str(e, "status"), "success");
    cr_assert(json_is_null(json_object_get(e, "error")));
    cr_assert_eq(num(e, "steps_completed"), 3);
    char *order = dump(json_object_get(e, "step_order"));
    cr_assert_str_eq(order, "[\"fetch\",\"sum\",\"out\"]");
    free(order);
    json_t *snap = json_object_get(e, "input_snapshot");
    cr_assert_str_eq(keys_of(snap, keys, sizeof(keys)), "workflow_id,parallel_execution,steps");
    cr_assert_str_eq(str(snap, "workflow_id"), wf);
    cr_assert_eq(json_array_size(json_object_get(snap, "steps")), 3);
    json_t *fetch = step_of(done, "fetch"), *sum = step_of(done, "sum"), *out = step_of(done, "out");
    cr_assert_str_eq(keys_of(fetch, keys, sizeof(keys)),
                     "name,step_name,status,started_at,completed_at,duration_ms,error,attempts,carried_over");
    cr_assert_str_eq(str(fetch, "status"), "success");
    cr_assert_eq(num(fetch, "attempts"), 1);
    cr_assert_geq(json_number_value(json_object_get(fetch, "duration_ms")), 59.0);
    cr_assert(ts_le(str(e, "started_at"), str(fetch, "started_at")));
    cr_assert(ts_le(str(fetch, "completed_at"), str(sum, "started_at")), "sequential order");
    cr_assert(ts_le(str(sum, "completed_at"), str(out, "started_at")));
    cr_assert(ts_le(str(out, "completed_at"), str(e, "completed_at")));
    cr_assert_eq(num(out, "attempts"), 1, "a 0 ms step still runs");
    cr_assert_lt(json_number_value(json_object_get(out, "duration_ms")), 1000.0);
    json_decref(done);

    /* Lists: per workflow, global, filters; summaries have no input_snapshot. */
    snprintf(path, sizeof(path), "/api/v1/workflows/%s/executions", wf);
    r = abe_it_get(&D, path);
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(keys_of(r.json, keys, sizeof(keys)), "items,total,limit,offset");
    cr_assert_eq(num(r.json, "total"), 1);
    cr_assert_eq(num(r.json, "limit"), 50);
    cr_assert_null(json_object_get(json_array_get(json_object_get(r.json, "items"), 0), "input_snapshot"));
    abe_it_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/workflows/executions?status=success&workflow_id=%s", wf);
    r = abe_it_get(&D, path);
    cr_assert_eq(num(r.json, "total"), 1);
    abe_it_resp_free(&r);
    r = abe_it_get(&D, "/api/v1/workflows/executions?status=failed");
    cr_assert_eq(num(r.json, "total"), 0);
    abe_it_resp_free(&r);
    r = abe_it_get(&D, "/api/v1/workflows/executions?workflow_id=unknown");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(num(r.json, "total"), 0);
    abe_it_resp_free(&r);
    r = abe_it_get(&D, "/api/v1/workflows/executions/unknown-id");
    expect_error(&r, 404, "Execution not found");
    abe_it_resp_free(&r);
    free(ex);
    free(wf);
}

Test(workflows, empty_workflow_runs_straight_to_success)
{
    char *wf = create_wf("{\"name\":\"empty\",\"steps\":[]}");
    char *ex = execute(wf);
    json_t *done = wait_done(ex, 5000);
    json_t *e = json_object_get(done, "execution");
    cr_assert_str_eq(str(e, "status"), "success");
    cr_assert_eq(num(e, "total_steps"), 0);
    cr_assert_str_eq(str(e, "started_at"), str(e, "completed_at"));
    cr_assert_eq(json_array_size(json_object_get(done, "steps")), 0);
    json_decref(done);
    free(ex);
    free(wf);
}

/* ---- scheduling ---------------------------------------------------------------------------------- */

static const char *DIAMOND = "{\"name\":\"diamond\",\"parallel_execution\":%s,\"steps\":["
                             "{\"name\":\"a\",\"duration_ms\":50},"
                             "{\"name\":\"b\",\"depends_on\":[\"a\"],\"duration_ms\":300},"
                             "{\"name\":\"c\",\"depends_on\":[\"a\"],\"duration_ms\":300},"
                             "{\"name\":\"d\",\"depends_on\":[\"b\",\"c\"],\"duration_ms\":50}]}";

Test(workflows, parallel_diamond_overlaps)
{
    char body[512];
    snprintf(body, sizeof(body), DIAMOND, "true");
    char *wf = create_wf(body);
    char *ex = execute(wf);
    json_t *done = wait_done(ex, 10000);
    cr_assert_str_eq(str(json_object_get(done, "execution"), "status"), "success");
    json_t *a = step_of(done, "a"), *b = step_of(done, "b"), *c = step_of(done, "c"), *d = step_of(done, "d");
    cr_assert(ts_le(str(a, "completed_at"), str(b, "started_at")));
    cr_assert(ts_le(str(a, "completed_at"), str(c, "started_at")));
    cr_assert(ts_lt(str(b, "started_at"), str(c, "completed_at")), "b and c overlap");
    cr_assert(ts_lt(str(c, "started_at"), str(b, "completed_at")), "b and c overlap");
    cr_assert(ts_le(str(b, "completed_at"), str(d, "started_at")));
    cr_assert(ts_le(str(c, "completed_at"), str(d, "started_at")));
    json_decref(done);
    free(ex);
    free(wf);
}

Test(workflows, sequential_diamond_never_overlaps)
{
    char body[512];
    snprintf(body, sizeof(body), DIAMOND, "false");
    char *wf = create_wf(body);
    char *ex = execute(wf);
    json_t *done = wait_done(ex, 10000);
    json_t *b = step_of(done, "b"), *c = step_of(done, "c");
    cr_assert(ts_le(str(b, "completed_at"), str(c, "started_at")), "c starts after b in step_order");
    json_decref(done);
    free(ex);
    free(wf);
}

Test(workflows, failure_skips_descendants_keeps_independent_branch)
{
    char *wf = create_wf("{\"name\":\"f\",\"parallel_execution\":true,\"steps\":["
                         "{\"name\":\"a\",\"fail\":true,\"duration_ms\":50},"
                         "{\"name\":\"b\",\"depends_on\":[\"a\"],\"duration_ms\":50},"
                         "{\"name\":\"c\",\"depends_on\":[\"b\"],\"duration_ms\":50},"
                         "{\"name\":\"x\",\"duration_ms\":200},"
                         "{\"name\":\"y\",\"depends_on\":[\"x\"],\"duration_ms\":50}]}");
    char *ex = execute(wf);
    json_t *done = wait_done(ex, 10000);
    json_t *e = json_object_get(done, "execution");
    cr_assert_str_eq(str(e, "status"), "failed");
    cr_assert_str_eq(str(e, "error"), "Step 'a' failed");
    cr_assert_eq(num(e, "steps_completed"), 3, "a failed + x, y success; skipped steps do not count");
    json_t *a = step_of(done, "a");
    cr_assert_str_eq(str(a, "status"), "failed");
    cr_assert_str_eq(str(a, "error"), "Simulated step failure");
    cr_assert_not_null(str(a, "completed_at"));
    const char *skipped[] = {"b", "c"};
    for (int i = 0; i < 2; i++) {
        json_t *s = step_of(done, skipped[i]);
        cr_assert_str_eq(str(s, "status"), "skipped");
        cr_assert_str_eq(str(s, "error"), "Skipped because step 'a' failed");
        cr_assert_eq(num(s, "attempts"), 0);
        cr_assert(json_is_null(json_object_get(s, "started_at")));
        cr_assert_not_null(str(s, "completed_at"));
    }
    cr_assert_str_eq(str(step_of(done, "x"), "status"), "success");
    cr_assert_str_eq(str(step_of(done, "y"), "status"), "success");
    json_decref(done);
    free(ex);
    free(wf);
}

/* ---- replay -------------------------------------------------------------------------------------- */

static char *replay(const char *id, const char *mode, long expect_status)
{
    char path[256];
    if (mode)
        snprintf(path, sizeof(path), "/api/v1/workflows/executions/%s/replay?mode=%s", id, mode);
    else
        snprintf(path, sizeof(path), "/api/v1/workflows/executions/%s/replay", id);
    abe_it_resp_t r = abe_it_post_json(&D, path, NULL);
    cr_assert_eq(r.status, expect_status, "replay: %ld %s", r.status, r.body);
    char *out = NULL;
    if (r.status == 200) {
        char keys[128];
        cr_assert_str_eq(keys_of(r.json, keys, sizeof(keys)), "execution_id,status,replay_of,replay_mode");
        cr_assert_str_eq(str(r.json, "status"), "started");
        cr_assert_str_eq(str(r.json, "replay_of"), id);
        cr_assert_str_eq(str(r.json, "replay_mode"), mode ? mode : "full");
        out = strdup(str(r.json, "execution_id"));
    }
    abe_it_resp_free(&r);
    return out;
}

Test(workflows, replay_errors_lineage_and_after_delete)
{
    abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/workflows/executions/nope/replay", NULL);
    expect_error(&r, 404, "Execution not found");
    abe_it_resp_free(&r);
    r = abe_it_post_json(&D, "/api/v1/workflows/executions/nope/replay?mode=partial", NULL);
    expect_issues(&r, "[{\"loc\":[\"query\",\"mode\"],\"msg\":\"Input should be 'full' or 'failed'\","
                      "\"type\":\"enum\"}]");
    abe_it_resp_free(&r);

    char *slow = create_wf("{\"name\":\"slow\",\"steps\":[{\"name\":\"s\",\"duration_ms\":1500}]}");
    char *running = execute(slow);
    free(replay(running, "failed", 409));
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/workflows/executions/%s/replay", running);
    r = abe_it_post_json(&D, path, NULL);
    expect_error(&r, 409, "Execution not yet complete; cannot replay");
    abe_it_resp_free(&r);

    char *wf = create_wf("{\"name\":\"r\",\"steps\":[{\"name\":\"a\",\"duration_ms\":20},"
                         "{\"name\":\"b\",\"depends_on\":[\"a\"],\"duration_ms\":20}]}");
    char *e1 = execute(wf);
    json_decref(wait_done(e1, 10000));
    char *e2 = replay(e1, NULL, 200);
    json_t *d2 = wait_done(e2, 10000);
    json_t *x2 = json_object_get(d2, "execution");
    cr_assert_str_eq(str(x2, "status"), "success");
    cr_assert_str_eq(str(x2, "replay_of"), e1);
    cr_assert_str_eq(str(x2, "replay_mode"), "full");
    cr_assert_str_eq(str(x2, "workflow_id"), wf);
    cr_assert_eq(num(step_of(d2, "a"), "attempts"), 1);
    cr_assert(json_is_false(json_object_get(step_of(d2, "a"), "carried_over")));
    json_decref(d2);

    /* Delete the definition; executions stay readable and replayable. */
    snprintf(path, sizeof(path), "/api/v1/workflows/%s", wf);
    r = abe_it_delete(&D, path);
    cr_assert_eq(r.status, 204, "%s", r.body);
    abe_it_resp_free(&r);
    char *e3 = replay(e2, "full", 200);
    json_t *d3 = wait_done(e3, 10000);
    cr_assert_str_eq(str(json_object_get(d3, "execution"), "replay_of"), e2,
                     "replay_of names the direct source");
    cr_assert_str_eq(str(json_object_get(d3, "execution"), "status"), "success");
    json_decref(d3);
    snprintf(path, sizeof(path), "/api/v1/workflows/executions?workflow_id=%s", wf);
    r = abe_it_get(&D, path);
    cr_assert_eq(num(r.json, "total"), 3, "e1, e2, e3 still listed by workflow_id");
    cr_assert_str_eq(str(json_array_get(json_object_get(r.json, "items"), 0), "execution_id"), e3,
                     "newest first");
    abe_it_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/workflows/%s/executions", wf);
    r = abe_it_get(&D, path);
    expect_error(&r, 404, "Workflow not found");
    abe_it_resp_free(&r);
    snprintf(path, sizeof(path), "/api/v1/workflows/%s/execute", wf);
    r = abe_it_post_json(&D, path, NULL);
    expect_error(&r, 404, "Workflow not found");
    abe_it_resp_free(&r);
    free(e1);
    free(e2);
    free(e3);
    free(wf);
    free(running);
    free(slow);
}

Test(workflows, replay_failed_mode_carries_successes)
{
    char *wf = create_wf("{\"name\":\"worked\",\"steps\":[{\"name\":\"a\",\"duration_ms\":50},"
                         "{\"name\":\"b\",\"depends_on\":[\"a\"],\"fail\":true,\"duration_ms\":50},"
                         "{\"name\":\"c\",\"depends_on\":[\"a\"],\"duration_ms\":80},"
                         "{\"name\":\"d\",\"depends_on\":[\"b\",\"c\"],\"duration_ms\":50}]}");
    char *e1 = execute(wf);
    json_t *src = wait_done(e1, 10000);
    cr_assert_str_eq(str(json_object_get(src, "execution"), "error"), "Step 'b' failed");
    cr_assert_eq(num(json_object_get(src, "execution"), "steps_completed"), 3);
    char *e2 = replay(e1, "failed", 200);
    json_t *rep = wait_done(e2, 10000);
    json_t *x = json_object_get(rep, "execution");
    cr_assert_str_eq(str(x, "replay_mode"), "failed");
    cr_assert_str_eq(str(x, "status"), "failed", "b still fails");
    const char *carried[] = {"a", "c"};
    for (int i = 0; i < 2; i++) {
        json_t *s = step_of(rep, carried[i]), *o = step_of(src, carried[i]);
        cr_assert_str_eq(str(s, "status"), "success");
        cr_assert(json_is_true(json_object_get(s, "carried_over")));
        cr_assert_eq(num(s, "attempts"), 0);
        cr_assert_str_eq(str(s, "started_at"), str(o, "started_at"));
        cr_assert_str_eq(str(s, "completed_at"), str(o, "completed_at"));
        cr_assert_float_eq(json_number_value(json_object_get(s, "duration_ms")),
                           json_number_value(json_object_get(o, "duration_ms")), 1e-9);
    }
    json_t *b = step_of(rep, "b");
    cr_assert_eq(num(b, "attempts"), 1, "b ran again");
    cr_assert(json_is_false(json_object_get(b, "carried_over")));
    cr_assert(ts_lt(str(step_of(src, "b"), "started_at"), str(b, "started_at")));
    cr_assert_str_eq(str(step_of(rep, "d"), "status"), "skipped");
    cr_assert_eq(num(x, "steps_completed"), 3);
    json_decref(rep);
    json_decref(src);

    /* A failed-mode replay of a source without failures completes at once as success. */
    char *ok = create_wf("{\"name\":\"ok\",\"steps\":[{\"name\":\"a\",\"duration_ms\":10},{\"name\":\"b\","
                         "\"duration_ms\":10}]}");
    char *e3 = execute(ok);
    json_decref(wait_done(e3, 10000));
    char *e4 = replay(e3, "failed", 200);
    json_t *d4 = wait_done(e4, 5000);
    cr_assert_str_eq(str(json_object_get(d4, "execution"), "status"), "success");
    cr_assert_eq(num(json_object_get(d4, "execution"), "steps_completed"), 2);
    cr_assert(json_is_true(json_object_get(step_of(d4, "b"), "carried_over")));
    json_decref(d4);
    free(e1);
    free(e2);
    free(e3);
    free(e4);
    free(ok);
    free(wf);
}

/* ---- validation ---------------------------------------------------------------------------------- */

Test(workflows, create_validation_issues_in_schema_order)
{
    abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/workflows", "{\"steps\":[{}]}");
    expect_issues(
        &r, "[{\"loc\":[\"body\",\"name\"],\"msg\":\"Field required\",\"type\":\"missing\"},"
            "{\"loc\":[\"body\",\"steps\",0,\"name\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
    abe_it_resp_free(&r);

    r = abe_it_post_json(
        &D, "/api/v1/workflows",
        "{\"parallel_execution\":\"no\",\"steps\":[7,{\"duration_ms\":600001,\"description\":null,"
        "\"type\":[],\"fail\":1,\"depends_on\":[\"\",5],\"parameters\":{\"k\\u0000\":1},"
        "\"agent_id\":3,\"name\":\"a\"}],\"description\":5,\"name\":\"\"}");
    expect_issues(
        &r,
        "[{\"loc\":[\"body\",\"name\"],\"msg\":\"String should have at least 1 character\",\"type\":"
        "\"string_too_short\"},{\"loc\":[\"body\",\"description\"],\"msg\":\"Input should be a valid "
        "string\","
        "\"type\":\"string_type\"},{\"loc\":[\"body\",\"steps\",0],\"msg\":\"Input should be a valid "
        "dictionary\","
        "\"type\":\"dict_type\"},{\"loc\":[\"body\",\"steps\",1,\"agent_id\"],\"msg\":\"Input should be a "
        "valid "
        "string\",\"type\":\"string_type\"},{\"loc\":[\"body\",\"steps\",1,\"parameters\"],\"msg\":\"Value "
        "error, "
        "NUL characters are not "
        "allowed\",\"type\":\"value_error\"},{\"loc\":[\"body\",\"steps\",1,\"depends_on\","
        "0],\"msg\":\"String should have at least 1 "
        "character\",\"type\":\"string_too_short\"},{\"loc\":[\"body\","
        "\"steps\",1,\"depends_on\",1],\"msg\":\"Input should be a valid string\",\"type\":\"string_type\"},"
        "{\"loc\":[\"body\",\"steps\",1,\"fail\"],\"msg\":\"Input should be a valid boolean\",\"type\":"
        "\"bool_type\"},{\"loc\":[\"body\",\"steps\",1,\"type\"],\"msg\":\"Input should be a valid string\","
        "\"type\":\"string_type\"},{\"loc\":[\"body\",\"steps\",1,\"duration_ms\"],\"msg\":\"Input should be "
        "less "
        "than or equal to 600000\",\"type\":\"less_than_equal\"},{\"loc\":[\"body\",\"parallel_execution\"],"
        "\"msg\":\"Input should be a valid boolean\",\"type\":\"bool_type\"}]");
    abe_it_resp_free(&r);

    r = abe_it_post_json(&D, "/api/v1/workflows", "{\"name\":\"x\",\"steps\":null}");
    expect_issues(&r, "[{\"loc\":[\"body\",\"steps\"],\"msg\":\"Input should be a valid list\",\"type\":"
                      "\"list_type\"}]");
    abe_it_resp_free(&r);
    r = abe_it_post_json(
        &D, "/api/v1/workflows",
        "{\"name\":\"x\",\"steps\":[{\"name\":\"a\",\"duration_ms\":-1,\"parameters\":[]}]}");
    expect_issues(
        &r, "[{\"loc\":[\"body\",\"steps\",0,\"parameters\"],\"msg\":\"Input should be a valid "
            "dictionary\",\"type\":\"dict_type\"},{\"loc\":[\"body\",\"steps\",0,\"duration_ms\"],\"msg\":"
            "\"Input should be greater than or equal to 0\",\"type\":\"greater_than_equal\"}]");
    abe_it_resp_free(&r);

    /* 501 steps: too_long. */
    size_t cap = 64 + 501 * 16;
    char *big = malloc(cap);
    size_t n = (size_t)snprintf(big, cap, "{\"name\":\"x\",\"steps\":[");
    for (int i = 0; i < 501; i++)
        n += (size_t)snprintf(big + n, cap - n, "%s{\"name\":\"s%d\"}", i ? "," : "", i);
    snprintf(big + n, cap - n, "]}");
    r = abe_it_post_json(&D, "/api/v1/workflows", big);
    expect_issues(&r, "[{\"loc\":[\"body\",\"steps\"],\"msg\":\"List should have at most 500 items after "
                      "validation, not 501\",\"type\":\"too_long\"}]");
    abe_it_resp_free(&r);
    free(big);

    /* Nothing was stored. */
    r = abe_it_get(&D, "/api/v1/workflows");
    cr_assert_eq(num(r.json, "total"), 0);
    abe_it_resp_free(&r);
}

Test(workflows, dag_errors_are_400)
{
    struct {
        const char *body, *detail;
    } cases[] = {
        {"{\"name\":\"x\",\"steps\":[{\"name\":\"a\",\"depends_on\":[\"zz\"]},{\"name\":\"a\"}]}",
         "Duplicate step name 'a'"},
        {"{\"name\":\"x\",\"steps\":[{\"name\":\"a\"},{\"name\":\"b\",\"depends_on\":[\"a\",\"q\",\"r\"]}]}",
         "Step 'b' depends on unknown step 'q'"},
        {"{\"name\":\"x\",\"steps\":[{\"name\":\"a\",\"depends_on\":[\"b\"]},{\"name\":\"b\",\"depends_on\":"
         "[\"a\"]}]}",
         "Cycle detected in workflow steps"},
        {"{\"name\":\"x\",\"steps\":[{\"name\":\"a\",\"depends_on\":[\"a\"]}]}",
         "Cycle detected in workflow steps"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/workflows", cases[i].body);
        expect_error(&r, 400, cases[i].detail);
        abe_it_resp_free(&r);
    }
    abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/workflows/nope/execute", NULL);
    expect_error(&r, 404, "Workflow not found");
    abe_it_resp_free(&r);
    r = abe_it_get(&D, "/api/v1/workflows/nope");
    expect_error(&r, 404, "Workflow not found");
    abe_it_resp_free(&r);
}

Test(workflows, pagination_and_query_422s)
{
    char *wf = create_wf("{\"name\":\"p\",\"steps\":[{\"name\":\"a\",\"duration_ms\":0}]}");
    char *ids[4];
    for (int i = 0; i < 4; i++)
        ids[i] = execute(wf);
    for (int i = 0; i < 4; i++)
        json_decref(wait_done(ids[i], 10000));

    abe_it_resp_t r = abe_it_get(&D, "/api/v1/workflows/executions?limit=2&offset=1");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(num(r.json, "total"), 4);
    cr_assert_eq(num(r.json, "limit"), 2);
    cr_assert_eq(num(r.json, "offset"), 1);
    json_t *items = json_object_get(r.json, "items");
    cr_assert_eq(json_array_size(items), 2);
    cr_assert_str_eq(str(json_array_get(items, 0), "execution_id"), ids[2], "newest first");
    cr_assert_str_eq(str(json_array_get(items, 1), "execution_id"), ids[1]);
    abe_it_resp_free(&r);
    r = abe_it_get(&D, "/api/v1/workflows/executions?offset=10");
    cr_assert_eq(num(r.json, "total"), 4);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 0);
    abe_it_resp_free(&r);

    r = abe_it_get(&D, "/api/v1/workflows/executions?limit=0&offset=-1&status=done");
    expect_issues(
        &r, "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"Input should be greater than or equal to 1\","
            "\"type\":\"greater_than_equal\"},{\"loc\":[\"query\",\"offset\"],\"msg\":\"Input should be "
            "greater than or equal to 0\",\"type\":\"greater_than_equal\"},{\"loc\":[\"query\",\"status\"],"
            "\"msg\":\"Input should be 'pending', 'running', 'success' or 'failed'\",\"type\":\"enum\"}]");
    abe_it_resp_free(&r);
    r = abe_it_get(&D, "/api/v1/workflows/executions?limit=501");
    expect_issues(&r, "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"Input should be less than or equal to 500\","
                      "\"type\":\"less_than_equal\"}]");
    abe_it_resp_free(&r);
    r = abe_it_get(&D, "/api/v1/workflows?limit=abc");
    expect_issues(
        &r, "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"Input should be a valid integer, unable to parse "
            "string as an integer\",\"type\":\"int_parsing\"}]");
    abe_it_resp_free(&r);
    r = abe_it_get(&D, "/api/v1/workflows/nope/executions?status=x");
    cr_assert_eq(r.status, 422, "validation comes before the 404");
    abe_it_resp_free(&r);
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/workflows/%s/executions?limit=1&status=success", wf);
    r = abe_it_get(&D, path);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(num(r.json, "total"), 4);
    cr_assert_eq(json_array_size(json_object_get(r.json, "items")), 1);
    abe_it_resp_free(&r);

    free(create_wf("{\"name\":\"p2\",\"steps\":[]}"));
    r = abe_it_get(&D, "/api/v1/workflows?limit=1&offset=1");
    cr_assert_eq(num(r.json, "total"), 2);
    cr_assert_str_eq(str(json_array_get(json_object_get(r.json, "workflows"), 0), "name"), "p");
    abe_it_resp_free(&r);
    for (int i = 0; i < 4; i++)
        free(ids[i]);
    free(wf);
}

Test(workflows, delete_204_404_409)
{
    char *wf = create_wf("{\"name\":\"del\",\"steps\":[{\"name\":\"a\",\"duration_ms\":800}]}");
    char *ex = execute(wf);
    char path[256];
    snprintf(path, sizeof(path), "/api/v1/workflows/%s", wf);
    abe_it_resp_t r = abe_it_delete(&D, path);
    expect_error(&r, 409, "Workflow has a pending or running execution; cannot delete");
    abe_it_resp_free(&r);
    json_decref(wait_done(ex, 10000));
    r = abe_it_delete(&D, path);
    cr_assert_eq(r.status, 204);
    cr_assert_eq(r.len, 0);
    abe_it_resp_free(&r);
    r = abe_it_delete(&D, path);
    expect_error(&r, 404, "Workflow not found");
    abe_it_resp_free(&r);
    r = abe_it_get(&D, path);
    expect_error(&r, 404, "Workflow not found");
    abe_it_resp_free(&r);
    long st;
    json_t *still = get_exec(ex, &st);
    cr_assert_eq(st, 200, "executions outlive their definition");
    json_decref(still);
    free(ex);
    free(wf);
}

/* ---- retention and purge ------------------------------------------------------------------------- */

static void start_retention(void)
{
    const char *env[] = {"WORKFLOW_EXECUTION_RETENTION=3", NULL};
    cr_assert_eq(abe_it_start(&D, env), 0, "daemon did not start");
}

TestSuite(workflow_retention, .init = start_retention, .fini = stop_daemon, .timeout = 120);

Test(workflow_retention, keeps_newest_finished)
{
    char *slow = create_wf("{\"name\":\"slow\",\"steps\":[{\"name\":\"s\",\"duration_ms\":1500}]}");
    char *running = execute(slow);
    char *wf = create_wf("{\"name\":\"quick\",\"steps\":[{\"name\":\"a\",\"duration_ms\":0}]}");
    char *ids[5];
    for (int i = 0; i < 5; i++) {
        ids[i] = execute(wf);
        json_decref(wait_done(ids[i], 10000));
    }
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/workflows/executions");
    cr_assert_eq(num(r.json, "total"), 4, "3 finished + the running one: %s", r.body);
    abe_it_resp_free(&r);
    long st;
    for (int i = 0; i < 2; i++) {
        json_t *j = get_exec(ids[i], &st);
        cr_assert_eq(st, 404, "oldest finished executions are pruned");
        json_decref(j);
    }
    json_t *j = get_exec(running, &st);
    cr_assert_eq(st, 200, "running executions are never pruned");
    json_decref(j);
    /* When it finishes it is the oldest finished execution (by created_at), so its own finish prunes it. */
    for (int waited = 0; waited < 10000; waited += 25) {
        j = get_exec(running, &st);
        json_decref(j);
        if (st == 404) break;
        msleep(25);
    }
    cr_assert_eq(st, 404, "the slow execution was pruned by its own finish");
    r = abe_it_get(&D, "/api/v1/workflows/executions");
    cr_assert_eq(num(r.json, "total"), 3);
    abe_it_resp_free(&r);
    for (int i = 2; i < 5; i++) {
        j = get_exec(ids[i], &st);
        cr_assert_eq(st, 200, "the newest three are kept");
        json_decref(j);
    }
    for (int i = 0; i < 5; i++)
        free(ids[i]);
    free(running);
    free(slow);
    free(wf);
}

/* Run `advanced-backend purge-executions <arg>` with DB_PATH/CONTROL_SOCKET of db_path's dir; returns the
 * exit code and the first stdout line in out. */
static int run_purge(const char *db_path, const char *arg, char *out, size_t outlen)
{
    char dir[512];
    snprintf(dir, sizeof(dir), "%s", db_path);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = '\0';
    char cmd[2048];
    snprintf(cmd, sizeof(cmd),
             "env DB_PATH='%s' CONTROL_SOCKET='%s/advanced-backend.sock' '%s' purge-executions %s --config "
             "'%s/conf/advanced-backend.yaml' 2>/dev/null",
             db_path, dir, ABE_BINARY, arg ? arg : "", ABE_SOURCE_DIR);
    FILE *p = popen(cmd, "r");
    cr_assert_not_null(p);
    out[0] = '\0';
    if (!fgets(out, (int)outlen, p)) out[0] = '\0';
    char sink[256];
    while (fgets(sink, sizeof(sink), p)) {
    }
    out[strcspn(out, "\n")] = '\0';
    int status = pclose(p);
    return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
}

Test(workflows, purge_cli_with_daemon_up_and_down)
{
    char *wf = create_wf("{\"name\":\"purge\",\"steps\":[{\"name\":\"a\",\"duration_ms\":0}]}");
    char *ids[6];
    for (int i = 0; i < 6; i++) {
        ids[i] = execute(wf);
        json_decref(wait_done(ids[i], 10000));
    }
    char out[256];
    cr_assert_eq(run_purge(D.db_path, "4", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Purged 2 old workflow executions (retention=4)");
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/workflows/executions");
    cr_assert_eq(num(r.json, "total"), 4, "the daemon did the purge");
    abe_it_resp_free(&r);
    cr_assert_eq(run_purge(D.db_path, "abc", out, sizeof(out)), 2);
    cr_assert_str_eq(out, "Invalid retention value abc");
    cr_assert_eq(run_purge(D.db_path, "0", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Retention <= 0 (purge disabled). Nothing to do.");
    cr_assert_eq(run_purge(D.db_path, "-2", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Retention <= 0 (purge disabled). Nothing to do.");

    /* Daemon down: the CLI opens the DB itself. */
    cr_assert_eq(abe_it_stop(&D, 30), 0);
    cr_assert_eq(run_purge(D.db_path, "1", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Purged 3 old workflow executions (retention=1)");
    cr_assert_eq(run_purge(D.db_path, "1", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Purged 0 old workflow executions (retention=1)");
    cr_assert_eq(run_purge("/nonexistent-abe-dir/platform.db", "1", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "Repository not available (DB path missing or initialization failed)");
    cr_assert_eq(abe_it_restart(&D, NULL), 0);
    r = abe_it_get(&D, "/api/v1/workflows/executions");
    cr_assert_eq(num(r.json, "total"), 1);
    cr_assert_str_eq(str(json_array_get(json_object_get(r.json, "items"), 0), "execution_id"), ids[5],
                     "the newest is kept");
    abe_it_resp_free(&r);
    for (int i = 0; i < 6; i++)
        free(ids[i]);
    free(wf);
}

/* ---- crashes (SPEC §4.5) ------------------------------------------------------------------------- */

/* owner_pid of an execution, read-only from the DB file; 0 when NULL or unknown. */
static long owner_pid(const char *db_path, const char *execution_id)
{
    sqlite3 *db = NULL;
    long pid = 0;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db, "SELECT owner_pid FROM workflow_executions WHERE execution_id = ?1", -1,
                               &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, execution_id, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) pid = (long)sqlite3_column_int64(st, 0);
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
    return pid;
}

static const char *SIX = "{\"name\":\"six\",\"steps\":[{\"name\":\"s1\",\"duration_ms\":300},"
                         "{\"name\":\"s2\",\"depends_on\":[\"s1\"],\"duration_ms\":300},"
                         "{\"name\":\"s3\",\"depends_on\":[\"s2\"],\"duration_ms\":300},"
                         "{\"name\":\"s4\",\"depends_on\":[\"s3\"],\"duration_ms\":300},"
                         "{\"name\":\"s5\",\"depends_on\":[\"s4\"],\"duration_ms\":300},"
                         "{\"name\":\"s6\",\"depends_on\":[\"s5\"],\"duration_ms\":300}]}";

/* Every step success and at least one ran twice (the one interrupted). */
static void expect_resumed(json_t *done, const char *started_at)
{
    json_t *e = json_object_get(done, "execution");
    cr_assert_str_eq(str(e, "status"), "success", "execution error: %s", str(e, "error"));
    cr_assert_eq(num(e, "steps_completed"), 6);
    if (started_at) cr_assert_str_eq(str(e, "started_at"), started_at, "a resumed run keeps started_at");
    size_t i;
    json_t *s;
    long long max_attempts = 0;
    json_array_foreach(json_object_get(done, "steps"), i, s)
    {
        cr_assert_str_eq(str(s, "status"), "success");
        if (num(s, "attempts") > max_attempts) max_attempts = num(s, "attempts");
    }
    cr_assert_geq(max_attempts, 2, "the interrupted step ran again (at-least-once)");
}

Test(workflows, sigkill_owner_worker_execution_completes)
{
    char *wf = create_wf(SIX);
    char *ex = execute(wf);
    long pid = 0;
    for (int i = 0; i < 100 && pid == 0; i++) {
        pid = owner_pid(D.db_path, ex);
        if (!pid) msleep(10);
    }
    cr_assert_gt(pid, 0, "no owner recorded");
    pid_t workers[8];
    int nw = abe_it_children(&D, "abe-worker", workers, 8);
    int is_worker = 0;
    for (int i = 0; i < nw; i++)
        is_worker |= workers[i] == (pid_t)pid;
    cr_assert(is_worker, "owner %ld is not one of the workers", pid);
    msleep(450); /* s2 is running */
    long st;
    json_t *before = get_exec(ex, &st);
    cr_assert_not_null(before, "GET execution: %ld", st);
    char *started = strdup(str(json_object_get(before, "execution"), "started_at"));
    json_decref(before);
    cr_assert_eq(kill((pid_t)pid, SIGKILL), 0);
    json_t *done = wait_done(ex, 30000);
    expect_resumed(done, started);
    json_decref(done);
    long now_owner = owner_pid(D.db_path, ex);
    cr_assert_eq(now_owner, 0, "finished executions have no owner");
    free(started);
    free(ex);
    free(wf);
}

Test(workflows, sigkill_whole_daemon_then_restart_completes)
{
    char *wf = create_wf(SIX);
    char *ex = execute(wf);
    msleep(450);
    long st;
    json_t *before = get_exec(ex, &st);
    cr_assert_not_null(before, "GET execution: %ld", st);
    char *started = strdup(str(json_object_get(before, "execution"), "started_at"));
    cr_assert_str_eq(str(json_object_get(before, "execution"), "status"), "running");
    json_decref(before);
    abe_it_kill9(&D);
    cr_assert_eq(abe_it_restart(&D, NULL), 0);
    json_t *done = wait_done(ex, 30000);
    expect_resumed(done, started);
    json_decref(done);
    free(started);
    free(ex);
    free(wf);
}

/* status and owner_pid of an execution, read-only from the DB file (daemon stopped or running). */
static void db_state(const char *db_path, const char *execution_id, char *status, size_t len, int *owner_null)
{
    sqlite3 *db = NULL;
    status[0] = '\0';
    *owner_null = -1;
    if (sqlite3_open_v2(db_path, &db, SQLITE_OPEN_READONLY, NULL) == SQLITE_OK) {
        sqlite3_busy_timeout(db, 2000);
        sqlite3_stmt *st = NULL;
        if (sqlite3_prepare_v2(db,
                               "SELECT status, owner_pid FROM workflow_executions WHERE execution_id = ?1",
                               -1, &st, NULL) == SQLITE_OK) {
            sqlite3_bind_text(st, 1, execution_id, -1, SQLITE_STATIC);
            if (sqlite3_step(st) == SQLITE_ROW) {
                snprintf(status, len, "%s", (const char *)sqlite3_column_text(st, 0));
                *owner_null = sqlite3_column_type(st, 1) == SQLITE_NULL;
            }
        }
        sqlite3_finalize(st);
    }
    sqlite3_close(db);
}

Test(workflows, graceful_stop_hands_back_and_restart_resumes)
{
    char *wf = create_wf(SIX);
    char *ex = execute(wf);
    msleep(450);
    cr_assert_eq(abe_it_stop(&D, 30), 0);
    char status[32];
    int owner_null;
    db_state(D.db_path, ex, status, sizeof(status), &owner_null);
    cr_assert_str_eq(status, "running", "a graceful stop never fails an execution");
    cr_assert_eq(owner_null, 1, "handed back: no owner");
    cr_assert_eq(abe_it_restart(&D, NULL), 0);
    json_t *done = wait_done(ex, 30000);
    expect_resumed(done, NULL);
    json_decref(done);
    free(ex);
    free(wf);
}

Test(workflows, reload_mid_execution_completes)
{
    char *wf = create_wf(SIX);
    char *ex = execute(wf);
    msleep(450);
    cr_assert_eq(kill(D.pid, SIGHUP), 0);
    json_t *done = wait_done(ex, 30000);
    json_t *e = json_object_get(done, "execution");
    cr_assert_str_eq(str(e, "status"), "success", "error: %s", str(e, "error"));
    cr_assert_eq(num(e, "steps_completed"), 6);
    json_decref(done);
    char *log = abe_it_read_log(&D);
    cr_assert_null(strstr(log, "could not be resumed"));
    free(log);
    free(ex);
    free(wf);
}

/*
 * test_exec_plan.c — unit tests for the pure execution state machine and deadline queue
 * (worker/abe_exec_plan.h): SPEC §4.1 ordering through snapshots, §4.2 transitions and errors, §4.3
 * sequential/parallel scheduling (the worked example in both modes, on a simulated clock driven by the
 * deadline queue itself), §4.5 resume from rows, §4.6 mode=failed carry-over, and malformed inputs.
 */
#include <criterion/criterion.h>
#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abe_exec_plan.h"

/* ---- helpers ------------------------------------------------------------------------------------- */

static abe_plan_t *build_ok(const char *snapshot_json, int max_parallel)
{
    json_error_t jerr;
    json_t *snap = json_loads(snapshot_json, 0, &jerr);
    cr_assert_not_null(snap, "bad test JSON: %s", jerr.text);
    abe_plan_t *plan = NULL;
    char err[256] = "";
    int rc = abe_plan_build(snap, max_parallel, &plan, err, sizeof(err));
    json_decref(snap);
    cr_assert_eq(rc, ABE_PLAN_OK, "build failed: %d %s", rc, err);
    cr_assert_not_null(plan);
    return plan;
}

static int build_err(const char *snapshot_json, char *err, size_t errlen)
{
    json_t *snap = json_loads(snapshot_json, 0, NULL);
    cr_assert_not_null(snap);
    abe_plan_t *plan = NULL;
    int rc = abe_plan_build(snap, 16, &plan, err, errlen);
    json_decref(snap);
    cr_assert_null(plan);
    return rc;
}

/* A SPEC §2.1 timestamp t_ms after 2026-01-01T00:00:00Z (t_ms in 0..3599999). */
static void ts_at(int64_t t_ms, char out[ABE_TS_LEN])
{
    unsigned t = (unsigned)(t_ms % 3600000);
    snprintf(out, ABE_TS_LEN, "2026-01-01T00:%02u:%02u.%06uZ", (t / 60000) % 60, (t / 1000) % 60,
             (t % 1000) * 1000);
}

#define SIM_MAX 64

/* One simulated run: steps are timers in the deadline queue on a virtual millisecond clock. */
typedef struct sim {
    abe_plan_t *plan;
    abe_dq_t q;
    abe_dq_entry_t timers[SIM_MAX];
    int64_t start_ms[SIM_MAX], end_ms[SIM_MAX];
    int64_t finish_ms;
    int events;
    int max_running;
    const char *status;
    char *error;
} sim_t;

static size_t timer_step(sim_t *s, abe_dq_entry_t *e)
{
    return (size_t)(e - s->timers);
}

static void sim_schedule(sim_t *s, int64_t now)
{
    size_t next[SIM_MAX];
    char ts[ABE_TS_LEN];
    ts_at(now, ts);
    size_t k = abe_plan_next(s->plan, next, SIM_MAX);
    for (size_t j = 0; j < k; j++) {
        cr_assert_eq(abe_plan_start(s->plan, next[j], ts), 0);
        s->start_ms[next[j]] = now;
        cr_assert_eq(
            abe_dq_push(&s->q, &s->timers[next[j]], (uint64_t)(now + s->plan->steps[next[j]].duration_ms)),
            0);
    }
    if ((int)s->plan->running > s->max_running) s->max_running = (int)s->plan->running;
}

/* Run plan to completion on the virtual clock; returns the sim (plan borrowed). */
static void sim_run(sim_t *s, abe_plan_t *plan)
{
    memset(s, 0, sizeof(*s));
    s->plan = plan;
    cr_assert_leq(plan->n, SIM_MAX);
    for (size_t i = 0; i < SIM_MAX; i++) {
        abe_dq_entry_init(&s->timers[i]);
        s->start_ms[i] = s->end_ms[i] = -1;
    }
    int64_t now = 0;
    sim_schedule(s, now);
    while (!abe_plan_done(plan, NULL, NULL)) {
        abe_dq_entry_t *e = abe_dq_peek(&s->q);
        cr_assert_not_null(e, "plan stuck with nothing queued");
        now = (int64_t)e->deadline_ns;
        uint64_t limit = s->q.next_seq;
        char ts[ABE_TS_LEN];
        ts_at(now, ts);
        while ((e = abe_dq_pop_due(&s->q, (uint64_t)now, limit))) {
            size_t i = timer_step(s, e);
            s->end_ms[i] = now;
            cr_assert_geq(abe_plan_complete(plan, i, ts, (double)(now - s->start_ms[i])), 0);
            s->events++;
        }
        sim_schedule(s, now);
    }
    s->finish_ms = now;
    cr_assert_eq(abe_plan_done(plan, &s->status, &s->error), 1);
    abe_dq_free(&s->q);
}

static const char *WORKED = "{\"workflow_id\":\"w1\",\"parallel_execution\":%s,\"steps\":["
                            "{\"name\":\"a\"},"
                            "{\"name\":\"b\",\"depends_on\":[\"a\"],\"fail\":true},"
                            "{\"name\":\"c\",\"depends_on\":[\"a\"],\"duration_ms\":800},"
                            "{\"name\":\"d\",\"depends_on\":[\"b\",\"c\"]}]}";

static abe_plan_t *worked(int parallel)
{
    char buf[512];
    snprintf(buf, sizeof(buf), WORKED, parallel ? "true" : "false");
    return build_ok(buf, 16);
}

static json_t *changes(abe_plan_t *p)
{
    json_t *c = abe_plan_take_changes(p);
    cr_assert_not_null(c);
    return c;
}

static const char *row_str(json_t *row, const char *key)
{
    json_t *v = json_object_get(row, key);
    return json_is_string(v) ? json_string_value(v) : NULL;
}

/* ---- build and order ----------------------------------------------------------------------------- */

Test(exec_plan, build_orders_and_fresh_statuses)
{
    abe_plan_t *p = build_ok("{\"workflow_id\":\"w\",\"steps\":[{\"name\":\"c\",\"depends_on\":[\"a\"]},"
                             "{\"name\":\"a\"},{\"name\":\"b\",\"depends_on\":[\"a\",\"a\"]}]}",
                             16);
    cr_assert_eq(p->n, 3);
    cr_assert_str_eq(p->steps[0].name, "a");
    cr_assert_str_eq(p->steps[1].name, "c");
    cr_assert_str_eq(p->steps[2].name, "b");
    cr_assert_eq(p->steps[0].status, ABE_STEP_READY);
    cr_assert_eq(p->steps[1].status, ABE_STEP_PENDING);
    cr_assert_eq(p->steps[2].status, ABE_STEP_PENDING);
    cr_assert_eq(p->steps[2].ndeps, 1, "a repeated dependency counts once");
    cr_assert_eq(p->steps[0].ndependents, 2);
    cr_assert_eq(p->steps[0].duration_ms, 500, "default duration");
    cr_assert_eq(p->parallel, 0, "parallel_execution defaults to false");
    json_t *order = abe_plan_step_order(p);
    char *s = json_dumps(order, JSON_COMPACT);
    cr_assert_str_eq(s, "[\"a\",\"c\",\"b\"]");
    free(s);
    json_decref(order);
    json_t *c = changes(p);
    cr_assert_eq(json_array_size(c), 0, "a fresh plan has no changes");
    json_decref(c);
    abe_plan_free(p);
}

Test(exec_plan, create_rows_shape)
{
    abe_plan_t *p = worked(0);
    json_t *rows = abe_plan_rows(p);
    cr_assert_eq(json_array_size(rows), 4);
    char *s = json_dumps(json_array_get(rows, 0), JSON_COMPACT);
    cr_assert_str_eq(s, "{\"position\":0,\"step_name\":\"a\",\"status\":\"ready\",\"started_at\":null,"
                        "\"completed_at\":null,\"duration_ms\":null,\"error\":null,\"attempts\":0,"
                        "\"carried_over\":false}");
    free(s);
    cr_assert_str_eq(row_str(json_array_get(rows, 3), "status"), "pending");
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(rows, 3), "position")), 3);
    json_decref(rows);
    abe_plan_free(p);
}

Test(exec_plan, dag_errors_give_exact_details)
{
    char err[256];
    cr_assert_eq(build_err("{\"steps\":[{\"name\":\"a\"},{\"name\":\"a\"}]}", err, sizeof(err)),
                 ABE_PLAN_DAG);
    cr_assert_str_eq(err, "Duplicate step name 'a'");
    cr_assert_eq(build_err("{\"steps\":[{\"name\":\"a\",\"depends_on\":[\"zz\"]}]}", err, sizeof(err)),
                 ABE_PLAN_DAG);
    cr_assert_str_eq(err, "Step 'a' depends on unknown step 'zz'");
    cr_assert_eq(build_err("{\"steps\":[{\"name\":\"a\",\"depends_on\":[\"a\"]}]}", err, sizeof(err)),
                 ABE_PLAN_DAG);
    cr_assert_str_eq(err, "Cycle detected in workflow steps");
    cr_assert_eq(
        build_err("{\"steps\":[{\"name\":\"a\",\"depends_on\":[\"b\"]},{\"name\":\"b\",\"depends_on\":"
                  "[\"a\"]}]}",
                  err, sizeof(err)),
        ABE_PLAN_DAG);
    cr_assert_str_eq(err, "Cycle detected in workflow steps");
}

Test(exec_plan, malformed_snapshots_are_rejected)
{
    char err[256];
    const char *bad[] = {
        "[]",
        "{}",
        "{\"steps\":{}}",
        "{\"steps\":[],\"parallel_execution\":1}",
        "{\"steps\":[1]}",
        "{\"steps\":[{}]}",
        "{\"steps\":[{\"name\":\"\"}]}",
        "{\"steps\":[{\"name\":5}]}",
        "{\"steps\":[{\"name\":\"a\",\"depends_on\":\"b\"}]}",
        "{\"steps\":[{\"name\":\"a\",\"depends_on\":[7]}]}",
        "{\"steps\":[{\"name\":\"a\",\"fail\":\"yes\"}]}",
        "{\"steps\":[{\"name\":\"a\",\"duration_ms\":-1}]}",
        "{\"steps\":[{\"name\":\"a\",\"duration_ms\":600001}]}",
        "{\"steps\":[{\"name\":\"a\",\"duration_ms\":1.5}]}",
        "{\"steps\":[{\"name\":\"a\",\"duration_ms\":\"5\"}]}",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        err[0] = '\0';
        cr_assert_eq(build_err(bad[i], err, sizeof(err)), ABE_PLAN_BAD, "accepted %s", bad[i]);
        cr_assert_neq(err[0], '\0', "no message for %s", bad[i]);
    }
    /* A NUL inside a name cannot come from a validated workflow: rejected too. */
    json_t *snap = json_pack("{s:[{s:s%}]}", "steps", "name", "a\0b", (size_t)3);
    abe_plan_t *p = NULL;
    cr_assert_eq(abe_plan_build(snap, 16, &p, err, sizeof(err)), ABE_PLAN_BAD);
    json_decref(snap);
}

Test(exec_plan, integral_reals_nulls_and_limits_accepted)
{
    abe_plan_t *p = build_ok("{\"parallel_execution\":null,\"steps\":[{\"name\":\"a\",\"duration_ms\":500.0,"
                             "\"depends_on\":null,\"fail\":null},{\"name\":\"b\",\"duration_ms\":600000},"
                             "{\"name\":\"c\",\"duration_ms\":0}]}",
                             0);
    cr_assert_eq(p->steps[0].duration_ms, 500);
    cr_assert_eq(p->steps[1].duration_ms, 600000);
    cr_assert_eq(p->steps[2].duration_ms, 0);
    cr_assert_eq(p->max_parallel, 1, "max_parallel is at least 1");
    abe_plan_free(p);
}

/* ---- SPEC §4.3 worked example -------------------------------------------------------------------- */

Test(exec_plan, worked_example_sequential)
{
    abe_plan_t *p = worked(0);
    sim_t s;
    sim_run(&s, p);
    /* a 0..500, b 500..1000 (fails, skips d), c 1000..1800. */
    cr_assert_eq(s.start_ms[0], 0);
    cr_assert_eq(s.end_ms[0], 500);
    cr_assert_eq(s.start_ms[1], 500);
    cr_assert_eq(s.end_ms[1], 1000);
    cr_assert_eq(s.start_ms[2], 1000);
    cr_assert_eq(s.end_ms[2], 1800);
    cr_assert_eq(s.start_ms[3], -1, "d never runs");
    cr_assert_eq(s.finish_ms, 1800);
    cr_assert_eq(s.max_running, 1);
    cr_assert_str_eq(s.status, "failed");
    cr_assert_str_eq(s.error, "Step 'b' failed");
    cr_assert_eq(abe_plan_steps_completed(p), 3);
    cr_assert_eq(p->steps[1].status, ABE_STEP_FAILED);
    cr_assert_str_eq(p->steps[1].error, "Simulated step failure");
    cr_assert_eq(p->steps[3].status, ABE_STEP_SKIPPED);
    cr_assert_str_eq(p->steps[3].error, "Skipped because step 'b' failed");
    cr_assert_str_eq(p->steps[3].completed_at, "2026-01-01T00:00:01.000000Z", "d skipped at 1000");
    cr_assert_eq(p->steps[3].attempts, 0);
    cr_assert_eq(p->steps[2].attempts, 1);
    cr_assert_float_eq(p->steps[2].duration, 800.0, 1e-9);
    free(s.error);
    abe_plan_free(p);
}

Test(exec_plan, worked_example_parallel)
{
    abe_plan_t *p = worked(1);
    sim_t s;
    sim_run(&s, p);
    cr_assert_eq(s.start_ms[1], 500);
    cr_assert_eq(s.start_ms[2], 500, "b and c start together");
    cr_assert_eq(s.end_ms[1], 1000);
    cr_assert_eq(s.end_ms[2], 1300);
    cr_assert_eq(s.finish_ms, 1300);
    cr_assert_eq(s.max_running, 2);
    cr_assert_str_eq(s.status, "failed");
    cr_assert_str_eq(s.error, "Step 'b' failed");
    cr_assert_str_eq(p->steps[3].error, "Skipped because step 'b' failed");
    cr_assert_eq(abe_plan_steps_completed(p), 3);
    free(s.error);
    abe_plan_free(p);
}

Test(exec_plan, worked_example_transitions_are_grouped_per_event)
{
    abe_plan_t *p = worked(0);
    char t0[ABE_TS_LEN], t1[ABE_TS_LEN];
    ts_at(0, t0);
    ts_at(500, t1);
    cr_assert_eq(abe_plan_start(p, 0, t0), 0);
    json_t *c = changes(p);
    cr_assert_eq(json_array_size(c), 1);
    cr_assert_str_eq(row_str(json_array_get(c, 0), "status"), "running");
    cr_assert_str_eq(row_str(json_array_get(c, 0), "started_at"), t0);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(c, 0), "attempts")), 1);
    cr_assert_null(json_object_get(json_array_get(c, 0), "position"), "transition rows have no position");
    json_decref(c);

    cr_assert_eq(abe_plan_complete(p, 0, t1, 500.0004), 1);
    c = changes(p);
    /* a success plus the two steps it made ready, in step_order. */
    cr_assert_eq(json_array_size(c), 3);
    cr_assert_str_eq(row_str(json_array_get(c, 0), "step_name"), "a");
    cr_assert_str_eq(row_str(json_array_get(c, 0), "status"), "success");
    cr_assert_float_eq(json_real_value(json_object_get(json_array_get(c, 0), "duration_ms")), 500.0, 1e-9);
    cr_assert_str_eq(row_str(json_array_get(c, 1), "step_name"), "b");
    cr_assert_str_eq(row_str(json_array_get(c, 1), "status"), "ready");
    cr_assert_str_eq(row_str(json_array_get(c, 2), "step_name"), "c");
    json_decref(c);
    c = changes(p);
    cr_assert_eq(json_array_size(c), 0, "marks are cleared");
    json_decref(c);

    size_t next[4];
    cr_assert_eq(abe_plan_next(p, next, 4), 1, "sequential: one at a time");
    cr_assert_eq(next[0], 1);
    cr_assert_eq(abe_plan_start(p, 1, t1), 0);
    cr_assert_eq(abe_plan_next(p, next, 4), 0, "nothing while b runs");
    cr_assert_eq(abe_plan_complete(p, 1, t1, 500), 0, "b fails");
    c = changes(p);
    cr_assert_eq(json_array_size(c), 2, "the failure plus the step it skips");
    cr_assert_str_eq(row_str(json_array_get(c, 0), "error"), "Simulated step failure");
    cr_assert_str_eq(row_str(json_array_get(c, 1), "status"), "skipped");
    cr_assert_str_eq(row_str(json_array_get(c, 1), "error"), "Skipped because step 'b' failed");
    json_decref(c);
    cr_assert_eq(abe_plan_done(p, NULL, NULL), 0, "c still ready");
    abe_plan_free(p);
}

/* ---- more shapes ----------------------------------------------------------------------------------- */

Test(exec_plan, diamond_parallel_overlaps_and_joins)
{
    abe_plan_t *p = build_ok("{\"parallel_execution\":true,\"steps\":[{\"name\":\"a\",\"duration_ms\":100},"
                             "{\"name\":\"b\",\"depends_on\":[\"a\"],\"duration_ms\":300},"
                             "{\"name\":\"c\",\"depends_on\":[\"a\"],\"duration_ms\":200},"
                             "{\"name\":\"d\",\"depends_on\":[\"b\",\"c\"],\"duration_ms\":100}]}",
                             16);
    sim_t s;
    sim_run(&s, p);
    cr_assert_eq(s.start_ms[1], 100);
    cr_assert_eq(s.start_ms[2], 100);
    cr_assert_eq(s.end_ms[2], 300);
    cr_assert_eq(s.start_ms[3], 400, "d waits for the slower branch");
    cr_assert_eq(s.finish_ms, 500);
    cr_assert_str_eq(s.status, "success");
    cr_assert_null(s.error);
    cr_assert_eq(abe_plan_steps_completed(p), 4);
    abe_plan_free(p);
}

Test(exec_plan, diamond_sequential_runs_in_order)
{
    abe_plan_t *p = build_ok("{\"steps\":[{\"name\":\"a\",\"duration_ms\":100},"
                             "{\"name\":\"b\",\"depends_on\":[\"a\"],\"duration_ms\":300},"
                             "{\"name\":\"c\",\"depends_on\":[\"a\"],\"duration_ms\":200},"
                             "{\"name\":\"d\",\"depends_on\":[\"b\",\"c\"],\"duration_ms\":100}]}",
                             16);
    sim_t s;
    sim_run(&s, p);
    cr_assert_eq(s.start_ms[2], 400, "c after b");
    cr_assert_eq(s.start_ms[3], 600);
    cr_assert_eq(s.finish_ms, 700);
    cr_assert_eq(s.max_running, 1);
    cr_assert_str_eq(s.status, "success");
    abe_plan_free(p);
}

Test(exec_plan, failure_skips_descendants_but_not_independent_branch)
{
    abe_plan_t *p = build_ok("{\"parallel_execution\":true,\"steps\":[{\"name\":\"a\",\"fail\":true,"
                             "\"duration_ms\":100},{\"name\":\"b\",\"depends_on\":[\"a\"]},"
                             "{\"name\":\"c\",\"depends_on\":[\"b\"]},{\"name\":\"x\",\"duration_ms\":300},"
                             "{\"name\":\"y\",\"depends_on\":[\"x\"],\"duration_ms\":100}]}",
                             16);
    sim_t s;
    sim_run(&s, p);
    size_t b = abe_plan_find(p, "b"), c = abe_plan_find(p, "c"), x = abe_plan_find(p, "x"),
           y = abe_plan_find(p, "y");
    cr_assert_eq(p->steps[b].status, ABE_STEP_SKIPPED);
    cr_assert_eq(p->steps[c].status, ABE_STEP_SKIPPED);
    cr_assert_str_eq(p->steps[c].error, "Skipped because step 'a' failed", "names the failed ancestor");
    cr_assert_eq(p->steps[x].status, ABE_STEP_SUCCESS);
    cr_assert_eq(p->steps[y].status, ABE_STEP_SUCCESS);
    cr_assert_eq(s.end_ms[y], 400, "the independent branch kept running");
    cr_assert_str_eq(s.status, "failed");
    cr_assert_str_eq(s.error, "Step 'a' failed");
    cr_assert_eq(abe_plan_steps_completed(p), 3);
    free(s.error);
    abe_plan_free(p);
}

Test(exec_plan, first_failed_in_step_order_names_the_execution_error)
{
    /* z fails first in time, but a comes first in step_order. */
    abe_plan_t *p = build_ok("{\"parallel_execution\":true,\"steps\":[{\"name\":\"a\",\"fail\":true,"
                             "\"duration_ms\":300},{\"name\":\"z\",\"fail\":true,\"duration_ms\":100}]}",
                             16);
    sim_t s;
    sim_run(&s, p);
    cr_assert_str_eq(s.error, "Step 'a' failed");
    free(s.error);
    abe_plan_free(p);
}

Test(exec_plan, skip_names_first_failed_ancestor_across_skipped_chain)
{
    /* order a, b, s, c: s depends on b (failed), c depends on s (skipped via b) and a (failed). */
    abe_plan_t *p =
        build_ok("{\"steps\":[{\"name\":\"a\",\"fail\":true},{\"name\":\"b\",\"fail\":true},"
                 "{\"name\":\"s\",\"depends_on\":[\"b\"]},{\"name\":\"c\",\"depends_on\":[\"s\",\"a\"]}]}",
                 16);
    json_t *rows =
        json_loads("[{\"step_name\":\"a\",\"status\":\"failed\",\"error\":\"Simulated step failure\","
                   "\"attempts\":1},{\"step_name\":\"b\",\"status\":\"failed\",\"attempts\":1},"
                   "{\"step_name\":\"s\",\"status\":\"pending\"},{\"step_name\":\"c\",\"status\":"
                   "\"pending\"}]",
                   0, NULL);
    char err[128];
    cr_assert_eq(abe_plan_load_rows(p, rows, err, sizeof(err)), ABE_PLAN_OK, "%s", err);
    cr_assert_eq(abe_plan_normalize(p, "T"), 2);
    cr_assert_str_eq(p->steps[2].error, "Skipped because step 'b' failed");
    cr_assert_str_eq(p->steps[3].error, "Skipped because step 'a' failed");
    const char *st;
    char *e;
    cr_assert_eq(abe_plan_done(p, &st, &e), 1);
    cr_assert_str_eq(e, "Step 'a' failed");
    free(e);
    json_decref(rows);
    abe_plan_free(p);
}

Test(exec_plan, parallel_respects_max_parallel_in_step_order)
{
    abe_plan_t *p = build_ok("{\"parallel_execution\":true,\"steps\":[{\"name\":\"s1\"},{\"name\":\"s2\"},"
                             "{\"name\":\"s3\"},{\"name\":\"s4\"},{\"name\":\"s5\"}]}",
                             2);
    size_t next[8];
    cr_assert_eq(abe_plan_next(p, next, 8), 2);
    cr_assert_eq(next[0], 0);
    cr_assert_eq(next[1], 1);
    cr_assert_eq(abe_plan_start(p, 0, "t"), 0);
    cr_assert_eq(abe_plan_start(p, 1, "t"), 0);
    cr_assert_eq(abe_plan_next(p, next, 8), 0, "all slots taken");
    cr_assert_eq(abe_plan_complete(p, 1, "t", 1), 1);
    cr_assert_eq(abe_plan_next(p, next, 8), 1);
    cr_assert_eq(next[0], 2, "the next ready in step_order");
    cr_assert_eq(abe_plan_next(p, next, 0), 0, "max bounds the output");
    abe_plan_free(p);

    p = build_ok("{\"parallel_execution\":true,\"steps\":[{\"name\":\"s1\"},{\"name\":\"s2\"},"
                 "{\"name\":\"s3\"},{\"name\":\"s4\"},{\"name\":\"s5\"}]}",
                 2);
    sim_t s;
    sim_run(&s, p);
    cr_assert_eq(s.max_running, 2);
    cr_assert_eq(s.finish_ms, 1500, "5 × 500 ms in waves of 2");
    abe_plan_free(p);
}

Test(exec_plan, no_steps_finishes_at_once)
{
    abe_plan_t *p = build_ok("{\"workflow_id\":\"w\",\"parallel_execution\":false,\"steps\":[]}", 16);
    size_t next[1];
    cr_assert_eq(abe_plan_next(p, next, 1), 0);
    const char *st = NULL;
    char *e = (char *)"x";
    cr_assert_eq(abe_plan_done(p, &st, &e), 1);
    cr_assert_str_eq(st, "success");
    cr_assert_null(e);
    cr_assert_eq(abe_plan_steps_completed(p), 0);
    json_t *order = abe_plan_step_order(p);
    cr_assert_eq(json_array_size(order), 0);
    json_decref(order);
    json_t *rows = abe_plan_rows(p);
    cr_assert_eq(json_array_size(rows), 0);
    json_decref(rows);
    abe_plan_free(p);
}

Test(exec_plan, zero_duration_still_passes_through_running)
{
    abe_plan_t *p = build_ok("{\"steps\":[{\"name\":\"a\",\"duration_ms\":0},"
                             "{\"name\":\"b\",\"duration_ms\":0,\"depends_on\":[\"a\"]}]}",
                             16);
    sim_t s;
    sim_run(&s, p);
    cr_assert_eq(s.events, 2, "each step completes on its own dispatch");
    cr_assert_eq(s.finish_ms, 0);
    cr_assert_eq(p->steps[0].attempts, 1);
    cr_assert_neq(p->steps[0].started_at[0], '\0');
    cr_assert_eq(p->steps[1].has_duration, 1);
    cr_assert_float_eq(p->steps[1].duration, 0.0, 1e-12);
    cr_assert_str_eq(s.status, "success");
    abe_plan_free(p);
}

Test(exec_plan, duration_is_rounded_to_three_decimals)
{
    abe_plan_t *p = build_ok("{\"steps\":[{\"name\":\"a\"},{\"name\":\"b\"}]}", 16);
    cr_assert_eq(abe_plan_start(p, 0, "t"), 0);
    cr_assert_eq(abe_plan_complete(p, 0, "t", 501.23749), 1);
    cr_assert_float_eq(p->steps[0].duration, 501.237, 1e-9);
    cr_assert_eq(abe_plan_start(p, 1, "t"), 0);
    cr_assert_eq(abe_plan_complete(p, 1, "t", -3), 1, "a clock step backwards never gives a negative time");
    cr_assert_float_eq(p->steps[1].duration, 0.0, 1e-12);
    abe_plan_free(p);
}

Test(exec_plan, start_and_complete_reject_wrong_states)
{
    abe_plan_t *p = worked(0);
    cr_assert_eq(abe_plan_start(p, 1, "t"), -1, "pending step");
    cr_assert_eq(abe_plan_start(p, 99, "t"), -1, "out of range");
    cr_assert_eq(abe_plan_complete(p, 0, "t", 1), -1, "not running");
    cr_assert_eq(abe_plan_complete(p, 99, "t", 1), -1);
    cr_assert_eq(abe_plan_start(p, 0, "t"), 0);
    cr_assert_eq(abe_plan_start(p, 0, "t"), -1, "already running");
    cr_assert_eq(p->running, 1);
    abe_plan_free(p);
}

Test(exec_plan, restart_clears_previous_attempt)
{
    abe_plan_t *p = build_ok("{\"steps\":[{\"name\":\"a\",\"fail\":true}]}", 16);
    json_t *rows =
        json_loads("[{\"step_name\":\"a\",\"status\":\"running\",\"started_at\":\"2026-01-01T00:00:"
                   "00.000000Z\",\"completed_at\":\"2026-01-01T00:00:00.400000Z\",\"duration_ms\":"
                   "400.5,\"error\":\"old\",\"attempts\":2,\"carried_over\":false}]",
                   0, NULL);
    char err[128];
    cr_assert_eq(abe_plan_load_rows(p, rows, err, sizeof(err)), ABE_PLAN_OK, "%s", err);
    cr_assert_eq(p->steps[0].status, ABE_STEP_READY, "running goes back to ready");
    cr_assert_eq(p->steps[0].started_at[0], '\0', "started_at cleared");
    cr_assert_eq(p->steps[0].attempts, 2);
    cr_assert_eq(abe_plan_start(p, 0, "T2"), 0);
    cr_assert_eq(p->steps[0].attempts, 3, "at-least-once: attempts rises");
    cr_assert_eq(p->steps[0].completed_at[0], '\0');
    cr_assert_eq(p->steps[0].has_duration, 0);
    cr_assert_null(p->steps[0].error);
    json_t *c = changes(p);
    cr_assert_eq(json_array_size(c), 1);
    cr_assert(json_is_null(json_object_get(json_array_get(c, 0), "completed_at")));
    cr_assert(json_is_null(json_object_get(json_array_get(c, 0), "error")));
    json_decref(c);
    json_decref(rows);
    abe_plan_free(p);
}

/* ---- resume from rows ---------------------------------------------------------------------------- */

Test(exec_plan, resume_mid_run_continues_from_rows)
{
    abe_plan_t *p = worked(1);
    json_t *rows = json_loads(
        "[{\"step_name\":\"a\",\"status\":\"success\",\"started_at\":\"2026-01-01T00:00:00.000000Z\","
        "\"completed_at\":\"2026-01-01T00:00:00.500000Z\",\"duration_ms\":500.1,\"error\":null,\"attempts\":"
        "1,"
        "\"carried_over\":false},{\"step_name\":\"b\",\"status\":\"running\",\"started_at\":\"x\","
        "\"attempts\":1},"
        "{\"step_name\":\"c\",\"status\":\"ready\",\"attempts\":0},{\"step_name\":\"d\",\"status\":"
        "\"pending\","
        "\"attempts\":0,\"carried_over\":0}]",
        0, NULL);
    char err[128];
    cr_assert_eq(abe_plan_load_rows(p, rows, err, sizeof(err)), ABE_PLAN_OK, "%s", err);
    cr_assert_eq(abe_plan_normalize(p, "T"), 0, "nothing to repair");
    json_t *c = changes(p);
    cr_assert_eq(json_array_size(c), 1, "the running step reset to ready is persisted");
    cr_assert_str_eq(row_str(json_array_get(c, 0), "status"), "ready");
    json_decref(c);
    sim_t s;
    sim_run(&s, p);
    cr_assert_eq(s.start_ms[0], -1, "finished steps never re-run");
    cr_assert_eq(p->steps[0].attempts, 1);
    cr_assert_eq(p->steps[1].attempts, 2);
    cr_assert_str_eq(s.error, "Step 'b' failed");
    free(s.error);
    json_decref(rows);
    abe_plan_free(p);
}

Test(exec_plan, normalize_repairs_pending_steps)
{
    abe_plan_t *p = worked(0);
    json_t *rows = json_loads("[{\"step_name\":\"a\",\"status\":\"success\",\"attempts\":1},"
                              "{\"step_name\":\"b\",\"status\":\"pending\"},{\"step_name\":\"c\",\"status\":"
                              "\"pending\"},{\"step_name\":\"d\",\"status\":\"pending\"}]",
                              0, NULL);
    char err[128];
    cr_assert_eq(abe_plan_load_rows(p, rows, err, sizeof(err)), ABE_PLAN_OK, "%s", err);
    cr_assert_eq(abe_plan_normalize(p, "T"), 2);
    cr_assert_eq(p->steps[1].status, ABE_STEP_READY);
    cr_assert_eq(p->steps[2].status, ABE_STEP_READY);
    cr_assert_eq(p->steps[3].status, ABE_STEP_PENDING);
    json_decref(rows);
    abe_plan_free(p);
}

Test(exec_plan, stuck_plan_reports_resume_error)
{
    abe_plan_t *p = build_ok("{\"steps\":[{\"name\":\"a\"}]}", 16);
    json_t *rows = json_loads("[{\"step_name\":\"a\",\"status\":\"pending\"}]", 0, NULL);
    char err[128];
    cr_assert_eq(abe_plan_load_rows(p, rows, err, sizeof(err)), ABE_PLAN_OK);
    const char *st;
    char *e;
    cr_assert_eq(abe_plan_done(p, &st, &e), 1);
    cr_assert_str_eq(st, "failed");
    cr_assert_str_eq(e, "Execution could not be resumed");
    free(e);
    cr_assert_eq(abe_plan_normalize(p, "T"), 1, "normalize makes it runnable");
    cr_assert_eq(abe_plan_done(p, NULL, NULL), 0);
    json_decref(rows);
    abe_plan_free(p);
}

Test(exec_plan, malformed_rows_are_rejected)
{
    const char *bad[] = {
        "{}",
        "[{\"status\":\"ready\"}]",
        "[{\"step_name\":\"a\",\"status\":\"weird\"},{\"step_name\":\"b\",\"status\":\"ready\"}]",
        "[{\"step_name\":\"zz\",\"status\":\"ready\"},{\"step_name\":\"b\",\"status\":\"ready\"}]",
        "[{\"step_name\":\"a\",\"status\":\"ready\"}]",
        "[{\"step_name\":\"a\",\"status\":\"ready\"},{\"step_name\":\"a\",\"status\":\"ready\"}]",
        "[{\"step_name\":\"a\",\"status\":\"ready\",\"attempts\":\"1\"},{\"step_name\":\"b\",\"status\":"
        "\"ready\"}]",
        "[{\"step_name\":\"a\",\"status\":\"ready\",\"attempts\":-1},{\"step_name\":\"b\",\"status\":"
        "\"ready\"}]",
        "[{\"step_name\":\"a\",\"status\":\"ready\",\"started_at\":5},{\"step_name\":\"b\",\"status\":"
        "\"ready\"}]",
        "[{\"step_name\":\"a\",\"status\":\"ready\",\"started_at\":\"2026-01-01T00:00:00.000000Z-too-long\"},"
        "{\"step_name\":\"b\",\"status\":\"ready\"}]",
        "[{\"step_name\":\"a\",\"status\":\"ready\",\"duration_ms\":\"1\"},{\"step_name\":\"b\",\"status\":"
        "\"ready\"}]",
        "[{\"step_name\":\"a\",\"status\":\"ready\",\"error\":7},{\"step_name\":\"b\",\"status\":\"ready\"}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        abe_plan_t *p = build_ok("{\"steps\":[{\"name\":\"a\"},{\"name\":\"b\"}]}", 16);
        json_t *rows = json_loads(bad[i], 0, NULL);
        cr_assert_not_null(rows, "test JSON %zu", i);
        char err[128] = "";
        cr_assert_eq(abe_plan_load_rows(p, rows, err, sizeof(err)), ABE_PLAN_BAD, "accepted %s", bad[i]);
        cr_assert_neq(err[0], '\0');
        json_decref(rows);
        abe_plan_free(p);
    }
}

/* ---- mode=failed replay -------------------------------------------------------------------------- */

static json_t *worked_source_rows(void)
{
    return json_loads(
        "[{\"name\":\"a\",\"step_name\":\"a\",\"status\":\"success\",\"started_at\":\"2026-01-01T00:00:00."
        "000000Z\","
        "\"completed_at\":\"2026-01-01T00:00:00.500000Z\",\"duration_ms\":500.25,\"error\":null,\"attempts\":"
        "1,"
        "\"carried_over\":false},"
        "{\"name\":\"b\",\"step_name\":\"b\",\"status\":\"failed\",\"started_at\":\"2026-01-01T00:00:00."
        "500000Z\","
        "\"completed_at\":\"2026-01-01T00:00:01.000000Z\",\"duration_ms\":500.0,\"error\":\"Simulated step "
        "failure\",\"attempts\":1,\"carried_over\":false},"
        "{\"name\":\"c\",\"step_name\":\"c\",\"status\":\"success\",\"started_at\":\"2026-01-01T00:00:01."
        "000000Z\","
        "\"completed_at\":\"2026-01-01T00:00:01.800000Z\",\"duration_ms\":800.5,\"error\":null,\"attempts\":"
        "1,"
        "\"carried_over\":false},"
        "{\"name\":\"d\",\"step_name\":\"d\",\"status\":\"skipped\",\"started_at\":null,\"completed_at\":"
        "\"2026-01-"
        "01T00:00:01.000000Z\",\"duration_ms\":null,\"error\":\"Skipped because step 'b' "
        "failed\",\"attempts\":0,"
        "\"carried_over\":false}]",
        0, NULL);
}

Test(exec_plan, carry_over_plan_for_failed_mode)
{
    abe_plan_t *p = worked(0);
    json_t *src = worked_source_rows();
    char err[128];
    cr_assert_eq(abe_plan_carry(p, src, err, sizeof(err)), ABE_PLAN_OK, "%s", err);
    cr_assert_eq(p->steps[0].status, ABE_STEP_SUCCESS);
    cr_assert_eq(p->steps[0].carried_over, 1);
    cr_assert_eq(p->steps[0].attempts, 0);
    cr_assert_str_eq(p->steps[0].started_at, "2026-01-01T00:00:00.000000Z");
    cr_assert_float_eq(p->steps[0].duration, 500.25, 1e-9);
    cr_assert_eq(p->steps[1].status, ABE_STEP_READY, "b's dependency is success");
    cr_assert_eq(p->steps[1].carried_over, 0);
    cr_assert_eq(p->steps[2].status, ABE_STEP_SUCCESS);
    cr_assert_eq(p->steps[3].status, ABE_STEP_PENDING);
    cr_assert_eq(abe_plan_steps_completed(p), 2, "carried steps count");

    json_t *rows = abe_plan_rows(p);
    char *s = json_dumps(json_array_get(rows, 2), JSON_COMPACT);
    cr_assert_str_eq(
        s, "{\"position\":2,\"step_name\":\"c\",\"status\":\"success\",\"started_at\":\"2026-01-01T00:"
           "00:01.000000Z\",\"completed_at\":\"2026-01-01T00:00:01.800000Z\",\"duration_ms\":800.5,"
           "\"error\":null,\"attempts\":0,\"carried_over\":true}");
    free(s);
    json_decref(rows);
    json_t *c = changes(p);
    cr_assert_eq(json_array_size(c), 0);
    json_decref(c);

    sim_t sim;
    sim_run(&sim, p);
    cr_assert_eq(sim.start_ms[0], -1, "carried steps never run");
    cr_assert_eq(sim.start_ms[2], -1);
    cr_assert_eq(sim.start_ms[1], 0, "b runs first");
    cr_assert_str_eq(sim.error, "Step 'b' failed", "b still has fail:true in the snapshot");
    cr_assert_eq(p->steps[3].status, ABE_STEP_SKIPPED);
    free(sim.error);
    json_decref(src);
    abe_plan_free(p);
}

Test(exec_plan, carry_over_without_failures_is_done_at_once)
{
    abe_plan_t *p = build_ok("{\"steps\":[{\"name\":\"a\"},{\"name\":\"b\",\"depends_on\":[\"a\"]}]}", 16);
    json_t *src = json_loads("[{\"step_name\":\"a\",\"status\":\"success\",\"duration_ms\":1},"
                             "{\"step_name\":\"b\",\"status\":\"success\",\"duration_ms\":2}]",
                             0, NULL);
    char err[128];
    cr_assert_eq(abe_plan_carry(p, src, err, sizeof(err)), ABE_PLAN_OK);
    const char *st;
    char *e;
    cr_assert_eq(abe_plan_done(p, &st, &e), 1);
    cr_assert_str_eq(st, "success");
    cr_assert_null(e);
    json_decref(src);
    abe_plan_free(p);
}

Test(exec_plan, carry_over_from_full_failure_keeps_everything_fresh)
{
    abe_plan_t *p = worked(0);
    json_t *src = json_loads("[{\"step_name\":\"a\",\"status\":\"failed\"},{\"step_name\":\"b\",\"status\":"
                             "\"skipped\"},{\"step_name\":\"c\",\"status\":\"skipped\"},{\"step_name\":\"d\","
                             "\"status\":\"skipped\"}]",
                             0, NULL);
    char err[128];
    cr_assert_eq(abe_plan_carry(p, src, err, sizeof(err)), ABE_PLAN_OK);
    cr_assert_eq(p->steps[0].status, ABE_STEP_READY);
    for (size_t i = 1; i < 4; i++)
        cr_assert_eq(p->steps[i].status, ABE_STEP_PENDING);
    json_decref(src);
    abe_plan_free(p);
}

Test(exec_plan, carry_over_rejects_bad_rows)
{
    const char *bad[] = {
        "{}",
        "[{\"status\":\"success\"}]",
        "[{\"step_name\":\"nope\",\"status\":\"success\"}]",
        "[{\"step_name\":\"a\",\"status\":\"success\",\"duration_ms\":\"x\"}]",
        "[{\"step_name\":\"a\",\"status\":\"success\",\"completed_at\":[]}]",
    };
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++) {
        abe_plan_t *p = worked(0);
        json_t *src = json_loads(bad[i], 0, NULL);
        char err[128] = "";
        cr_assert_eq(abe_plan_carry(p, src, err, sizeof(err)), ABE_PLAN_BAD, "accepted %s", bad[i]);
        cr_assert_neq(err[0], '\0');
        json_decref(src);
        abe_plan_free(p);
    }
}

/* ---- status names -------------------------------------------------------------------------------- */

Test(exec_plan, status_names_round_trip)
{
    for (int s = ABE_STEP_PENDING; s <= ABE_STEP_SKIPPED; s++)
        cr_assert_eq(abe_plan_status_parse(abe_plan_status_name((abe_step_status_t)s)), s);
    cr_assert_eq(abe_plan_status_parse("Success"), -1);
    cr_assert_eq(abe_plan_status_parse(NULL), -1);
    cr_assert_str_eq(abe_plan_status_name((abe_step_status_t)42), "unknown");
}

/* ---- deadline queue ------------------------------------------------------------------------------ */

Test(deadline_queue, orders_by_deadline_then_insertion)
{
    abe_dq_t q = {0};
    abe_dq_entry_t e[6];
    uint64_t dl[6] = {50, 10, 50, 0, 30, 10};
    for (int i = 0; i < 6; i++) {
        abe_dq_entry_init(&e[i]);
        cr_assert_eq(abe_dq_push(&q, &e[i], dl[i]), 0);
    }
    cr_assert_eq(abe_dq_push(&q, &e[0], 1), -1, "already queued");
    int expect[6] = {3, 1, 5, 4, 0, 2};
    for (int k = 0; k < 6; k++) {
        abe_dq_entry_t *x = abe_dq_pop_due(&q, 1000, UINT64_MAX);
        cr_assert_not_null(x);
        cr_assert_eq(x - e, expect[k], "pop %d gave %td", k, x - e);
        cr_assert_eq(x->idx, ABE_DQ_NONE);
    }
    cr_assert_null(abe_dq_peek(&q));
    cr_assert_null(abe_dq_pop_due(&q, 1000, UINT64_MAX));
    abe_dq_free(&q);
}

Test(deadline_queue, pop_due_respects_now_and_seq_limit)
{
    abe_dq_t q = {0};
    abe_dq_entry_t a, b;
    abe_dq_entry_init(&a);
    abe_dq_entry_init(&b);
    abe_dq_push(&q, &a, 100);
    cr_assert_null(abe_dq_pop_due(&q, 99, UINT64_MAX), "not yet due");
    uint64_t limit = q.next_seq;
    abe_dq_push(&q, &b, 0); /* queued "during the dispatch" */
    cr_assert_null(abe_dq_pop_due(&q, 100, limit),
                   "b waits for the next dispatch even though it is earliest");
    abe_dq_remove(&q, &b);
    cr_assert_eq(abe_dq_pop_due(&q, 100, limit), &a);
    abe_dq_remove(&q, &b); /* not queued: no-op */
    abe_dq_free(&q);
}

Test(deadline_queue, remove_keeps_heap_order)
{
    abe_dq_t q = {0};
    enum { N = 500 };
    abe_dq_entry_t *e = calloc(N, sizeof(*e));
    unsigned seed = 12345;
    for (int i = 0; i < N; i++) {
        abe_dq_entry_init(&e[i]);
        seed = seed * 1103515245u + 12345u;
        abe_dq_push(&q, &e[i], (seed >> 8) % 1000);
    }
    for (int i = 0; i < N; i += 3)
        abe_dq_remove(&q, &e[i]);
    uint64_t last = 0;
    size_t count = 0;
    abe_dq_entry_t *x;
    while ((x = abe_dq_pop_due(&q, UINT64_MAX, UINT64_MAX))) {
        cr_assert_geq(x->deadline_ns, last);
        cr_assert_neq((x - e) % 3, 0, "removed entry came back");
        last = x->deadline_ns;
        count++;
    }
    cr_assert_eq(count, N - (N + 2) / 3);
    free(e);
    abe_dq_free(&q);
}

/* ---- metric hooks (common/abe_hooks.h) ----------------------------------------------------------- */

#include "abe_hooks.h"

static int g_sink_steps, g_sink_failed, g_sink_exec;
static char g_sink_last[64];

static void sink_step(const char *workflow_id, const char *step_name, double seconds, int failed)
{
    g_sink_steps++;
    g_sink_failed += failed;
    snprintf(g_sink_last, sizeof(g_sink_last), "%s/%s/%.3f", workflow_id, step_name, seconds);
}

static void sink_exec(const char *status)
{
    (void)status;
    g_sink_exec++;
}

Test(hooks, counters_and_sinks)
{
    abe_hooks_reset();
    abe_hook_counters_t c;
    abe_hook_step_finished("w", "s", 0.5, 0);
    abe_hook_step_finished("w", "t", -1, 1);
    abe_hook_execution_finished("success");
    abe_hook_execution_finished("failed");
    abe_hook_execution_finished("running");
    abe_hook_execution_finished(NULL);
    abe_hooks_counters(&c);
    cr_assert_eq(c.steps_finished, 2);
    cr_assert_eq(c.steps_failed, 1);
    cr_assert_float_eq(c.step_seconds_sum, 0.5, 1e-12, "negative durations count as 0");
    cr_assert_eq(c.executions_success, 1);
    cr_assert_eq(c.executions_failed, 1);

    abe_hooks_t h = {sink_step, sink_exec};
    abe_hooks_install(&h);
    abe_hook_step_finished("wf", "step", 1.25, 1);
    abe_hook_execution_finished("failed");
    abe_hook_execution_finished("bogus");
    cr_assert_eq(g_sink_steps, 1);
    cr_assert_eq(g_sink_failed, 1);
    cr_assert_str_eq(g_sink_last, "wf/step/1.250");
    cr_assert_eq(g_sink_exec, 1, "unknown statuses are not forwarded");
    abe_hooks_install(NULL);
    abe_hook_step_finished("wf", "step", 1, 0);
    cr_assert_eq(g_sink_steps, 1, "sinks removed");
    abe_hooks_reset();
    abe_hooks_counters(&c);
    cr_assert_eq(c.steps_finished, 0);
}

/*
 * abe_exec_plan.c — the pure execution state machine and deadline queue declared in abe_exec_plan.h
 * (SPEC §4.1–§4.3, §4.6). No I/O, no clock, no logging: callers pass timestamps in.
 *
 * Positions are indexes in step_order. Because step_order is a topological order, every dependency of a
 * step has a smaller position, so single forward passes are enough to propagate readiness and skips, and
 * "the first in step_order" is simply the smallest position.
 */
#include "abe_exec_plan.h"

#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "abe_dag.h"

#define NONE ((size_t)-1)

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));
static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static const char *const status_names[] = {"pending", "ready", "running", "success", "failed", "skipped"};

const char *abe_plan_status_name(abe_step_status_t s)
{
    if ((unsigned)s >= sizeof(status_names) / sizeof(status_names[0])) return "unknown";
    return status_names[s];
}

int abe_plan_status_parse(const char *name)
{
    if (!name) return -1;
    for (size_t i = 0; i < sizeof(status_names) / sizeof(status_names[0]); i++)
        if (strcmp(name, status_names[i]) == 0) return (int)i;
    return -1;
}

void abe_plan_free(abe_plan_t *plan)
{
    if (!plan) return;
    for (size_t i = 0; i < plan->n; i++) {
        free(plan->steps[i].name);
        free(plan->steps[i].deps);
        free(plan->steps[i].dependents);
        free(plan->steps[i].error);
    }
    free(plan->steps);
    free(plan);
}

size_t abe_plan_find(const abe_plan_t *plan, const char *name)
{
    for (size_t i = 0; i < plan->n; i++)
        if (strcmp(plan->steps[i].name, name) == 0) return i;
    return NONE;
}

/* A JSON string without embedded NUL, or NULL. */
static const char *json_cstr(json_t *v)
{
    if (!json_is_string(v)) return NULL;
    const char *s = json_string_value(v);
    if (strlen(s) != json_string_length(v)) return NULL;
    return s;
}

/* An integral JSON number (integer, or real with an integral value) into *out. Returns 1 or 0. */
static int json_integral(json_t *v, int64_t *out)
{
    if (json_is_integer(v)) {
        *out = (int64_t)json_integer_value(v);
        return 1;
    }
    if (json_is_real(v)) {
        double d = json_real_value(v);
        if (d != floor(d) || d < -9.2e18 || d > 9.2e18) return 0;
        *out = (int64_t)d;
        return 1;
    }
    return 0;
}

/* Sorting definition indexes by step name (qsort_r context: the dag steps), for dependency lookups. */
static int cmp_by_name(const void *a, const void *b, void *ctx)
{
    const abe_dag_step_t *steps = ctx;
    return strcmp(steps[*(const size_t *)a].name, steps[*(const size_t *)b].name);
}
static int cmp_size(const void *a, const void *b)
{
    size_t x = *(const size_t *)a, y = *(const size_t *)b;
    return x < y ? -1 : x > y;
}

/* Definition index of name in the sorted index, or NONE. */
static size_t lookup(const abe_dag_step_t *steps, const size_t *sorted, size_t n, const char *name)
{
    size_t lo = 0, hi = n;
    while (lo < hi) {
        size_t mid = lo + (hi - lo) / 2;
        int c = strcmp(steps[sorted[mid]].name, name);
        if (c == 0) return sorted[mid];
        if (c < 0)
            lo = mid + 1;
        else
            hi = mid;
    }
    return NONE;
}

/* Fresh status of every step: ready without dependencies, else pending (SPEC §4.2 "created"). */
static void make_fresh(abe_plan_step_t *s)
{
    s->status = s->ndeps == 0 ? ABE_STEP_READY : ABE_STEP_PENDING;
    s->attempts = 0;
    s->started_at[0] = s->completed_at[0] = '\0';
    s->has_duration = 0;
    s->duration = 0;
    free(s->error);
    s->error = NULL;
    s->carried_over = 0;
    s->failed_ancestor = NONE;
    s->dirty = 0;
}

int abe_plan_build(json_t *snapshot, int max_parallel, abe_plan_t **out, char *err, size_t errlen)
{
    if (!json_is_object(snapshot)) {
        set_err(err, errlen, "snapshot is not an object");
        return ABE_PLAN_BAD;
    }
    json_t *jsteps = json_object_get(snapshot, "steps");
    if (!json_is_array(jsteps)) {
        set_err(err, errlen, "snapshot steps is not a list");
        return ABE_PLAN_BAD;
    }
    json_t *jpar = json_object_get(snapshot, "parallel_execution");
    if (jpar && !json_is_null(jpar) && !json_is_boolean(jpar)) {
        set_err(err, errlen, "snapshot parallel_execution is not a boolean");
        return ABE_PLAN_BAD;
    }
    size_t n = json_array_size(jsteps);
    int rc = ABE_PLAN_NOMEM;
    abe_dag_step_t *dsteps = calloc(n ? n : 1, sizeof(*dsteps));
    size_t *order = calloc(n ? n : 1, sizeof(*order));
    size_t *sorted = calloc(n ? n : 1, sizeof(*sorted));
    size_t *pos_of = calloc(n ? n : 1, sizeof(*pos_of));
    int64_t *durations = calloc(n ? n : 1, sizeof(*durations));
    int *fails = calloc(n ? n : 1, sizeof(*fails));
    abe_plan_t *plan = calloc(1, sizeof(*plan));
    if (!dsteps || !order || !sorted || !pos_of || !durations || !fails || !plan) goto out;
    plan->steps = calloc(n ? n : 1, sizeof(*plan->steps));
    if (!plan->steps) goto out;

    for (size_t i = 0; i < n; i++) {
        json_t *js = json_array_get(jsteps, i);
        if (!json_is_object(js)) {
            set_err(err, errlen, "snapshot step %zu is not an object", i);
            rc = ABE_PLAN_BAD;
            goto out;
        }
        const char *name = json_cstr(json_object_get(js, "name"));
        if (!name || !*name) {
            set_err(err, errlen, "snapshot step %zu has no valid name", i);
            rc = ABE_PLAN_BAD;
            goto out;
        }
        dsteps[i].name = name;
        json_t *jdeps = json_object_get(js, "depends_on");
        if (jdeps && !json_is_null(jdeps)) {
            if (!json_is_array(jdeps)) {
                set_err(err, errlen, "snapshot step '%s' depends_on is not a list", name);
                rc = ABE_PLAN_BAD;
                goto out;
            }
            size_t nd = json_array_size(jdeps);
            dsteps[i].deps = calloc(nd ? nd : 1, sizeof(char *));
            if (!dsteps[i].deps) goto out;
            for (size_t j = 0; j < nd; j++) {
                const char *d = json_cstr(json_array_get(jdeps, j));
                if (!d) {
                    set_err(err, errlen, "snapshot step '%s' has a non-string dependency", name);
                    rc = ABE_PLAN_BAD;
                    goto out;
                }
                dsteps[i].deps[j] = d;
            }
            dsteps[i].ndeps = nd;
        }
        json_t *jfail = json_object_get(js, "fail");
        if (jfail && !json_is_null(jfail) && !json_is_boolean(jfail)) {
            set_err(err, errlen, "snapshot step '%s' fail is not a boolean", name);
            rc = ABE_PLAN_BAD;
            goto out;
        }
        fails[i] = json_is_true(jfail);
        json_t *jdur = json_object_get(js, "duration_ms");
        durations[i] = ABE_PLAN_DEFAULT_DURATION_MS;
        if (jdur && !json_is_null(jdur)) {
            if (!json_integral(jdur, &durations[i]) || durations[i] < 0 ||
                durations[i] > ABE_PLAN_MAX_DURATION_MS) {
                set_err(err, errlen, "snapshot step '%s' duration_ms is not an integer in 0..600000", name);
                rc = ABE_PLAN_BAD;
                goto out;
            }
        }
    }

    int drc = abe_dag_order(dsteps, n, order, err, errlen);
    if (drc == ABE_DAG_NOMEM) goto out;
    if (drc != ABE_DAG_OK) {
        rc = ABE_PLAN_DAG;
        goto out;
    }

    for (size_t i = 0; i < n; i++)
        sorted[i] = i;
    qsort_r(sorted, n, sizeof(*sorted), cmp_by_name, dsteps);
    for (size_t p = 0; p < n; p++)
        pos_of[order[p]] = p;

    plan->n = n;
    plan->parallel = json_is_true(jpar);
    plan->max_parallel = max_parallel < 1 ? 1 : (size_t)max_parallel;
    for (size_t p = 0; p < n; p++) {
        const abe_dag_step_t *d = &dsteps[order[p]];
        abe_plan_step_t *s = &plan->steps[p];
        s->name = strdup(d->name);
        if (!s->name) goto out;
        s->duration_ms = durations[order[p]];
        s->fail = fails[order[p]];
        if (d->ndeps) {
            s->deps = malloc(d->ndeps * sizeof(*s->deps));
            if (!s->deps) goto out;
            for (size_t j = 0; j < d->ndeps; j++)
                s->deps[j] = pos_of[lookup(dsteps, sorted, n, d->deps[j])];
            qsort(s->deps, d->ndeps, sizeof(*s->deps), cmp_size);
            size_t u = 0;
            for (size_t j = 0; j < d->ndeps; j++)
                if (u == 0 || s->deps[u - 1] != s->deps[j]) s->deps[u++] = s->deps[j];
            s->ndeps = u;
        }
    }
    /* Dependents, ascending: walk dependents in position order and append to each dependency. */
    for (size_t p = 0; p < n; p++)
        for (size_t j = 0; j < plan->steps[p].ndeps; j++)
            plan->steps[plan->steps[p].deps[j]].ndependents++;
    for (size_t p = 0; p < n; p++) {
        abe_plan_step_t *s = &plan->steps[p];
        if (s->ndependents) {
            s->dependents = malloc(s->ndependents * sizeof(*s->dependents));
            if (!s->dependents) goto out;
            s->ndependents = 0;
        }
    }
    for (size_t p = 0; p < n; p++)
        for (size_t j = 0; j < plan->steps[p].ndeps; j++) {
            abe_plan_step_t *d = &plan->steps[plan->steps[p].deps[j]];
            d->dependents[d->ndependents++] = p;
        }
    for (size_t p = 0; p < n; p++)
        make_fresh(&plan->steps[p]);
    *out = plan;
    plan = NULL;
    rc = ABE_PLAN_OK;
out:
    if (rc == ABE_PLAN_NOMEM) set_err(err, errlen, "out of memory");
    if (dsteps)
        for (size_t i = 0; i < n; i++)
            free(dsteps[i].deps);
    free(dsteps);
    free(order);
    free(sorted);
    free(pos_of);
    free(durations);
    free(fails);
    if (plan) {
        if (!plan->steps) {
            free(plan);
        } else {
            plan->n = n; /* free every slot, filled or not (calloc'd) */
            abe_plan_free(plan);
        }
    }
    return rc;
}

/* Copy a timestamp field (string or null) into buf. Returns 1, or 0 when it is not a short string. */
static int copy_ts(json_t *v, char buf[ABE_TS_LEN])
{
    if (!v || json_is_null(v)) {
        buf[0] = '\0';
        return 1;
    }
    const char *s = json_cstr(v);
    if (!s || strlen(s) >= ABE_TS_LEN) return 0;
    memcpy(buf, s, strlen(s) + 1);
    return 1;
}

/* A duration_ms field (number or null). Returns 1, or 0 when malformed. */
static int copy_duration(json_t *v, int *has, double *out)
{
    if (!v || json_is_null(v)) {
        *has = 0;
        *out = 0;
        return 1;
    }
    if (!json_is_number(v)) return 0;
    *has = 1;
    *out = json_number_value(v);
    return isfinite(*out) && *out >= 0;
}

int abe_plan_carry(abe_plan_t *plan, json_t *source_steps, char *err, size_t errlen)
{
    if (!json_is_array(source_steps)) {
        set_err(err, errlen, "source steps is not a list");
        return ABE_PLAN_BAD;
    }
    size_t k;
    json_t *row;
    json_array_foreach(source_steps, k, row)
    {
        const char *name = json_cstr(json_object_get(row, "step_name"));
        if (!name) name = json_cstr(json_object_get(row, "name"));
        const char *status = json_cstr(json_object_get(row, "status"));
        if (!name || !status) {
            set_err(err, errlen, "source step %zu is malformed", k);
            return ABE_PLAN_BAD;
        }
        if (strcmp(status, "success") != 0) continue;
        size_t i = abe_plan_find(plan, name);
        if (i == NONE) {
            set_err(err, errlen, "source step '%s' is not in the snapshot", name);
            return ABE_PLAN_BAD;
        }
        abe_plan_step_t *s = &plan->steps[i];
        if (!copy_ts(json_object_get(row, "started_at"), s->started_at) ||
            !copy_ts(json_object_get(row, "completed_at"), s->completed_at) ||
            !copy_duration(json_object_get(row, "duration_ms"), &s->has_duration, &s->duration)) {
            set_err(err, errlen, "source step '%s' has malformed fields", name);
            return ABE_PLAN_BAD;
        }
        s->status = ABE_STEP_SUCCESS;
        s->carried_over = 1;
        s->attempts = 0;
    }
    /* Every other step is fresh: ready when all its dependencies are success. */
    for (size_t i = 0; i < plan->n; i++) {
        abe_plan_step_t *s = &plan->steps[i];
        if (s->status == ABE_STEP_SUCCESS) continue;
        int all = 1;
        for (size_t j = 0; j < s->ndeps; j++)
            if (plan->steps[s->deps[j]].status != ABE_STEP_SUCCESS) all = 0;
        s->status = all ? ABE_STEP_READY : ABE_STEP_PENDING;
    }
    for (size_t i = 0; i < plan->n; i++)
        plan->steps[i].dirty = 0;
    return ABE_PLAN_OK;
}

/* The failed ancestor a skipped step names: over its dependencies, a failed one itself, a skipped one's
 * own failed ancestor; the smallest position wins. NONE when no dependency is failed or skipped. */
static size_t first_failed_ancestor(const abe_plan_t *plan, size_t i)
{
    size_t best = NONE;
    const abe_plan_step_t *s = &plan->steps[i];
    for (size_t j = 0; j < s->ndeps; j++) {
        const abe_plan_step_t *d = &plan->steps[s->deps[j]];
        size_t f = NONE;
        if (d->status == ABE_STEP_FAILED)
            f = s->deps[j];
        else if (d->status == ABE_STEP_SKIPPED)
            f = d->failed_ancestor;
        if (f != NONE && (best == NONE || f < best)) best = f;
    }
    return best;
}

int abe_plan_load_rows(abe_plan_t *plan, json_t *rows, char *err, size_t errlen)
{
    if (!json_is_array(rows)) {
        set_err(err, errlen, "step rows are not a list");
        return ABE_PLAN_BAD;
    }
    unsigned char *seen = calloc(plan->n ? plan->n : 1, 1);
    if (!seen) {
        set_err(err, errlen, "out of memory");
        return ABE_PLAN_NOMEM;
    }
    int rc = ABE_PLAN_BAD;
    size_t k;
    json_t *row;
    json_array_foreach(rows, k, row)
    {
        const char *name = json_cstr(json_object_get(row, "step_name"));
        const char *status = json_cstr(json_object_get(row, "status"));
        int st = abe_plan_status_parse(status);
        if (!name || st < 0) {
            set_err(err, errlen, "step row %zu is malformed", k);
            goto out;
        }
        size_t i = abe_plan_find(plan, name);
        if (i == NONE || seen[i]) {
            set_err(err, errlen, "step row '%s' is unknown or repeated", name);
            goto out;
        }
        seen[i] = 1;
        abe_plan_step_t *s = &plan->steps[i];
        json_t *jerr = json_object_get(row, "error");
        json_t *jatt = json_object_get(row, "attempts");
        json_t *jcarry = json_object_get(row, "carried_over");
        int64_t attempts = 0;
        if (!copy_ts(json_object_get(row, "started_at"), s->started_at) ||
            !copy_ts(json_object_get(row, "completed_at"), s->completed_at) ||
            !copy_duration(json_object_get(row, "duration_ms"), &s->has_duration, &s->duration) ||
            (jerr && !json_is_null(jerr) && !json_cstr(jerr)) || (jatt && !json_integral(jatt, &attempts)) ||
            attempts < 0) {
            set_err(err, errlen, "step row '%s' has malformed fields", name);
            goto out;
        }
        free(s->error);
        s->error = NULL;
        if (json_cstr(jerr) && !(s->error = strdup(json_string_value(jerr)))) {
            rc = ABE_PLAN_NOMEM;
            set_err(err, errlen, "out of memory");
            goto out;
        }
        s->attempts = attempts;
        s->carried_over =
            json_is_true(jcarry) || (json_is_integer(jcarry) && json_integer_value(jcarry) != 0);
        s->status = (abe_step_status_t)st;
        s->dirty = 0;
        if (s->status == ABE_STEP_RUNNING) {
            /* The run that started it is gone: run it again (SPEC §4.5 at-least-once). */
            s->status = ABE_STEP_READY;
            s->started_at[0] = '\0';
            s->dirty = 1;
        }
    }
    for (size_t i = 0; i < plan->n; i++)
        if (!seen[i]) {
            set_err(err, errlen, "step '%s' has no row", plan->steps[i].name);
            goto out;
        }
    plan->running = 0;
    for (size_t i = 0; i < plan->n; i++) {
        abe_plan_step_t *s = &plan->steps[i];
        if (s->status == ABE_STEP_FAILED)
            s->failed_ancestor = i;
        else if (s->status == ABE_STEP_SKIPPED)
            s->failed_ancestor = first_failed_ancestor(plan, i);
        else
            s->failed_ancestor = NONE;
    }
    rc = ABE_PLAN_OK;
out:
    free(seen);
    return rc;
}

/* pending -> skipped for step i, naming its first failed ancestor. */
static void skip_step(abe_plan_t *plan, size_t i, const char *now_ts)
{
    abe_plan_step_t *s = &plan->steps[i];
    size_t f = first_failed_ancestor(plan, i);
    s->failed_ancestor = f;
    s->status = ABE_STEP_SKIPPED;
    snprintf(s->completed_at, sizeof(s->completed_at), "%s", now_ts);
    free(s->error);
    const char *fname = f != NONE ? plan->steps[f].name : s->name;
    size_t len = strlen(fname) + sizeof("Skipped because step '' failed");
    s->error = malloc(len);
    if (s->error) snprintf(s->error, len, "Skipped because step '%s' failed", fname);
    s->dirty = 1;
}

/* Classify step i's dependencies: 1 all success, -1 some failed/skipped, 0 otherwise. */
static int deps_state(const abe_plan_t *plan, size_t i)
{
    const abe_plan_step_t *s = &plan->steps[i];
    int all = 1;
    for (size_t j = 0; j < s->ndeps; j++) {
        abe_step_status_t d = plan->steps[s->deps[j]].status;
        if (d == ABE_STEP_FAILED || d == ABE_STEP_SKIPPED) return -1;
        if (d != ABE_STEP_SUCCESS) all = 0;
    }
    return all;
}

size_t abe_plan_normalize(abe_plan_t *plan, const char *now_ts)
{
    size_t changed = 0;
    for (size_t i = 0; i < plan->n; i++) {
        abe_plan_step_t *s = &plan->steps[i];
        if (s->status != ABE_STEP_PENDING) continue;
        int st = deps_state(plan, i);
        if (st < 0) {
            skip_step(plan, i, now_ts);
            changed++;
        } else if (st > 0) {
            s->status = ABE_STEP_READY;
            s->dirty = 1;
            changed++;
        }
    }
    return changed;
}

size_t abe_plan_next(const abe_plan_t *plan, size_t *out, size_t max)
{
    size_t slots;
    if (plan->parallel)
        slots = plan->running >= plan->max_parallel ? 0 : plan->max_parallel - plan->running;
    else
        slots = plan->running ? 0 : 1;
    if (slots > max) slots = max;
    size_t k = 0;
    for (size_t i = 0; i < plan->n && k < slots; i++)
        if (plan->steps[i].status == ABE_STEP_READY) out[k++] = i;
    return k;
}

int abe_plan_start(abe_plan_t *plan, size_t i, const char *now_ts)
{
    if (i >= plan->n || plan->steps[i].status != ABE_STEP_READY) return -1;
    abe_plan_step_t *s = &plan->steps[i];
    s->status = ABE_STEP_RUNNING;
    s->attempts++;
    snprintf(s->started_at, sizeof(s->started_at), "%s", now_ts);
    s->completed_at[0] = '\0';
    s->has_duration = 0;
    s->duration = 0;
    free(s->error);
    s->error = NULL;
    s->dirty = 1;
    plan->running++;
    return 0;
}

int abe_plan_complete(abe_plan_t *plan, size_t i, const char *now_ts, double duration_ms)
{
    if (i >= plan->n || plan->steps[i].status != ABE_STEP_RUNNING) return -1;
    abe_plan_step_t *s = &plan->steps[i];
    plan->running--;
    snprintf(s->completed_at, sizeof(s->completed_at), "%s", now_ts);
    s->has_duration = 1;
    s->duration = round((duration_ms < 0 ? 0 : duration_ms) * 1000.0) / 1000.0;
    s->dirty = 1;
    if (s->fail) {
        s->status = ABE_STEP_FAILED;
        s->failed_ancestor = i;
        free(s->error);
        s->error = strdup(ABE_PLAN_FAIL_ERROR);
        for (size_t j = i + 1; j < plan->n; j++)
            if (plan->steps[j].status == ABE_STEP_PENDING && deps_state(plan, j) < 0)
                skip_step(plan, j, now_ts);
        return 0;
    }
    s->status = ABE_STEP_SUCCESS;
    for (size_t k = 0; k < s->ndependents; k++) {
        size_t j = s->dependents[k];
        if (plan->steps[j].status == ABE_STEP_PENDING && deps_state(plan, j) > 0) {
            plan->steps[j].status = ABE_STEP_READY;
            plan->steps[j].dirty = 1;
        }
    }
    return 1;
}

int abe_plan_done(const abe_plan_t *plan, const char **status, char **error)
{
    if (plan->running) return 0;
    size_t first_failed = NONE;
    int unfinished = 0;
    for (size_t i = 0; i < plan->n; i++) {
        abe_step_status_t st = plan->steps[i].status;
        if (st == ABE_STEP_READY) return 0;
        if (st == ABE_STEP_FAILED && first_failed == NONE) first_failed = i;
        if (st == ABE_STEP_PENDING) unfinished = 1;
    }
    if (status) *status = (first_failed != NONE || unfinished) ? "failed" : "success";
    if (error) {
        *error = NULL;
        if (first_failed != NONE) {
            const char *x = plan->steps[first_failed].name;
            size_t len = strlen(x) + sizeof("Step '' failed");
            *error = malloc(len);
            if (*error) snprintf(*error, len, "Step '%s' failed", x);
        } else if (unfinished) {
            *error = strdup(ABE_PLAN_RESUME_ERROR);
        }
    }
    return 1;
}

size_t abe_plan_steps_completed(const abe_plan_t *plan)
{
    size_t c = 0;
    for (size_t i = 0; i < plan->n; i++)
        if (plan->steps[i].status == ABE_STEP_SUCCESS || plan->steps[i].status == ABE_STEP_FAILED) c++;
    return c;
}

json_t *abe_plan_step_order(const abe_plan_t *plan)
{
    json_t *a = json_array();
    if (!a) return NULL;
    for (size_t i = 0; i < plan->n; i++)
        if (json_array_append_new(a, json_string(plan->steps[i].name)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

/* JSON string for a timestamp buffer ("" = null). */
static json_t *ts_json(const char *ts)
{
    return ts[0] ? json_string(ts) : json_null();
}

/* The common row fields of step i; with_position adds position and carried_over (create_execution). */
static json_t *row_json(const abe_plan_t *plan, size_t i, int create)
{
    const abe_plan_step_t *s = &plan->steps[i];
    json_t *o = json_object();
    if (!o) return NULL;
    int bad = 0;
    if (create) bad |= json_object_set_new(o, "position", json_integer((json_int_t)i));
    bad |= json_object_set_new(o, "step_name", json_string(s->name));
    bad |= json_object_set_new(o, "status", json_string(abe_plan_status_name(s->status)));
    bad |= json_object_set_new(o, "started_at", ts_json(s->started_at));
    bad |= json_object_set_new(o, "completed_at", ts_json(s->completed_at));
    bad |= json_object_set_new(o, "duration_ms", s->has_duration ? json_real(s->duration) : json_null());
    bad |= json_object_set_new(o, "error", s->error ? json_string(s->error) : json_null());
    bad |= json_object_set_new(o, "attempts", json_integer((json_int_t)s->attempts));
    if (create) bad |= json_object_set_new(o, "carried_over", json_boolean(s->carried_over));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

json_t *abe_plan_rows(const abe_plan_t *plan)
{
    json_t *a = json_array();
    if (!a) return NULL;
    for (size_t i = 0; i < plan->n; i++)
        if (json_array_append_new(a, row_json(plan, i, 1)) != 0) {
            json_decref(a);
            return NULL;
        }
    return a;
}

json_t *abe_plan_take_changes(abe_plan_t *plan)
{
    json_t *a = json_array();
    if (!a) return NULL;
    for (size_t i = 0; i < plan->n; i++)
        if (plan->steps[i].dirty && json_array_append_new(a, row_json(plan, i, 0)) != 0) {
            json_decref(a);
            return NULL;
        }
    for (size_t i = 0; i < plan->n; i++)
        plan->steps[i].dirty = 0;
    return a;
}

/* ---- deadline queue ------------------------------------------------------------------------------ */

void abe_dq_entry_init(abe_dq_entry_t *e)
{
    e->deadline_ns = 0;
    e->seq = 0;
    e->idx = ABE_DQ_NONE;
}

static int dq_less(const abe_dq_entry_t *a, const abe_dq_entry_t *b)
{
    return a->deadline_ns < b->deadline_ns || (a->deadline_ns == b->deadline_ns && a->seq < b->seq);
}

static void dq_set(abe_dq_t *q, size_t i, abe_dq_entry_t *e)
{
    q->heap[i] = e;
    e->idx = i;
}

static void dq_up(abe_dq_t *q, size_t i)
{
    abe_dq_entry_t *e = q->heap[i];
    while (i > 0) {
        size_t p = (i - 1) / 2;
        if (!dq_less(e, q->heap[p])) break;
        dq_set(q, i, q->heap[p]);
        i = p;
    }
    dq_set(q, i, e);
}

static void dq_down(abe_dq_t *q, size_t i)
{
    abe_dq_entry_t *e = q->heap[i];
    for (;;) {
        size_t l = 2 * i + 1, m = i;
        abe_dq_entry_t *best = e;
        if (l < q->len && dq_less(q->heap[l], best)) {
            m = l;
            best = q->heap[l];
        }
        if (l + 1 < q->len && dq_less(q->heap[l + 1], best)) m = l + 1;
        if (m == i) break;
        dq_set(q, i, q->heap[m]);
        i = m;
    }
    dq_set(q, i, e);
}

int abe_dq_push(abe_dq_t *q, abe_dq_entry_t *e, uint64_t deadline_ns)
{
    if (e->idx != ABE_DQ_NONE) return -1;
    if (q->len == q->cap) {
        size_t cap = q->cap ? q->cap * 2 : 64;
        abe_dq_entry_t **h = realloc(q->heap, cap * sizeof(*h));
        if (!h) return -1;
        q->heap = h;
        q->cap = cap;
    }
    e->deadline_ns = deadline_ns;
    e->seq = q->next_seq++;
    q->heap[q->len] = e;
    e->idx = q->len++;
    dq_up(q, e->idx);
    return 0;
}

void abe_dq_remove(abe_dq_t *q, abe_dq_entry_t *e)
{
    size_t i = e->idx;
    if (i == ABE_DQ_NONE || i >= q->len || q->heap[i] != e) return;
    e->idx = ABE_DQ_NONE;
    q->len--;
    if (i == q->len) return;
    dq_set(q, i, q->heap[q->len]);
    if (i > 0 && dq_less(q->heap[i], q->heap[(i - 1) / 2]))
        dq_up(q, i);
    else
        dq_down(q, i);
}

abe_dq_entry_t *abe_dq_peek(const abe_dq_t *q)
{
    return q->len ? q->heap[0] : NULL;
}

abe_dq_entry_t *abe_dq_pop_due(abe_dq_t *q, uint64_t now_ns, uint64_t seq_limit)
{
    abe_dq_entry_t *e = abe_dq_peek(q);
    if (!e || e->deadline_ns > now_ns || e->seq >= seq_limit) return NULL;
    abe_dq_remove(q, e);
    return e;
}

void abe_dq_free(abe_dq_t *q)
{
    free(q->heap);
    q->heap = NULL;
    q->len = q->cap = 0;
}

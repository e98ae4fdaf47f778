/*
 * test_dag.c — unit tests for workflow DAG validation and Kahn order (worker/abe_dag.c, SPEC §3.5 checks
 * and messages, §4.1 FIFO order and its examples), including the 500-step limits.
 *
 * Workflows are written compactly as "c(a) a b(a,a)": space-separated steps, each with an optional
 * parenthesised, comma-separated depends_on list.
 */
#include <criterion/criterion.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abe_dag.h"

#define MAX_STEPS 16
#define MAX_DEPS 8

typedef struct wf {
    char buf[512];
    const char *deps[MAX_STEPS][MAX_DEPS];
    abe_dag_step_t steps[MAX_STEPS];
    size_t n;
} wf_t;

static void parse_wf(wf_t *w, const char *spec)
{
    memset(w, 0, sizeof(*w));
    cr_assert_lt(strlen(spec), sizeof(w->buf));
    strcpy(w->buf, spec);
    char *save = NULL;
    for (char *tok = strtok_r(w->buf, " ", &save); tok; tok = strtok_r(NULL, " ", &save)) {
        cr_assert_lt(w->n, MAX_STEPS);
        abe_dag_step_t *s = &w->steps[w->n];
        s->name = tok;
        s->deps = w->deps[w->n];
        char *open = strchr(tok, '(');
        if (open) {
            *open = '\0';
            char *close = strchr(open + 1, ')');
            cr_assert_not_null(close);
            *close = '\0';
            char *save2 = NULL;
            for (char *d = strtok_r(open + 1, ",", &save2); d; d = strtok_r(NULL, ",", &save2)) {
                cr_assert_lt(s->ndeps, MAX_DEPS);
                w->deps[w->n][s->ndeps++] = d;
            }
        }
        w->n++;
    }
}

/* Run the order and return "a,b,c" (or the detail on failure) in out; returns the rc. */
static int run(const char *spec, char *out, size_t outlen)
{
    wf_t w;
    parse_wf(&w, spec);
    size_t order[MAX_STEPS];
    for (size_t i = 0; i < MAX_STEPS; i++)
        order[i] = 999;
    char detail[256] = "untouched";
    int rc = abe_dag_order(w.steps, w.n, order, detail, sizeof(detail));
    out[0] = '\0';
    if (rc != ABE_DAG_OK) {
        snprintf(out, outlen, "%s", detail);
        return rc;
    }
    cr_assert_str_empty(detail);
    size_t used = 0;
    for (size_t i = 0; i < w.n; i++) {
        cr_assert_lt(order[i], w.n);
        int k = snprintf(out + used, outlen - used, "%s%s", i ? "," : "", w.steps[order[i]].name);
        cr_assert(k > 0 && (size_t)k < outlen - used);
        used += (size_t)k;
    }
    return rc;
}

typedef struct dag_case {
    const char *spec;
    int rc;
    const char *want; /* order or detail */
} dag_case_t;

static const dag_case_t cases[] = {
    /* SPEC §4.1 examples */
    {"a b(a) c(b)", ABE_DAG_OK, "a,b,c"},
    {"a b(a) c(a) d(b,c)", ABE_DAG_OK, "a,b,c,d"},
    {"c(a) a b(a)", ABE_DAG_OK, "a,c,b"},
    {"x y z(x)", ABE_DAG_OK, "x,y,z"},
    /* more order cases */
    {"a", ABE_DAG_OK, "a"},
    {"d(c) c(b) b(a) a", ABE_DAG_OK, "a,b,c,d"},
    {"b(a) a c", ABE_DAG_OK, "a,c,b"},
    {"d(b,c) c(a) b(a) a", ABE_DAG_OK, "a,c,b,d"},
    {"e(a) d b(d) a c(a,d)", ABE_DAG_OK, "d,a,b,e,c"},
    {"a b(a,a,a) c(b,a,b)", ABE_DAG_OK, "a,b,c"},
    {"Step step", ABE_DAG_OK, "Step,step"},
    /* duplicates: first repeated name in definition order, before any other check */
    {"a b a", ABE_DAG_DUPLICATE, "Duplicate step name 'a'"},
    {"a b(zz) b a", ABE_DAG_DUPLICATE, "Duplicate step name 'b'"},
    {"x(x) y y x", ABE_DAG_DUPLICATE, "Duplicate step name 'y'"},
    /* unknown dependency: steps in definition order, deps in list order, before the cycle check */
    {"a(b)", ABE_DAG_UNKNOWN_DEP, "Step 'a' depends on unknown step 'b'"},
    {"a b(a,q,r) c(p)", ABE_DAG_UNKNOWN_DEP, "Step 'b' depends on unknown step 'q'"},
    {"a(b) b(a) c(zz)", ABE_DAG_UNKNOWN_DEP, "Step 'c' depends on unknown step 'zz'"},
    {"a b(A)", ABE_DAG_UNKNOWN_DEP, "Step 'b' depends on unknown step 'A'"},
    /* cycles */
    {"a(b) b(a)", ABE_DAG_CYCLE, "Cycle detected in workflow steps"},
    {"a(a)", ABE_DAG_CYCLE, "Cycle detected in workflow steps"},
    {"a b(a) c(b,c)", ABE_DAG_CYCLE, "Cycle detected in workflow steps"},
    {"a b(a,d) c(b) d(c) e(a)", ABE_DAG_CYCLE, "Cycle detected in workflow steps"},
};

Test(dag, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char out[512];
        int rc = run(cases[i].spec, out, sizeof(out));
        cr_expect_eq(rc, cases[i].rc, "'%s': rc %d, want %d (%s)", cases[i].spec, rc, cases[i].rc, out);
        cr_expect_str_eq(out, cases[i].want, "'%s': got [%s]", cases[i].spec, out);
    }
}

Test(dag, empty_workflow)
{
    char detail[64] = "untouched";
    cr_assert_eq(abe_dag_order(NULL, 0, NULL, detail, sizeof(detail)), ABE_DAG_OK);
    cr_assert_str_empty(detail);
}

Test(dag, detail_optional_and_truncated)
{
    wf_t w;
    parse_wf(&w, "a(a)");
    size_t order[1];
    cr_assert_eq(abe_dag_order(w.steps, w.n, order, NULL, 0), ABE_DAG_CYCLE);
    char small[6];
    cr_assert_eq(abe_dag_order(w.steps, w.n, order, small, sizeof(small)), ABE_DAG_CYCLE);
    cr_assert_str_eq(small, "Cycle");
}

Test(dag, caller_arrays_untouched)
{
    wf_t w;
    parse_wf(&w, "c(a,a) a b(a)");
    wf_t copy = w;
    size_t order[3];
    cr_assert_eq(abe_dag_order(w.steps, w.n, order, NULL, 0), ABE_DAG_OK);
    cr_assert_eq(memcmp(&copy.steps, &w.steps, sizeof(w.steps)), 0);
    cr_assert_eq(memcmp(&copy.deps, &w.deps, sizeof(w.deps)), 0);
    cr_assert_eq(w.steps[0].ndeps, 2);
}

/* Names "s0".."s<n-1>" for the large cases. */
static char (*make_names(size_t n))[16]
{
    char(*names)[16] = malloc(n * sizeof(*names));
    cr_assert_not_null(names);
    for (size_t i = 0; i < n; i++)
        snprintf(names[i], sizeof(names[i]), "s%u", (unsigned)(i % 100000u));
    return names;
}

Test(dag, chain_of_500_defined_backwards)
{
    /* s_i depends on s_{i+1}, defined s0..s499: the order is s499, s498, ..., s0. */
    size_t n = 500;
    char(*names)[16] = make_names(n);
    abe_dag_step_t *steps = calloc(n, sizeof(*steps));
    const char **deps = calloc(n, sizeof(*deps));
    size_t *order = calloc(n, sizeof(*order));
    cr_assert(steps && deps && order);
    for (size_t i = 0; i < n; i++) {
        steps[i].name = names[i];
        if (i + 1 < n) {
            deps[i] = names[i + 1];
            steps[i].deps = &deps[i];
            steps[i].ndeps = 1;
        }
    }
    cr_assert_eq(abe_dag_order(steps, n, order, NULL, 0), ABE_DAG_OK);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(order[i], n - 1 - i);
    /* closing the chain makes it a cycle */
    deps[n - 1] = names[0];
    steps[n - 1].deps = &deps[n - 1];
    steps[n - 1].ndeps = 1;
    char detail[64];
    cr_assert_eq(abe_dag_order(steps, n, order, detail, sizeof(detail)), ABE_DAG_CYCLE);
    cr_assert_str_eq(detail, "Cycle detected in workflow steps");
    free(order);
    free(deps);
    free(steps);
    free(names);
}

Test(dag, dense_500_by_500_is_fast)
{
    /* Every step depends on every earlier step, padded to 500 entries by repeating them (a repeat counts
     * once): 250 000 dependency entries. Then the last step gets an unknown dependency at the very end. */
    size_t n = 500, nd = 500;
    char(*names)[16] = make_names(n);
    abe_dag_step_t *steps = calloc(n, sizeof(*steps));
    const char **deps = calloc(n * nd, sizeof(*deps));
    size_t *order = calloc(n, sizeof(*order));
    cr_assert(steps && deps && order);
    for (size_t i = 0; i < n; i++) {
        steps[i].name = names[i];
        if (i == 0) continue;
        steps[i].deps = &deps[i * nd];
        steps[i].ndeps = nd;
        for (size_t d = 0; d < nd; d++)
            deps[i * nd + d] = names[(i - 1) - (d % i)];
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    cr_assert_eq(abe_dag_order(steps, n, order, NULL, 0), ABE_DAG_OK);
    clock_gettime(CLOCK_MONOTONIC, &t1);
    for (size_t i = 0; i < n; i++)
        cr_assert_eq(order[i], i);
    double ms = (double)(t1.tv_sec - t0.tv_sec) * 1e3 + (double)(t1.tv_nsec - t0.tv_nsec) / 1e6;
    cr_expect_lt(ms, 500.0, "took %.1f ms", ms);

    deps[(n - 1) * nd + nd - 1] = "nope";
    char detail[128];
    cr_assert_eq(abe_dag_order(steps, n, order, detail, sizeof(detail)), ABE_DAG_UNKNOWN_DEP);
    cr_assert_str_eq(detail, "Step 's499' depends on unknown step 'nope'");

    steps[n - 1].name = names[3];
    cr_assert_eq(abe_dag_order(steps, n, order, detail, sizeof(detail)), ABE_DAG_DUPLICATE);
    cr_assert_str_eq(detail, "Duplicate step name 's3'");
    free(order);
    free(deps);
    free(steps);
    free(names);
}

Test(dag, wide_fan_out_keeps_definition_order)
{
    /* root defined last; 200 children defined first depend on it; order = root, then children in order. */
    size_t n = 201;
    char(*names)[16] = make_names(n);
    abe_dag_step_t *steps = calloc(n, sizeof(*steps));
    const char *root = names[n - 1];
    size_t *order = calloc(n, sizeof(*order));
    cr_assert(steps && order);
    for (size_t i = 0; i < n; i++) {
        steps[i].name = names[i];
        if (i + 1 < n) {
            steps[i].deps = &root;
            steps[i].ndeps = 1;
        }
    }
    cr_assert_eq(abe_dag_order(steps, n, order, NULL, 0), ABE_DAG_OK);
    cr_assert_eq(order[0], n - 1);
    for (size_t i = 1; i < n; i++)
        cr_assert_eq(order[i], i - 1);
    free(order);
    free(steps);
    free(names);
}

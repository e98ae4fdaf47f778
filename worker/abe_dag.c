/*
 * abe_dag.c — workflow DAG validation and step order (SPEC §3.5 checks, §4.1 Kahn FIFO). Used by the
 * workflow create handler (validation only) and by execute (validation + step_order).
 *
 * Names are resolved through an open-addressing hash table (FNV-1a, linear probing), and the dependency
 * graph is held as a compressed "dependents" list built in definition order, so the whole run is
 * O(steps + dependency entries) expected: 500 steps × 500 depends_on entries is 250 000 lookups.
 * All working memory is malloc'd here and freed before returning; the caller's arrays are only read.
 */
#include "abe_dag.h"

#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

static uint64_t fnv1a(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Table of step indexes keyed by name; slot value SIZE_MAX = empty. */
typedef struct name_table {
    size_t *slots;
    size_t mask;
    const abe_dag_step_t *steps;
} name_table_t;

static size_t table_find(const name_table_t *t, const char *name)
{
    size_t j = fnv1a(name) & t->mask;
    while (t->slots[j] != SIZE_MAX) {
        if (strcmp(t->steps[t->slots[j]].name, name) == 0) return t->slots[j];
        j = (j + 1) & t->mask;
    }
    return SIZE_MAX;
}

/* Insert step i; returns the index of an earlier step with the same name, or SIZE_MAX when inserted. */
static size_t table_insert(name_table_t *t, size_t i)
{
    const char *name = t->steps[i].name;
    size_t j = fnv1a(name) & t->mask;
    while (t->slots[j] != SIZE_MAX) {
        if (strcmp(t->steps[t->slots[j]].name, name) == 0) return t->slots[j];
        j = (j + 1) & t->mask;
    }
    t->slots[j] = i;
    return SIZE_MAX;
}

static void set_detail(char *detail, size_t detail_len, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static void set_detail(char *detail, size_t detail_len, const char *fmt, ...)
{
    if (!detail || detail_len == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(detail, detail_len, fmt, ap);
    va_end(ap);
}

int abe_dag_order(const abe_dag_step_t *steps, size_t n, size_t *order, char *detail, size_t detail_len)
{
    if (detail && detail_len) detail[0] = '\0';
    if (n == 0) return ABE_DAG_OK;

    /* Table with at least 2n slots (power of two), so probes stay short and a free slot always exists. */
    size_t cap = 16;
    while (cap < n * 2) {
        if (cap > SIZE_MAX / 4) return ABE_DAG_NOMEM;
        cap *= 2;
    }
    name_table_t t = {.slots = malloc(cap * sizeof(size_t)), .mask = cap - 1, .steps = steps};
    if (!t.slots) return ABE_DAG_NOMEM;
    memset(t.slots, 0xff, cap * sizeof(size_t)); /* every slot SIZE_MAX */

    int rc = ABE_DAG_OK;
    size_t *dep_idx = NULL, *indeg = NULL, *start = NULL, *dependents = NULL, *stamp = NULL;

    /* 1. duplicate names, definition order. */
    for (size_t i = 0; i < n; i++) {
        if (table_insert(&t, i) != SIZE_MAX) {
            set_detail(detail, detail_len, "Duplicate step name '%s'", steps[i].name);
            rc = ABE_DAG_DUPLICATE;
            goto out;
        }
    }

    /* 2. unknown dependencies, steps in definition order, depends_on in list order; resolve as we go. */
    size_t total = 0;
    for (size_t i = 0; i < n; i++) {
        if (steps[i].ndeps > SIZE_MAX / sizeof(size_t) - total) {
            rc = ABE_DAG_NOMEM;
            goto out;
        }
        total += steps[i].ndeps;
    }
    dep_idx = malloc((total ? total : 1) * sizeof(size_t));
    indeg = calloc(n, sizeof(size_t));
    start = calloc(n + 1, sizeof(size_t));
    stamp = malloc(n * sizeof(size_t));
    if (!dep_idx || !indeg || !start || !stamp) {
        rc = ABE_DAG_NOMEM;
        goto out;
    }
    for (size_t i = 0, k = 0; i < n; i++) {
        for (size_t d = 0; d < steps[i].ndeps; d++, k++) {
            size_t j = table_find(&t, steps[i].deps[d]);
            if (j == SIZE_MAX) {
                set_detail(detail, detail_len, "Step '%s' depends on unknown step '%s'", steps[i].name,
                           steps[i].deps[d]);
                rc = ABE_DAG_UNKNOWN_DEP;
                goto out;
            }
            dep_idx[k] = j;
        }
    }

    /* 3. Kahn. Distinct dependencies only (stamp[j] == i marks j already counted for step i). A repeated
     *    dependency is marked SIZE_MAX in dep_idx so the dependents lists hold each edge once. */
    memset(stamp, 0xff, n * sizeof(size_t));
    for (size_t i = 0, k = 0; i < n; i++) {
        for (size_t d = 0; d < steps[i].ndeps; d++, k++) {
            size_t j = dep_idx[k];
            if (stamp[j] == i) {
                dep_idx[k] = SIZE_MAX;
                continue;
            }
            stamp[j] = i;
            indeg[i]++;
            start[j + 1]++;
        }
    }
    for (size_t j = 0; j < n; j++)
        start[j + 1] += start[j];
    dependents = malloc((start[n] ? start[n] : 1) * sizeof(size_t));
    if (!dependents) {
        rc = ABE_DAG_NOMEM;
        goto out;
    }
    /* Fill in definition order of the dependent, so each list is already in definition order. stamp is
     * reused as the per-node fill cursor. */
    for (size_t j = 0; j < n; j++)
        stamp[j] = start[j];
    for (size_t i = 0, k = 0; i < n; i++) {
        for (size_t d = 0; d < steps[i].ndeps; d++, k++) {
            size_t j = dep_idx[k];
            if (j != SIZE_MAX) dependents[stamp[j]++] = i;
        }
    }

    /* FIFO queue = order itself: head reads, tail appends. */
    size_t head = 0, tail = 0;
    for (size_t i = 0; i < n; i++)
        if (indeg[i] == 0) order[tail++] = i;
    while (head < tail) {
        size_t m = order[head++];
        for (size_t e = start[m]; e < start[m + 1]; e++) {
            size_t s = dependents[e];
            if (--indeg[s] == 0) order[tail++] = s;
        }
    }
    if (tail < n) {
        set_detail(detail, detail_len, "Cycle detected in workflow steps");
        rc = ABE_DAG_CYCLE;
    }

out:
    free(t.slots);
    free(dep_idx);
    free(indeg);
    free(start);
    free(stamp);
    free(dependents);
    return rc;
}

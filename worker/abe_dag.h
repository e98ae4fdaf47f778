/*
 * abe_dag.h — workflow DAG validation and Kahn order (SPEC §3.5, §4.1). Pure; no allocation visible to
 * the caller beyond what it passes in.
 */
#ifndef ABE_DAG_H
#define ABE_DAG_H

#include <stddef.h>

typedef struct abe_dag_step {
    const char *name;       /* NUL-terminated, borrowed */
    const char **deps;      /* depends_on entries in list order (may repeat; a repeat counts once) */
    size_t ndeps;
} abe_dag_step_t;

enum { ABE_DAG_OK = 0, ABE_DAG_DUPLICATE = 1, ABE_DAG_UNKNOWN_DEP = 2, ABE_DAG_CYCLE = 3, ABE_DAG_NOMEM = -1 };

/*
 * abe_dag_order — validate steps[0..n) and compute the Kahn order (FIFO seeded in definition order; when a
 * step is popped, its dependents are visited in definition order).
 *   order: caller array of n indexes receiving the order on success.
 *   detail/detail_len: on failure the exact SPEC §3.5 400 message ("Duplicate step name 'x'",
 *   "Step 'a' depends on unknown step 'b'", "Cycle detected in workflow steps").
 * Returns ABE_DAG_OK or one of the error codes (checks in SPEC order: duplicate, unknown, cycle).
 */
int abe_dag_order(const abe_dag_step_t *steps, size_t n, size_t *order, char *detail, size_t detail_len);

#endif

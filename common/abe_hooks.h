/*
 * abe_hooks.h — the execution engine's observation points for metrics (SPEC §4.3 "Metrics", §7.2
 * workflow_step_duration_seconds, workflow_step_errors_total, workflow_executions_total).
 *
 * The engine (worker/abe_engine.c) calls abe_hook_step_finished and abe_hook_execution_finished at the
 * moments SPEC §4.3 names. This module always keeps plain per-process counters (readable with
 * abe_hooks_counters, used by tests and logs) and forwards each event to the sinks a metrics module
 * registered with abe_hooks_install — that is the integration point for the shared-memory metrics: the
 * metrics code installs its recorders once per process and the engine needs no change. Single-threaded use
 * per process (a worker's event loop); no locking.
 */
#ifndef ABE_HOOKS_H
#define ABE_HOOKS_H

#include <stdint.h>

/* Sinks a metrics module can install. Any member may be NULL. Strings are borrowed for the call only. */
typedef struct abe_hooks {
    /* A step reached success or failed after running `seconds` (wall time of the attempt). */
    void (*step_finished)(const char *workflow_id, const char *step_name, double seconds, int failed);
    /* An execution completed with status "success" or "failed". */
    void (*execution_finished)(const char *status);
} abe_hooks_t;

/* Per-process event counts since start (or the last abe_hooks_reset). */
typedef struct abe_hook_counters {
    uint64_t steps_finished; /* success + failed */
    uint64_t steps_failed;
    uint64_t executions_success;
    uint64_t executions_failed;
    double step_seconds_sum;
} abe_hook_counters_t;

/*
 * abe_hooks_install — register sinks (copied); NULL removes them. Call before the worker loop starts.
 */
void abe_hooks_install(const abe_hooks_t *hooks);

/*
 * abe_hook_step_finished — a step reached success (failed = 0) or failed (failed = 1). workflow_id and
 * step_name: the execution's workflow id and the step name (borrowed). seconds: the attempt's wall time in
 * seconds (negative values count as 0). Carried and skipped steps are never reported (SPEC §4.3).
 */
void abe_hook_step_finished(const char *workflow_id, const char *step_name, double seconds, int failed);

/* abe_hook_execution_finished — an execution completed; status is "success" or "failed" (others ignored). */
void abe_hook_execution_finished(const char *status);

/* abe_hooks_counters — copy the counters into *out. */
void abe_hooks_counters(abe_hook_counters_t *out);

/* abe_hooks_reset — zero the counters (tests). */
void abe_hooks_reset(void);

#endif

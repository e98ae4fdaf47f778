/*
 * abe_exec_plan.h — the pure state machine of one workflow execution (SPEC §4.1–§4.3, §4.6) and the
 * deadline queue the engine keeps its step timers in.
 *
 * The plan holds the execution's steps in step_order (position i = index i), their dependencies as
 * positions (deduplicated; always smaller than the dependent's position because the order is topological),
 * the simulated duration and forced failure of each step, and the persisted row state (status, attempts,
 * timestamps, measured duration, error, carried_over). The engine (abe_engine.c) feeds it events — start a
 * step, a step's time is up — with timestamps it reads from the clock; the plan computes every resulting
 * transition and marks the rows it changed so that one event becomes one step_transition operation
 * (daemon/abe_store.h). Nothing here does I/O, reads a clock or logs, so every rule is unit-tested with fixed
 * timestamps (tests/unit/test_exec_plan.c). The execute and replay handlers use it to compute step_order
 * and the initial step rows of a new execution; adoption uses it to rebuild a run from the DB.
 */
#ifndef ABE_EXEC_PLAN_H
#define ABE_EXEC_PLAN_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>
#include "abe_util.h"

/* Step statuses, SPEC §4.2. The order of the values is not significant. */
typedef enum {
    ABE_STEP_PENDING = 0,
    ABE_STEP_READY,
    ABE_STEP_RUNNING,
    ABE_STEP_SUCCESS,
    ABE_STEP_FAILED,
    ABE_STEP_SKIPPED
} abe_step_status_t;

#define ABE_PLAN_DEFAULT_DURATION_MS 500
#define ABE_PLAN_MAX_DURATION_MS 600000
#define ABE_PLAN_FAIL_ERROR "Simulated step failure"
#define ABE_PLAN_RESUME_ERROR "Execution could not be resumed"

typedef struct abe_plan_step {
    char *name;   /* malloc'd copy of the step name */
    size_t *deps; /* positions of the distinct dependencies, ascending (malloc'd, may be NULL) */
    size_t ndeps;
    size_t *dependents; /* positions of the steps that depend on this one, ascending (malloc'd) */
    size_t ndependents;
    int64_t duration_ms; /* simulated run time, 0..600000 */
    int fail;            /* the step fails when its time is up */
    abe_step_status_t status;
    int64_t attempts;
    char started_at[ABE_TS_LEN];   /* "" = null */
    char completed_at[ABE_TS_LEN]; /* "" = null */
    int has_duration;
    double duration; /* measured ms, rounded to 3 decimals (valid when has_duration) */
    char *error;     /* malloc'd or NULL */
    int carried_over;
    size_t failed_ancestor; /* for failed/skipped steps: the position SPEC §4.2 names in the skip error */
    int dirty;              /* changed since the last abe_plan_take_changes */
} abe_plan_step_t;

typedef struct abe_plan {
    size_t n;
    abe_plan_step_t *steps; /* in step_order */
    int parallel;           /* snapshot parallel_execution */
    size_t max_parallel;    /* MAX_PARALLEL_STEPS, >= 1 */
    size_t running;         /* steps currently running */
} abe_plan_t;

/* Return codes of abe_plan_build / abe_plan_load_rows / abe_plan_carry. */
enum { ABE_PLAN_OK = 0, ABE_PLAN_BAD = 1, ABE_PLAN_DAG = 2, ABE_PLAN_NOMEM = -1 };

/*
 * abe_plan_build — parse an input_snapshot {"workflow_id", "parallel_execution", "steps":[WorkflowStep]}
 * (SPEC §3.1, §3.6), validate the DAG and order the steps (SPEC §4.1, through abe_dag_order), and create a
 * plan whose steps are fresh (SPEC §4.2 "created": ready without dependencies, else pending; attempts 0).
 *   snapshot: borrowed. Missing optional step fields take the WorkflowStep defaults.
 *   max_parallel: MAX_PARALLEL_STEPS (values < 1 count as 1).
 *   *out: the plan (caller frees with abe_plan_free); untouched on failure.
 *   err/errlen: on ABE_PLAN_DAG the exact SPEC §3.5 400 detail; on ABE_PLAN_BAD what was malformed.
 * Returns ABE_PLAN_OK, ABE_PLAN_BAD (snapshot shape), ABE_PLAN_DAG (duplicate/unknown/cycle) or
 * ABE_PLAN_NOMEM. No step is dirty after a successful build.
 */
int abe_plan_build(json_t *snapshot, int max_parallel, abe_plan_t **out, char *err, size_t errlen);

/* abe_plan_free — release a plan and everything it owns. NULL-safe. */
void abe_plan_free(abe_plan_t *plan);

/* abe_plan_find — position of the step named name, or SIZE_MAX. O(n). */
size_t abe_plan_find(const abe_plan_t *plan, const char *name);

/*
 * abe_plan_carry — prepare a mode=failed replay (SPEC §4.6): every step of source_steps (an ExecutionStep
 * array from the source execution, borrowed) whose status is "success" becomes success with
 * carried_over true, attempts 0, and the source's started_at, completed_at and duration_ms; every other
 * step is fresh: ready if all its dependencies are success, else pending. Call right after abe_plan_build.
 * Returns ABE_PLAN_OK, or ABE_PLAN_BAD when a row is malformed or names an unknown step (err set).
 * No step is dirty afterwards (these are the rows of a new execution).
 */
int abe_plan_carry(abe_plan_t *plan, json_t *source_steps, char *err, size_t errlen);

/*
 * abe_plan_load_rows — resume a run from its persisted step rows (abe_dbr_owned_executions "steps":
 * {step_name, status, started_at, completed_at, duration_ms, error, attempts, carried_over}, borrowed).
 * A row still "running" goes back to ready with started_at cleared (SPEC §4.5 at-least-once) and is marked
 * dirty. The caller then runs abe_plan_normalize to repair anything an interrupted run left behind.
 * Returns ABE_PLAN_OK, or ABE_PLAN_BAD (unknown step, unknown status, a step without a row, bad field).
 */
int abe_plan_load_rows(abe_plan_t *plan, json_t *rows, char *err, size_t errlen);

/*
 * abe_plan_normalize — in step_order, turn every pending step whose dependencies are all success into
 * ready, and every pending step with a failed or skipped dependency into skipped (completed_at = now_ts,
 * the SPEC §4.2 skip error). Changed steps are marked dirty. Returns the number of steps changed.
 */
size_t abe_plan_normalize(abe_plan_t *plan, const char *now_ts);

/*
 * abe_plan_next — the steps the scheduler starts now (SPEC §4.3): sequential mode, the first ready step in
 * step_order when none is running; parallel mode, ready steps in step_order up to max_parallel minus the
 * running count. Writes at most max positions to out and returns how many. Does not change the plan.
 */
size_t abe_plan_next(const abe_plan_t *plan, size_t *out, size_t max);

/*
 * abe_plan_start — ready -> running for position i: attempts + 1, started_at = now_ts, completed_at,
 * duration and error cleared; marked dirty. Returns 0, or -1 if i is out of range or not ready.
 */
int abe_plan_start(abe_plan_t *plan, size_t i, const char *now_ts);

/*
 * abe_plan_complete — step i's time is up (SPEC §4.2): running -> success, or failed with
 * "Simulated step failure" when the step has fail set. Sets completed_at = now_ts and the measured
 * duration (ms, rounded here to 3 decimals). On success every pending dependent whose dependencies are all
 * success becomes ready; on failure every pending step that now has a failed or skipped dependency becomes
 * skipped with "Skipped because step '<f>' failed" (f = its first failed ancestor in step_order) and
 * completed_at = now_ts. Every changed row is marked dirty.
 * Returns 1 when the step succeeded, 0 when it failed, -1 if i is out of range or not running.
 */
int abe_plan_complete(abe_plan_t *plan, size_t i, const char *now_ts, double duration_ms);

/*
 * abe_plan_done — 1 when nothing is running and nothing can start: the execution is finished. status
 * receives "success" (every step success) or "failed"; *error (malloc'd, caller frees; NULL for success)
 * "Step '<x>' failed" with x the first failed step in step_order, or "Execution could not be resumed" for
 * a plan left with unfinished steps it cannot run. status/error may be NULL. Returns 0 while running.
 */
int abe_plan_done(const abe_plan_t *plan, const char **status, char **error);

/* abe_plan_steps_completed — steps in success or failed (SPEC §4.2; skipped steps do not count). */
size_t abe_plan_steps_completed(const abe_plan_t *plan);

/* abe_plan_status_name — "pending", "ready", "running", "success", "failed" or "skipped". */
const char *abe_plan_status_name(abe_step_status_t s);

/* abe_plan_status_parse — the status for a name; returns -1 if unknown. */
int abe_plan_status_parse(const char *name);

/*
 * abe_plan_step_order — new JSON array of the step names in step_order (for create_execution). NULL on
 * allocation failure.
 */
json_t *abe_plan_step_order(const abe_plan_t *plan);

/*
 * abe_plan_rows — new JSON array of create_execution step rows (daemon/abe_store.h): {position, step_name,
 * status, started_at, completed_at, duration_ms, error, attempts, carried_over} for every step in
 * step_order. NULL on allocation failure.
 */
json_t *abe_plan_rows(const abe_plan_t *plan);

/*
 * abe_plan_take_changes — new JSON array of step_transition rows {step_name, status, started_at,
 * completed_at, duration_ms, error, attempts} for every dirty step, in step_order; clears the dirty
 * marks. Returns an empty array when nothing changed, NULL on allocation failure (marks kept).
 */
json_t *abe_plan_take_changes(abe_plan_t *plan);

/* ---- deadline queue ------------------------------------------------------------------------------ */

/*
 * abe_dq_entry_t — an intrusive timer: embed it in the owner's struct. deadline_ns is a CLOCK_MONOTONIC
 * time in ns; idx is its heap slot (ABE_DQ_NONE when not queued); seq breaks ties in insertion order.
 */
#define ABE_DQ_NONE ((size_t)-1)

typedef struct abe_dq_entry {
    uint64_t deadline_ns;
    uint64_t seq;
    size_t idx;
} abe_dq_entry_t;

/* abe_dq_t — a binary min-heap of entries ordered by (deadline_ns, seq). Zero-initialise before use. */
typedef struct abe_dq {
    abe_dq_entry_t **heap;
    size_t len, cap;
    uint64_t next_seq;
} abe_dq_t;

/* abe_dq_entry_init — mark e as not queued. */
void abe_dq_entry_init(abe_dq_entry_t *e);

/* abe_dq_push — queue e (not already queued) at deadline_ns. Returns 0, or -1 on allocation failure. */
int abe_dq_push(abe_dq_t *q, abe_dq_entry_t *e, uint64_t deadline_ns);

/* abe_dq_remove — unqueue e if it is queued (no-op otherwise). */
void abe_dq_remove(abe_dq_t *q, abe_dq_entry_t *e);

/* abe_dq_peek — the earliest entry, or NULL when empty. */
abe_dq_entry_t *abe_dq_peek(const abe_dq_t *q);

/*
 * abe_dq_pop_due — remove and return the earliest entry if its deadline is <= now_ns and its seq is below
 * seq_limit (entries queued after a dispatch began wait for the next one); NULL otherwise.
 */
abe_dq_entry_t *abe_dq_pop_due(abe_dq_t *q, uint64_t now_ns, uint64_t seq_limit);

/* abe_dq_free — release the heap array (entries belong to their owners). */
void abe_dq_free(abe_dq_t *q);

#endif

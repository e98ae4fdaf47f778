/*
 * abe_engine.h — the workflow execution engine inside a worker (SPEC §4): runs executions on the worker's
 * event loop (steps are monotonic timers; nothing sleeps or blocks), persists every transition through the
 * persistence process with the run's fencing epoch, and adopts executions the supervisor assigned to this
 * worker.
 */
#ifndef ABE_ENGINE_H
#define ABE_ENGINE_H

#include <h2o.h>
#include <jansson.h>
#include <stddef.h>

/* abe_engine_init — set up timers for this worker's loop. Returns 0 or -1. */
int abe_engine_init(h2o_loop_t *loop);

/*
 * abe_engine_poll_owned — called about once a second by the worker: loads every pending/running execution
 * that the DB says this pid owns but the engine is not driving (adoption, SPEC §4.5) and resumes it.
 */
void abe_engine_poll_owned(void);

/*
 * abe_engine_handback — graceful leave (SPEC §4.5 hand-back): stop every run's timers, send one
 * handback_execution for this pid, and call done(arg) when it is acknowledged or has failed.
 * Returns the number of executions that were being driven.
 */
size_t abe_engine_handback(void (*done)(void *arg), void *arg);

struct abe_plan;

/*
 * abe_engine_created_fn — completion of abe_engine_create: status is the create_execution reply
 * (abe_ipc_status_t), result its payload (borrowed for the call; may be NULL). Called exactly once, from
 * the event loop, before the run starts.
 */
typedef void (*abe_engine_created_fn)(void *arg, int status, json_t *result);

/*
 * abe_engine_create — persist a new execution and then run it on this worker (SPEC §3.6 execute, §4.6
 * replay). Added for the execute/replay handlers (backward-compatible extension of this header).
 *   payload: the complete create_execution payload (daemon/abe_store.h), borrowed; its execution_id,
 *            workflow_id and run_epoch identify the run, owner_pid must be getpid().
 *   plan: the execution's plan (worker/abe_exec_plan.h) matching payload's step rows; ownership passes to
 *         the engine in every case.
 *   created/arg: called once with the reply. On ABE_IPC_OK the engine then sends start_execution and drives
 *         the steps (a run registered here is never picked up a second time by abe_engine_poll_owned).
 * The create is a request operation (subject to backpressure, SPEC §9.3); the run's later operations are
 * runner operations. Returns 0 when submitted, -1 when persistence is unreachable right now (created is
 * not called; answer 503).
 */
int abe_engine_create(json_t *payload, struct abe_plan *plan, abe_engine_created_fn created, void *arg);

#endif

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

/* abe_engine_active — executions currently driven by this worker. */
size_t abe_engine_active(void);

#endif

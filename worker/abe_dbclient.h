/*
 * abe_dbclient.h — the worker's non-blocking client for the persistence process, driven by the worker's
 * h2o event loop (SPEC §9.2–§9.3). One Unix stream connection per worker; requests are pipelined and
 * answered in order; each has a deadline (30 s) after which its callback gets ABE_IPC_ERR_UNAVAILABLE.
 * If the connection breaks every pending request fails with ABE_IPC_ERR_UNAVAILABLE and the next submit
 * reconnects. The loop never blocks on this socket.
 */
#ifndef ABE_DBCLIENT_H
#define ABE_DBCLIENT_H

#include <h2o.h>
#include <jansson.h>
#include <stdatomic.h>
#include <stdint.h>
#include "abe_ipc.h"

/*
 * abe_dbc_cb — completion callback, called exactly once per accepted submit, never from inside
 * abe_dbc_submit. status is an abe_ipc_status_t; result is the reply payload (borrowed, valid only during
 * the call; an object, possibly {"message": …} on errors; may be NULL on ABE_IPC_ERR_UNAVAILABLE).
 */
typedef void (*abe_dbc_cb)(void *arg, int status, json_t *result);

/*
 * abe_dbc_init — set up the client for this worker process.
 *   loop: the worker's evloop. addr: persistence socket address (path or "@abstract").
 *   timeout_ms: per-request deadline in ms (SPEC: 30000).
 * Connects lazily. Returns 0 or -1.
 */
int abe_dbc_init(h2o_loop_t *loop, const char *addr, uint32_t timeout_ms);

/*
 * abe_dbc_submit — queue one operation. payload is serialised immediately (borrowed).
 * flags: ABE_IPC_F_RUNNER for runner operations.
 * Returns 0 when accepted (cb will be called later), -1 when the persistence process is unreachable
 * right now (cb will NOT be called; answer 503 "Database unavailable; retry later").
 */
int abe_dbc_submit(abe_op_t op, uint16_t flags, json_t *payload, abe_dbc_cb cb, void *arg);

/*
 * abe_dbc_publish_pending — keep *counter (shared memory, may be NULL) equal to abe_dbc_pending(), so the
 * backpressure check can see operations that are still in a worker's buffers or the socket when the
 * persistence process stalls (SPEC §9.3).
 */
void abe_dbc_publish_pending(_Atomic int64_t *counter);

/*
 * abe_dbc_connect — connect now instead of on the first submit, so a worker holds its persistence connection
 * before a flood of client connections can exhaust its descriptors. Returns 0, or -1 (the next submit
 * retries).
 */
int abe_dbc_connect(void);

/* abe_dbc_pending — number of requests awaiting a reply (used to drain before exit). */
size_t abe_dbc_pending(void);

/* abe_dbc_close — fail everything pending with UNAVAILABLE and close the connection. */
void abe_dbc_close(void);

#endif

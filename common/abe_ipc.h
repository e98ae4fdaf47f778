/*
 * abe_ipc.h — the worker <-> persistence wire protocol (SPEC §9.2).
 *
 * A Unix stream socket carries length-prefixed frames in both directions. Every frame has a fixed
 * 16-byte header followed by a JSON payload (compact UTF-8, jansson):
 *
 *   offset size field
 *   0      4    magic   'A','B','E','1'
 *   4      4    length  payload length in bytes, big-endian, <= ABE_IPC_MAX_PAYLOAD
 *   8      4    id      request id chosen by the requester, echoed in the reply (big-endian)
 *   12     1    op      abe_op_t (requests) / the op being answered (replies)
 *   13     1    status  0 in requests; abe_ipc_status_t in replies
 *   14     2    flags   ABE_IPC_F_* (big-endian)
 *
 * A request payload is the operation's JSON object (documented per op in daemon/abe_store.h). A reply payload
 * is the result object on ABE_IPC_OK, else {"message": "<text>"}. The persistence process answers each
 * request exactly once, in commit order; a connection that sends a garbage frame is closed.
 * Hand-written because no Debian library frames messages over a stream socket for us; kept tiny.
 */
#ifndef ABE_IPC_H
#define ABE_IPC_H

#include <stddef.h>
#include <stdint.h>

#define ABE_IPC_HEADER_SIZE 16
#define ABE_IPC_MAX_PAYLOAD (160u * 1024u * 1024u) /* bytes; > 2 x the largest MAX_BODY_BYTES */

#define ABE_IPC_F_RUNNER 0x0001 /* runner operation: never refused by backpressure (SPEC §9.3) */

typedef enum {
    ABE_OP_NONE = 0,
    ABE_OP_CREATE_CONVERSATION = 1,
    ABE_OP_APPEND_MESSAGES = 2,
    ABE_OP_CREATE_WORKFLOW = 3,
    ABE_OP_DELETE_WORKFLOW = 4,
    ABE_OP_CREATE_EXECUTION = 5,
    ABE_OP_START_EXECUTION = 6,
    ABE_OP_STEP_TRANSITION = 7,
    ABE_OP_FINISH_EXECUTION = 8,
    ABE_OP_HANDBACK_EXECUTION = 9,
    ABE_OP_ADOPT_EXECUTION = 10,
    ABE_OP_PURGE_EXECUTIONS = 11,
    ABE_OP_SYNC_AGENTS = 12,
    ABE_OP_PROBE = 13, /* readiness: answered after BEGIN IMMEDIATE succeeded in a batch; payload {} */
    ABE_OP__COUNT
} abe_op_t;

typedef enum {
    ABE_IPC_OK = 0,
    ABE_IPC_ERR_DB = 1,         /* SQLite failed; the op's savepoint was rolled back (HTTP 500) */
    ABE_IPC_ERR_NOT_FOUND = 2,  /* target row missing (HTTP 404) */
    ABE_IPC_ERR_CONFLICT = 3,   /* state forbids the op, e.g. delete with running executions (HTTP 409) */
    ABE_IPC_ERR_STALE = 4,      /* fencing epoch/owner mismatch; the runner must stop (SPEC §4.5) */
    ABE_IPC_ERR_QUEUE_FULL = 5, /* backpressure (HTTP 503 + Retry-After: 1) */
    ABE_IPC_ERR_BAD_REQUEST = 6,/* payload not understood */
    ABE_IPC_ERR_UNAVAILABLE = 7 /* client side only: no connection / timeout (HTTP 503) */
} abe_ipc_status_t;

typedef struct abe_ipc_frame {
    uint32_t id;
    uint8_t op;
    uint8_t status;
    uint16_t flags;
    uint32_t length;         /* payload length in bytes */
    const char *payload;     /* points into the decoded buffer (not NUL-terminated); borrowed */
} abe_ipc_frame_t;

typedef enum {
    ABE_IPC_DECODE_OK = 0,        /* *frame filled, *consumed = header + payload bytes */
    ABE_IPC_DECODE_NEED_MORE = 1, /* buffer holds a partial frame; read more and call again */
    ABE_IPC_DECODE_BAD_MAGIC = -1,
    ABE_IPC_DECODE_OVERSIZED = -2, /* length > max_payload */
    ABE_IPC_DECODE_BAD_OP = -3     /* op is 0 or >= ABE_OP__COUNT, or status out of range */
} abe_ipc_decode_result_t;

/*
 * abe_ipc_decode — decode one frame from the front of buf[0..len).
 *   max_payload: bytes; payloads longer than this are rejected (<= ABE_IPC_MAX_PAYLOAD).
 * On ABE_IPC_DECODE_OK, frame->payload borrows from buf and *consumed is the frame's total size.
 * Never reads past len; never allocates. Errors are final for the stream (close the connection).
 */
abe_ipc_decode_result_t abe_ipc_decode(const void *buf, size_t len, size_t max_payload, abe_ipc_frame_t *frame,
                                       size_t *consumed);

/*
 * abe_ipc_encode_header — write the 16-byte header for a frame into out[ABE_IPC_HEADER_SIZE].
 * The caller sends the payload bytes right after it.
 */
void abe_ipc_encode_header(uint8_t out[ABE_IPC_HEADER_SIZE], uint32_t id, uint8_t op, uint8_t status,
                           uint16_t flags, uint32_t length);

/* abe_op_name — SPEC §9.2 operation name ("create_conversation", …, "probe"); "unknown" if out of range. */
const char *abe_op_name(int op);

/* abe_ipc_status_name — short name for a status ("ok", "error", "not_found", …). */
const char *abe_ipc_status_name(int status);

/*
 * abe_ipc_request_sync — blocking request/reply over a connected stream socket, used by the supervisor
 * (handback/adopt) and the purge CLI, never by a worker event loop.
 *   fd: connected socket. payload: JSON object (borrowed). timeout_ms: overall deadline in ms.
 *   *result: on return receives the reply payload parsed (new reference; may be NULL on transport error).
 * Returns the reply status (abe_ipc_status_t), or ABE_IPC_ERR_UNAVAILABLE on I/O error/timeout.
 */
#include <jansson.h>
int abe_ipc_request_sync(int fd, abe_op_t op, uint16_t flags, json_t *payload, int timeout_ms,
                         json_t **result);

/*
 * abe_ipc_connect — connect a blocking stream socket to the persistence process at addr.
 *   addr: a filesystem path, or "@name" for the Linux abstract namespace.
 * Returns the fd (CLOEXEC) or -1 with errno set.
 */
int abe_ipc_connect(const char *addr, int nonblocking);

#endif

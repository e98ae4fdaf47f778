/*
 * abe_http.h — the request pipeline's view for handlers (SPEC §2): the per-request context, JSON
 * responses and the error envelope, query parsing and pagination. Everything a handler allocates for a
 * response comes from the h2o request pool (freed with the request).
 */
#ifndef ABE_HTTP_H
#define ABE_HTTP_H

#include <h2o.h>
#include <jansson.h>
#include <stdint.h>

#define ABE_MAX_PARAMS 4
#define ABE_CID_MAX 128

struct abe_route;

/* abe_req_t — one request as the pipeline hands it to a handler; lives in req->pool. */
typedef struct abe_req {
    h2o_req_t *req;
    const struct abe_route *route;       /* matched route (template in route->tmpl) */
    const char *params[ABE_MAX_PARAMS];  /* percent-decoded path parameters, NUL-terminated, pool memory */
    size_t param_lens[ABE_MAX_PARAMS];
    int nparams;
    char correlation_id[ABE_CID_MAX + 1];
    uint64_t start_ns;                   /* monotonic, when the handler pipeline started */
    int is_head;
    int responded;
} abe_req_t;

/*
 * Handler contract: return 0 when the response has been sent or will be sent later (async); return -1 on
 * an unexpected failure before anything was sent — the pipeline then answers 500 "Internal Server Error"
 * and logs it with the correlation id.
 */
typedef int (*abe_handler_fn)(abe_req_t *r);

/*
 * abe_send_json — send status with body serialised compactly (ABE_JSON_DUMP_FLAGS) into pool memory,
 * Content-Type application/json, Content-Length, X-Correlation-ID. Steals the reference to body.
 * HEAD requests get the headers only. Safe to call once per request; later calls are ignored.
 */
void abe_send_json(abe_req_t *r, int status, json_t *body);

/* abe_send_error — the SPEC §2.2 envelope {"detail": detail, "correlation_id": …}. */
void abe_send_error(abe_req_t *r, int status, const char *detail);

/* abe_send_error_detail — envelope with a JSON detail (e.g. a 422 issue list); steals detail. */
void abe_send_error_detail(abe_req_t *r, int status, json_t *detail);

/* abe_send_unavailable — 503 envelope with Retry-After: 1 (detail e.g. "Database queue full; retry later"). */
void abe_send_unavailable(abe_req_t *r, const char *detail);

/* abe_send_no_content — 204 with no body (DELETE). */
void abe_send_no_content(abe_req_t *r);

/*
 * abe_send_db_status — map a non-OK persistence status (abe_ipc_status_t) to its HTTP answer:
 * ERR_DB -> 500 "Database write failed"; QUEUE_FULL -> 503 "Database queue full; retry later";
 * UNAVAILABLE/other -> 503 "Database unavailable; retry later"; NOT_FOUND/CONFLICT -> not handled here
 * (the caller knows the resource's wording) and fall back to 500.
 */
void abe_send_db_status(abe_req_t *r, int ipc_status);

/*
 * abe_query_get — value of query parameter name, percent-decoded ('+' = space), last occurrence wins.
 * Returns a NUL-terminated pool string, or NULL when absent. *len (optional) receives its byte length.
 */
const char *abe_query_get(abe_req_t *r, const char *name, size_t *len);

/*
 * abe_parse_pagination — read limit (1..max_limit, default dflt_limit) and offset (>= 0, default 0) from the
 * query into the validator v (root "query"). Returns 1 if both are valid.
 */
struct abe_validator;
int abe_parse_pagination(abe_req_t *r, struct abe_validator *v, int64_t dflt_limit, int64_t max_limit,
                         int64_t *limit, int64_t *offset);

/*
 * abe_parse_json_body — the body stage of the pipeline for body routes (SPEC §2.1): media type check (415
 * sent here), empty body (422 missing ["body"]), invalid JSON (422 json_invalid), non-object (422
 * dict_type). Returns the parsed object (new reference) or NULL when a response was already sent.
 */
json_t *abe_parse_json_body(abe_req_t *r);

/* abe_json_timestamp — new JSON string holding the current SPEC §2.1 timestamp. */
json_t *abe_json_timestamp(void);

/*
 * abe_send_page — 200 with a SPEC §2.4 page: {<key>: items, "total", "limit", "offset"} and, when
 * with_timestamp, a trailing "timestamp" (the conversation and workflow lists have one, executions not).
 * Steals items. Returns 0, or -1 on allocation failure (the handler returns it: pipeline 500).
 */
int abe_send_page(abe_req_t *r, const char *key, json_t *items, int64_t total, int64_t limit, int64_t offset,
                  int with_timestamp);

/* abe_send_issues — answer 422 with the issue list collected in v (SPEC §2.3) and release v. */
void abe_send_issues(abe_req_t *r, struct abe_validator *v);

/*
 * abe_req_reader — the worker's read-only DB connection (worker/abe_dbread.h), or NULL after logging the
 * failure with the correlation id; the handler then returns -1 and the pipeline answers 500.
 */
struct abe_dbr *abe_req_reader(abe_req_t *r);

/* abe_req_read_failed — log a failed read (what, the SQLite message, the correlation id); returns -1 so a
 * handler can `return abe_req_read_failed(r, "list workflows");` and get the pipeline's 500. */
int abe_req_read_failed(abe_req_t *r, const char *what);

/*
 * abe_db_backlog_full — SPEC §9.3 backpressure as seen from a worker: 1 when the operations every worker
 * has sent to the persistence process and not yet had answered reach DB_MAX_QUEUE_SIZE (so a stalled
 * persistence process cannot make workers buffer without bound). The refusal is counted as
 * db_ops{op,rejected}. Request writes check it before submitting; runner operations never do.
 */
int abe_db_backlog_full(int op);

/*
 * abe_write_done_fn — completion of abe_submit_write, called after the persistence process answered (so on
 * ABE_IPC_OK the write is committed), and only while the request is still alive.
 *   status: abe_ipc_status_t. result: the reply payload (borrowed; may be NULL). ctx: the caller's context.
 */
typedef void (*abe_write_done_fn)(abe_req_t *r, int status, json_t *result, void *ctx);

/*
 * abe_submit_write — send one write operation (SPEC §9.2) for request r and park the request until its
 * reply. payload is borrowed (serialised at once). ctx is the caller's; ctx_free (may be NULL) releases it
 * exactly once: after done ran, or when the request died before the reply (then done is not called), or
 * at once when the submit fails. If the persistence process is unreachable, answers 503 "Database
 * unavailable; retry later" itself. Always returns 0 (the request is answered or will be).
 * Implements the SPEC §2.4 write acknowledgement: the answer is sent only from done.
 */
int abe_submit_write(abe_req_t *r, int op, json_t *payload, abe_write_done_fn done, void *ctx,
                     void (*ctx_free)(void *));

/*
 * The two halves of abe_submit_write, for a write that another module submits (the execution engine's
 * create): abe_park_request returns a parked-request record (NULL on allocation failure, ctx already
 * released); hand abe_parked_reply with it as the abe_dbc_cb/arg pair to whoever submits. If that submit
 * fails, call abe_parked_cancel (releases ctx, answers nothing).
 */
void *abe_park_request(abe_req_t *r, abe_write_done_fn done, void *ctx, void (*ctx_free)(void *));
void abe_parked_reply(void *parked, int status, json_t *result);
void abe_parked_cancel(void *parked);

#endif

/* ---- pipeline internals (used by the worker main) ------------------------------------------------ */

/* abe_http_register — install the single catch-all "/" handler on hostconf (routing is ours). */
void abe_http_register(h2o_hostconf_t *hostconf);

/* abe_http_inflight — requests taken by the pipeline and not yet answered (drain waits for 0). */
size_t abe_http_inflight(void);

/* abe_cid_is_valid — SPEC §2.4: 1–128 characters of [A-Za-z0-9._-]. */
int abe_cid_is_valid(const char *s, size_t len);

/*
 * abe_media_type_is_json — SPEC §2.1 Content-Type rule: application/json or application/<x>+json,
 * case-insensitive, parameters allowed, charset (if any) must be utf-8 (quoted or not).
 */
int abe_media_type_is_json(const char *v, size_t len);

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

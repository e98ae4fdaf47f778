/*
 * abe_http.c — the request pipeline of SPEC §2: correlation id, URI/header limits (414/431), body size (413),
 * routing (404/405 with Allow), then the handler; JSON responses and the error envelope; query strings,
 * pagination and JSON bodies for handlers. Checks run in the SPEC §2.2 order. All response memory comes
 * from the request pool.
 */
#include "abe_http.h"

#include <ctype.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "abe_dbclient.h"
#include "abe_dbread.h"
#include "abe_ipc.h"
#include "abe_json.h"
#include "abe_log.h"
#include "abe_router.h"
#include "abe_shm.h"
#include "abe_util.h"
#include "abe_worker.h"

#define ABE_MAX_URI 8192
#define ABE_MAX_HEADER_BYTES (16 * 1024)

static size_t g_inflight;

size_t abe_http_inflight(void)
{
    return g_inflight;
}

int abe_cid_is_valid(const char *s, size_t len)
{
    if (len < 1 || len > ABE_CID_MAX) return 0;
    for (size_t i = 0; i < len; i++) {
        unsigned char c = (unsigned char)s[i];
        if (!(isalnum(c) || c == '.' || c == '_' || c == '-')) return 0;
    }
    return 1;
}

static const char *reason_phrase(int status)
{
    switch (status) {
    case 200:
        return "OK";
    case 204:
        return "No Content";
    case 400:
        return "Bad Request";
    case 404:
        return "Not Found";
    case 405:
        return "Method Not Allowed";
    case 409:
        return "Conflict";
    case 413:
        return "Request Entity Too Large";
    case 414:
        return "URI Too Long";
    case 415:
        return "Unsupported Media Type";
    case 422:
        return "Unprocessable Entity";
    case 429:
        return "Too Many Requests";
    case 431:
        return "Request Header Fields Too Large";
    case 500:
        return "Internal Server Error";
    case 503:
        return "Service Unavailable";
    default:
        return "OK";
    }
}

/* Headers every response carries; then the access log line. Returns 0, or -1 if already answered. */
static int begin_response(abe_req_t *r, int status)
{
    if (r->responded) return -1;
    r->responded = 1;
    g_inflight--;
    h2o_req_t *req = r->req;
    req->res.status = status;
    req->res.reason = reason_phrase(status);
    h2o_add_header_by_str(&req->pool, &req->res.headers, H2O_STRLIT("x-correlation-id"), 0, NULL,
                          r->correlation_id, strlen(r->correlation_id));
    if (abe_worker.cfg && abe_worker.cfg->keepalive_timeout_s == 0) req->http1_is_persistent = 0;
    double ms = (double)(abe_mono_ns() - r->start_ns) / 1e6;
    char method[16];
    size_t ml = req->method.len < sizeof(method) - 1 ? req->method.len : sizeof(method) - 1;
    for (size_t i = 0; i < ml; i++) { /* log-safe: methods are tokens, anything else becomes '_' */
        unsigned char c = (unsigned char)req->method.base[i];
        method[i] = isalnum(c) || c == '-' || c == '_' || c == '.' ? (char)c : '_';
    }
    method[ml] = '\0';
    abe_log_access(method, r->route ? r->route->tmpl : "__unmatched__", status, ms, r->correlation_id);
    return 0;
}

static void send_bytes(abe_req_t *r, const char *body, size_t len)
{
    static h2o_generator_t generator = {NULL, NULL};
    h2o_req_t *req = r->req;
    req->res.content_length = len;
    h2o_start_response(req, &generator);
    if (r->is_head || len == 0) {
        h2o_send(req, NULL, 0, H2O_SEND_STATE_FINAL);
    } else {
        h2o_iovec_t iov = h2o_iovec_init(body, len);
        h2o_send(req, &iov, 1, H2O_SEND_STATE_FINAL);
    }
}

void abe_send_json(abe_req_t *r, int status, json_t *body)
{
    /* Serialise into a process-wide scratch buffer first (one pass in the common case), then copy
     * into the request pool, which owns the bytes until h2o has written them. */
    static char scratch[64 * 1024];
    if (begin_response(r, status) != 0) {
        json_decref(body);
        return;
    }
    h2o_req_t *req = r->req;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    size_t len = body ? json_dumpb(body, scratch, sizeof(scratch), ABE_JSON_DUMP_FLAGS) : 0;
    char *out;
    if (len <= sizeof(scratch)) {
        out = h2o_mem_alloc_pool(&req->pool, len + 1);
        memcpy(out, scratch, len);
    } else {
        out = h2o_mem_alloc_pool(&req->pool, len + 1);
        json_dumpb(body, out, len, ABE_JSON_DUMP_FLAGS);
    }
    json_decref(body);
    send_bytes(r, out, len);
}

void abe_send_error_detail(abe_req_t *r, int status, json_t *detail)
{
    json_t *o = json_object();
    json_object_set_new(o, "detail", detail ? detail : json_null());
    json_object_set_new(o, "correlation_id", json_string(r->correlation_id));
    abe_send_json(r, status, o);
}

void abe_send_error(abe_req_t *r, int status, const char *detail)
{
    abe_send_error_detail(r, status, json_string(detail));
}

void abe_send_unavailable(abe_req_t *r, const char *detail)
{
    if (!r->responded)
        h2o_add_header(&r->req->pool, &r->req->res.headers, H2O_TOKEN_RETRY_AFTER, NULL, H2O_STRLIT("1"));
    abe_send_error(r, 503, detail);
}

void abe_send_no_content(abe_req_t *r)
{
    if (begin_response(r, 204) != 0) return;
    static h2o_generator_t generator = {NULL, NULL};
    r->req->res.content_length = SIZE_MAX;
    h2o_start_response(r->req, &generator);
    h2o_send(r->req, NULL, 0, H2O_SEND_STATE_FINAL);
}

void abe_send_db_status(abe_req_t *r, int ipc_status)
{
    switch (ipc_status) {
    case ABE_IPC_ERR_DB:
        abe_send_error(r, 500, "Database write failed");
        break;
    case ABE_IPC_ERR_QUEUE_FULL:
        abe_send_unavailable(r, "Database queue full; retry later");
        break;
    case ABE_IPC_ERR_UNAVAILABLE:
        abe_send_unavailable(r, "Database unavailable; retry later");
        break;
    default:
        abe_log_error("unexpected persistence status %s (correlation_id=%s)", abe_ipc_status_name(ipc_status),
                      r->correlation_id);
        abe_send_error(r, 500, "Internal Server Error");
        break;
    }
}

json_t *abe_json_timestamp(void)
{
    char ts[ABE_TS_LEN];
    return json_string(abe_now_iso(ts));
}

const char *abe_query_get(abe_req_t *r, const char *name, size_t *len)
{
    h2o_req_t *req = r->req;
    if (req->query_at == SIZE_MAX) return NULL;
    const char *q = req->path.base + req->query_at + 1, *end = req->path.base + req->path.len;
    const char *found = NULL;
    size_t found_len = 0;
    size_t name_len = strlen(name);
    char keybuf[64];
    while (q < end) {
        const char *amp = memchr(q, '&', (size_t)(end - q));
        const char *pend = amp ? amp : end;
        const char *eq = memchr(q, '=', (size_t)(pend - q));
        const char *kend = eq ? eq : pend;
        size_t klen = (size_t)(kend - q);
        if (klen < sizeof(keybuf)) {
            size_t dl = abe_percent_decode(q, klen, keybuf, 1);
            if (dl == name_len && memcmp(keybuf, name, name_len) == 0) {
                found = eq ? eq + 1 : pend;
                found_len = (size_t)(pend - found);
            }
        }
        q = pend + 1;
    }
    if (!found) return NULL;
    char *out = h2o_mem_alloc_pool(&req->pool, found_len + 1);
    size_t dl = abe_percent_decode(found, found_len, out, 1);
    if (len) *len = dl;
    return out;
}

int abe_parse_pagination(abe_req_t *r, struct abe_validator *v, int64_t dflt_limit, int64_t max_limit,
                         int64_t *limit, int64_t *offset)
{
    int a = abe_v_query_int(v, "limit", abe_query_get(r, "limit", NULL), 1, max_limit, dflt_limit, limit);
    int b = abe_v_query_int(v, "offset", abe_query_get(r, "offset", NULL), 0, INT64_MAX / 2, 0, offset);
    return a == 1 && b == 1;
}

static int ieq(const char *a, size_t alen, const char *b)
{
    return alen == strlen(b) && strncasecmp(a, b, alen) == 0;
}

int abe_media_type_is_json(const char *v, size_t len)
{
    const char *end = v + len, *semi = memchr(v, ';', len);
    const char *tend = semi ? semi : end;
    while (v < tend && (*v == ' ' || *v == '\t'))
        v++;
    while (tend > v && (tend[-1] == ' ' || tend[-1] == '\t'))
        tend--;
    size_t tlen = (size_t)(tend - v);
    if (!(ieq(v, tlen, "application/json") ||
          (tlen > 17 && strncasecmp(v, "application/", 12) == 0 && strncasecmp(tend - 5, "+json", 5) == 0)))
        return 0;
    /* Parameters: only charset is checked. */
    const char *p = semi;
    while (p && p < end) {
        p++;
        const char *next = memchr(p, ';', (size_t)(end - p));
        const char *pe = next ? next : end;
        while (p < pe && (*p == ' ' || *p == '\t'))
            p++;
        const char *eq = memchr(p, '=', (size_t)(pe - p));
        if (eq) {
            const char *k = p, *ke = eq;
            while (ke > k && (ke[-1] == ' ' || ke[-1] == '\t'))
                ke--;
            if (ieq(k, (size_t)(ke - k), "charset")) {
                const char *val = eq + 1, *ve = pe;
                while (val < ve && (*val == ' ' || *val == '\t'))
                    val++;
                while (ve > val && (ve[-1] == ' ' || ve[-1] == '\t'))
                    ve--;
                if (ve - val >= 2 && *val == '"' && ve[-1] == '"') {
                    val++;
                    ve--;
                }
                if (!ieq(val, (size_t)(ve - val), "utf-8")) return 0;
            }
        }
        p = next;
    }
    return 1;
}

json_t *abe_parse_json_body(abe_req_t *r)
{
    h2o_req_t *req = r->req;
    ssize_t ct = h2o_find_header(&req->headers, H2O_TOKEN_CONTENT_TYPE, -1);
    if (ct >= 0 &&
        !abe_media_type_is_json(req->headers.entries[ct].value.base, req->headers.entries[ct].value.len)) {
        abe_send_error(r, 415, "Content-Type must be application/json");
        return NULL;
    }
    abe_validator_t v;
    abe_v_init(&v, "body");
    const char *body = req->entity.base;
    size_t len = body ? req->entity.len : 0;
    json_t *doc = NULL;
    if (abe_json_is_blank(body, len)) {
        abe_v_issue(&v, NULL, "Field required", "missing");
    } else {
        size_t off = 0;
        doc = abe_json_parse_body(body, len, &off);
        if (!doc)
            abe_v_json_invalid(&v, off);
        else if (abe_v_body_object(&v, doc) != 1) {
            json_decref(doc);
            doc = NULL;
        }
    }
    if (!doc) abe_send_error_detail(r, 422, abe_v_take_issues(&v));
    abe_v_free(&v);
    return doc;
}

int abe_send_page(abe_req_t *r, const char *key, json_t *items, int64_t total, int64_t limit, int64_t offset,
                  int with_timestamp)
{
    json_t *body = json_pack("{s:o,s:I,s:I,s:I}", key, items, "total", (json_int_t)total, "limit",
                             (json_int_t)limit, "offset", (json_int_t)offset);
    if (!body) return -1;
    if (with_timestamp) json_object_set_new(body, "timestamp", abe_json_timestamp());
    abe_send_json(r, 200, body);
    return 0;
}

void abe_send_issues(abe_req_t *r, struct abe_validator *v)
{
    abe_send_error_detail(r, 422, abe_v_take_issues(v));
    abe_v_free(v);
}

struct abe_dbr *abe_req_reader(abe_req_t *r)
{
    abe_dbr_t *dbr = abe_worker_dbr();
    if (!dbr)
        abe_log_error("database reader unavailable (route=%s correlation_id=%s)",
                      r->route ? r->route->tmpl : "-", r->correlation_id);
    return dbr;
}

int abe_req_read_failed(abe_req_t *r, const char *what)
{
    abe_log_error("%s failed: %s (correlation_id=%s)", what,
                  abe_worker.dbr ? abe_dbr_errmsg(abe_worker.dbr) : "-", r->correlation_id);
    return -1;
}

/* ---- writes parked until their commit -------------------------------------------------------------- */

/*
 * A write in flight is a malloc'd record; a small hook in the request pool points back at it. If h2o frees
 * the request first (connection torn down), the hook's dispose callback detaches the record, so the late
 * reply only frees memory and never touches the dead request.
 */
typedef struct write_hook write_hook_t;

typedef struct pending_write {
    abe_req_t *r; /* NULL once the request was freed */
    write_hook_t *hook;
    abe_write_done_fn done;
    void *ctx;
    void (*ctx_free)(void *);
} pending_write_t;

struct write_hook {
    pending_write_t *w;
};

static void write_hook_dispose(void *ptr)
{
    write_hook_t *hook = ptr;
    if (hook->w) {
        hook->w->r = NULL;
        hook->w->hook = NULL;
    }
}

static void pending_write_free(pending_write_t *w)
{
    if (w->hook) w->hook->w = NULL;
    if (w->ctx_free) w->ctx_free(w->ctx);
    free(w);
}

void abe_parked_reply(void *parked, int status, json_t *result)
{
    pending_write_t *w = parked;
    if (w->r) {
        if (status != ABE_IPC_OK) {
            json_t *msg = result ? json_object_get(result, "message") : NULL;
            abe_log((status == ABE_IPC_ERR_NOT_FOUND || status == ABE_IPC_ERR_CONFLICT) ? ABE_LOG_DEBUG
                                                                                        : ABE_LOG_ERROR,
                    "write on %s answered %s: %s (correlation_id=%s)", w->r->route ? w->r->route->tmpl : "-",
                    abe_ipc_status_name(status), json_is_string(msg) ? json_string_value(msg) : "",
                    w->r->correlation_id);
        }
        w->done(w->r, status, result, w->ctx);
    }
    pending_write_free(w);
}

void abe_parked_cancel(void *parked)
{
    pending_write_free(parked);
}

void *abe_park_request(abe_req_t *r, abe_write_done_fn done, void *ctx, void (*ctx_free)(void *))
{
    pending_write_t *w = calloc(1, sizeof(*w));
    if (!w) {
        if (ctx_free) ctx_free(ctx);
        return NULL;
    }
    w->r = r;
    w->done = done;
    w->ctx = ctx;
    w->ctx_free = ctx_free;
    w->hook = h2o_mem_alloc_shared(&r->req->pool, sizeof(*w->hook), write_hook_dispose);
    w->hook->w = w;
    return w;
}

int abe_db_backlog_full(int op)
{
    const abe_shm_t *shm = abe_worker.shm;
    int64_t outstanding = 0;
    for (int i = 0; i < ABE_MAX_WORKERS; i++)
        if (atomic_load(&shm->workers[i].pid)) outstanding += atomic_load(&shm->workers[i].db_pending);
    if (outstanding < abe_worker.cfg->db_max_queue_size) return 0;
    if (op > 0 && op < 16) atomic_fetch_add(&abe_worker.shm->db_ops[op][2], 1);
    return 1;
}

int abe_submit_write(abe_req_t *r, int op, json_t *payload, abe_write_done_fn done, void *ctx,
                     void (*ctx_free)(void *))
{
    if (abe_db_backlog_full(op)) {
        if (ctx_free) ctx_free(ctx);
        abe_send_unavailable(r, "Database queue full; retry later");
        return 0;
    }
    void *w = abe_park_request(r, done, ctx, ctx_free);
    if (!w) {
        abe_send_error(r, 500, "Internal Server Error");
        return 0;
    }
    if (abe_dbc_submit((abe_op_t)op, 0, payload, abe_parked_reply, w) != 0) {
        abe_parked_cancel(w);
        abe_send_unavailable(r, "Database unavailable; retry later");
    }
    return 0;
}

/* ---- the pipeline -------------------------------------------------------------------------------- */

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    abe_req_t *r = h2o_mem_alloc_pool(&req->pool, sizeof(*r));
    memset(r, 0, sizeof(*r));
    r->req = req;
    r->start_ns = abe_mono_ns();
    r->is_head = req->method.len == 4 && memcmp(req->method.base, "HEAD", 4) == 0;
    g_inflight++;
    /* WORKER_MAX_REQUESTS (SPEC §10): recycle gracefully after N requests; this one is still served. */
    if (abe_worker.cfg->worker_max_requests > 0 &&
        ++abe_worker.requests == abe_worker.cfg->worker_max_requests)
        abe_worker.recycle = 1;

    /* Correlation id (SPEC §2.4): the client's value when exactly one valid header is present. */
    ssize_t idx = h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-correlation-id"), -1);
    if (idx >= 0 && h2o_find_header_by_str(&req->headers, H2O_STRLIT("x-correlation-id"), idx) < 0 &&
        abe_cid_is_valid(req->headers.entries[idx].value.base, req->headers.entries[idx].value.len)) {
        memcpy(r->correlation_id, req->headers.entries[idx].value.base, req->headers.entries[idx].value.len);
        r->correlation_id[req->headers.entries[idx].value.len] = '\0';
    } else {
        abe_uuid4(r->correlation_id);
    }

    /* HTTP-level limits (SPEC §2.2): URI, header bytes, body size. */
    if (req->path.len > ABE_MAX_URI) {
        req->http1_is_persistent = 0;
        abe_send_error(r, 414, "URI Too Long");
        return 0;
    }
    /* h2o moves Host (authority) and Upgrade out of req->headers; they count toward the limit too. */
    size_t hbytes = req->authority.len + req->upgrade.len;
    for (size_t i = 0; i != req->headers.size; i++)
        hbytes += req->headers.entries[i].name->len + req->headers.entries[i].value.len;
    if (hbytes > ABE_MAX_HEADER_BYTES) {
        req->http1_is_persistent = 0;
        abe_send_error(r, 431, "Request Header Fields Too Large");
        return 0;
    }
    if (req->entity.base && (int64_t)req->entity.len > abe_worker.cfg->max_body_bytes) {
        req->http1_is_persistent = 0;
        abe_send_error(r, 413, "Request body too large");
        return 0;
    }

    /* Routing on the raw path (never path_normalized, which decodes %2F). */
    size_t plen = req->query_at != SIZE_MAX ? req->query_at : req->path.len;
    const char *raw[ABE_MAX_PARAMS];
    size_t raw_lens[ABE_MAX_PARAMS];
    abe_handler_fn handler;
    abe_route_result_t rr =
        abe_router_match(abe_routes, abe_routes_count, req->method.base, req->method.len, req->path.base,
                         plen, &r->route, &handler, raw, raw_lens, &r->nparams);
    if (rr == ABE_ROUTE_NOT_FOUND) {
        abe_send_error(r, 404, "Not Found");
        return 0;
    }
    if (rr == ABE_ROUTE_METHOD_NOT_ALLOWED) {
        h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_ALLOW, NULL, r->route->allow,
                       strlen(r->route->allow));
        abe_send_error(r, 405, "Method Not Allowed");
        return 0;
    }
    for (int i = 0; i < r->nparams; i++) {
        char *p = h2o_mem_alloc_pool(&req->pool, raw_lens[i] + 1);
        r->param_lens[i] = abe_percent_decode(raw[i], raw_lens[i], p, 0);
        r->params[i] = p;
    }
    if (handler(r) != 0 && !r->responded) {
        abe_log_error("handler failed: route=%s correlation_id=%s error_type=HandlerError", r->route->tmpl,
                      r->correlation_id);
        abe_send_error(r, 500, "Internal Server Error");
    }
    return 0;
}

void abe_http_register(h2o_hostconf_t *hostconf)
{
    h2o_pathconf_t *pathconf = h2o_config_register_path(hostconf, "/", 0);
    h2o_handler_t *h = h2o_create_handler(pathconf, sizeof(*h));
    h->on_req = on_req;
}

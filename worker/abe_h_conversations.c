/*
 * abe_h_conversations.c — the conversation routes (SPEC §3.4) and their reply generation (SPEC §5):
 *
 *   POST /api/v1/conversations                               abe_h_conv_create  (write)
 *   GET  /api/v1/conversations                               abe_h_conv_list
 *   GET  /api/v1/conversations/{conversation_id}             abe_h_conv_get
 *   POST /api/v1/conversations/{conversation_id}/messages    abe_h_msg_create   (write)
 *   GET  /api/v1/conversations/{conversation_id}/messages    abe_h_msg_list
 *
 * Reads go through the worker's read-only SQLite connection (worker/abe_dbread.h). Writes are one
 * persistence operation each (create_conversation / append_messages, payloads documented in
 * daemon/abe_store.h) submitted with abe_dbc_submit; the HTTP answer is sent only from the completion
 * callback, i.e. after the commit (SPEC §2.4 "write acknowledgement"). Replies come from the agent registry
 * the worker inherited (abe_worker.agents) through worker/abe_reply.h.
 *
 * Request lifetime: a write keeps a malloc'd pending record while the operation is in flight. A small
 * ref-counted hook in the request pool points at it; if h2o frees the request first (connection torn
 * down), the hook's dispose callback detaches the record so the late completion only frees memory.
 */
#include <stdlib.h>
#include <string.h>

#include "abe_dbclient.h"
#include "abe_handlers.h"
#include "abe_json.h"
#include "abe_log.h"
#include "abe_reply.h"
#include "abe_util.h"
#include "abe_worker.h"

/* Field limits in code points (SPEC §3.4). */
#define CONV_AGENT_ID_MAX 100
#define CONV_NAME_MAX 200
#define CONV_DESCRIPTION_MAX 2000
#define CONV_SYSTEM_MESSAGE_MAX 10000
#define CONV_MESSAGE_MAX 65536
#define CONV_LIMIT_DEFAULT 100
#define CONV_LIMIT_MAX 500

/* Bytes for a stored agent id: 100 code points of at most 4 UTF-8 bytes each, plus NUL. */
#define CONV_AGENT_BUF (CONV_AGENT_ID_MAX * 4 + 1)

typedef enum { PENDING_CREATE, PENDING_APPEND } pending_kind_t;

struct pending_hook;

/* One in-flight write; malloc'd, freed by the completion callback. */
typedef struct conv_pending {
    abe_req_t *r;              /* NULL once the request was freed before the reply arrived */
    struct pending_hook *hook; /* the request-pool hook that points back here, NULL once detached */
    pending_kind_t kind;
    char id[ABE_UUID_LEN]; /* PENDING_CREATE: the conversation id; PENDING_APPEND: the agent message id */
    char *response;        /* the agent reply (malloc'd) */
} conv_pending_t;

/* Lives in the request pool (h2o_mem_alloc_shared); its dispose callback runs when the request is freed. */
typedef struct pending_hook {
    conv_pending_t *p;
} pending_hook_t;

static void pending_hook_dispose(void *ptr)
{
    pending_hook_t *hook = ptr;
    if (hook->p) {
        hook->p->r = NULL;
        hook->p->hook = NULL;
        hook->p = NULL;
    }
}

static void pending_free(conv_pending_t *p)
{
    if (p->hook) p->hook->p = NULL;
    free(p->response);
    free(p);
}

/* A request's conversation id parameter, or NULL when it cannot name a stored conversation (an embedded
 * NUL from a %00 escape). */
static const char *conv_param(abe_req_t *r)
{
    if (r->nparams < 1 || !r->params[0] || strlen(r->params[0]) != r->param_lens[0]) return NULL;
    return r->params[0];
}

/* The reader, or NULL after logging (the caller returns -1 so the pipeline answers 500). */
static abe_dbr_t *conv_reader(abe_req_t *r)
{
    abe_dbr_t *dbr = abe_worker_dbr();
    if (!dbr)
        abe_log_error("conversations: database reader unavailable (correlation_id=%s)", r->correlation_id);
    return dbr;
}

/* Log a reader failure with the correlation id; the caller returns -1. */
static int conv_read_failed(abe_req_t *r, abe_dbr_t *dbr, const char *what)
{
    abe_log_error("conversations: %s failed: %s (correlation_id=%s)", what, abe_dbr_errmsg(dbr),
                  r->correlation_id);
    return -1;
}

/* Send the 422 issue list collected in v and release v. */
static void send_issues(abe_req_t *r, abe_validator_t *v)
{
    abe_send_error_detail(r, 422, abe_v_take_issues(v));
    abe_v_free(v);
}

/*
 * A stored message object for a write payload (daemon/abe_store.h): {message_id, role, content, agent_id,
 * created_at}. agent_id NULL gives JSON null. Returns a new reference or NULL on allocation failure.
 */
static json_t *message_json(const char *message_id, const char *role, const char *content, size_t content_len,
                            const char *agent_id, const char *created_at)
{
    return json_pack("{s:s,s:s,s:s%,s:s?,s:s}", "message_id", message_id, "role", role, "content", content,
                     content_len, "agent_id", agent_id, "created_at", created_at);
}

/*
 * Completion of a create_conversation or append_messages operation: answer the waiting request (if it is
 * still there) and free the pending record.
 */
static void on_write_done(void *arg, int status, json_t *result)
{
    conv_pending_t *p = arg;
    abe_req_t *r = p->r;
    if (r) {
        if (status == ABE_IPC_OK) {
            json_t *body;
            if (p->kind == PENDING_CREATE)
                body = json_pack("{s:s,s:s,s:s}", "conversation_id", p->id, "id", p->id, "response",
                                 p->response);
            else
                body = json_pack("{s:s,s:s}", "message_id", p->id, "response", p->response);
            if (body) {
                abe_send_json(r, 200, body);
            } else {
                abe_log_error("conversations: out of memory building the response (correlation_id=%s)",
                              r->correlation_id);
                abe_send_error(r, 500, "Internal Server Error");
            }
        } else if (status == ABE_IPC_ERR_NOT_FOUND) {
            /* append_messages only: the conversation vanished between the check and the write. */
            abe_send_error(r, 404, "Conversation not found");
        } else {
            json_t *msg = result ? json_object_get(result, "message") : NULL;
            abe_log_error("conversations: %s failed: %s %s (correlation_id=%s)",
                          p->kind == PENDING_CREATE ? "create_conversation" : "append_messages",
                          abe_ipc_status_name(status), json_is_string(msg) ? json_string_value(msg) : "",
                          r->correlation_id);
            abe_send_db_status(r, status);
        }
    }
    pending_free(p);
}

/*
 * Submit op with payload (borrowed) and park the request until the commit. Takes ownership of response
 * (malloc'd). Always returns 0: on every failure an answer has been sent.
 */
static int submit_write(abe_req_t *r, abe_op_t op, pending_kind_t kind, const char *id, json_t *payload,
                        char *response)
{
    conv_pending_t *p = calloc(1, sizeof(*p));
    if (!p) {
        free(response);
        abe_send_error(r, 500, "Internal Server Error");
        return 0;
    }
    p->r = r;
    p->kind = kind;
    memcpy(p->id, id, ABE_UUID_LEN);
    p->response = response;
    pending_hook_t *hook = h2o_mem_alloc_shared(&r->req->pool, sizeof(*hook), pending_hook_dispose);
    hook->p = p;
    p->hook = hook;
    if (abe_dbc_submit(op, 0, payload, on_write_done, p) != 0) {
        pending_free(p);
        abe_send_unavailable(r, "Database unavailable; retry later");
    }
    return 0;
}

/* ---- POST /api/v1/conversations ------------------------------------------------------------------- */

int abe_h_conv_create(abe_req_t *r)
{
    json_t *body = abe_parse_json_body(r);
    if (!body) return 0; /* 415 / 422 already sent */

    abe_validator_t v;
    abe_v_init(&v, "body");
    const char *agent_id = NULL, *name = "", *description = "", *system_message = "", *user_message = NULL;
    size_t agent_len = 0, name_len = 0, description_len = 0, system_len = 0, user_len = 0;
    json_t *context = NULL;
    abe_v_str(&v, body, "agent_id", 1, 1, CONV_AGENT_ID_MAX, &agent_id, &agent_len);
    abe_v_str(&v, body, "name", 0, 0, CONV_NAME_MAX, &name, &name_len);
    abe_v_str(&v, body, "description", 0, 0, CONV_DESCRIPTION_MAX, &description, &description_len);
    abe_v_str(&v, body, "system_message", 0, 0, CONV_SYSTEM_MESSAGE_MAX, &system_message, &system_len);
    abe_v_str(&v, body, "user_message", 0, 0, CONV_MESSAGE_MAX, &user_message, &user_len);
    if (abe_v_object_or_list(&v, body, "context", 0, &context) == 1) {
        abe_v_push_key(&v, "context");
        abe_v_nul_scan(&v, context);
        abe_v_pop(&v);
    }
    if (!abe_v_ok(&v)) {
        send_issues(r, &v);
        json_decref(body);
        return 0;
    }
    abe_v_free(&v);

    const abe_agent_t *agent = abe_agents_find(abe_worker.agents, agent_id);
    int has_user = user_message && user_len > 0;
    char *response = has_user ? abe_reply_generate(agent, user_message, user_len) : abe_reply_greeting(agent);
    if (!response) {
        json_decref(body);
        return -1;
    }

    char conversation_id[ABE_UUID_LEN], user_id[ABE_UUID_LEN], agent_msg_id[ABE_UUID_LEN];
    char ts_user[ABE_TS_LEN], ts_agent[ABE_TS_LEN];
    abe_uuid4(conversation_id);
    abe_uuid4(agent_msg_id);
    /* One timestamp per message, in order, so the reply's is >= the user's. created_at = last_updated,
     * and last_updated is the newest message's time (SPEC §3.4, §5), so the conversation takes the reply's.
     */
    json_t *messages = json_array();
    if (messages && has_user) {
        abe_uuid4(user_id);
        abe_now_iso(ts_user);
        json_array_append_new(messages, message_json(user_id, "user", user_message, user_len, NULL, ts_user));
    }
    abe_now_iso(ts_agent);
    if (messages)
        json_array_append_new(
            messages, message_json(agent_msg_id, "agent", response, strlen(response), agent_id, ts_agent));

    json_t *payload = NULL;
    if (messages && json_array_size(messages) == (has_user ? 2u : 1u))
        payload = json_pack("{s:s,s:s%,s:s%,s:s%,s:s%,s:o,s:s,s:O}", "conversation_id", conversation_id,
                            "agent_id", agent_id, agent_len, "name", name, name_len, "description",
                            description, description_len, "system_message", system_message, system_len,
                            "context", context ? json_incref(context) : json_object(), "created_at", ts_agent,
                            "messages", messages);
    json_decref(messages);
    if (!payload) {
        free(response);
        json_decref(body);
        return -1;
    }
    int rc = submit_write(r, ABE_OP_CREATE_CONVERSATION, PENDING_CREATE, conversation_id, payload, response);
    json_decref(payload);
    json_decref(body);
    return rc;
}

/* ---- GET /api/v1/conversations --------------------------------------------------------------------- */

int abe_h_conv_list(abe_req_t *r)
{
    abe_validator_t v;
    abe_v_init(&v, "query");
    int64_t limit = CONV_LIMIT_DEFAULT, offset = 0;
    if (!abe_parse_pagination(r, &v, CONV_LIMIT_DEFAULT, CONV_LIMIT_MAX, &limit, &offset) || !abe_v_ok(&v)) {
        send_issues(r, &v);
        return 0;
    }
    abe_v_free(&v);

    abe_dbr_t *dbr = conv_reader(r);
    if (!dbr) return -1;
    json_t *items = NULL;
    int64_t total = 0;
    if (abe_dbr_list_conversations(dbr, limit, offset, &items, &total) != ABE_DBR_OK)
        return conv_read_failed(r, dbr, "list conversations");
    json_t *body =
        json_pack("{s:o,s:I,s:I,s:I,s:o}", "conversations", items, "total", (json_int_t)total, "limit",
                  (json_int_t)limit, "offset", (json_int_t)offset, "timestamp", abe_json_timestamp());
    if (!body) return -1;
    abe_send_json(r, 200, body);
    return 0;
}

/* ---- GET /api/v1/conversations/{conversation_id} --------------------------------------------------- */

int abe_h_conv_get(abe_req_t *r)
{
    const char *id = conv_param(r);
    if (!id) {
        abe_send_error(r, 404, "Conversation not found");
        return 0;
    }
    abe_dbr_t *dbr = conv_reader(r);
    if (!dbr) return -1;
    json_t *conv = NULL;
    int rc = abe_dbr_get_conversation(dbr, id, &conv);
    if (rc == ABE_DBR_NOT_FOUND) {
        abe_send_error(r, 404, "Conversation not found");
        return 0;
    }
    if (rc != ABE_DBR_OK) return conv_read_failed(r, dbr, "get conversation");
    abe_send_json(r, 200, conv);
    return 0;
}

/* ---- POST /api/v1/conversations/{conversation_id}/messages ----------------------------------------- */

int abe_h_msg_create(abe_req_t *r)
{
    json_t *body = abe_parse_json_body(r);
    if (!body) return 0; /* 415 / 422 already sent */

    abe_validator_t v;
    abe_v_init(&v, "body");
    const char *content = NULL, *ignored_agent = NULL;
    size_t content_len = 0, ignored_len = 0;
    abe_v_str(&v, body, "content", 1, 1, CONV_MESSAGE_MAX, &content, &content_len);
    /* agent_id is accepted and ignored (the conversation's agent answers), but must still be a string. */
    abe_v_str(&v, body, "agent_id", 0, 0, SIZE_MAX, &ignored_agent, &ignored_len);
    if (!abe_v_ok(&v)) {
        send_issues(r, &v);
        json_decref(body);
        return 0;
    }
    abe_v_free(&v);

    const char *conversation_id = conv_param(r);
    if (!conversation_id) {
        json_decref(body);
        abe_send_error(r, 404, "Conversation not found");
        return 0;
    }
    abe_dbr_t *dbr = conv_reader(r);
    if (!dbr) {
        json_decref(body);
        return -1;
    }
    char agent_id[CONV_AGENT_BUF];
    int rc = abe_dbr_conversation_agent(dbr, conversation_id, agent_id, sizeof(agent_id));
    if (rc == ABE_DBR_NOT_FOUND) {
        json_decref(body);
        abe_send_error(r, 404, "Conversation not found");
        return 0;
    }
    if (rc != ABE_DBR_OK) {
        json_decref(body);
        return conv_read_failed(r, dbr, "conversation agent lookup");
    }

    const abe_agent_t *agent = abe_agents_find(abe_worker.agents, agent_id);
    char *response = abe_reply_generate(agent, content, content_len);
    if (!response) {
        json_decref(body);
        return -1;
    }
    char user_id[ABE_UUID_LEN], agent_msg_id[ABE_UUID_LEN], ts_user[ABE_TS_LEN], ts_agent[ABE_TS_LEN];
    abe_uuid4(user_id);
    abe_uuid4(agent_msg_id);
    abe_now_iso(ts_user);
    abe_now_iso(ts_agent); /* taken after the user's: the reply is never older (SPEC §5) */
    json_t *payload =
        json_pack("{s:s,s:s,s:[o,o]}", "conversation_id", conversation_id, "updated_at", ts_agent, "messages",
                  message_json(user_id, "user", content, content_len, NULL, ts_user),
                  message_json(agent_msg_id, "agent", response, strlen(response), agent_id, ts_agent));
    if (!payload) {
        free(response);
        json_decref(body);
        return -1;
    }
    rc = submit_write(r, ABE_OP_APPEND_MESSAGES, PENDING_APPEND, agent_msg_id, payload, response);
    json_decref(payload);
    json_decref(body);
    return rc;
}

/* ---- GET /api/v1/conversations/{conversation_id}/messages ------------------------------------------ */

int abe_h_msg_list(abe_req_t *r)
{
    abe_validator_t v;
    abe_v_init(&v, "query");
    int64_t limit = CONV_LIMIT_DEFAULT, offset = 0;
    if (!abe_parse_pagination(r, &v, CONV_LIMIT_DEFAULT, CONV_LIMIT_MAX, &limit, &offset) || !abe_v_ok(&v)) {
        send_issues(r, &v);
        return 0;
    }
    abe_v_free(&v);

    const char *id = conv_param(r);
    if (!id) {
        abe_send_error(r, 404, "Conversation not found");
        return 0;
    }
    abe_dbr_t *dbr = conv_reader(r);
    if (!dbr) return -1;
    json_t *items = NULL;
    int64_t total = 0;
    int rc = abe_dbr_list_messages(dbr, id, limit, offset, &items, &total);
    if (rc == ABE_DBR_NOT_FOUND) {
        abe_send_error(r, 404, "Conversation not found");
        return 0;
    }
    if (rc != ABE_DBR_OK) return conv_read_failed(r, dbr, "list messages");
    json_t *body = json_pack("{s:s,s:o,s:I,s:I,s:I}", "conversation_id", id, "messages", items, "total",
                             (json_int_t)total, "limit", (json_int_t)limit, "offset", (json_int_t)offset);
    if (!body) return -1;
    abe_send_json(r, 200, body);
    return 0;
}

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
 * Writes are parked with abe_submit_write (worker/abe_http.h), which also handles a request that dies
 * before its reply.
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

/* What a parked write needs to build its answer; malloc'd, released by pending_free. */
typedef struct conv_pending {
    pending_kind_t kind;
    char id[ABE_UUID_LEN]; /* PENDING_CREATE: the conversation id; PENDING_APPEND: the agent message id */
    char *response;        /* the agent reply (malloc'd) */
} conv_pending_t;

static void pending_free(void *ptr)
{
    conv_pending_t *p = ptr;
    free(p->response);
    free(p);
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

/* Completion of create_conversation / append_messages, after the commit: the SPEC §3.4 answer. */
static void on_write_done(abe_req_t *r, int status, json_t *result, void *ctx)
{
    conv_pending_t *p = ctx;
    (void)result;
    if (status == ABE_IPC_OK) {
        json_t *body =
            p->kind == PENDING_CREATE
                ? json_pack("{s:s,s:s,s:s}", "conversation_id", p->id, "id", p->id, "response", p->response)
                : json_pack("{s:s,s:s}", "message_id", p->id, "response", p->response);
        if (body)
            abe_send_json(r, 200, body);
        else
            abe_send_error(r, 500, "Internal Server Error");
    } else if (status == ABE_IPC_ERR_NOT_FOUND) {
        abe_send_error(r, 404, "Conversation not found"); /* append_messages only */
    } else {
        abe_send_db_status(r, status);
    }
}

/* Park the request until op commits. Takes ownership of response (malloc'd). Always returns 0. */
static int submit_write(abe_req_t *r, abe_op_t op, pending_kind_t kind, const char *id, json_t *payload,
                        char *response)
{
    conv_pending_t *p = calloc(1, sizeof(*p));
    if (!p) {
        free(response);
        return -1;
    }
    p->kind = kind;
    memcpy(p->id, id, ABE_UUID_LEN);
    p->response = response;
    return abe_submit_write(r, op, payload, on_write_done, p, pending_free);
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
    abe_v_nul_keys(&v, body);
    if (!abe_v_ok(&v)) {
        abe_send_issues(r, &v);
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
    char now[ABE_TS_LEN];
    abe_uuid4(conversation_id);
    abe_uuid4(agent_msg_id);
    /* One instant for the whole create: created_at = last_updated = now (SPEC §3.4), and every first message
     * carries it too, so no message predates its conversation and the reply is never older than the user's
     * message (SPEC §5); message order is insertion order. */
    abe_now_iso(now);
    json_t *messages = json_array();
    if (messages && has_user) {
        abe_uuid4(user_id);
        json_array_append_new(messages, message_json(user_id, "user", user_message, user_len, NULL, now));
    }
    if (messages)
        json_array_append_new(messages,
                              message_json(agent_msg_id, "agent", response, strlen(response), agent_id, now));

    json_t *payload = NULL;
    if (messages && json_array_size(messages) == (has_user ? 2u : 1u))
        payload = json_pack("{s:s,s:s%,s:s%,s:s%,s:s%,s:o,s:s,s:O}", "conversation_id", conversation_id,
                            "agent_id", agent_id, agent_len, "name", name, name_len, "description",
                            description, description_len, "system_message", system_message, system_len,
                            "context", context ? json_incref(context) : json_object(), "created_at", now,
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
        abe_send_issues(r, &v);
        return 0;
    }
    abe_v_free(&v);

    abe_dbr_t *dbr = abe_req_reader(r);
    if (!dbr) return -1;
    json_t *items = NULL;
    int64_t total = 0;
    if (abe_dbr_list_conversations(dbr, limit, offset, &items, &total) != ABE_DBR_OK)
        return abe_req_read_failed(r, "list conversations");
    return abe_send_page(r, "conversations", items, total, limit, offset, 1);
}

/* ---- GET /api/v1/conversations/{conversation_id} --------------------------------------------------- */

int abe_h_conv_get(abe_req_t *r)
{
    const char *id = r->params[0];
    abe_dbr_t *dbr = abe_req_reader(r);
    if (!dbr) return -1;
    json_t *conv = NULL;
    int rc = abe_dbr_get_conversation(dbr, id, &conv);
    if (rc == ABE_DBR_NOT_FOUND) {
        abe_send_error(r, 404, "Conversation not found");
        return 0;
    }
    if (rc != ABE_DBR_OK) return abe_req_read_failed(r, "get conversation");
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
    abe_v_nul_keys(&v, body);
    if (!abe_v_ok(&v)) {
        abe_send_issues(r, &v);
        json_decref(body);
        return 0;
    }
    abe_v_free(&v);

    const char *conversation_id = r->params[0];
    abe_dbr_t *dbr = abe_req_reader(r);
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
        return abe_req_read_failed(r, "conversation agent lookup");
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
        abe_send_issues(r, &v);
        return 0;
    }
    abe_v_free(&v);

    const char *id = r->params[0];
    abe_dbr_t *dbr = abe_req_reader(r);
    if (!dbr) return -1;
    json_t *items = NULL;
    int64_t total = 0;
    int rc = abe_dbr_list_messages(dbr, id, limit, offset, &items, &total);
    if (rc == ABE_DBR_NOT_FOUND) {
        abe_send_error(r, 404, "Conversation not found");
        return 0;
    }
    if (rc != ABE_DBR_OK) return abe_req_read_failed(r, "list messages");
    json_t *body = json_pack("{s:s,s:o,s:I,s:I,s:I}", "conversation_id", id, "messages", items, "total",
                             (json_int_t)total, "limit", (json_int_t)limit, "offset", (json_int_t)offset);
    if (!body) return -1;
    abe_send_json(r, 200, body);
    return 0;
}

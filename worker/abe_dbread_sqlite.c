/*
 * abe_dbread_sqlite.c — the SQLite implementation of the read side of the storage engine
 * (worker/abe_dbread.h).
 *
 * Each worker opens one read-only connection after fork (SQLITE_OPEN_READONLY, not immutable, so it sees
 * every WAL commit of the persistence process; PRAGMA query_only=ON; busy_timeout 5000 ms). Every query is
 * prepared once (SQLITE_PREPARE_PERSISTENT) at open and reused with sqlite3_reset/clear_bindings. Every
 * public call runs in one read transaction (BEGIN … COMMIT) so a page and its total, or an execution and its
 * steps, come from the same snapshot (SPEC §3.6, §9.1 "Connections"). Results are jansson values in the field
 * order of SPEC §3.1. Lists are newest first via the (created_at DESC, id DESC) indexes; abe_dbr_explain
 * exposes the query plans so tests can prove no list or lookup scans a table. With daemon/abe_store_sqlite.c
 * this is the only SQL.
 */
#include "abe_dbread.h"
#include "abe_log.h"

#include <sqlite3.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define BUSY_TIMEOUT_MS 5000

enum {
    Q_BEGIN,
    Q_COMMIT,
    Q_ROLLBACK,
    Q_CONV_LIST,
    Q_CONV_COUNT,
    Q_CONV_GET,
    Q_CONV_AGENT,
    Q_MSG_ALL,
    Q_MSG_PAGE,
    Q_MSG_COUNT,
    Q_WF_LIST,
    Q_WF_COUNT,
    Q_WF_GET,
    Q_WF_STEPS,
    Q_EX_LIST,
    Q_EX_LIST_STATUS,
    Q_EX_LIST_WF,
    Q_EX_LIST_WF_STATUS,
    Q_EX_COUNT,
    Q_EX_COUNT_STATUS,
    Q_EX_COUNT_WF,
    Q_EX_COUNT_WF_STATUS,
    Q_EX_GET,
    Q_EX_STEPS,
    Q_OWNED,
    Q_OWNED_STEPS,
    Q__COUNT
};

#define EX_SUMMARY_COLS                                                                                      \
    "execution_id, workflow_id, status, created_at, started_at, completed_at, steps_completed, "             \
    "total_steps, "                                                                                          \
    "step_order, replay_of, replay_mode, error"
#define NEWEST " ORDER BY created_at DESC, id DESC LIMIT ?8 OFFSET ?9"

/* Query names (for abe_dbr_explain) and SQL. Execution list filters bind ?1 workflow_id, ?2 status. */
static const struct {
    const char *name;
    const char *sql;
} k_q[Q__COUNT] = {
    [Q_BEGIN] = {"begin", "BEGIN"},
    [Q_COMMIT] = {"commit", "COMMIT"},
    [Q_ROLLBACK] = {"rollback", "ROLLBACK"},
    [Q_CONV_LIST] =
        {"list_conversations",
         "SELECT c.conversation_id, c.agent_id, c.name, c.status, c.created_at, c.updated_at, "
         "(SELECT COUNT(*) FROM conversation_messages m WHERE m.conversation_id = c.conversation_id) "
         "FROM conversations c ORDER BY c.created_at DESC, c.id DESC LIMIT ?1 OFFSET ?2"},
    [Q_CONV_COUNT] = {"count_conversations", "SELECT n FROM list_counts WHERE key = 'conversations'"},
    [Q_CONV_GET] = {"get_conversation",
                    "SELECT conversation_id, agent_id, name, description, system_message, status, context, "
                    "created_at, updated_at FROM conversations WHERE conversation_id = ?1"},
    [Q_CONV_AGENT] = {"conversation_agent", "SELECT agent_id FROM conversations WHERE conversation_id = ?1"},
    [Q_MSG_ALL] = {"all_messages", "SELECT message_id, role, content, created_at, agent_id FROM "
                                   "conversation_messages WHERE conversation_id = ?1 ORDER BY id"},
    [Q_MSG_PAGE] = {"list_messages", "SELECT message_id, role, content, created_at, agent_id FROM "
                                     "conversation_messages WHERE conversation_id = ?1 ORDER BY id "
                                     "LIMIT ?2 OFFSET ?3"},
    [Q_MSG_COUNT] = {"count_messages",
                     "SELECT COUNT(*) FROM conversation_messages WHERE conversation_id = ?1"},
    [Q_WF_LIST] =
        {"list_workflows",
         "SELECT w.workflow_id, w.name, w.description, w.parallel_execution, w.status, w.created_at, "
         "(SELECT COUNT(*) FROM workflow_steps s WHERE s.workflow_id = w.workflow_id) "
         "FROM workflows w ORDER BY w.created_at DESC, w.id DESC LIMIT ?1 OFFSET ?2"},
    [Q_WF_COUNT] = {"count_workflows", "SELECT n FROM list_counts WHERE key = 'workflows'"},
    [Q_WF_GET] = {"get_workflow",
                  "SELECT workflow_id, name, description, parallel_execution, status, created_at "
                  "FROM workflows WHERE workflow_id = ?1"},
    [Q_WF_STEPS] =
        {"workflow_steps",
         "SELECT step_name, agent_id, parameters, depends_on, fail, type, description, duration_ms "
         "FROM workflow_steps WHERE workflow_id = ?1 ORDER BY position"},
    [Q_EX_LIST] = {"list_executions", "SELECT " EX_SUMMARY_COLS " FROM workflow_executions" NEWEST},
    [Q_EX_LIST_STATUS] = {"list_executions_status",
                          "SELECT " EX_SUMMARY_COLS " FROM workflow_executions WHERE status = ?2" NEWEST},
    [Q_EX_LIST_WF] = {"list_executions_workflow",
                      "SELECT " EX_SUMMARY_COLS " FROM workflow_executions WHERE workflow_id = ?1" NEWEST},
    [Q_EX_LIST_WF_STATUS] = {"list_executions_workflow_status",
                             "SELECT " EX_SUMMARY_COLS " FROM workflow_executions WHERE workflow_id = ?1 "
                             "AND status = ?2" NEWEST},
    [Q_EX_COUNT] =
        {"count_executions",
         "SELECT COALESCE(SUM(n), 0) FROM list_counts WHERE key >= 'executions:' AND key < 'executions;'"},
    [Q_EX_COUNT_STATUS] = {"count_executions_status",
                           "SELECT n FROM list_counts WHERE key = 'executions:' || ?2"},
    [Q_EX_COUNT_WF] = {"count_executions_workflow",
                       "SELECT COUNT(*) FROM workflow_executions WHERE workflow_id = ?1"},
    [Q_EX_COUNT_WF_STATUS] =
        {"count_executions_workflow_status",
         "SELECT COUNT(*) FROM workflow_executions WHERE workflow_id = ?1 AND status = ?2"},
    [Q_EX_GET] =
        {"get_execution",
         "SELECT execution_id, workflow_id, status, created_at, started_at, completed_at, steps_completed, "
         "total_steps, step_order, replay_of, replay_mode, input_snapshot, error FROM workflow_executions "
         "WHERE execution_id = ?1"},
    [Q_EX_STEPS] =
        {"execution_steps",
         "SELECT step_name, status, started_at, completed_at, duration_ms, error, attempts, carried_over "
         "FROM workflow_execution_steps WHERE execution_id = ?1 ORDER BY position"},
    [Q_OWNED] =
        {"owned_executions",
         "SELECT execution_id, workflow_id, status, started_at, run_epoch, step_order, input_snapshot "
         "FROM workflow_executions WHERE owner_pid = ?1 AND status IN ('pending','running') "
         "ORDER BY created_at, id"},
    [Q_OWNED_STEPS] =
        {"owned_execution_steps",
         "SELECT step_name, position, status, started_at, completed_at, duration_ms, error, attempts, "
         "carried_over FROM workflow_execution_steps WHERE execution_id = ?1 ORDER BY position"},
};

struct abe_dbr {
    sqlite3 *db;
    sqlite3_stmt *q[Q__COUNT];
    char err[512];
};

/* ---- helpers ------------------------------------------------------------------------------------------ */

static int fail(abe_dbr_t *r, const char *f, ...) __attribute__((format(printf, 2, 3)));
static int fail(abe_dbr_t *r, const char *f, ...)
{
    va_list ap;
    va_start(ap, f);
    vsnprintf(r->err, sizeof r->err, f, ap);
    va_end(ap);
    return ABE_DBR_ERROR;
}

static int sqlfail(abe_dbr_t *r)
{
    return fail(r, "%s", sqlite3_errmsg(r->db));
}

static void reset(sqlite3_stmt *s)
{
    sqlite3_reset(s);
    sqlite3_clear_bindings(s);
}

/* Start the call's read transaction. */
static int txn_begin(abe_dbr_t *r)
{
    r->err[0] = '\0';
    int rc = sqlite3_step(r->q[Q_BEGIN]);
    sqlite3_reset(r->q[Q_BEGIN]);
    if (rc != SQLITE_DONE) return sqlfail(r);
    return ABE_DBR_OK;
}

/* End the read transaction; status is the call's result so far (COMMIT on success, ROLLBACK otherwise). */
static int txn_end(abe_dbr_t *r, int status)
{
    for (int i = Q_CONV_LIST; i < Q__COUNT; i++)
        reset(r->q[i]);
    sqlite3_stmt *s = r->q[status == ABE_DBR_ERROR ? Q_ROLLBACK : Q_COMMIT];
    int rc = sqlite3_step(s);
    sqlite3_reset(s);
    if (rc != SQLITE_DONE && status != ABE_DBR_ERROR) {
        status = sqlfail(r);
        if (sqlite3_get_autocommit(r->db) == 0) {
            sqlite3_step(r->q[Q_ROLLBACK]);
            sqlite3_reset(r->q[Q_ROLLBACK]);
        }
    }
    return status;
}

static int bind_text(abe_dbr_t *r, sqlite3_stmt *s, int i, const char *v)
{
    int rc = v ? sqlite3_bind_text(s, i, v, -1, SQLITE_STATIC) : sqlite3_bind_null(s, i);
    if (rc != SQLITE_OK) return fail(r, "bind: %s", sqlite3_errstr(rc));
    return ABE_DBR_OK;
}

static int bind_int(abe_dbr_t *r, sqlite3_stmt *s, int i, int64_t v)
{
    int rc = sqlite3_bind_int64(s, i, (sqlite3_int64)v);
    if (rc != SQLITE_OK) return fail(r, "bind: %s", sqlite3_errstr(rc));
    return ABE_DBR_OK;
}

/* Text column → JSON string (NULL column → JSON null). NULL return on invalid UTF-8 / no memory. */
static json_t *col_text(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL) return json_null();
    const char *t = (const char *)sqlite3_column_text(s, i);
    int n = sqlite3_column_bytes(s, i);
    return t ? json_stringn(t, (size_t)n) : NULL;
}

static json_t *col_int(sqlite3_stmt *s, int i)
{
    return json_integer((json_int_t)sqlite3_column_int64(s, i));
}

static json_t *col_bool(sqlite3_stmt *s, int i)
{
    return json_boolean(sqlite3_column_int64(s, i) != 0);
}

static json_t *col_real_or_null(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL) return json_null();
    return json_real(sqlite3_column_double(s, i));
}

/* JSON text column → parsed value; NULL when missing or unparsable. */
static json_t *col_json(sqlite3_stmt *s, int i)
{
    if (sqlite3_column_type(s, i) == SQLITE_NULL) return NULL;
    const char *t = (const char *)sqlite3_column_text(s, i);
    int n = sqlite3_column_bytes(s, i);
    if (!t) return NULL;
    return json_loadb(t, (size_t)n, JSON_DECODE_ANY, NULL);
}

/*
 * Object builder: put() appends key → value (stealing value). A NULL value or a failed set marks the builder
 * failed; the first failure's key is remembered for the error message.
 */
typedef struct builder {
    json_t *obj;
    const char *bad_key;
} builder_t;

static void put(builder_t *b, const char *key, json_t *value)
{
    if (!value || !b->obj || json_object_set_new(b->obj, key, value) != 0) {
        if (!b->bad_key) b->bad_key = key;
    }
}

/* finish() → the object, or NULL (object released, error recorded) when any put failed. */
static json_t *finish(abe_dbr_t *r, builder_t *b)
{
    if (b->obj && !b->bad_key) return b->obj;
    json_decref(b->obj);
    fail(r, "cannot decode column '%s'", b->bad_key ? b->bad_key : "?");
    return NULL;
}

/* Step one row: 1 row, 0 done (statement reset), -1 error (recorded). */
static int row(abe_dbr_t *r, sqlite3_stmt *s)
{
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) {
        reset(s);
        return 0;
    }
    sqlfail(r);
    reset(s);
    return -1;
}

/* Run a COUNT(*) statement (parameters already bound) into *out. */
static int count(abe_dbr_t *r, sqlite3_stmt *s, int64_t *out)
{
    int k = row(r, s);
    if (k < 0) return ABE_DBR_ERROR;
    *out = k == 1 ? (int64_t)sqlite3_column_int64(s, 0) : 0;
    reset(s);
    return ABE_DBR_OK;
}

/* Collect every row of s via build(row) into a new array *out. */
static int collect(abe_dbr_t *r, sqlite3_stmt *s, json_t *(*build)(abe_dbr_t *, sqlite3_stmt *), json_t **out)
{
    json_t *arr = json_array();
    if (!arr) return fail(r, "out of memory");
    int k;
    while ((k = row(r, s)) == 1) {
        json_t *item = build(r, s);
        if (!item || json_array_append_new(arr, item) != 0) {
            reset(s);
            json_decref(arr);
            return item ? fail(r, "out of memory") : ABE_DBR_ERROR;
        }
    }
    if (k < 0) {
        json_decref(arr);
        return ABE_DBR_ERROR;
    }
    *out = arr;
    return ABE_DBR_OK;
}

/* ---- row builders (SPEC §3.1 field order) ------------------------------------------------------------- */

static json_t *build_conv_summary(abe_dbr_t *r, sqlite3_stmt *s)
{
    builder_t b = {json_object(), NULL};
    put(&b, "id", col_text(s, 0));
    put(&b, "agent_id", col_text(s, 1));
    put(&b, "name", col_text(s, 2));
    put(&b, "status", col_text(s, 3));
    put(&b, "created_at", col_text(s, 4));
    put(&b, "last_updated", col_text(s, 5));
    put(&b, "message_count", col_int(s, 6));
    return finish(r, &b);
}

static json_t *build_message(abe_dbr_t *r, sqlite3_stmt *s)
{
    builder_t b = {json_object(), NULL};
    put(&b, "id", col_text(s, 0));
    put(&b, "role", col_text(s, 1));
    put(&b, "content", col_text(s, 2));
    put(&b, "timestamp", col_text(s, 3));
    put(&b, "agent_id", col_text(s, 4));
    return finish(r, &b);
}

static json_t *build_wf_summary(abe_dbr_t *r, sqlite3_stmt *s)
{
    builder_t b = {json_object(), NULL};
    put(&b, "id", col_text(s, 0));
    put(&b, "name", col_text(s, 1));
    put(&b, "description", col_text(s, 2));
    put(&b, "parallel_execution", col_bool(s, 3));
    put(&b, "status", col_text(s, 4));
    put(&b, "created_at", col_text(s, 5));
    put(&b, "step_count", col_int(s, 6));
    return finish(r, &b);
}

static json_t *build_wf_step(abe_dbr_t *r, sqlite3_stmt *s)
{
    builder_t b = {json_object(), NULL};
    put(&b, "name", col_text(s, 0));
    put(&b, "agent_id", col_text(s, 1));
    put(&b, "parameters", col_json(s, 2));
    put(&b, "depends_on", col_json(s, 3));
    put(&b, "fail", col_bool(s, 4));
    put(&b, "type", col_text(s, 5));
    put(&b, "description", col_text(s, 6));
    put(&b, "duration_ms", col_int(s, 7));
    return finish(r, &b);
}

/* Execution / ExecutionSummary: columns as EX_SUMMARY_COLS, snapshot_col >= 0 adds input_snapshot. */
static json_t *build_execution_cols(abe_dbr_t *r, sqlite3_stmt *s, int snapshot_col, int error_col)
{
    builder_t b = {json_object(), NULL};
    put(&b, "execution_id", col_text(s, 0));
    put(&b, "workflow_id", col_text(s, 1));
    put(&b, "status", col_text(s, 2));
    put(&b, "created_at", col_text(s, 3));
    put(&b, "started_at", col_text(s, 4));
    put(&b, "completed_at", col_text(s, 5));
    put(&b, "steps_completed", col_int(s, 6));
    put(&b, "total_steps", col_int(s, 7));
    put(&b, "step_order", col_json(s, 8));
    put(&b, "replay_of", col_text(s, 9));
    put(&b, "replay_mode", col_text(s, 10));
    if (snapshot_col >= 0) put(&b, "input_snapshot", col_json(s, snapshot_col));
    put(&b, "error", col_text(s, error_col));
    return finish(r, &b);
}

static json_t *build_ex_summary(abe_dbr_t *r, sqlite3_stmt *s)
{
    return build_execution_cols(r, s, -1, 11);
}

static json_t *build_ex_step(abe_dbr_t *r, sqlite3_stmt *s)
{
    builder_t b = {json_object(), NULL};
    put(&b, "name", col_text(s, 0));
    put(&b, "step_name", col_text(s, 0));
    put(&b, "status", col_text(s, 1));
    put(&b, "started_at", col_text(s, 2));
    put(&b, "completed_at", col_text(s, 3));
    put(&b, "duration_ms", col_real_or_null(s, 4));
    put(&b, "error", col_text(s, 5));
    put(&b, "attempts", col_int(s, 6));
    put(&b, "carried_over", col_bool(s, 7));
    return finish(r, &b);
}

static json_t *build_owned_step(abe_dbr_t *r, sqlite3_stmt *s)
{
    builder_t b = {json_object(), NULL};
    put(&b, "step_name", col_text(s, 0));
    put(&b, "position", col_int(s, 1));
    put(&b, "status", col_text(s, 2));
    put(&b, "started_at", col_text(s, 3));
    put(&b, "completed_at", col_text(s, 4));
    put(&b, "duration_ms", col_real_or_null(s, 5));
    put(&b, "error", col_text(s, 6));
    put(&b, "attempts", col_int(s, 7));
    put(&b, "carried_over", col_bool(s, 8));
    return finish(r, &b);
}

/* ---- open / close ------------------------------------------------------------------------------------- */

abe_dbr_t *abe_dbr_open(const char *path)
{
    if (!path || !*path) {
        abe_log_error("read-only database open: empty path");
        return NULL;
    }
    abe_dbr_t *r = calloc(1, sizeof *r);
    if (!r) {
        abe_log_error("read-only database open '%s': out of memory", path);
        return NULL;
    }
    if (sqlite3_open_v2(path, &r->db, SQLITE_OPEN_READONLY, NULL) != SQLITE_OK) {
        abe_log_error("cannot open database '%s' read-only: %s", path,
                      r->db ? sqlite3_errmsg(r->db) : "no memory");
        abe_dbr_close(r);
        return NULL;
    }
    sqlite3_extended_result_codes(r->db, 1);
    sqlite3_busy_timeout(r->db, BUSY_TIMEOUT_MS);
    if (sqlite3_exec(r->db, "PRAGMA query_only=ON", NULL, NULL, NULL) != SQLITE_OK) {
        abe_log_error("database '%s': PRAGMA query_only failed: %s", path, sqlite3_errmsg(r->db));
        abe_dbr_close(r);
        return NULL;
    }
    for (int i = 0; i < Q__COUNT; i++) {
        if (sqlite3_prepare_v3(r->db, k_q[i].sql, -1, SQLITE_PREPARE_PERSISTENT, &r->q[i], NULL) !=
            SQLITE_OK) {
            abe_log_error("database '%s': cannot prepare query %s: %s", path, k_q[i].name,
                          sqlite3_errmsg(r->db));
            abe_dbr_close(r);
            return NULL;
        }
    }
    return r;
}

void abe_dbr_close(abe_dbr_t *r)
{
    if (!r) return;
    for (int i = 0; i < Q__COUNT; i++)
        sqlite3_finalize(r->q[i]);
    sqlite3_close_v2(r->db);
    free(r);
}

const char *abe_dbr_errmsg(abe_dbr_t *r)
{
    if (!r) return "no database connection";
    return r->err[0] ? r->err : "no error";
}

/* ---- conversations ------------------------------------------------------------------------------------ */

int abe_dbr_list_conversations(abe_dbr_t *r, int64_t limit, int64_t offset, json_t **items, int64_t *total)
{
    *items = NULL;
    if (txn_begin(r) != ABE_DBR_OK) return ABE_DBR_ERROR;
    int st = count(r, r->q[Q_CONV_COUNT], total);
    sqlite3_stmt *s = r->q[Q_CONV_LIST];
    if (st == ABE_DBR_OK) st = bind_int(r, s, 1, limit);
    if (st == ABE_DBR_OK) st = bind_int(r, s, 2, offset);
    if (st == ABE_DBR_OK) st = collect(r, s, build_conv_summary, items);
    st = txn_end(r, st);
    if (st != ABE_DBR_OK) {
        json_decref(*items);
        *items = NULL;
    }
    return st;
}

/* conversation_row — look up a conversation's row in Q_CONV_GET: 1 found (row current), 0 absent, -1 error.
 */
static int conversation_row(abe_dbr_t *r, const char *id)
{
    sqlite3_stmt *s = r->q[Q_CONV_GET];
    if (bind_text(r, s, 1, id) != ABE_DBR_OK) return -1;
    return row(r, s);
}

int abe_dbr_get_conversation(abe_dbr_t *r, const char *conversation_id, json_t **out)
{
    *out = NULL;
    if (txn_begin(r) != ABE_DBR_OK) return ABE_DBR_ERROR;
    int k = conversation_row(r, conversation_id);
    if (k <= 0) return txn_end(r, k < 0 ? ABE_DBR_ERROR : ABE_DBR_NOT_FOUND);
    sqlite3_stmt *s = r->q[Q_CONV_GET];
    builder_t b = {json_object(), NULL};
    put(&b, "id", col_text(s, 0));
    put(&b, "agent_id", col_text(s, 1));
    put(&b, "name", col_text(s, 2));
    put(&b, "description", col_text(s, 3));
    put(&b, "system_message", col_text(s, 4));
    put(&b, "status", col_text(s, 5));
    put(&b, "context", col_json(s, 6));
    put(&b, "created_at", col_text(s, 7));
    put(&b, "last_updated", col_text(s, 8));
    reset(s);
    json_t *conv = finish(r, &b);
    if (!conv) return txn_end(r, ABE_DBR_ERROR);
    json_t *messages = NULL;
    sqlite3_stmt *m = r->q[Q_MSG_ALL];
    int st = bind_text(r, m, 1, conversation_id);
    if (st == ABE_DBR_OK) st = collect(r, m, build_message, &messages);
    if (st == ABE_DBR_OK && json_object_set_new(conv, "messages", messages) != 0)
        st = fail(r, "out of memory");
    if (st != ABE_DBR_OK) {
        json_decref(conv);
        return txn_end(r, st);
    }
    st = txn_end(r, ABE_DBR_OK);
    if (st == ABE_DBR_OK)
        *out = conv;
    else
        json_decref(conv);
    return st;
}

int abe_dbr_conversation_agent(abe_dbr_t *r, const char *conversation_id, char *buf, size_t buflen)
{
    if (buflen) buf[0] = '\0';
    if (txn_begin(r) != ABE_DBR_OK) return ABE_DBR_ERROR;
    sqlite3_stmt *s = r->q[Q_CONV_AGENT];
    if (bind_text(r, s, 1, conversation_id) != ABE_DBR_OK) return txn_end(r, ABE_DBR_ERROR);
    int k = row(r, s);
    if (k <= 0) return txn_end(r, k < 0 ? ABE_DBR_ERROR : ABE_DBR_NOT_FOUND);
    const char *a = (const char *)sqlite3_column_text(s, 0);
    if (buflen) snprintf(buf, buflen, "%s", a ? a : "");
    reset(s);
    return txn_end(r, ABE_DBR_OK);
}

int abe_dbr_list_messages(abe_dbr_t *r, const char *conversation_id, int64_t limit, int64_t offset,
                          json_t **items, int64_t *total)
{
    *items = NULL;
    if (txn_begin(r) != ABE_DBR_OK) return ABE_DBR_ERROR;
    sqlite3_stmt *s = r->q[Q_CONV_AGENT];
    if (bind_text(r, s, 1, conversation_id) != ABE_DBR_OK) return txn_end(r, ABE_DBR_ERROR);
    int k = row(r, s);
    if (k <= 0) return txn_end(r, k < 0 ? ABE_DBR_ERROR : ABE_DBR_NOT_FOUND);
    reset(s);
    s = r->q[Q_MSG_COUNT];
    int st = bind_text(r, s, 1, conversation_id);
    if (st == ABE_DBR_OK) st = count(r, s, total);
    s = r->q[Q_MSG_PAGE];
    if (st == ABE_DBR_OK) st = bind_text(r, s, 1, conversation_id);
    if (st == ABE_DBR_OK) st = bind_int(r, s, 2, limit);
    if (st == ABE_DBR_OK) st = bind_int(r, s, 3, offset);
    if (st == ABE_DBR_OK) st = collect(r, s, build_message, items);
    st = txn_end(r, st);
    if (st != ABE_DBR_OK) {
        json_decref(*items);
        *items = NULL;
    }
    return st;
}

/* ---- workflows ---------------------------------------------------------------------------------------- */

int abe_dbr_list_workflows(abe_dbr_t *r, int64_t limit, int64_t offset, json_t **items, int64_t *total)
{
    *items = NULL;
    if (txn_begin(r) != ABE_DBR_OK) return ABE_DBR_ERROR;
    int st = count(r, r->q[Q_WF_COUNT], total);
    sqlite3_stmt *s = r->q[Q_WF_LIST];
    if (st == ABE_DBR_OK) st = bind_int(r, s, 1, limit);
    if (st == ABE_DBR_OK) st = bind_int(r, s, 2, offset);
    if (st == ABE_DBR_OK) st = collect(r, s, build_wf_summary, items);
    st = txn_end(r, st);
    if (st != ABE_DBR_OK) {
        json_decref(*items);
        *items = NULL;
    }
    return st;
}

int abe_dbr_get_workflow(abe_dbr_t *r, const char *workflow_id, json_t **out)
{
    *out = NULL;
    if (txn_begin(r) != ABE_DBR_OK) return ABE_DBR_ERROR;
    sqlite3_stmt *s = r->q[Q_WF_GET];
    if (bind_text(r, s, 1, workflow_id) != ABE_DBR_OK) return txn_end(r, ABE_DBR_ERROR);
    int k = row(r, s);
    if (k <= 0) return txn_end(r, k < 0 ? ABE_DBR_ERROR : ABE_DBR_NOT_FOUND);
    json_t *steps = NULL;
    sqlite3_stmt *q = r->q[Q_WF_STEPS];
    int st = bind_text(r, q, 1, workflow_id);
    if (st == ABE_DBR_OK) st = collect(r, q, build_wf_step, &steps);
    if (st != ABE_DBR_OK) return txn_end(r, st);
    builder_t b = {json_object(), NULL};
    put(&b, "id", col_text(s, 0));
    put(&b, "name", col_text(s, 1));
    put(&b, "description", col_text(s, 2));
    put(&b, "steps", steps);
    put(&b, "parallel_execution", col_bool(s, 3));
    put(&b, "status", col_text(s, 4));
    put(&b, "created_at", col_text(s, 5));
    reset(s);
    json_t *wf = finish(r, &b);
    st = txn_end(r, wf ? ABE_DBR_OK : ABE_DBR_ERROR);
    if (st == ABE_DBR_OK)
        *out = wf;
    else
        json_decref(wf);
    return st;
}

/* ---- executions --------------------------------------------------------------------------------------- */

int abe_dbr_list_executions(abe_dbr_t *r, const char *workflow_id, const char *status, int64_t limit,
                            int64_t offset, json_t **items, int64_t *total)
{
    *items = NULL;
    int lq, cq;
    if (workflow_id && status) {
        lq = Q_EX_LIST_WF_STATUS;
        cq = Q_EX_COUNT_WF_STATUS;
    } else if (workflow_id) {
        lq = Q_EX_LIST_WF;
        cq = Q_EX_COUNT_WF;
    } else if (status) {
        lq = Q_EX_LIST_STATUS;
        cq = Q_EX_COUNT_STATUS;
    } else {
        lq = Q_EX_LIST;
        cq = Q_EX_COUNT;
    }
    if (txn_begin(r) != ABE_DBR_OK) return ABE_DBR_ERROR;
    int st = ABE_DBR_OK;
    sqlite3_stmt *c = r->q[cq], *l = r->q[lq];
    if (workflow_id && st == ABE_DBR_OK) st = bind_text(r, c, 1, workflow_id);
    if (status && st == ABE_DBR_OK) st = bind_text(r, c, 2, status);
    if (st == ABE_DBR_OK) st = count(r, c, total);
    if (workflow_id && st == ABE_DBR_OK) st = bind_text(r, l, 1, workflow_id);
    if (status && st == ABE_DBR_OK) st = bind_text(r, l, 2, status);
    if (st == ABE_DBR_OK) st = bind_int(r, l, 8, limit);
    if (st == ABE_DBR_OK) st = bind_int(r, l, 9, offset);
    if (st == ABE_DBR_OK) st = collect(r, l, build_ex_summary, items);
    st = txn_end(r, st);
    if (st != ABE_DBR_OK) {
        json_decref(*items);
        *items = NULL;
    }
    return st;
}

int abe_dbr_get_execution(abe_dbr_t *r, const char *execution_id, json_t **execution, json_t **steps)
{
    *execution = NULL;
    *steps = NULL;
    if (txn_begin(r) != ABE_DBR_OK) return ABE_DBR_ERROR;
    sqlite3_stmt *s = r->q[Q_EX_GET];
    if (bind_text(r, s, 1, execution_id) != ABE_DBR_OK) return txn_end(r, ABE_DBR_ERROR);
    int k = row(r, s);
    if (k <= 0) return txn_end(r, k < 0 ? ABE_DBR_ERROR : ABE_DBR_NOT_FOUND);
    json_t *ex = build_execution_cols(r, s, 11, 12);
    reset(s);
    if (!ex) return txn_end(r, ABE_DBR_ERROR);
    json_t *st_arr = NULL;
    sqlite3_stmt *q = r->q[Q_EX_STEPS];
    int st = bind_text(r, q, 1, execution_id);
    if (st == ABE_DBR_OK) st = collect(r, q, build_ex_step, &st_arr);
    st = txn_end(r, st);
    if (st != ABE_DBR_OK) {
        json_decref(ex);
        json_decref(st_arr);
        return st;
    }
    *execution = ex;
    *steps = st_arr;
    return ABE_DBR_OK;
}

int abe_dbr_owned_executions(abe_dbr_t *r, long owner_pid, json_t **out)
{
    *out = NULL;
    if (txn_begin(r) != ABE_DBR_OK) return ABE_DBR_ERROR;
    json_t *arr = json_array();
    if (!arr) return txn_end(r, fail(r, "out of memory"));
    sqlite3_stmt *s = r->q[Q_OWNED];
    int st = bind_int(r, s, 1, (int64_t)owner_pid);
    int k = 0;
    while (st == ABE_DBR_OK && (k = row(r, s)) == 1) {
        /* An unparsable step_order/input_snapshot comes back as null so the engine can fail the execution
         * ("Execution could not be resumed", SPEC §4.2) instead of the whole poll failing. */
        json_t *order = col_json(s, 5), *snap = col_json(s, 6);
        builder_t b = {json_object(), NULL};
        put(&b, "execution_id", col_text(s, 0));
        put(&b, "workflow_id", col_text(s, 1));
        put(&b, "status", col_text(s, 2));
        put(&b, "started_at", col_text(s, 3));
        put(&b, "run_epoch", col_int(s, 4));
        put(&b, "step_order", order ? order : json_null());
        put(&b, "input_snapshot", snap ? snap : json_null());
        json_t *ex = finish(r, &b);
        if (!ex || json_array_append_new(arr, ex) != 0) {
            st = ABE_DBR_ERROR;
            if (ex) fail(r, "out of memory");
        }
    }
    if (k < 0) st = ABE_DBR_ERROR;
    reset(s);
    /* Steps per execution (after the outer statement is done, so only one statement is active). */
    size_t i;
    json_t *ex;
    json_array_foreach(arr, i, ex)
    {
        if (st != ABE_DBR_OK) break;
        json_t *steps = NULL;
        sqlite3_stmt *q = r->q[Q_OWNED_STEPS];
        st = bind_text(r, q, 1, json_string_value(json_object_get(ex, "execution_id")));
        if (st == ABE_DBR_OK) st = collect(r, q, build_owned_step, &steps);
        if (st == ABE_DBR_OK && json_object_set_new(ex, "steps", steps) != 0) st = fail(r, "out of memory");
    }
    st = txn_end(r, st);
    if (st != ABE_DBR_OK) {
        json_decref(arr);
        return st;
    }
    *out = arr;
    return ABE_DBR_OK;
}

/* ---- diagnostics -------------------------------------------------------------------------------------- */

int abe_dbr_explain(abe_dbr_t *r, const char *query, json_t **out)
{
    *out = NULL;
    int which = -1;
    for (int i = Q_CONV_LIST; query && i < Q__COUNT; i++)
        if (strcmp(k_q[i].name, query) == 0) which = i;
    if (which < 0) return ABE_DBR_NOT_FOUND;
    static const char prefix[] = "EXPLAIN QUERY PLAN ";
    size_t n = strlen(k_q[which].sql);
    char *sql = malloc(sizeof prefix + n);
    if (!sql) return fail(r, "out of memory");
    memcpy(sql, prefix, sizeof prefix - 1);
    memcpy(sql + sizeof prefix - 1, k_q[which].sql, n + 1);
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(r->db, sql, -1, &s, NULL);
    free(sql);
    if (rc != SQLITE_OK) return sqlfail(r);
    json_t *arr = json_array();
    while (arr && (rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *d = (const char *)sqlite3_column_text(s, 3);
        json_array_append_new(arr, json_string(d ? d : ""));
    }
    if (!arr || rc != SQLITE_DONE) {
        int st = arr ? sqlfail(r) : fail(r, "out of memory");
        sqlite3_finalize(s);
        json_decref(arr);
        return st;
    }
    sqlite3_finalize(s);
    *out = arr;
    return ABE_DBR_OK;
}

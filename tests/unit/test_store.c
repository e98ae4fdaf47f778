/*
 * test_store.c — unit tests (Criterion suite `store`) for the SQLite write side, daemon/abe_store_sqlite.c
 * (SPEC §9.1 schema and migrations, §9.2 operations, §4.4–§4.7 fencing, hand-back, adoption, retention).
 *
 * Every test works on a fresh database under its own mkdtemp directory. Writes are driven exactly as the
 * persistence process drives them: abe_store_begin / savepoint / apply / release (or rollback_to) / commit.
 * State is checked through a separate plain SQLite connection (q_int / q_text), i.e. what is really on disk.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abe_store.h"

static char g_dir[64];
static char g_db[256];
static abe_store_t *g_st;
static char g_msg[512];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void make_dir(void)
{
    strcpy(g_dir, "/tmp/abe-store-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_db, sizeof g_db, "%s/data/nested/platform.db", g_dir);
}

static void open_fresh(void)
{
    make_dir();
    char err[512] = "";
    cr_assert_eq(abe_store_open(&g_st, g_db, err, sizeof err), 0, "open: %s", err);
    cr_assert_not_null(g_st);
}

static void cleanup(void)
{
    abe_store_close(g_st, 1);
    g_st = NULL;
    nftw(g_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* ---- helpers ------------------------------------------------------------------------------------------ */

/* Run one op as a whole batch (BEGIN IMMEDIATE, SAVEPOINT, apply, RELEASE/ROLLBACK TO, COMMIT).
 * payload is consumed. *res receives the result (may be NULL to drop it). */
static int apply_p(abe_op_t op, json_t *payload, json_t **res)
{
    cr_assert_not_null(payload, "test payload did not build");
    cr_assert_eq(abe_store_begin(g_st), 0, "%s", abe_store_errmsg(g_st));
    cr_assert_eq(abe_store_savepoint(g_st), 0);
    json_t *r = (json_t *)0x1;
    g_msg[0] = 'x';
    int rc = abe_store_apply(g_st, op, payload, &r, g_msg, sizeof g_msg);
    if (rc == ABE_IPC_OK) {
        cr_assert_not_null(r);
        cr_assert_eq(abe_store_release(g_st), 0);
    } else {
        cr_assert_null(r, "no result on failure");
        cr_assert_neq(g_msg[0], '\0', "a failure carries a message");
        cr_assert_eq(abe_store_rollback_to(g_st), 0);
    }
    cr_assert_eq(abe_store_commit(g_st), 0, "%s", abe_store_errmsg(g_st));
    json_decref(payload);
    if (res)
        *res = r;
    else
        json_decref(r);
    return rc;
}

/* apply_s — payload given as JSON text. */
static int apply_s(abe_op_t op, const char *json, json_t **res)
{
    json_error_t e;
    json_t *p = json_loads(json, JSON_DECODE_ANY, &e);
    cr_assert_not_null(p, "bad test JSON: %s", e.text);
    return apply_p(op, p, res);
}

static sqlite3 *peek_open(void)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    return db;
}

/* First column of the first row of sql as an integer (-999 if no row). */
static long long q_int(const char *sql)
{
    sqlite3 *db = peek_open();
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    long long v = -999;
    if (sqlite3_step(s) == SQLITE_ROW) v = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return v;
}

/* First column of the first row as text into a static buffer ("<null>" for NULL, "<none>" without a row). */
static const char *q_text(const char *sql)
{
    static char buf[4096];
    sqlite3 *db = peek_open();
    sqlite3_stmt *s = NULL;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s: %s", sql, sqlite3_errmsg(db));
    snprintf(buf, sizeof buf, "<none>");
    if (sqlite3_step(s) == SQLITE_ROW) {
        const unsigned char *t = sqlite3_column_text(s, 0);
        snprintf(buf, sizeof buf, "%s", t ? (const char *)t : "<null>");
    }
    sqlite3_finalize(s);
    sqlite3_close(db);
    return buf;
}

/* Raw SQL against a database file that is not opened by the store (migration fixtures). */
static void raw_exec(const char *path, const char *sql)
{
    sqlite3 *db = NULL;
    cr_assert_eq(sqlite3_open(path, &db), SQLITE_OK);
    cr_assert_eq(sqlite3_exec(db, sql, NULL, NULL, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    sqlite3_close(db);
}

static const char *k_workflow =
    "{\"workflow_id\":\"wf1\",\"name\":\"Flow\",\"description\":\"d\",\"parallel_execution\":false,"
    "\"created_at\":\"2026-01-01T00:00:00.000000Z\",\"steps\":["
    "{\"name\":\"a\",\"agent_id\":null,\"parameters\":{\"k\":[1,2.5]},\"depends_on\":[],\"fail\":false,"
    "\"type\":null,\"description\":null,\"duration_ms\":500},"
    "{\"name\":\"b\",\"agent_id\":\"agent-x\",\"parameters\":{},\"depends_on\":[\"a\"],\"fail\":true,"
    "\"type\":\"t\",\"description\":\"second\",\"duration_ms\":0}]}";

/* An execution payload with two steps a (ready) and b (pending). */
static json_t *exec_payload(const char *eid, const char *wf, const char *created_at, json_t *owner,
                            long epoch, int require)
{
    return json_pack(
        "{s:s,s:s,s:b,s:s,s:[s,s],s:{s:s},s:n,s:n,s:o,s:i,s:[{s:i,s:s,s:s,s:n,s:n,s:n,s:n,s:i,s:b},"
        "{s:i,s:s,s:s,s:n,s:n,s:n,s:n,s:i,s:b}]}",
        "execution_id", eid, "workflow_id", wf, "require_workflow", require, "created_at", created_at,
        "step_order", "a", "b", "input_snapshot", "workflow_id", wf, "replay_of", "replay_mode", "owner_pid",
        owner, "run_epoch", (int)epoch, "steps", "position", 0, "step_name", "a", "status", "ready",
        "started_at", "completed_at", "duration_ms", "error", "attempts", 0, "carried_over", 0, "position", 1,
        "step_name", "b", "status", "pending", "started_at", "completed_at", "duration_ms", "error",
        "attempts", 0, "carried_over", 0);
}

static void create_exec(const char *eid, const char *created_at, long owner, long epoch)
{
    json_t *o = owner ? json_integer(owner) : json_null();
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, exec_payload(eid, "wf1", created_at, o, epoch, 0), NULL),
                 ABE_IPC_OK, "%s", g_msg);
}

static int start_exec(const char *eid, long owner, long epoch, const char *ts)
{
    return apply_p(ABE_OP_START_EXECUTION,
                   json_pack("{s:s,s:i,s:i,s:s}", "execution_id", eid, "owner_pid", (int)owner, "run_epoch",
                             (int)epoch, "started_at", ts),
                   NULL);
}

static int finish_exec(const char *eid, long owner, long epoch, const char *status, long retention,
                       json_t **res)
{
    return apply_p(ABE_OP_FINISH_EXECUTION,
                   json_pack("{s:s,s:i,s:i,s:s,s:s,s:n,s:i}", "execution_id", eid, "owner_pid", (int)owner,
                             "run_epoch", (int)epoch, "status", status, "completed_at",
                             "2026-01-02T00:00:00.000000Z", "error", "retention", (int)retention),
                   res);
}

/* Mark one step of an execution via step_transition. */
static int transition(const char *eid, long owner, long epoch, const char *step, const char *status,
                      const char *started)
{
    return apply_p(ABE_OP_STEP_TRANSITION,
                   json_pack("{s:s,s:i,s:i,s:s,s:[{s:s,s:s,s:s?,s:n,s:n,s:n,s:i}]}", "execution_id", eid,
                             "owner_pid", (int)owner, "run_epoch", (int)epoch, "updated_at",
                             "2026-01-01T00:00:05.000000Z", "steps", "step_name", step, "status", status,
                             "started_at", started, "completed_at", "duration_ms", "error", "attempts", 1),
                   NULL);
}

static long long exec_int(const char *eid, const char *col)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM workflow_executions WHERE execution_id = '%s'", col, eid);
    return q_int(sql);
}

static const char *exec_text(const char *eid, const char *col)
{
    char sql[1024];
    snprintf(sql, sizeof sql, "SELECT %s FROM workflow_executions WHERE execution_id = '%s'", col, eid);
    return q_text(sql);
}

static const char *step_text(const char *eid, const char *step, const char *col)
{
    char sql[1024];
    snprintf(sql, sizeof sql,
             "SELECT %s FROM workflow_execution_steps WHERE execution_id = '%s' AND step_name = '%s'", col,
             eid, step);
    return q_text(sql);
}

/* ---- schema and migrations ---------------------------------------------------------------------------- */

Test(store, open_creates_parents_and_schema_v1, .init = open_fresh, .fini = cleanup)
{
    struct stat sb;
    cr_assert_eq(stat(g_db, &sb), 0, "the nested directories and the file exist");
    cr_assert_eq(q_int("SELECT count(*) FROM schema_version"), 1);
    cr_assert_eq(q_int("SELECT version FROM schema_version"), ABE_SCHEMA_VERSION);
    cr_assert_eq(strlen(q_text("SELECT applied_at FROM schema_version")), 27);
    cr_assert_str_eq(q_text("PRAGMA journal_mode"), "wal");
    const char *tables[] = {"agents",         "conversations",       "conversation_messages",   "workflows",
                            "workflow_steps", "workflow_executions", "workflow_execution_steps"};
    for (size_t i = 0; i < sizeof tables / sizeof tables[0]; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type='table' AND name='%s'",
                 tables[i]);
        cr_assert_eq(q_int(sql), 1, "table %s", tables[i]);
    }
    const char *indexes[] = {
        "conversations_created",       "conversation_messages_conv",   "workflows_created",
        "workflow_executions_created", "workflow_executions_wf",       "workflow_executions_status",
        "workflow_executions_owner",   "workflow_execution_steps_pos", "workflow_executions_wf_status"};
    for (size_t i = 0; i < sizeof indexes / sizeof indexes[0]; i++) {
        char sql[160];
        snprintf(sql, sizeof sql, "SELECT count(*) FROM sqlite_master WHERE type='index' AND name='%s'",
                 indexes[i]);
        cr_assert_eq(q_int(sql), 1, "index %s", indexes[i]);
    }
}

Test(store, reopen_is_idempotent, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK, "%s", g_msg);
    char applied[64];
    snprintf(applied, sizeof applied, "%s", q_text("SELECT applied_at FROM schema_version"));
    abe_store_close(g_st, 1);
    g_st = NULL;
    char err[512] = "";
    cr_assert_eq(abe_store_open(&g_st, g_db, err, sizeof err), 0, "%s", err);
    cr_assert_eq(q_int("SELECT count(*) FROM schema_version"), 1);
    cr_assert_str_eq(q_text("SELECT applied_at FROM schema_version"), applied, "not re-migrated");
    cr_assert_eq(q_int("SELECT count(*) FROM workflows"), 1, "data kept");
}

Test(store, newer_schema_version_is_refused, .init = make_dir, .fini = cleanup)
{
    snprintf(g_db, sizeof g_db, "%s/new.db", g_dir);
    raw_exec(g_db, "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL);"
                   "INSERT INTO schema_version VALUES (2, '2030-01-01T00:00:00.000000Z');");
    char err[512] = "";
    abe_store_t *st = (abe_store_t *)0x1;
    cr_assert_eq(abe_store_open(&st, g_db, err, sizeof err), -2);
    cr_assert_null(st);
    cr_assert_str_eq(err, "database schema version 2 is newer than this build (1)");
    cr_assert_eq(q_int("SELECT count(*) FROM sqlite_master WHERE name = 'workflows'"), 0, "nothing created");
}

Test(store, unversioned_database_is_refused, .init = make_dir, .fini = cleanup)
{
    snprintf(g_db, sizeof g_db, "%s/old.db", g_dir);
    raw_exec(g_db, "CREATE TABLE legacy (x INTEGER);");
    char err[512] = "";
    abe_store_t *st = NULL;
    cr_assert_eq(abe_store_open(&st, g_db, err, sizeof err), -2);
    cr_assert_null(st);
    cr_assert_not_null(strstr(err, "unversioned database"), "%s", err);
    cr_assert_eq(q_int("SELECT count(*) FROM sqlite_master WHERE name = 'workflows'"), 0);

    /* A schema_version table without its row is unversioned too. */
    snprintf(g_db, sizeof g_db, "%s/empty-version.db", g_dir);
    raw_exec(g_db, "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL);");
    cr_assert_eq(abe_store_open(&st, g_db, err, sizeof err), -2);
    cr_assert_not_null(strstr(err, "unversioned database"), "%s", err);
}

Test(store, unwritable_path_fails_naming_the_path, .init = make_dir, .fini = cleanup)
{
    char file[256], path[320], err[512] = "";
    snprintf(file, sizeof file, "%s/plain-file", g_dir);
    FILE *f = fopen(file, "w");
    cr_assert_not_null(f);
    fputs("not a directory\n", f);
    fclose(f);
    snprintf(path, sizeof path, "%s/sub/platform.db", file);
    abe_store_t *st = (abe_store_t *)0x1;
    cr_assert_eq(abe_store_open(&st, path, err, sizeof err), -1);
    cr_assert_null(st);
    cr_assert_not_null(strstr(err, path), "message names the path: %s", err);

    /* The path is a directory. */
    err[0] = '\0';
    cr_assert_eq(abe_store_open(&st, g_dir, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, g_dir), "%s", err);

    /* A file that is not a database. */
    snprintf(path, sizeof path, "%s/garbage.db", g_dir);
    f = fopen(path, "w");
    cr_assert_not_null(f);
    for (int i = 0; i < 200; i++)
        fputs("this is certainly not an SQLite header\n", f);
    fclose(f);
    err[0] = '\0';
    cr_assert_eq(abe_store_open(&st, path, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, path), "%s", err);

    cr_assert_eq(abe_store_open(&st, "", err, sizeof err), -1);
}

Test(store, open_existing_for_the_purge_cli, .init = make_dir, .fini = cleanup)
{
    char err[512] = "", path[320];
    abe_store_t *st = (abe_store_t *)0x1;
    snprintf(path, sizeof path, "%s/missing.db", g_dir);
    cr_assert_eq(abe_store_open_existing(&st, path, 5000, err, sizeof err), -1);
    cr_assert_null(st);
    cr_assert_not_null(strstr(err, path), "%s", err);
    struct stat sb;
    cr_assert_neq(stat(path, &sb), 0, "a missing DB is not created");

    snprintf(path, sizeof path, "%s/bare.db", g_dir);
    raw_exec(path, "CREATE TABLE legacy (x INTEGER);");
    cr_assert_eq(abe_store_open_existing(&st, path, 5000, err, sizeof err), -1);
    cr_assert_not_null(strstr(err, "no schema"), "%s", err);

    /* A migrated DB with finished executions: purge works through the same apply. */
    snprintf(g_db, sizeof g_db, "%s/ok.db", g_dir);
    cr_assert_eq(abe_store_open(&g_st, g_db, err, sizeof err), 0, "%s", err);
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    create_exec("e1", "2026-01-01T00:00:01.000000Z", 7, 0);
    create_exec("e2", "2026-01-01T00:00:02.000000Z", 7, 0);
    cr_assert_eq(finish_exec("e1", 7, 0, "success", 0, NULL), ABE_IPC_OK);
    cr_assert_eq(finish_exec("e2", 7, 0, "failed", 0, NULL), ABE_IPC_OK);
    abe_store_close(g_st, 1);
    g_st = NULL;
    cr_assert_eq(abe_store_open_existing(&g_st, g_db, 5000, err, sizeof err), 0, "%s", err);
    json_t *res = NULL;
    cr_assert_eq(apply_s(ABE_OP_PURGE_EXECUTIONS, "{\"retention\":1}", &res), ABE_IPC_OK, "%s", g_msg);
    cr_assert_eq(json_integer_value(json_object_get(res, "pruned")), 1);
    json_decref(res);
    cr_assert_str_eq(q_text("SELECT group_concat(execution_id) FROM workflow_executions"), "e2");
}

/* ---- conversations ------------------------------------------------------------------------------------ */

static const char *k_conv =
    "{\"conversation_id\":\"c1\",\"agent_id\":\"agent-research\",\"name\":\"n\",\"description\":\"\","
    "\"system_message\":\"sys\",\"context\":{\"k\":[1,2.5,\"é\"]},\"created_at\":\"2026-01-01T00:00:00."
    "000000Z\","
    "\"messages\":[{\"message_id\":\"m1\",\"role\":\"user\",\"content\":\"hi\",\"agent_id\":null,"
    "\"created_at\":\"2026-01-01T00:00:00.000000Z\"},{\"message_id\":\"m2\",\"role\":\"agent\",\"content\":"
    "\"hello\",\"agent_id\":\"agent-research\",\"created_at\":\"2026-01-01T00:00:00.000000Z\"}]}";

Test(store, conversation_create_and_append, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_CONVERSATION, k_conv, NULL), ABE_IPC_OK, "%s", g_msg);
    cr_assert_str_eq(q_text("SELECT context FROM conversations"), "{\"k\":[1,2.5,\"é\"]}", "compact JSON");
    cr_assert_str_eq(q_text("SELECT status || '|' || updated_at FROM conversations"),
                     "active|2026-01-01T00:00:00.000000Z");
    cr_assert_str_eq(
        q_text("SELECT group_concat(message_id || ':' || role || ':' || ifnull(agent_id, '-'), ',') "
               "FROM (SELECT * FROM conversation_messages ORDER BY id)"),
        "m1:user:-,m2:agent:agent-research");

    cr_assert_eq(
        apply_s(ABE_OP_APPEND_MESSAGES,
                "{\"conversation_id\":\"c1\",\"updated_at\":\"2026-01-01T00:00:09.000000Z\",\"messages\":"
                "[{\"message_id\":\"m3\",\"role\":\"user\",\"content\":\"more\",\"agent_id\":null,"
                "\"created_at\":\"2026-01-01T00:00:08.000000Z\"},{\"message_id\":\"m4\",\"role\":\"agent\","
                "\"content\":\"ok\",\"agent_id\":\"agent-research\",\"created_at\":"
                "\"2026-01-01T00:00:09.000000Z\"}]}",
                NULL),
        ABE_IPC_OK, "%s", g_msg);
    cr_assert_str_eq(q_text("SELECT updated_at FROM conversations"), "2026-01-01T00:00:09.000000Z");
    cr_assert_str_eq(q_text("SELECT group_concat(message_id, ',') FROM (SELECT * FROM conversation_messages "
                            "ORDER BY id)"),
                     "m1,m2,m3,m4");
}

/* The trigger-maintained list totals equal the real row counts (inserts, status changes, prunes). */
static void assert_list_counts_exact(void)
{
    cr_assert_eq(q_int("SELECT n FROM list_counts WHERE key = 'conversations'"),
                 q_int("SELECT count(*) FROM conversations"));
    cr_assert_eq(q_int("SELECT n FROM list_counts WHERE key = 'workflows'"),
                 q_int("SELECT count(*) FROM workflows"));
    const char *statuses[] = {"pending", "running", "success", "failed"};
    for (int i = 0; i < 4; i++) {
        char a[128], b[128];
        snprintf(a, sizeof a, "SELECT n FROM list_counts WHERE key = 'executions:%s'", statuses[i]);
        snprintf(b, sizeof b, "SELECT count(*) FROM workflow_executions WHERE status = '%s'", statuses[i]);
        cr_assert_eq(q_int(a), q_int(b), "count of %s executions", statuses[i]);
    }
}

Test(store, list_counts_follow_creates_and_deletes, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK, "%s", g_msg);
    create_exec("c1", "2026-01-01T00:00:01.000000Z", 100, 0);
    create_exec("c2", "2026-01-01T00:00:02.000000Z", 100, 0);
    cr_assert_eq(start_exec("c1", 100, 0, "2026-01-01T00:00:03.000000Z"), ABE_IPC_OK);
    assert_list_counts_exact();
    cr_assert_eq(q_int("SELECT n FROM list_counts WHERE key = 'executions:running'"), 1);
    cr_assert_eq(finish_exec("c1", 100, 0, "failed", 0, NULL), ABE_IPC_OK, "%s", g_msg);
    assert_list_counts_exact();
    cr_assert_eq(q_int("SELECT n FROM list_counts WHERE key = 'executions:failed'"), 1);
    cr_assert_eq(q_int("SELECT n FROM list_counts WHERE key = 'workflows'"), 1);
}

Test(store, conversation_errors, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_APPEND_MESSAGES,
                         "{\"conversation_id\":\"nope\",\"updated_at\":\"2026-01-01T00:00:09.000000Z\","
                         "\"messages\":[]}",
                         NULL),
                 ABE_IPC_ERR_NOT_FOUND);
    cr_assert_str_eq(g_msg, "Conversation not found");

    cr_assert_eq(apply_s(ABE_OP_CREATE_CONVERSATION, k_conv, NULL), ABE_IPC_OK);
    cr_assert_eq(apply_s(ABE_OP_CREATE_CONVERSATION, k_conv, NULL), ABE_IPC_ERR_DB, "duplicate id");
    cr_assert_not_null(strstr(g_msg, "UNIQUE constraint failed"), "%s", g_msg);
    cr_assert_not_null(strstr(abe_store_errmsg(g_st), "UNIQUE"), "%s", abe_store_errmsg(g_st));

    /* Missing field, wrong type, bad role, messages not a list. */
    cr_assert_eq(
        apply_s(ABE_OP_CREATE_CONVERSATION,
                "{\"conversation_id\":\"c2\",\"name\":\"\",\"description\":\"\",\"system_message\":\"\","
                "\"context\":{},\"created_at\":\"t\",\"messages\":[]}",
                NULL),
        ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_not_null(strstr(g_msg, "agent_id"), "%s", g_msg);
    cr_assert_eq(apply_s(ABE_OP_CREATE_CONVERSATION,
                         "{\"conversation_id\":\"c2\",\"agent_id\":5,\"name\":\"\",\"description\":\"\","
                         "\"system_message\":\"\",\"context\":{},\"created_at\":\"t\",\"messages\":[]}",
                         NULL),
                 ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_CREATE_CONVERSATION,
                         "{\"conversation_id\":\"c2\",\"agent_id\":\"a\",\"name\":\"\",\"description\":\"\","
                         "\"system_message\":\"\",\"created_at\":\"t\",\"messages\":[]}",
                         NULL),
                 ABE_IPC_ERR_BAD_REQUEST, "context missing");
    cr_assert_eq(apply_s(ABE_OP_CREATE_CONVERSATION,
                         "{\"conversation_id\":\"c2\",\"agent_id\":\"a\",\"name\":\"\",\"description\":\"\","
                         "\"system_message\":\"\",\"context\":{},\"created_at\":\"t\",\"messages\":{}}",
                         NULL),
                 ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_CREATE_CONVERSATION,
                         "{\"conversation_id\":\"c2\",\"agent_id\":\"a\",\"name\":\"\",\"description\":\"\","
                         "\"system_message\":\"\",\"context\":{},\"created_at\":\"t\",\"messages\":["
                         "{\"message_id\":\"x1\",\"role\":\"system\",\"content\":\"c\",\"agent_id\":null,"
                         "\"created_at\":\"t\"}]}",
                         NULL),
                 ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_not_null(strstr(g_msg, "role"), "%s", g_msg);
    cr_assert_eq(q_int("SELECT count(*) FROM conversations WHERE conversation_id = 'c2'"), 0, "rolled back");

    /* An append whose second message is invalid leaves nothing behind (savepoint rollback). */
    cr_assert_eq(
        apply_s(ABE_OP_APPEND_MESSAGES,
                "{\"conversation_id\":\"c1\",\"updated_at\":\"2026-01-01T00:00:09.000000Z\",\"messages\":"
                "[{\"message_id\":\"m3\",\"role\":\"user\",\"content\":\"more\",\"agent_id\":null,"
                "\"created_at\":\"t\"},{\"message_id\":\"m4\",\"role\":\"agent\",\"content\":7,"
                "\"agent_id\":null,\"created_at\":\"t\"}]}",
                NULL),
        ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(q_int("SELECT count(*) FROM conversation_messages"), 2);
    cr_assert_str_eq(q_text("SELECT updated_at FROM conversations"), "2026-01-01T00:00:00.000000Z");

    /* A string carrying U+0000 is refused. */
    json_t *p = json_loads(k_conv, 0, NULL);
    json_object_set_new(p, "conversation_id", json_stringn("c\0x", 3));
    cr_assert_eq(apply_p(ABE_OP_CREATE_CONVERSATION, p, NULL), ABE_IPC_ERR_BAD_REQUEST);
}

/* ---- workflows ---------------------------------------------------------------------------------------- */

Test(store, workflow_create_and_delete, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK, "%s", g_msg);
    cr_assert_str_eq(q_text("SELECT group_concat(position || ':' || step_name || ':' || parameters || ':' || "
                            "depends_on || ':' || fail || ':' || duration_ms, '|') FROM "
                            "(SELECT * FROM workflow_steps ORDER BY position)"),
                     "0:a:{\"k\":[1,2.5]}:[]:0:500|1:b:{}:[\"a\"]:1:0");
    cr_assert_str_eq(q_text("SELECT parallel_execution || status FROM workflows"), "0created");

    cr_assert_eq(apply_s(ABE_OP_DELETE_WORKFLOW, "{\"workflow_id\":\"nope\"}", NULL), ABE_IPC_ERR_NOT_FOUND);
    cr_assert_str_eq(g_msg, "Workflow not found");

    create_exec("e1", "2026-01-01T00:00:01.000000Z", 42, 0);
    cr_assert_eq(apply_s(ABE_OP_DELETE_WORKFLOW, "{\"workflow_id\":\"wf1\"}", NULL), ABE_IPC_ERR_CONFLICT);
    cr_assert_str_eq(g_msg, "Workflow has a pending or running execution; cannot delete");
    cr_assert_eq(start_exec("e1", 42, 0, "2026-01-01T00:00:02.000000Z"), ABE_IPC_OK);
    cr_assert_eq(apply_s(ABE_OP_DELETE_WORKFLOW, "{\"workflow_id\":\"wf1\"}", NULL), ABE_IPC_ERR_CONFLICT,
                 "running blocks too");
    cr_assert_eq(q_int("SELECT count(*) FROM workflows"), 1);

    cr_assert_eq(finish_exec("e1", 42, 0, "success", 0, NULL), ABE_IPC_OK, "%s", g_msg);
    cr_assert_eq(apply_s(ABE_OP_DELETE_WORKFLOW, "{\"workflow_id\":\"wf1\"}", NULL), ABE_IPC_OK, "%s", g_msg);
    cr_assert_eq(q_int("SELECT count(*) FROM workflows"), 0);
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_steps"), 0);
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_executions"), 1, "executions outlive the definition");
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_execution_steps"), 2);

    cr_assert_eq(apply_s(ABE_OP_DELETE_WORKFLOW, "{\"workflow_id\":\"wf1\"}", NULL), ABE_IPC_ERR_NOT_FOUND);
    cr_assert_eq(apply_s(ABE_OP_DELETE_WORKFLOW, "{\"workflow_id\":1}", NULL), ABE_IPC_ERR_BAD_REQUEST);
}

Test(store, workflow_bad_requests_leave_nothing, .init = open_fresh, .fini = cleanup)
{
    static const char *const bad[] = {
        /* second step lacks duration_ms */
        "{\"workflow_id\":\"w\",\"name\":\"n\",\"description\":\"\",\"parallel_execution\":false,\"created_"
        "at\":"
        "\"t\",\"steps\":[{\"name\":\"a\",\"agent_id\":null,\"parameters\":{},\"depends_on\":[],\"fail\":"
        "false,"
        "\"type\":null,\"description\":null,\"duration_ms\":1},{\"name\":\"b\",\"agent_id\":null,"
        "\"parameters\":{},"
        "\"depends_on\":[],\"fail\":false,\"type\":null,\"description\":null}]}",
        /* depends_on holds a number */
        "{\"workflow_id\":\"w\",\"name\":\"n\",\"description\":\"\",\"parallel_execution\":false,\"created_"
        "at\":"
        "\"t\",\"steps\":[{\"name\":\"a\",\"agent_id\":null,\"parameters\":{},\"depends_on\":[1],\"fail\":"
        "false,"
        "\"type\":null,\"description\":null,\"duration_ms\":1}]}",
        /* parallel_execution not a bool */
        "{\"workflow_id\":\"w\",\"name\":\"n\",\"description\":\"\",\"parallel_execution\":1,\"created_at\":"
        "\"t\",\"steps\":[]}",
        /* parameters not an object */
        "{\"workflow_id\":\"w\",\"name\":\"n\",\"description\":\"\",\"parallel_execution\":false,\"created_"
        "at\":"
        "\"t\",\"steps\":[{\"name\":\"a\",\"agent_id\":null,\"parameters\":[],\"depends_on\":[],\"fail\":"
        "false,"
        "\"type\":null,\"description\":null,\"duration_ms\":1}]}",
        /* steps missing */
        "{\"workflow_id\":\"w\",\"name\":\"n\",\"description\":\"\",\"parallel_execution\":false,\"created_"
        "at\":"
        "\"t\"}",
    };
    for (size_t i = 0; i < sizeof bad / sizeof bad[0]; i++) {
        cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, bad[i], NULL), ABE_IPC_ERR_BAD_REQUEST, "case %zu", i);
        cr_assert_eq(q_int("SELECT count(*) FROM workflows"), 0, "case %zu rolled back", i);
        cr_assert_eq(q_int("SELECT count(*) FROM workflow_steps"), 0, "case %zu rolled back", i);
    }
    /* Duplicate step names hit the UNIQUE constraint: a DB error. */
    cr_assert_eq(
        apply_s(ABE_OP_CREATE_WORKFLOW,
                "{\"workflow_id\":\"w\",\"name\":\"n\",\"description\":\"\",\"parallel_execution\":true,"
                "\"created_at\":\"t\",\"steps\":[{\"name\":\"a\",\"agent_id\":null,\"parameters\":{},"
                "\"depends_on\":[],\"fail\":false,\"type\":null,\"description\":null,\"duration_ms\":1},"
                "{\"name\":\"a\",\"agent_id\":null,\"parameters\":{},\"depends_on\":[],\"fail\":false,"
                "\"type\":null,\"description\":null,\"duration_ms\":1}]}",
                NULL),
        ABE_IPC_ERR_DB);
    cr_assert_eq(q_int("SELECT count(*) FROM workflows"), 0);
}

/* ---- executions --------------------------------------------------------------------------------------- */

Test(store, create_execution, .init = open_fresh, .fini = cleanup)
{
    json_t *p = exec_payload("e1", "wf-gone", "2026-01-01T00:00:01.000000Z", json_integer(5), 0, 1);
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_ERR_NOT_FOUND);
    cr_assert_str_eq(g_msg, "Workflow not found");
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_executions"), 0);

    /* A replay of a deleted workflow does not require it. */
    p = exec_payload("e1", "wf-gone", "2026-01-01T00:00:01.000000Z", json_integer(5), 3, 0);
    json_object_set_new(p, "replay_of", json_string("e0"));
    json_object_set_new(p, "replay_mode", json_string("failed"));
    json_t *a = json_array_get(json_object_get(p, "steps"), 0);
    json_object_set_new(a, "status", json_string("success"));
    json_object_set_new(a, "started_at", json_string("2026-01-01T00:00:00.100000Z"));
    json_object_set_new(a, "completed_at", json_string("2026-01-01T00:00:00.600000Z"));
    json_object_set_new(a, "duration_ms", json_real(501.237));
    json_object_set_new(a, "carried_over", json_true());
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_OK, "%s", g_msg);
    cr_assert_str_eq(exec_text("e1",
                               "status || '|' || steps_completed || '|' || total_steps || '|' || step_order "
                               "|| '|' || input_snapshot || '|' || replay_of || '|' || replay_mode || '|' || "
                               "owner_pid || '|' || run_epoch || '|' || updated_at"),
                     "pending|1|2|[\"a\",\"b\"]|{\"workflow_id\":\"wf-gone\"}|e0|failed|5|3|"
                     "2026-01-01T00:00:01.000000Z");
    cr_assert_eq(exec_int("e1", "started_at IS NULL AND completed_at IS NULL AND error IS NULL"), 1);
    cr_assert_str_eq(
        step_text("e1", "a", "status || '|' || duration_ms || '|' || carried_over || '|' || attempts"),
        "success|501.237|1|0");
    cr_assert_str_eq(step_text("e1", "b", "status || '|' || position || '|' || carried_over"), "pending|1|0");

    /* Unowned executions are allowed (owner_pid null); duplicate ids are DB errors. */
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    create_exec("e2", "2026-01-01T00:00:02.000000Z", 0, 0);
    cr_assert_eq(exec_int("e2", "owner_pid IS NULL"), 1);
    p = exec_payload("e2", "wf1", "2026-01-01T00:00:02.000000Z", json_null(), 0, 1);
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_ERR_DB);
}

Test(store, create_execution_bad_requests, .init = open_fresh, .fini = cleanup)
{
    json_t *p = exec_payload("e1", "wf", "t", json_integer(5), 0, 0);
    json_array_remove(json_object_get(p, "step_order"), 1);
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_ERR_BAD_REQUEST, "order/steps mismatch");

    p = exec_payload("e1", "wf", "t", json_integer(5), 0, 0);
    json_object_set_new(json_array_get(json_object_get(p, "steps"), 1), "status", json_string("done"));
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_not_null(strstr(g_msg, "done"), "%s", g_msg);

    p = exec_payload("e1", "wf", "t", json_integer(5), 0, 0);
    json_object_set_new(p, "replay_mode", json_string("partial"));
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_ERR_BAD_REQUEST);

    p = exec_payload("e1", "wf", "t", json_integer(5), 0, 0);
    json_object_set_new(json_array_get(json_object_get(p, "steps"), 1), "position", json_integer(2));
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_ERR_BAD_REQUEST, "position out of range");

    p = exec_payload("e1", "wf", "t", json_integer(5), 0, 0);
    json_object_set_new(p, "input_snapshot", json_string("x"));
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_ERR_BAD_REQUEST);

    p = exec_payload("e1", "wf", "t", json_integer(5), 0, 0);
    json_object_del(p, "require_workflow");
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_ERR_BAD_REQUEST);

    p = exec_payload("e1", "wf", "t", json_integer(5), 0, 0);
    json_object_set_new(json_array_get(json_object_get(p, "steps"), 0), "duration_ms", json_string("1"));
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_ERR_BAD_REQUEST);

    cr_assert_eq(q_int("SELECT count(*) FROM workflow_executions"), 0);
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_execution_steps"), 0);
}

Test(store, start_execution_fencing, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    create_exec("e1", "2026-01-01T00:00:01.000000Z", 100, 2);
    cr_assert_eq(start_exec("e1", 100, 1, "2026-01-01T00:00:02.000000Z"), ABE_IPC_ERR_STALE, "old epoch");
    cr_assert_not_null(strstr(g_msg, "e1"), "%s", g_msg);
    cr_assert_eq(start_exec("e1", 101, 2, "2026-01-01T00:00:02.000000Z"), ABE_IPC_ERR_STALE, "other owner");
    cr_assert_eq(start_exec("nope", 100, 2, "2026-01-01T00:00:02.000000Z"), ABE_IPC_ERR_STALE, "unknown");
    cr_assert_str_eq(exec_text("e1", "status"), "pending");

    cr_assert_eq(start_exec("e1", 100, 2, "2026-01-01T00:00:02.000000Z"), ABE_IPC_OK, "%s", g_msg);
    cr_assert_str_eq(exec_text("e1", "status || '|' || started_at"), "running|2026-01-01T00:00:02.000000Z");
    /* A resumed run keeps the original started_at. */
    cr_assert_eq(start_exec("e1", 100, 2, "2026-01-01T00:00:09.000000Z"), ABE_IPC_OK);
    cr_assert_str_eq(exec_text("e1", "started_at || '|' || updated_at"),
                     "2026-01-01T00:00:02.000000Z|2026-01-01T00:00:09.000000Z");

    cr_assert_eq(
        apply_s(ABE_OP_START_EXECUTION, "{\"execution_id\":\"e1\",\"owner_pid\":100,\"run_epoch\":2}", NULL),
        ABE_IPC_ERR_BAD_REQUEST, "started_at missing");
    cr_assert_eq(
        apply_s(ABE_OP_START_EXECUTION,
                "{\"execution_id\":\"e1\",\"owner_pid\":\"100\",\"run_epoch\":2,\"started_at\":\"t\"}", NULL),
        ABE_IPC_ERR_BAD_REQUEST, "owner_pid a string");
}

Test(store, step_transition_recounts, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    create_exec("e1", "2026-01-01T00:00:01.000000Z", 100, 0);
    cr_assert_eq(start_exec("e1", 100, 0, "2026-01-01T00:00:02.000000Z"), ABE_IPC_OK);
    cr_assert_eq(transition("e1", 100, 0, "a", "running", "2026-01-01T00:00:02.000000Z"), ABE_IPC_OK, "%s",
                 g_msg);
    cr_assert_eq(exec_int("e1", "steps_completed"), 0);
    cr_assert_str_eq(step_text("e1", "a", "status || '|' || started_at || '|' || attempts"),
                     "running|2026-01-01T00:00:02.000000Z|1");

    /* One event: a succeeds and b becomes ready, with a measured duration. */
    cr_assert_eq(
        apply_s(ABE_OP_STEP_TRANSITION,
                "{\"execution_id\":\"e1\",\"owner_pid\":100,\"run_epoch\":0,\"updated_at\":"
                "\"2026-01-01T00:00:03.000000Z\",\"steps\":[{\"step_name\":\"a\",\"status\":\"success\","
                "\"started_at\":\"s\",\"completed_at\":\"c\",\"duration_ms\":501.237,\"error\":null,"
                "\"attempts\":1},{\"step_name\":\"b\",\"status\":\"ready\",\"started_at\":null,"
                "\"completed_at\":null,\"duration_ms\":null,\"error\":null,\"attempts\":0}]}",
                NULL),
        ABE_IPC_OK, "%s", g_msg);
    cr_assert_eq(exec_int("e1", "steps_completed"), 1);
    cr_assert_str_eq(exec_text("e1", "updated_at"), "2026-01-01T00:00:03.000000Z");
    cr_assert_str_eq(step_text("e1", "a", "duration_ms"), "501.237");
    cr_assert_str_eq(step_text("e1", "b", "status"), "ready");

    /* skipped does not count; a step finishing twice counts once. */
    cr_assert_eq(transition("e1", 100, 0, "b", "skipped", NULL), ABE_IPC_OK);
    cr_assert_eq(exec_int("e1", "steps_completed"), 1);
    cr_assert_eq(transition("e1", 100, 0, "b", "failed", "s"), ABE_IPC_OK);
    cr_assert_eq(exec_int("e1", "steps_completed"), 2);
    cr_assert_eq(transition("e1", 100, 0, "a", "success", "s"), ABE_IPC_OK);
    cr_assert_eq(exec_int("e1", "steps_completed"), 2);

    cr_assert_eq(transition("e1", 100, 1, "a", "running", "s"), ABE_IPC_ERR_STALE);
    cr_assert_eq(transition("e1", 99, 0, "a", "running", "s"), ABE_IPC_ERR_STALE);
    cr_assert_eq(transition("e1", 100, 0, "zzz", "running", "s"), ABE_IPC_ERR_NOT_FOUND);
    cr_assert_eq(transition("e1", 100, 0, "a", "bogus", "s"), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_str_eq(step_text("e1", "a", "status"), "success", "failed ops changed nothing");
    cr_assert_eq(apply_s(ABE_OP_STEP_TRANSITION,
                         "{\"execution_id\":\"e1\",\"owner_pid\":100,\"run_epoch\":0,\"updated_at\":\"t\","
                         "\"steps\":{}}",
                         NULL),
                 ABE_IPC_ERR_BAD_REQUEST);
}

Test(store, finish_execution, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    create_exec("e1", "2026-01-01T00:00:01.000000Z", 100, 0);
    cr_assert_eq(start_exec("e1", 100, 0, "2026-01-01T00:00:02.000000Z"), ABE_IPC_OK);
    cr_assert_eq(finish_exec("e1", 100, 0, "done", 0, NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(finish_exec("e1", 100, 5, "failed", 0, NULL), ABE_IPC_ERR_STALE);
    cr_assert_eq(apply_s(ABE_OP_FINISH_EXECUTION,
                         "{\"execution_id\":\"e1\",\"owner_pid\":100,\"run_epoch\":0,\"status\":\"failed\","
                         "\"completed_at\":\"2026-01-01T00:00:03.000000Z\",\"error\":\"Step 'b' failed\","
                         "\"retention\":1000}",
                         NULL),
                 ABE_IPC_OK, "%s", g_msg);
    cr_assert_str_eq(exec_text("e1", "status || '|' || completed_at || '|' || error || '|' || "
                                     "ifnull(owner_pid, 'none')"),
                     "failed|2026-01-01T00:00:03.000000Z|Step 'b' failed|none");
    /* Terminal: every later progress op is stale. */
    cr_assert_eq(start_exec("e1", 100, 0, "t"), ABE_IPC_ERR_STALE);
    cr_assert_eq(transition("e1", 100, 0, "a", "running", "s"), ABE_IPC_ERR_STALE);
    cr_assert_eq(finish_exec("e1", 100, 0, "success", 0, NULL), ABE_IPC_ERR_STALE);
    cr_assert_str_eq(exec_text("e1", "status"), "failed");
    cr_assert_eq(apply_s(ABE_OP_FINISH_EXECUTION,
                         "{\"execution_id\":\"e1\",\"owner_pid\":100,\"run_epoch\":0,\"status\":\"success\","
                         "\"completed_at\":\"t\",\"error\":null}",
                         NULL),
                 ABE_IPC_ERR_BAD_REQUEST, "retention missing");
}

/* ---- retention and purge ------------------------------------------------------------------------------ */

Test(store, retention_keeps_exactly_n_newest_finished, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    char id[16], ts[40];
    for (int i = 1; i <= 6; i++) {
        snprintf(id, sizeof id, "e%d", i);
        snprintf(ts, sizeof ts, "2026-01-01T00:00:0%d.000000Z", i);
        create_exec(id, ts, 100, 0);
    }
    /* e7 shares e6's created_at: insertion order breaks the tie. */
    create_exec("e7", "2026-01-01T00:00:06.000000Z", 100, 0);
    /* An old running one must never be pruned nor count. */
    create_exec("old-running", "2020-01-01T00:00:00.000000Z", 100, 0);
    cr_assert_eq(start_exec("old-running", 100, 0, "2020-01-01T00:00:01.000000Z"), ABE_IPC_OK);
    for (int i = 1; i <= 5; i++) {
        snprintf(id, sizeof id, "e%d", i);
        cr_assert_eq(finish_exec(id, 100, 0, i % 2 ? "success" : "failed", 0, NULL), ABE_IPC_OK, "%s", g_msg);
    }
    cr_assert_eq(finish_exec("e7", 100, 0, "success", 0, NULL), ABE_IPC_OK);
    /* Finished: e1..e5, e7. e6 is pending. Finishing e6 with retention 3 keeps e7, e6, e5. */
    json_t *res = NULL;
    cr_assert_eq(finish_exec("e6", 100, 0, "success", 3, &res), ABE_IPC_OK, "%s", g_msg);
    char *dump = json_dumps(res, JSON_COMPACT);
    cr_assert_str_eq(dump, "{\"pruned\":4}");
    free(dump);
    json_decref(res);
    cr_assert_str_eq(q_text("SELECT group_concat(execution_id, ',') FROM (SELECT execution_id FROM "
                            "workflow_executions ORDER BY created_at DESC, id DESC)"),
                     "e7,e6,e5,old-running");
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_execution_steps WHERE execution_id IN "
                       "('e1','e2','e3','e4')"),
                 0, "step rows of pruned executions are gone");
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_execution_steps"), 8);

    /* The tie: with retention 1 the later-inserted e7 survives, e6 goes. */
    cr_assert_eq(apply_s(ABE_OP_PURGE_EXECUTIONS, "{\"retention\":1}", &res), ABE_IPC_OK);
    cr_assert_eq(json_integer_value(json_object_get(res, "pruned")), 2);
    json_decref(res);
    cr_assert_str_eq(q_text("SELECT group_concat(execution_id, ',') FROM (SELECT execution_id FROM "
                            "workflow_executions ORDER BY id)"),
                     "e7,old-running");
    assert_list_counts_exact();
}

Test(store, purge_executions, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    create_exec("e1", "2026-01-01T00:00:01.000000Z", 100, 0);
    create_exec("e2", "2026-01-01T00:00:02.000000Z", 100, 0);
    cr_assert_eq(finish_exec("e1", 100, 0, "success", 0, NULL), ABE_IPC_OK);
    cr_assert_eq(finish_exec("e2", 100, 0, "success", -5, NULL), ABE_IPC_OK, "negative retention disables");
    json_t *res = NULL;
    cr_assert_eq(apply_s(ABE_OP_PURGE_EXECUTIONS, "{\"retention\":0}", &res), ABE_IPC_OK);
    cr_assert_eq(json_integer_value(json_object_get(res, "pruned")), 0);
    json_decref(res);
    cr_assert_eq(apply_s(ABE_OP_PURGE_EXECUTIONS, "{\"retention\":5}", &res), ABE_IPC_OK);
    cr_assert_eq(json_integer_value(json_object_get(res, "pruned")), 0);
    json_decref(res);
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_executions"), 2);
    cr_assert_eq(apply_s(ABE_OP_PURGE_EXECUTIONS, "{\"retention\":1}", &res), ABE_IPC_OK);
    cr_assert_eq(json_integer_value(json_object_get(res, "pruned")), 1);
    json_decref(res);
    cr_assert_str_eq(q_text("SELECT execution_id FROM workflow_executions"), "e2");
    cr_assert_eq(apply_s(ABE_OP_PURGE_EXECUTIONS, "{}", NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_PURGE_EXECUTIONS, "{\"retention\":\"3\"}", NULL), ABE_IPC_ERR_BAD_REQUEST);
}

/* ---- hand-back and adoption --------------------------------------------------------------------------- */

/* Three executions: e1 (pid 100, running, step a running), e2 (pid 100, pending), e3 (pid 200, running),
 * plus e4 (pid 100) finished. */
static void ownership_fixture(void)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    create_exec("e1", "2026-01-01T00:00:01.000000Z", 100, 0);
    create_exec("e2", "2026-01-01T00:00:02.000000Z", 100, 0);
    create_exec("e3", "2026-01-01T00:00:03.000000Z", 200, 4);
    create_exec("e4", "2026-01-01T00:00:04.000000Z", 100, 0);
    cr_assert_eq(start_exec("e1", 100, 0, "2026-01-01T00:00:05.000000Z"), ABE_IPC_OK);
    cr_assert_eq(transition("e1", 100, 0, "a", "running", "2026-01-01T00:00:05.000000Z"), ABE_IPC_OK);
    cr_assert_eq(start_exec("e3", 200, 4, "2026-01-01T00:00:05.000000Z"), ABE_IPC_OK);
    cr_assert_eq(transition("e3", 200, 4, "a", "running", "2026-01-01T00:00:05.000000Z"), ABE_IPC_OK);
    cr_assert_eq(finish_exec("e4", 100, 0, "success", 0, NULL), ABE_IPC_OK);
}

Test(store, handback_by_owner, .init = open_fresh, .fini = cleanup)
{
    ownership_fixture();
    json_t *res = NULL;
    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{\"owner_pid\":100}", &res), ABE_IPC_OK, "%s", g_msg);
    cr_assert_eq(json_integer_value(json_object_get(res, "count")), 2);
    json_decref(res);
    cr_assert_str_eq(exec_text("e1",
                               "status || '|' || ifnull(owner_pid, 'none') || '|' || run_epoch || '|' || "
                               "started_at"),
                     "running|none|1|2026-01-01T00:00:05.000000Z", "stays running, keeps started_at");
    cr_assert_str_eq(exec_text("e2", "status || '|' || ifnull(owner_pid, 'none') || '|' || run_epoch"),
                     "pending|none|1");
    cr_assert_str_eq(step_text("e1", "a", "status || '|' || ifnull(started_at, 'null') || '|' || attempts"),
                     "ready|null|1");
    cr_assert_str_eq(step_text("e1", "b", "status"), "pending");
    cr_assert_str_eq(exec_text("e3", "owner_pid || '|' || run_epoch"), "200|4", "other owners untouched");
    cr_assert_str_eq(step_text("e3", "a", "status"), "running");
    cr_assert_str_eq(exec_text("e4", "ifnull(owner_pid, 'none') || '|' || run_epoch"), "none|0",
                     "finished ones are not handed back");
    /* The old runner is fenced off. */
    cr_assert_eq(transition("e1", 100, 0, "a", "success", "s"), ABE_IPC_ERR_STALE);

    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{\"owner_pid\":100}", &res), ABE_IPC_OK);
    cr_assert_eq(json_integer_value(json_object_get(res, "count")), 0, "nothing left to hand back");
    json_decref(res);
}

Test(store, handback_all_and_single, .init = open_fresh, .fini = cleanup)
{
    ownership_fixture();
    json_t *res = NULL;
    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{\"owner_pid\":200,\"execution_id\":\"e1\"}", &res),
                 ABE_IPC_OK);
    cr_assert_eq(json_integer_value(json_object_get(res, "count")), 0, "e1 is not pid 200's");
    json_decref(res);
    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{\"owner_pid\":100,\"execution_id\":\"e1\"}", &res),
                 ABE_IPC_OK);
    cr_assert_eq(json_integer_value(json_object_get(res, "count")), 1);
    json_decref(res);
    cr_assert_eq(exec_int("e1", "owner_pid IS NULL"), 1);
    cr_assert_eq(exec_int("e2", "owner_pid"), 100, "only the named one");

    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{\"all\":true}", &res), ABE_IPC_OK);
    cr_assert_eq(json_integer_value(json_object_get(res, "count")), 2, "e2 and e3");
    json_decref(res);
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_executions WHERE owner_pid IS NOT NULL"), 0);
    cr_assert_str_eq(exec_text("e3", "run_epoch"), "5");
    cr_assert_eq(exec_int("e1", "run_epoch"), 1, "not bumped twice");
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_execution_steps WHERE status = 'running'"), 0);

    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{}", NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{\"all\":false}", NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{\"all\":1}", NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{\"owner_pid\":100,\"execution_id\":3}", NULL),
                 ABE_IPC_ERR_BAD_REQUEST);
}

Test(store, adopt_distributes_to_the_least_loaded, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    create_exec("owned", "2026-01-01T00:00:00.000000Z", 20, 0);
    char id[8], ts[40];
    for (int i = 1; i <= 5; i++) {
        snprintf(id, sizeof id, "u%d", i);
        snprintf(ts, sizeof ts, "2026-01-01T00:00:0%d.000000Z", i);
        create_exec(id, ts, 77, 0);
    }
    /* u1 was running a step when its owner (77) died. */
    cr_assert_eq(start_exec("u1", 77, 0, "2026-01-01T00:00:06.000000Z"), ABE_IPC_OK);
    cr_assert_eq(transition("u1", 77, 0, "a", "running", "2026-01-01T00:00:06.000000Z"), ABE_IPC_OK);
    cr_assert_eq(apply_s(ABE_OP_HANDBACK_EXECUTION, "{\"owner_pid\":77}", NULL), ABE_IPC_OK);
    /* An empty pid list adopts nothing. */
    json_t *res = NULL;
    cr_assert_eq(apply_s(ABE_OP_ADOPT_EXECUTION, "{\"owner_pids\":[]}", &res), ABE_IPC_OK);
    cr_assert_eq(json_array_size(json_object_get(res, "adopted")), 0);
    json_decref(res);
    cr_assert_eq(exec_int("u1", "owner_pid IS NULL"), 1);

    cr_assert_eq(apply_s(ABE_OP_ADOPT_EXECUTION, "{\"owner_pids\":[10,20,30]}", &res), ABE_IPC_OK, "%s",
                 g_msg);
    char *dump = json_dumps(res, JSON_COMPACT);
    /* Loads start at 10:0, 20:1, 30:0; ties go to the first listed. */
    cr_assert_str_eq(dump, "{\"adopted\":[{\"execution_id\":\"u1\",\"owner_pid\":10,\"run_epoch\":2},"
                           "{\"execution_id\":\"u2\",\"owner_pid\":30,\"run_epoch\":2},"
                           "{\"execution_id\":\"u3\",\"owner_pid\":10,\"run_epoch\":2},"
                           "{\"execution_id\":\"u4\",\"owner_pid\":20,\"run_epoch\":2},"
                           "{\"execution_id\":\"u5\",\"owner_pid\":30,\"run_epoch\":2}]}");
    free(dump);
    json_decref(res);
    cr_assert_str_eq(exec_text("u1", "owner_pid || '|' || run_epoch || '|' || status"), "10|2|running");
    cr_assert_eq(exec_int("owned", "run_epoch"), 0, "owned executions are not touched");
    cr_assert_eq(start_exec("u1", 10, 2, "t"), ABE_IPC_OK, "the adopter holds the new epoch");

    /* Nothing unowned: an empty assignment. */
    cr_assert_eq(apply_s(ABE_OP_ADOPT_EXECUTION, "{\"owner_pids\":[10]}", &res), ABE_IPC_OK);
    cr_assert_eq(json_array_size(json_object_get(res, "adopted")), 0);
    json_decref(res);

    cr_assert_eq(apply_s(ABE_OP_ADOPT_EXECUTION, "{\"owner_pids\":[10,\"x\"]}", NULL),
                 ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_ADOPT_EXECUTION, "{}", NULL), ABE_IPC_ERR_BAD_REQUEST);
}

Test(store, adopt_requeues_running_steps_after_a_crash, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    /* Created unowned with a step already running (a daemon crash leaves exactly this state after the
     * supervisor's hand-back of a dead pid cleared the owner without running steps being touched). */
    json_t *p = exec_payload("x1", "wf1", "2026-01-01T00:00:01.000000Z", json_null(), 3, 0);
    json_t *a = json_array_get(json_object_get(p, "steps"), 0);
    json_object_set_new(a, "status", json_string("running"));
    json_object_set_new(a, "started_at", json_string("2026-01-01T00:00:02.000000Z"));
    json_object_set_new(a, "attempts", json_integer(1));
    cr_assert_eq(apply_p(ABE_OP_CREATE_EXECUTION, p, NULL), ABE_IPC_OK, "%s", g_msg);
    json_t *res = NULL;
    cr_assert_eq(apply_s(ABE_OP_ADOPT_EXECUTION, "{\"owner_pids\":[55]}", &res), ABE_IPC_OK);
    char *dump = json_dumps(res, JSON_COMPACT);
    cr_assert_str_eq(dump, "{\"adopted\":[{\"execution_id\":\"x1\",\"owner_pid\":55,\"run_epoch\":4}]}");
    free(dump);
    json_decref(res);
    cr_assert_str_eq(step_text("x1", "a", "status || '|' || ifnull(started_at, 'null') || '|' || attempts"),
                     "ready|null|1");
}

/* ---- agents, probe, dispatch -------------------------------------------------------------------------- */

Test(store, sync_agents_rewrites_the_table, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_SYNC_AGENTS,
                         "{\"loaded_at\":\"2026-01-01T00:00:00.000000Z\",\"agents\":["
                         "{\"id\":\"agent-a\",\"name\":\"A\",\"category\":\"research\",\"description\":\"d\","
                         "\"capabilities\":[\"x\", \"y\"],\"status\":\"available\",\"version\":\"2.0.0\"},"
                         "{\"id\":\"agent-b\",\"name\":\"B\",\"category\":\"data\",\"description\":\"\","
                         "\"capabilities\":[],\"status\":\"busy\",\"version\":\"1\"}]}",
                         NULL),
                 ABE_IPC_OK, "%s", g_msg);
    cr_assert_eq(q_int("SELECT count(*) FROM agents"), 2);
    cr_assert_str_eq(
        q_text("SELECT agent_id || '|' || name || '|' || category || '|' || capabilities || '|' || "
               "status || '|' || version || '|' || loaded_at FROM agents ORDER BY id LIMIT 1"),
        "agent-a|A|research|[\"x\",\"y\"]|available|2.0.0|2026-01-01T00:00:00.000000Z");
    cr_assert_eq(apply_s(ABE_OP_SYNC_AGENTS,
                         "{\"loaded_at\":\"2026-01-02T00:00:00.000000Z\",\"agents\":["
                         "{\"id\":\"agent-b\",\"name\":\"B\",\"category\":\"data\",\"description\":\"\","
                         "\"capabilities\":[],\"status\":\"busy\",\"version\":\"1\"}]}",
                         NULL),
                 ABE_IPC_OK);
    cr_assert_str_eq(q_text("SELECT group_concat(agent_id || '@' || loaded_at) FROM agents"),
                     "agent-b@2026-01-02T00:00:00.000000Z");
    /* An invalid agent rolls the whole rewrite back. */
    cr_assert_eq(
        apply_s(ABE_OP_SYNC_AGENTS,
                "{\"loaded_at\":\"t\",\"agents\":[{\"id\":\"agent-c\",\"name\":\"C\",\"category\":\"c\","
                "\"description\":\"\",\"capabilities\":[1],\"status\":\"s\",\"version\":\"v\"}]}",
                NULL),
        ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_SYNC_AGENTS, "{\"loaded_at\":\"t\"}", NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_str_eq(q_text("SELECT group_concat(agent_id) FROM agents"), "agent-b");
}

Test(store, probe_and_dispatch_errors, .init = open_fresh, .fini = cleanup)
{
    json_t *res = NULL;
    cr_assert_eq(apply_s(ABE_OP_PROBE, "{}", &res), ABE_IPC_OK);
    cr_assert_eq(json_object_size(res), 0);
    json_decref(res);
    cr_assert_eq(apply_s(ABE_OP_NONE, "{}", NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP__COUNT, "{}", NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s((abe_op_t)200, "{}", NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, "[]", NULL), ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(apply_s(ABE_OP_PURGE_EXECUTIONS, "3", NULL), ABE_IPC_ERR_BAD_REQUEST);
}

/* ---- batching, savepoints, checkpoints ---------------------------------------------------------------- */

Test(store, a_failing_op_rolls_back_alone, .init = open_fresh, .fini = cleanup)
{
    json_t *ok1 = json_loads(k_workflow, 0, NULL);
    json_t *bad = json_loads(k_workflow, 0, NULL);
    json_object_set_new(bad, "workflow_id", json_string("wf-bad"));
    json_object_set_new(json_array_get(json_object_get(bad, "steps"), 1), "fail", json_string("yes"));
    json_t *conv = json_loads(k_conv, 0, NULL);
    json_t *res = NULL;
    char msg[256];

    cr_assert_eq(abe_store_begin(g_st), 0);
    cr_assert_eq(abe_store_savepoint(g_st), 0);
    cr_assert_eq(abe_store_apply(g_st, ABE_OP_CREATE_WORKFLOW, ok1, &res, msg, sizeof msg), ABE_IPC_OK);
    json_decref(res);
    cr_assert_eq(abe_store_release(g_st), 0);
    cr_assert_eq(abe_store_savepoint(g_st), 0);
    cr_assert_eq(abe_store_apply(g_st, ABE_OP_CREATE_WORKFLOW, bad, &res, msg, sizeof msg),
                 ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_null(res);
    cr_assert_eq(abe_store_rollback_to(g_st), 0);
    cr_assert_eq(abe_store_savepoint(g_st), 0);
    cr_assert_eq(abe_store_apply(g_st, ABE_OP_CREATE_CONVERSATION, conv, &res, msg, sizeof msg), ABE_IPC_OK,
                 "%s", msg);
    json_decref(res);
    cr_assert_eq(abe_store_release(g_st), 0);
    cr_assert_eq(abe_store_commit(g_st), 0);

    cr_assert_str_eq(q_text("SELECT group_concat(workflow_id) FROM workflows"), "wf1");
    cr_assert_eq(q_int("SELECT count(*) FROM workflow_steps"), 2, "wf-bad's first step was rolled back");
    cr_assert_eq(q_int("SELECT count(*) FROM conversations"), 1);

    /* A whole-batch ROLLBACK discards everything. */
    json_object_set_new(conv, "conversation_id", json_string("c-rolled"));
    json_object_set_new(conv, "messages", json_array());
    cr_assert_eq(abe_store_begin(g_st), 0);
    cr_assert_eq(abe_store_savepoint(g_st), 0);
    cr_assert_eq(abe_store_apply(g_st, ABE_OP_CREATE_CONVERSATION, conv, &res, msg, sizeof msg), ABE_IPC_OK,
                 "%s", msg);
    json_decref(res);
    cr_assert_eq(abe_store_release(g_st), 0);
    cr_assert_eq(abe_store_rollback(g_st), 0);
    cr_assert_eq(q_int("SELECT count(*) FROM conversations"), 1);

    json_decref(ok1);
    json_decref(bad);
    json_decref(conv);
}

Test(store, transaction_control_errors, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(abe_store_commit(g_st), -1, "COMMIT without a transaction");
    cr_assert_not_null(strstr(abe_store_errmsg(g_st), "no transaction"), "%s", abe_store_errmsg(g_st));
    cr_assert_eq(abe_store_release(g_st), -1);
    cr_assert_eq(abe_store_begin(g_st), 0);
    cr_assert_eq(abe_store_begin(g_st), -1, "nested BEGIN");
    cr_assert_not_null(strstr(abe_store_errmsg(g_st), "within a transaction"), "%s", abe_store_errmsg(g_st));
    cr_assert_eq(abe_store_rollback(g_st), 0);
}

Test(store, checkpoint_and_wal_size, .init = open_fresh, .fini = cleanup)
{
    cr_assert_eq(apply_s(ABE_OP_CREATE_WORKFLOW, k_workflow, NULL), ABE_IPC_OK);
    cr_assert_gt(abe_store_wal_bytes(g_st), 0, "commits land in the WAL");
    cr_assert_eq(abe_store_checkpoint(g_st, 0), 0);
    cr_assert_eq(abe_store_checkpoint(g_st, 1), 0);
    cr_assert_eq(abe_store_wal_bytes(g_st), 0, "TRUNCATE empties the WAL");
    cr_assert_eq(q_int("SELECT count(*) FROM workflows"), 1);

    cr_assert_eq(apply_s(ABE_OP_DELETE_WORKFLOW, "{\"workflow_id\":\"wf1\"}", NULL), ABE_IPC_OK);
    cr_assert_gt(abe_store_wal_bytes(g_st), 0);
    abe_store_close(g_st, 1);
    g_st = NULL;
    char wal[300];
    snprintf(wal, sizeof wal, "%s-wal", g_db);
    struct stat sb;
    cr_assert(stat(wal, &sb) != 0 || sb.st_size == 0, "close(checkpoint) leaves no WAL content");
    abe_store_close(NULL, 1); /* NULL-safe */
}

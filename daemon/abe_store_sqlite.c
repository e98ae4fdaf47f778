/*
 * abe_store_sqlite.c — the SQLite implementation of the write side of the storage engine
 * (daemon/abe_store.h).
 *
 * Used only by the persistence process (the single writer, SPEC §9.1) and by the offline purge CLI (SPEC
 * §4.7). It owns:
 *   - schema creation and migrations (SPEC §9.1): an ordered array of SQL scripts, k_migrations[v-1] turning
 *     version v-1 into v, applied in one BEGIN IMMEDIATE transaction together with the schema_version row;
 *   - the connection settings (WAL, synchronous=FULL, foreign_keys=ON, busy_timeout, wal_autocheckpoint);
 *   - every write operation of SPEC §9.2 (payloads documented in abe_store.h), each running inside the
 * savepoint the batch executor (daemon/abe_persist.c) opened, with fencing (SPEC §4.5), hand-back/adoption
 * and retention pruning (SPEC §4.7). All statements are prepared once (SQLITE_PREPARE_PERSISTENT) and reused.
 * Together with worker/abe_dbread_sqlite.c this is the only code that knows SQL; another engine would
 * re-implement these two interfaces.
 */
#include "abe_store.h"
#include "abe_util.h"

#include <errno.h>
#include <limits.h>
#include <sqlite3.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <sys/types.h>

/* JSON columns hold compact JSON with 15 significant digits for reals (SPEC §9.1). */
#define JSON_COL_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15) | JSON_ENCODE_ANY)

#define BUSY_TIMEOUT_MS 5000
#define WAL_AUTOCHECKPOINT_PAGES 1000

/* ---- schema ------------------------------------------------------------------------------------------ */

/*
 * k_migrations[i] upgrades a database at version i to version i + 1. Version 1 is the SPEC §9.1 schema
 * verbatim plus workflow_executions_owner, which serves hand-back and adoption (owner_pid lookups), and
 * workflow_executions_wf_status, which serves the executions list filtered by workflow_id and status (without
 * it SQLite walks every execution with that status: 50-100 ms at 100k rows, measured), and list_counts with
 * its triggers (the unfiltered list totals in O(1)).
 * Append version 2 here (and bump ABE_SCHEMA_VERSION); never edit a released script.
 */
static const char *const k_migrations[] = {
    /* 0 -> 1 */
    "CREATE TABLE schema_version (version INTEGER NOT NULL, applied_at TEXT NOT NULL);\n"
    "CREATE TABLE agents (\n"
    "  id INTEGER PRIMARY KEY, agent_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, category TEXT NOT NULL,\n"
    "  description TEXT NOT NULL DEFAULT '', capabilities TEXT NOT NULL DEFAULT '[]', status TEXT NOT NULL,\n"
    "  version TEXT NOT NULL, loaded_at TEXT NOT NULL);\n"
    "CREATE TABLE conversations (\n"
    "  id INTEGER PRIMARY KEY, conversation_id TEXT NOT NULL UNIQUE, agent_id TEXT NOT NULL,\n"
    "  name TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '', system_message TEXT NOT NULL "
    "DEFAULT '',\n"
    "  context TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'active',\n"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);\n"
    "CREATE INDEX conversations_created ON conversations(created_at DESC, id DESC);\n"
    "CREATE TABLE conversation_messages (\n"
    "  id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE,\n"
    "  conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id) ON DELETE CASCADE,\n"
    "  role TEXT NOT NULL CHECK (role IN ('user','agent')), content TEXT NOT NULL, agent_id TEXT, created_at "
    "TEXT NOT NULL);\n"
    "CREATE INDEX conversation_messages_conv ON conversation_messages(conversation_id, id);\n"
    "CREATE TABLE workflows (\n"
    "  id INTEGER PRIMARY KEY, workflow_id TEXT NOT NULL UNIQUE, name TEXT NOT NULL, description TEXT NOT "
    "NULL "
    "DEFAULT '',\n"
    "  parallel_execution INTEGER NOT NULL DEFAULT 0 CHECK (parallel_execution IN (0,1)),\n"
    "  status TEXT NOT NULL DEFAULT 'created', created_at TEXT NOT NULL);\n"
    "CREATE INDEX workflows_created ON workflows(created_at DESC, id DESC);\n"
    "CREATE TABLE workflow_steps (\n"
    "  id INTEGER PRIMARY KEY, workflow_id TEXT NOT NULL REFERENCES workflows(workflow_id) ON DELETE "
    "CASCADE,\n"
    "  position INTEGER NOT NULL, step_name TEXT NOT NULL, agent_id TEXT,\n"
    "  parameters TEXT NOT NULL DEFAULT '{}', depends_on TEXT NOT NULL DEFAULT '[]', fail INTEGER NOT NULL "
    "DEFAULT 0,\n"
    "  type TEXT, description TEXT, duration_ms INTEGER NOT NULL DEFAULT 500,\n"
    "  UNIQUE (workflow_id, step_name), UNIQUE (workflow_id, position));\n"
    "CREATE TABLE workflow_executions (\n"
    "  id INTEGER PRIMARY KEY, execution_id TEXT NOT NULL UNIQUE, workflow_id TEXT NOT NULL,\n"
    "  status TEXT NOT NULL CHECK (status IN ('pending','running','success','failed')),\n"
    "  created_at TEXT NOT NULL, started_at TEXT, completed_at TEXT, updated_at TEXT NOT NULL,\n"
    "  steps_completed INTEGER NOT NULL DEFAULT 0, total_steps INTEGER NOT NULL,\n"
    "  step_order TEXT NOT NULL, input_snapshot TEXT NOT NULL,\n"
    "  replay_of TEXT, replay_mode TEXT CHECK (replay_mode IN ('full','failed')), error TEXT,\n"
    "  owner_pid INTEGER, run_epoch INTEGER NOT NULL DEFAULT 0);\n"
    "CREATE INDEX workflow_executions_created ON workflow_executions(created_at DESC, id DESC);\n"
    "CREATE INDEX workflow_executions_wf ON workflow_executions(workflow_id, created_at DESC, id DESC);\n"
    "CREATE INDEX workflow_executions_status ON workflow_executions(status, created_at DESC, id DESC);\n"
    "CREATE INDEX workflow_executions_owner ON workflow_executions(owner_pid, status);\n"
    "CREATE INDEX workflow_executions_wf_status ON workflow_executions(workflow_id, status, created_at DESC, "
    "id DESC);\n"
    "CREATE TABLE workflow_execution_steps (\n"
    "  id INTEGER PRIMARY KEY,\n"
    "  execution_id TEXT NOT NULL REFERENCES workflow_executions(execution_id) ON DELETE CASCADE,\n"
    "  position INTEGER NOT NULL, step_name TEXT NOT NULL,\n"
    "  status TEXT NOT NULL CHECK (status IN ('pending','ready','running','success','failed','skipped')),\n"
    "  started_at TEXT, completed_at TEXT, duration_ms REAL, error TEXT,\n"
    "  attempts INTEGER NOT NULL DEFAULT 0, carried_over INTEGER NOT NULL DEFAULT 0, UNIQUE (execution_id, "
    "step_name));\n"
    "CREATE INDEX workflow_execution_steps_pos ON workflow_execution_steps(execution_id, position);\n"
    /* Row counts the list routes report as `total`, kept by triggers in the writing transaction so a
     * list's total costs one lookup instead of a COUNT(*) that grows with the table (SPEC §2.4 totals). */
    "CREATE TABLE list_counts (key TEXT PRIMARY KEY, n INTEGER NOT NULL) WITHOUT ROWID;\n"
    "INSERT INTO list_counts (key, n) VALUES ('conversations', 0), ('workflows', 0), "
    "('executions:pending', 0), ('executions:running', 0), ('executions:success', 0), "
    "('executions:failed', 0);\n"
    "CREATE TRIGGER list_counts_conv_ins AFTER INSERT ON conversations BEGIN "
    "UPDATE list_counts SET n = n + 1 WHERE key = 'conversations'; END;\n"
    "CREATE TRIGGER list_counts_conv_del AFTER DELETE ON conversations BEGIN "
    "UPDATE list_counts SET n = n - 1 WHERE key = 'conversations'; END;\n"
    "CREATE TRIGGER list_counts_wf_ins AFTER INSERT ON workflows BEGIN "
    "UPDATE list_counts SET n = n + 1 WHERE key = 'workflows'; END;\n"
    "CREATE TRIGGER list_counts_wf_del AFTER DELETE ON workflows BEGIN "
    "UPDATE list_counts SET n = n - 1 WHERE key = 'workflows'; END;\n"
    "CREATE TRIGGER list_counts_ex_ins AFTER INSERT ON workflow_executions BEGIN "
    "UPDATE list_counts SET n = n + 1 WHERE key = 'executions:' || NEW.status; END;\n"
    "CREATE TRIGGER list_counts_ex_del AFTER DELETE ON workflow_executions BEGIN "
    "UPDATE list_counts SET n = n - 1 WHERE key = 'executions:' || OLD.status; END;\n"
    "CREATE TRIGGER list_counts_ex_upd AFTER UPDATE OF status ON workflow_executions "
    "WHEN NEW.status <> OLD.status BEGIN "
    "UPDATE list_counts SET n = n - 1 WHERE key = 'executions:' || OLD.status; "
    "UPDATE list_counts SET n = n + 1 WHERE key = 'executions:' || NEW.status; END;\n",
};

#define N_MIGRATIONS ((int)(sizeof k_migrations / sizeof k_migrations[0]))
_Static_assert(sizeof k_migrations / sizeof k_migrations[0] == ABE_SCHEMA_VERSION,
               "one migration script per schema version");

/* ---- prepared statements ------------------------------------------------------------------------------ */

enum {
    S_BEGIN,
    S_COMMIT,
    S_ROLLBACK,
    S_SAVEPOINT,
    S_RELEASE,
    S_ROLLBACK_TO,
    S_CONV_INSERT,
    S_MSG_INSERT,
    S_CONV_TOUCH,
    S_WF_INSERT,
    S_WF_STEP_INSERT,
    S_WF_EXISTS,
    S_WF_ACTIVE_EXEC,
    S_WF_STEPS_DELETE,
    S_WF_DELETE,
    S_EX_INSERT,
    S_EX_STEP_INSERT,
    S_EX_RECOUNT,
    S_EX_START,
    S_EX_FENCE,
    S_EX_STEP_UPDATE,
    S_EX_FINISH,
    S_PRUNE_STEPS,
    S_PRUNE_EXECS,
    S_HB_BY_OWNER,
    S_HB_ALL,
    S_HB_ONE,
    S_EX_DISOWN,
    S_STEPS_REQUEUE,
    S_OWNER_COUNT,
    S_UNOWNED,
    S_EX_ASSIGN,
    S_AGENTS_DELETE,
    S_AGENT_INSERT,
    S__COUNT
};

#define ACTIVE "('pending','running')"
#define FINISHED "('success','failed')"

static const char *const k_sql[S__COUNT] = {
    [S_BEGIN] = "BEGIN IMMEDIATE",
    [S_COMMIT] = "COMMIT",
    [S_ROLLBACK] = "ROLLBACK",
    [S_SAVEPOINT] = "SAVEPOINT op",
    [S_RELEASE] = "RELEASE op",
    [S_ROLLBACK_TO] = "ROLLBACK TO op",
    [S_CONV_INSERT] =
        "INSERT INTO conversations (conversation_id, agent_id, name, description, system_message, "
        "context, status, created_at, updated_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, 'active', ?7, ?7)",
    [S_MSG_INSERT] =
        "INSERT INTO conversation_messages (message_id, conversation_id, role, content, agent_id, "
        "created_at) VALUES (?1, ?2, ?3, ?4, ?5, "
        /* Timestamps never decrease along a conversation (SPEC §3.4) even when two workers stamp
         * concurrent appends and the later stamp commits first: floor at the newest stored message. */
        "MAX(?6, COALESCE((SELECT created_at FROM conversation_messages WHERE conversation_id = ?2 "
        "ORDER BY id DESC LIMIT 1), '')))",
    [S_CONV_TOUCH] = "UPDATE conversations SET updated_at = MAX(updated_at, ?2) WHERE conversation_id = ?1",
    [S_WF_INSERT] =
        "INSERT INTO workflows (workflow_id, name, description, parallel_execution, status, created_at) "
        "VALUES (?1, ?2, ?3, ?4, 'created', ?5)",
    [S_WF_STEP_INSERT] =
        "INSERT INTO workflow_steps (workflow_id, position, step_name, agent_id, parameters, "
        "depends_on, fail, type, description, duration_ms) "
        "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_WF_EXISTS] = "SELECT 1 FROM workflows WHERE workflow_id = ?1",
    [S_WF_ACTIVE_EXEC] =
        "SELECT 1 FROM workflow_executions WHERE workflow_id = ?1 AND status IN " ACTIVE " LIMIT 1",
    [S_WF_STEPS_DELETE] = "DELETE FROM workflow_steps WHERE workflow_id = ?1",
    [S_WF_DELETE] = "DELETE FROM workflows WHERE workflow_id = ?1",
    [S_EX_INSERT] =
        "INSERT INTO workflow_executions (execution_id, workflow_id, status, created_at, updated_at, "
        "steps_completed, total_steps, step_order, input_snapshot, replay_of, replay_mode, owner_pid, "
        "run_epoch) VALUES (?1, ?2, 'pending', ?3, ?3, 0, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_EX_STEP_INSERT] = "INSERT INTO workflow_execution_steps (execution_id, position, step_name, status, "
                         "started_at, completed_at, duration_ms, error, attempts, carried_over) "
                         "VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
    [S_EX_RECOUNT] = "UPDATE workflow_executions SET steps_completed = (SELECT COUNT(*) FROM "
                     "workflow_execution_steps WHERE execution_id = ?1 AND status IN " FINISHED "), "
                     "updated_at = ?2 WHERE execution_id = ?1",
    [S_EX_START] =
        "UPDATE workflow_executions SET status = 'running', started_at = COALESCE(started_at, ?4), "
        "updated_at = ?4 WHERE execution_id = ?1 AND owner_pid = ?2 AND run_epoch = ?3 "
        "AND status IN " ACTIVE,
    [S_EX_FENCE] = "SELECT 1 FROM workflow_executions WHERE execution_id = ?1 AND owner_pid = ?2 "
                   "AND run_epoch = ?3 AND status IN " ACTIVE,
    [S_EX_STEP_UPDATE] =
        "UPDATE workflow_execution_steps SET status = ?3, started_at = ?4, completed_at = ?5, "
        "duration_ms = ?6, error = ?7, attempts = ?8 WHERE execution_id = ?1 AND step_name = ?2",
    [S_EX_FINISH] =
        "UPDATE workflow_executions SET status = ?4, completed_at = ?5, error = ?6, updated_at = ?5, "
        "owner_pid = NULL, steps_completed = (SELECT COUNT(*) FROM workflow_execution_steps s "
        "WHERE s.execution_id = ?1 AND s.status IN " FINISHED ") "
        "WHERE execution_id = ?1 AND owner_pid = ?2 AND run_epoch = ?3 AND status IN " ACTIVE,
    [S_PRUNE_STEPS] = "DELETE FROM workflow_execution_steps WHERE execution_id IN (SELECT execution_id FROM "
                      "workflow_executions WHERE status IN " FINISHED " ORDER BY created_at DESC, id DESC "
                      "LIMIT -1 OFFSET ?1)",
    [S_PRUNE_EXECS] = "DELETE FROM workflow_executions WHERE id IN (SELECT id FROM workflow_executions "
                      "WHERE status IN " FINISHED " ORDER BY created_at DESC, id DESC LIMIT -1 OFFSET ?1)",
    [S_HB_BY_OWNER] =
        "SELECT execution_id FROM workflow_executions WHERE owner_pid = ?1 AND status IN " ACTIVE
        " ORDER BY id",
    [S_HB_ALL] =
        "SELECT execution_id FROM workflow_executions WHERE owner_pid IS NOT NULL AND status IN " ACTIVE
        " ORDER BY id",
    [S_HB_ONE] =
        "SELECT execution_id FROM workflow_executions WHERE execution_id = ?1 AND owner_pid IS NOT NULL "
        "AND (?2 IS NULL OR owner_pid = ?2) AND status IN " ACTIVE,
    [S_EX_DISOWN] =
        "UPDATE workflow_executions SET owner_pid = NULL, run_epoch = run_epoch + 1, updated_at = ?2 "
        "WHERE execution_id = ?1",
    [S_STEPS_REQUEUE] = "UPDATE workflow_execution_steps SET status = 'ready', started_at = NULL "
                        "WHERE execution_id = ?1 AND status = 'running'",
    [S_OWNER_COUNT] = "SELECT COUNT(*) FROM workflow_executions WHERE owner_pid = ?1 AND status IN " ACTIVE,
    [S_UNOWNED] = "SELECT execution_id FROM workflow_executions WHERE owner_pid IS NULL AND status IN " ACTIVE
                  " ORDER BY created_at, id",
    [S_EX_ASSIGN] =
        "UPDATE workflow_executions SET owner_pid = ?2, run_epoch = run_epoch + 1, updated_at = ?3 "
        "WHERE execution_id = ?1 RETURNING run_epoch",
    [S_AGENTS_DELETE] = "DELETE FROM agents",
    [S_AGENT_INSERT] =
        "INSERT INTO agents (agent_id, name, category, description, capabilities, status, version, "
        "loaded_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
};

struct abe_store {
    sqlite3 *db;
    char *path;
    sqlite3_stmt *st[S__COUNT];
    char err[512]; /* last error text (abe_store_errmsg) */
};

/* ---- small helpers ------------------------------------------------------------------------------------ */

static void fmt(char *buf, size_t len, const char *f, ...) __attribute__((format(printf, 3, 4)));
static void fmt(char *buf, size_t len, const char *f, ...)
{
    if (!buf || len == 0) return;
    va_list ap;
    va_start(ap, f);
    vsnprintf(buf, len, f, ap);
    va_end(ap);
}

/* mkdir -p of path's parent directory. Returns 0 or -1 (errno set). */
static int mkdir_parents(const char *path)
{
    const char *slash = strrchr(path, '/');
    if (!slash || slash == path) return 0;
    size_t n = (size_t)(slash - path);
    char *dir = malloc(n + 1);
    if (!dir) return -1;
    memcpy(dir, path, n);
    dir[n] = '\0';
    for (size_t i = 1; i <= n; i++) {
        if (dir[i] != '/' && dir[i] != '\0') continue;
        char saved = dir[i];
        dir[i] = '\0';
        if (mkdir(dir, 0755) != 0 && errno != EEXIST) {
            int e = errno;
            free(dir);
            errno = e;
            return -1;
        }
        dir[i] = saved;
    }
    struct stat sb;
    int rc = 0;
    if (stat(dir, &sb) != 0)
        rc = -1;
    else if (!S_ISDIR(sb.st_mode)) {
        errno = ENOTDIR;
        rc = -1;
    }
    free(dir);
    return rc;
}

/* Run a one-shot statement (pragmas, schema inspection) and return its first column as an integer in *out
 * (if non-NULL and a row came back) and as text in txt (if non-NULL). Returns the sqlite result code. */
static int oneshot(sqlite3 *db, const char *sql, long long *out, int *had_row, char *txt, size_t txtlen)
{
    sqlite3_stmt *s = NULL;
    int rc = sqlite3_prepare_v2(db, sql, -1, &s, NULL);
    if (rc != SQLITE_OK) return rc;
    if (had_row) *had_row = 0;
    rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) {
        if (had_row) *had_row = sqlite3_column_type(s, 0) != SQLITE_NULL;
        if (out) *out = sqlite3_column_int64(s, 0);
        if (txt && txtlen) {
            const unsigned char *t = sqlite3_column_text(s, 0);
            snprintf(txt, txtlen, "%s", t ? (const char *)t : "");
        }
        while ((rc = sqlite3_step(s)) == SQLITE_ROW)
            ;
    }
    if (rc == SQLITE_DONE) rc = SQLITE_OK;
    sqlite3_finalize(s);
    return rc;
}

/* The connection settings of SPEC §9.1. Returns 0 or -1 (message in err). */
static int configure(sqlite3 *db, const char *path, int busy_ms, char *err, size_t errlen)
{
    char mode[32] = "";
    sqlite3_extended_result_codes(db, 1);
    sqlite3_busy_timeout(db, busy_ms);
    int rc = oneshot(db, "PRAGMA journal_mode=WAL", NULL, NULL, mode, sizeof mode);
    if (rc != SQLITE_OK) {
        fmt(err, errlen, "cannot use database '%s': %s", path, sqlite3_errmsg(db));
        return -1;
    }
    if (strcmp(mode, "wal") != 0) {
        fmt(err, errlen, "cannot use database '%s': journal_mode WAL refused (got '%s')", path, mode);
        return -1;
    }
    /* temp_store=MEMORY: the per-operation SAVEPOINTs of a batch need a statement journal, which would
     * otherwise be a new temporary file per batch (seen with strace); it holds only this batch's undo. */
    static const char *const pragmas[] = {"PRAGMA synchronous=FULL", "PRAGMA foreign_keys=ON",
                                          "PRAGMA wal_autocheckpoint=1000", "PRAGMA temp_store=MEMORY"};
    for (size_t i = 0; i < sizeof pragmas / sizeof pragmas[0]; i++) {
        if (oneshot(db, pragmas[i], NULL, NULL, NULL, 0) != SQLITE_OK) {
            fmt(err, errlen, "cannot use database '%s': %s", path, sqlite3_errmsg(db));
            return -1;
        }
    }
    return 0;
}

/*
 * Inspect the schema: *state = 0 empty, 1 versioned (*version set), 2 unversioned (tables but no usable
 * schema_version row). Returns 0 or -1 on SQLite failure.
 */
static int schema_state(sqlite3 *db, int *state, long long *version)
{
    long long n = 0;
    int had = 0;
    if (oneshot(db, "SELECT count(*) FROM sqlite_master WHERE type = 'table' AND name = 'schema_version'", &n,
                NULL, NULL, 0) != SQLITE_OK)
        return -1;
    if (n > 0) {
        if (oneshot(db, "SELECT max(version) FROM schema_version", version, &had, NULL, 0) != SQLITE_OK)
            return -1;
        *state = had ? 1 : 2;
        return 0;
    }
    if (oneshot(db, "SELECT count(*) FROM sqlite_master WHERE name NOT LIKE 'sqlite_%'", &n, NULL, NULL, 0) !=
        SQLITE_OK)
        return -1;
    *state = n > 0 ? 2 : 0;
    return 0;
}

/* Bring the schema to ABE_SCHEMA_VERSION inside one BEGIN IMMEDIATE transaction (also the early write test).
 */
static int migrate(sqlite3 *db, const char *path, char *err, size_t errlen)
{
    if (sqlite3_exec(db, "BEGIN IMMEDIATE", NULL, NULL, NULL) != SQLITE_OK) {
        fmt(err, errlen, "cannot write database '%s': %s", path, sqlite3_errmsg(db));
        return -1;
    }
    int state = 0, rc = -1;
    long long version = 0;
    if (schema_state(db, &state, &version) != 0) {
        fmt(err, errlen, "cannot read schema of database '%s': %s", path, sqlite3_errmsg(db));
        goto out;
    }
    if (state == 2) {
        fmt(err, errlen, "unversioned database '%s': it has tables but no schema_version", path);
        rc = -2;
        goto out;
    }
    if (state == 1 && version > ABE_SCHEMA_VERSION) {
        fmt(err, errlen, "database schema version %lld is newer than this build (%d)", version,
            ABE_SCHEMA_VERSION);
        rc = -2;
        goto out;
    }
    if (state == 1 && version < 1) {
        fmt(err, errlen, "database '%s' has an invalid schema version %lld", path, version);
        rc = -2;
        goto out;
    }
    int from = state == 0 ? 0 : (int)version;
    if (from == ABE_SCHEMA_VERSION) {
        rc = 0;
        goto out;
    }
    for (int v = from; v < N_MIGRATIONS; v++) {
        char *emsg = NULL;
        if (sqlite3_exec(db, k_migrations[v], NULL, NULL, &emsg) != SQLITE_OK) {
            fmt(err, errlen, "migrating database '%s' to version %d failed: %s", path, v + 1,
                emsg ? emsg : sqlite3_errmsg(db));
            sqlite3_free(emsg);
            goto out;
        }
    }
    char ts[ABE_TS_LEN];
    abe_now_iso(ts);
    sqlite3_stmt *s = NULL;
    int src = sqlite3_exec(db, "DELETE FROM schema_version", NULL, NULL, NULL);
    if (src == SQLITE_OK)
        src = sqlite3_prepare_v2(db, "INSERT INTO schema_version (version, applied_at) VALUES (?1, ?2)", -1,
                                 &s, NULL);
    if (src == SQLITE_OK) {
        sqlite3_bind_int(s, 1, ABE_SCHEMA_VERSION);
        sqlite3_bind_text(s, 2, ts, -1, SQLITE_STATIC);
        src = sqlite3_step(s) == SQLITE_DONE ? SQLITE_OK : SQLITE_ERROR;
    }
    if (src != SQLITE_OK) {
        fmt(err, errlen, "recording schema version in '%s' failed: %s", path, sqlite3_errmsg(db));
        sqlite3_finalize(s);
        goto out;
    }
    sqlite3_finalize(s);
    if (sqlite3_exec(db, "COMMIT", NULL, NULL, NULL) != SQLITE_OK) {
        fmt(err, errlen, "cannot write database '%s': %s", path, sqlite3_errmsg(db));
        goto out;
    }
    return 0;
out:
    sqlite3_exec(db, "ROLLBACK", NULL, NULL, NULL);
    return rc;
}

static int prepare_all(abe_store_t *st, char *err, size_t errlen)
{
    for (int i = 0; i < S__COUNT; i++) {
        if (sqlite3_prepare_v3(st->db, k_sql[i], -1, SQLITE_PREPARE_PERSISTENT, &st->st[i], NULL) !=
            SQLITE_OK) {
            fmt(err, errlen, "database '%s': cannot prepare statement %d: %s", st->path, i,
                sqlite3_errmsg(st->db));
            return -1;
        }
    }
    return 0;
}

static abe_store_t *store_new(const char *path)
{
    abe_store_t *st = calloc(1, sizeof *st);
    if (!st) return NULL;
    st->path = strdup(path);
    if (!st->path) {
        free(st);
        return NULL;
    }
    return st;
}

static int path_ok(const char *path, char *err, size_t errlen)
{
    if (!path || !*path) {
        fmt(err, errlen, "database path is empty");
        return -1;
    }
    if (strlen(path) >= PATH_MAX - 8) {
        fmt(err, errlen, "database path is too long (%zu bytes)", strlen(path));
        return -1;
    }
    return 0;
}

int abe_store_open(abe_store_t **out, const char *path, char *err, size_t errlen)
{
    *out = NULL;
    if (path_ok(path, err, errlen) != 0) return -1;
    if (mkdir_parents(path) != 0) {
        fmt(err, errlen, "cannot create the directory of database '%s': %s", path, strerror(errno));
        return -1;
    }
    abe_store_t *st = store_new(path);
    if (!st) {
        fmt(err, errlen, "database '%s': out of memory", path);
        return -1;
    }
    int rc = sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL);
    if (rc != SQLITE_OK) {
        fmt(err, errlen, "cannot open database '%s': %s", path,
            st->db ? sqlite3_errmsg(st->db) : "out of memory");
        abe_store_close(st, 0);
        return -1;
    }
    if (sqlite3_db_readonly(st->db, "main") == 1) {
        fmt(err, errlen, "cannot write database '%s': opened read-only", path);
        abe_store_close(st, 0);
        return -1;
    }
    if (configure(st->db, path, BUSY_TIMEOUT_MS, err, errlen) != 0) {
        abe_store_close(st, 0);
        return -1;
    }
    rc = migrate(st->db, path, err, errlen);
    if (rc != 0) {
        abe_store_close(st, 0);
        return rc;
    }
    if (prepare_all(st, err, errlen) != 0) {
        abe_store_close(st, 0);
        return -1;
    }
    *out = st;
    return 0;
}

int abe_store_open_existing(abe_store_t **out, const char *path, int busy_ms, char *err, size_t errlen)
{
    *out = NULL;
    if (path_ok(path, err, errlen) != 0) return -1;
    struct stat sb;
    if (stat(path, &sb) != 0 || !S_ISREG(sb.st_mode)) {
        fmt(err, errlen, "database '%s' does not exist", path);
        return -1;
    }
    abe_store_t *st = store_new(path);
    if (!st) {
        fmt(err, errlen, "database '%s': out of memory", path);
        return -1;
    }
    if (sqlite3_open_v2(path, &st->db, SQLITE_OPEN_READWRITE, NULL) != SQLITE_OK) {
        fmt(err, errlen, "cannot open database '%s': %s", path,
            st->db ? sqlite3_errmsg(st->db) : "out of memory");
        abe_store_close(st, 0);
        return -1;
    }
    if (configure(st->db, path, busy_ms < 0 ? 0 : busy_ms, err, errlen) != 0) {
        abe_store_close(st, 0);
        return -1;
    }
    int state = 0;
    long long version = 0;
    if (schema_state(st->db, &state, &version) != 0) {
        fmt(err, errlen, "cannot read schema of database '%s': %s", path, sqlite3_errmsg(st->db));
        abe_store_close(st, 0);
        return -1;
    }
    if (state != 1 || version != ABE_SCHEMA_VERSION) {
        if (state != 1)
            fmt(err, errlen, "database '%s' has no schema", path);
        else
            fmt(err, errlen, "database '%s' has schema version %lld; this build uses %d", path, version,
                ABE_SCHEMA_VERSION);
        abe_store_close(st, 0);
        return -1;
    }
    if (prepare_all(st, err, errlen) != 0) {
        abe_store_close(st, 0);
        return -1;
    }
    *out = st;
    return 0;
}

void abe_store_close(abe_store_t *st, int checkpoint)
{
    if (!st) return;
    for (int i = 0; i < S__COUNT; i++)
        sqlite3_finalize(st->st[i]);
    if (st->db) {
        if (checkpoint) sqlite3_wal_checkpoint_v2(st->db, NULL, SQLITE_CHECKPOINT_TRUNCATE, NULL, NULL);
        sqlite3_close_v2(st->db);
    }
    free(st->path);
    free(st);
}

/* ---- batch transaction control ------------------------------------------------------------------------ */

static int run_ctl(abe_store_t *st, int which)
{
    sqlite3_stmt *s = st->st[which];
    int rc = sqlite3_step(s);
    if (rc != SQLITE_DONE) {
        fmt(st->err, sizeof st->err, "%s", sqlite3_errmsg(st->db));
        sqlite3_reset(s);
        return -1;
    }
    sqlite3_reset(s);
    return 0;
}

int abe_store_begin(abe_store_t *st)
{
    return run_ctl(st, S_BEGIN);
}

int abe_store_commit(abe_store_t *st)
{
    return run_ctl(st, S_COMMIT);
}

int abe_store_rollback(abe_store_t *st)
{
    return run_ctl(st, S_ROLLBACK);
}

int abe_store_savepoint(abe_store_t *st)
{
    return run_ctl(st, S_SAVEPOINT);
}

int abe_store_release(abe_store_t *st)
{
    return run_ctl(st, S_RELEASE);
}

int abe_store_rollback_to(abe_store_t *st)
{
    int rc = run_ctl(st, S_ROLLBACK_TO);
    if (run_ctl(st, S_RELEASE) != 0) rc = -1;
    return rc;
}

int abe_store_checkpoint(abe_store_t *st, int truncate)
{
    int rc = sqlite3_wal_checkpoint_v2(
        st->db, NULL, truncate ? SQLITE_CHECKPOINT_TRUNCATE : SQLITE_CHECKPOINT_PASSIVE, NULL, NULL);
    if (rc != SQLITE_OK) {
        fmt(st->err, sizeof st->err, "wal_checkpoint failed: %s", sqlite3_errmsg(st->db));
        return -1;
    }
    return 0;
}

long long abe_store_wal_bytes(abe_store_t *st)
{
    char wal[PATH_MAX];
    struct stat sb;
    if (snprintf(wal, sizeof wal, "%s-wal", st->path) >= (int)sizeof wal) return 0;
    if (stat(wal, &sb) != 0) return 0;
    return (long long)sb.st_size;
}

const char *abe_store_errmsg(abe_store_t *st)
{
    if (!st) return "no store";
    return st->err[0] ? st->err : sqlite3_errmsg(st->db);
}

/* ---- operation context, payload validation and binding ------------------------------------------------ */

typedef struct op_ctx {
    abe_store_t *st;
    char *msg;
    size_t msglen;
    int bind_rc; /* first failing sqlite3_bind_* result, SQLITE_OK otherwise */
} op_ctx_t;

static int bad(op_ctx_t *c, const char *f, ...) __attribute__((format(printf, 2, 3)));
static int bad(op_ctx_t *c, const char *f, ...)
{
    if (c->msg && c->msglen) {
        va_list ap;
        va_start(ap, f);
        vsnprintf(c->msg, c->msglen, f, ap);
        va_end(ap);
    }
    return ABE_IPC_ERR_BAD_REQUEST;
}

static int status_msg(op_ctx_t *c, int status, const char *f, ...) __attribute__((format(printf, 3, 4)));
static int status_msg(op_ctx_t *c, int status, const char *f, ...)
{
    if (c->msg && c->msglen) {
        va_list ap;
        va_start(ap, f);
        vsnprintf(c->msg, c->msglen, f, ap);
        va_end(ap);
    }
    return status;
}

/* An SQLite failure: remember sqlite's message in the store and the reply. */
static int dberr(op_ctx_t *c)
{
    const char *m = c->bind_rc != SQLITE_OK ? sqlite3_errstr(c->bind_rc) : sqlite3_errmsg(c->st->db);
    fmt(c->st->err, sizeof c->st->err, "%s", m);
    fmt(c->msg, c->msglen, "%s", m);
    c->bind_rc = SQLITE_OK;
    return ABE_IPC_ERR_DB;
}

/* A validated text value: NULL means SQL NULL. */
typedef struct text {
    const char *s;
    size_t n;
} text_t;

/*
 * f_str — obj[key] must be a string without U+0000 (nullable: may also be null or absent → s NULL).
 * Returns 0 or ABE_IPC_ERR_BAD_REQUEST.
 */
static int f_str(op_ctx_t *c, json_t *obj, const char *key, int nullable, text_t *out)
{
    json_t *v = json_object_get(obj, key);
    out->s = NULL;
    out->n = 0;
    if (!v || json_is_null(v)) {
        if (nullable) return 0;
        return bad(c, "field '%s' is missing or null", key);
    }
    if (!json_is_string(v)) return bad(c, "field '%s' must be a string%s", key, nullable ? " or null" : "");
    out->s = json_string_value(v);
    out->n = json_string_length(v);
    if (strlen(out->s) != out->n) return bad(c, "field '%s' contains U+0000", key);
    return 0;
}

/* f_int — obj[key] must be a JSON integer within [min, max]. */
static int f_int(op_ctx_t *c, json_t *obj, const char *key, long long min, long long max, long long *out)
{
    *out = 0;
    json_t *v = json_object_get(obj, key);
    if (!json_is_integer(v)) return bad(c, "field '%s' must be an integer", key);
    long long i = (long long)json_integer_value(v);
    if (i < min || i > max) return bad(c, "field '%s' is out of range (%lld)", key, i);
    *out = i;
    return 0;
}

/* f_int_or_null — integer or null/absent (*is_null set). */
static int f_int_or_null(op_ctx_t *c, json_t *obj, const char *key, long long *out, int *is_null)
{
    *out = 0;
    json_t *v = json_object_get(obj, key);
    *is_null = !v || json_is_null(v);
    if (*is_null) return 0;
    return f_int(c, obj, key, LLONG_MIN, LLONG_MAX, out);
}

static int f_bool(op_ctx_t *c, json_t *obj, const char *key, int *out)
{
    *out = 0;
    json_t *v = json_object_get(obj, key);
    if (!json_is_boolean(v)) return bad(c, "field '%s' must be a boolean", key);
    *out = json_is_true(v);
    return 0;
}

/* f_num_or_null — a JSON number (integer or real) or null/absent. */
static int f_num_or_null(op_ctx_t *c, json_t *obj, const char *key, double *out, int *is_null)
{
    *out = 0;
    json_t *v = json_object_get(obj, key);
    *is_null = !v || json_is_null(v);
    if (*is_null) return 0;
    if (!json_is_number(v)) return bad(c, "field '%s' must be a number or null", key);
    *out = json_number_value(v);
    return 0;
}

static int f_array(op_ctx_t *c, json_t *obj, const char *key, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_array(v)) return bad(c, "field '%s' must be a list", key);
    *out = v;
    return 0;
}

static int f_object(op_ctx_t *c, json_t *obj, const char *key, json_t **out)
{
    json_t *v = json_object_get(obj, key);
    if (!json_is_object(v)) return bad(c, "field '%s' must be an object", key);
    *out = v;
    return 0;
}

/* f_string_list — every item of arr must be a string (field name for the message). */
static int f_string_list(op_ctx_t *c, json_t *arr, const char *key)
{
    size_t i;
    json_t *v;
    json_array_foreach(arr, i, v)
    {
        if (!json_is_string(v)) return bad(c, "field '%s'[%zu] must be a string", key, i);
    }
    return 0;
}

static int one_of(const char *s, const char *const *set, size_t n)
{
    for (size_t i = 0; s && i < n; i++)
        if (strcmp(s, set[i]) == 0) return 1;
    return 0;
}

static const char *const k_step_status[] = {"pending", "ready", "running", "success", "failed", "skipped"};
#define N_STEP_STATUS (sizeof k_step_status / sizeof k_step_status[0])

static void note_bind(op_ctx_t *c, int rc)
{
    if (rc != SQLITE_OK && c->bind_rc == SQLITE_OK) c->bind_rc = rc;
}

/* Bind a text (NULL → SQL NULL). The payload outlives the statement's use (reset at the end of the op). */
static void b_text(op_ctx_t *c, sqlite3_stmt *s, int i, text_t t)
{
    if (!t.s)
        note_bind(c, sqlite3_bind_null(s, i));
    else
        note_bind(c, sqlite3_bind_text64(s, i, t.s, t.n, SQLITE_STATIC, SQLITE_UTF8));
}

static void b_cstr(op_ctx_t *c, sqlite3_stmt *s, int i, const char *v)
{
    text_t t = {v, v ? strlen(v) : 0};
    b_text(c, s, i, t);
}

static void b_int(op_ctx_t *c, sqlite3_stmt *s, int i, long long v)
{
    note_bind(c, sqlite3_bind_int64(s, i, (sqlite3_int64)v));
}

static void b_int_or_null(op_ctx_t *c, sqlite3_stmt *s, int i, long long v, int is_null)
{
    note_bind(c, is_null ? sqlite3_bind_null(s, i) : sqlite3_bind_int64(s, i, (sqlite3_int64)v));
}

static void b_real_or_null(op_ctx_t *c, sqlite3_stmt *s, int i, double v, int is_null)
{
    note_bind(c, is_null ? sqlite3_bind_null(s, i) : sqlite3_bind_double(s, i, v));
}

/* Bind value as compact JSON text (copied). */
static void b_json(op_ctx_t *c, sqlite3_stmt *s, int i, json_t *v)
{
    char *d = json_dumps(v, JSON_COL_FLAGS);
    if (!d) {
        note_bind(c, SQLITE_NOMEM);
        return;
    }
    note_bind(c, sqlite3_bind_text64(s, i, d, strlen(d), SQLITE_TRANSIENT, SQLITE_UTF8));
    free(d);
}

/* step_done — run a statement that returns no rows we need; reset it. Returns 0 or ABE_IPC_ERR_DB. */
static int step_done(op_ctx_t *c, sqlite3_stmt *s)
{
    if (c->bind_rc != SQLITE_OK) {
        sqlite3_reset(s);
        return dberr(c);
    }
    int rc;
    while ((rc = sqlite3_step(s)) == SQLITE_ROW)
        ;
    if (rc != SQLITE_DONE) {
        int st = dberr(c);
        sqlite3_reset(s);
        return st;
    }
    sqlite3_reset(s);
    return 0;
}

/* step_row — step once: 1 row available (caller reads, then resets), 0 no row (reset), -1 error (reset). */
static int step_row(op_ctx_t *c, sqlite3_stmt *s)
{
    if (c->bind_rc != SQLITE_OK) {
        sqlite3_reset(s);
        dberr(c);
        return -1;
    }
    int rc = sqlite3_step(s);
    if (rc == SQLITE_ROW) return 1;
    if (rc == SQLITE_DONE) {
        sqlite3_reset(s);
        return 0;
    }
    dberr(c);
    sqlite3_reset(s);
    return -1;
}

/* collect_ids — run a SELECT of execution ids into a new JSON array (*out). Returns 0 or ABE_IPC_ERR_DB. */
static int collect_ids(op_ctx_t *c, sqlite3_stmt *s, json_t **out)
{
    json_t *ids = json_array();
    int rc;
    if (!ids || c->bind_rc != SQLITE_OK) {
        json_decref(ids);
        sqlite3_reset(s);
        if (c->bind_rc == SQLITE_OK) c->bind_rc = SQLITE_NOMEM;
        return dberr(c);
    }
    while ((rc = sqlite3_step(s)) == SQLITE_ROW) {
        const char *id = (const char *)sqlite3_column_text(s, 0);
        if (!id || json_array_append_new(ids, json_string(id)) != 0) {
            rc = SQLITE_NOMEM;
            break;
        }
    }
    if (rc != SQLITE_DONE) {
        if (rc == SQLITE_NOMEM) c->bind_rc = SQLITE_NOMEM;
        int st = dberr(c);
        sqlite3_reset(s);
        json_decref(ids);
        return st;
    }
    sqlite3_reset(s);
    *out = ids;
    return 0;
}

#define CHECK(expr)                                                                                          \
    do {                                                                                                     \
        int check_rc_ = (expr);                                                                              \
        if (check_rc_ != 0) return check_rc_;                                                                \
    } while (0)

/* ---- operations --------------------------------------------------------------------------------------- */

/* One message row of create_conversation / append_messages. */
static int insert_message(op_ctx_t *c, text_t conv_id, json_t *m, size_t index)
{
    text_t mid, role, content, agent, ts;
    if (!json_is_object(m)) return bad(c, "messages[%zu] must be an object", index);
    CHECK(f_str(c, m, "message_id", 0, &mid));
    CHECK(f_str(c, m, "role", 0, &role));
    CHECK(f_str(c, m, "content", 0, &content));
    CHECK(f_str(c, m, "agent_id", 1, &agent));
    CHECK(f_str(c, m, "created_at", 0, &ts));
    static const char *const roles[] = {"user", "agent"};
    if (!one_of(role.s, roles, 2)) return bad(c, "messages[%zu].role must be 'user' or 'agent'", index);
    sqlite3_stmt *s = c->st->st[S_MSG_INSERT];
    b_text(c, s, 1, mid);
    b_text(c, s, 2, conv_id);
    b_text(c, s, 3, role);
    b_text(c, s, 4, content);
    b_text(c, s, 5, agent);
    b_text(c, s, 6, ts);
    return step_done(c, s);
}

static int insert_messages(op_ctx_t *c, text_t conv_id, json_t *messages)
{
    size_t i;
    json_t *m;
    json_array_foreach(messages, i, m) CHECK(insert_message(c, conv_id, m, i));
    return 0;
}

static int op_create_conversation(op_ctx_t *c, json_t *p, json_t **res)
{
    text_t id, agent, name, desc, sysmsg, ts;
    json_t *messages = NULL, *context = json_object_get(p, "context");
    CHECK(f_str(c, p, "conversation_id", 0, &id));
    CHECK(f_str(c, p, "agent_id", 0, &agent));
    CHECK(f_str(c, p, "name", 0, &name));
    CHECK(f_str(c, p, "description", 0, &desc));
    CHECK(f_str(c, p, "system_message", 0, &sysmsg));
    CHECK(f_str(c, p, "created_at", 0, &ts));
    CHECK(f_array(c, p, "messages", &messages));
    if (!context) return bad(c, "field 'context' is missing");
    sqlite3_stmt *s = c->st->st[S_CONV_INSERT];
    b_text(c, s, 1, id);
    b_text(c, s, 2, agent);
    b_text(c, s, 3, name);
    b_text(c, s, 4, desc);
    b_text(c, s, 5, sysmsg);
    b_json(c, s, 6, context);
    b_text(c, s, 7, ts);
    CHECK(step_done(c, s));
    CHECK(insert_messages(c, id, messages));
    *res = json_object();
    return 0;
}

static int op_append_messages(op_ctx_t *c, json_t *p, json_t **res)
{
    text_t id, ts;
    json_t *messages = NULL;
    CHECK(f_str(c, p, "conversation_id", 0, &id));
    CHECK(f_str(c, p, "updated_at", 0, &ts));
    CHECK(f_array(c, p, "messages", &messages));
    sqlite3_stmt *s = c->st->st[S_CONV_TOUCH];
    b_text(c, s, 1, id);
    b_text(c, s, 2, ts);
    CHECK(step_done(c, s));
    if (sqlite3_changes(c->st->db) == 0)
        return status_msg(c, ABE_IPC_ERR_NOT_FOUND, "Conversation not found");
    CHECK(insert_messages(c, id, messages));
    *res = json_object();
    return 0;
}

static int insert_workflow_step(op_ctx_t *c, text_t wf_id, json_t *step, size_t index)
{
    text_t name, agent, type, desc;
    json_t *params = NULL, *deps = NULL;
    int fail = 0;
    long long dur;
    if (!json_is_object(step)) return bad(c, "steps[%zu] must be an object", index);
    CHECK(f_str(c, step, "name", 0, &name));
    CHECK(f_str(c, step, "agent_id", 1, &agent));
    CHECK(f_object(c, step, "parameters", &params));
    CHECK(f_array(c, step, "depends_on", &deps));
    CHECK(f_string_list(c, deps, "depends_on"));
    CHECK(f_bool(c, step, "fail", &fail));
    CHECK(f_str(c, step, "type", 1, &type));
    CHECK(f_str(c, step, "description", 1, &desc));
    CHECK(f_int(c, step, "duration_ms", 0, LLONG_MAX, &dur));
    sqlite3_stmt *s = c->st->st[S_WF_STEP_INSERT];
    b_text(c, s, 1, wf_id);
    b_int(c, s, 2, (long long)index);
    b_text(c, s, 3, name);
    b_text(c, s, 4, agent);
    b_json(c, s, 5, params);
    b_json(c, s, 6, deps);
    b_int(c, s, 7, fail);
    b_text(c, s, 8, type);
    b_text(c, s, 9, desc);
    b_int(c, s, 10, dur);
    return step_done(c, s);
}

static int op_create_workflow(op_ctx_t *c, json_t *p, json_t **res)
{
    text_t id, name, desc, ts;
    int parallel = 0;
    json_t *steps = NULL;
    CHECK(f_str(c, p, "workflow_id", 0, &id));
    CHECK(f_str(c, p, "name", 0, &name));
    CHECK(f_str(c, p, "description", 0, &desc));
    CHECK(f_bool(c, p, "parallel_execution", &parallel));
    CHECK(f_str(c, p, "created_at", 0, &ts));
    CHECK(f_array(c, p, "steps", &steps));
    sqlite3_stmt *s = c->st->st[S_WF_INSERT];
    b_text(c, s, 1, id);
    b_text(c, s, 2, name);
    b_text(c, s, 3, desc);
    b_int(c, s, 4, parallel);
    b_text(c, s, 5, ts);
    CHECK(step_done(c, s));
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step) CHECK(insert_workflow_step(c, id, step, i));
    *res = json_object();
    return 0;
}

/* workflow_exists — 1 / 0, or a negative abe status on DB error (returned as -status). */
static int workflow_exists(op_ctx_t *c, text_t id)
{
    sqlite3_stmt *s = c->st->st[S_WF_EXISTS];
    b_text(c, s, 1, id);
    int r = step_row(c, s);
    if (r == 1) sqlite3_reset(s);
    return r;
}

static int op_delete_workflow(op_ctx_t *c, json_t *p, json_t **res)
{
    text_t id;
    CHECK(f_str(c, p, "workflow_id", 0, &id));
    int r = workflow_exists(c, id);
    if (r < 0) return ABE_IPC_ERR_DB;
    if (r == 0) return status_msg(c, ABE_IPC_ERR_NOT_FOUND, "Workflow not found");
    sqlite3_stmt *s = c->st->st[S_WF_ACTIVE_EXEC];
    b_text(c, s, 1, id);
    r = step_row(c, s);
    if (r < 0) return ABE_IPC_ERR_DB;
    if (r == 1) {
        sqlite3_reset(s);
        return status_msg(c, ABE_IPC_ERR_CONFLICT,
                          "Workflow has a pending or running execution; cannot delete");
    }
    s = c->st->st[S_WF_STEPS_DELETE];
    b_text(c, s, 1, id);
    CHECK(step_done(c, s));
    s = c->st->st[S_WF_DELETE];
    b_text(c, s, 1, id);
    CHECK(step_done(c, s));
    *res = json_object();
    return 0;
}

/* recount — steps_completed from the step rows (SPEC §4.2) and updated_at. */
static int recount(op_ctx_t *c, text_t exec_id, text_t ts)
{
    sqlite3_stmt *s = c->st->st[S_EX_RECOUNT];
    b_text(c, s, 1, exec_id);
    b_text(c, s, 2, ts);
    return step_done(c, s);
}

/* The fields every execution step row carries in create_execution and step_transition payloads. */
typedef struct step_row {
    text_t name, status, started, completed, error;
    double dur;
    int dur_null;
    long long attempts;
} step_row_t;

/* Parse and check steps[index] of a payload into *row (strings borrowed from step). */
static int f_step_row(op_ctx_t *c, json_t *step, size_t index, step_row_t *row)
{
    memset(row, 0, sizeof(*row));
    if (!json_is_object(step)) return bad(c, "steps[%zu] must be an object", index);
    CHECK(f_str(c, step, "step_name", 0, &row->name));
    CHECK(f_str(c, step, "status", 0, &row->status));
    if (!one_of(row->status.s, k_step_status, N_STEP_STATUS))
        return bad(c, "steps[%zu].status '%s' is not a step status", index, row->status.s);
    CHECK(f_str(c, step, "started_at", 1, &row->started));
    CHECK(f_str(c, step, "completed_at", 1, &row->completed));
    CHECK(f_num_or_null(c, step, "duration_ms", &row->dur, &row->dur_null));
    CHECK(f_str(c, step, "error", 1, &row->error));
    CHECK(f_int(c, step, "attempts", 0, INT_MAX, &row->attempts));
    return 0;
}

static int insert_execution_step(op_ctx_t *c, text_t exec_id, json_t *step, size_t index, size_t nsteps)
{
    step_row_t row;
    long long pos;
    int carried = 0;
    CHECK(f_step_row(c, step, index, &row));
    CHECK(f_int(c, step, "position", 0, (long long)nsteps - 1, &pos));
    CHECK(f_bool(c, step, "carried_over", &carried));
    sqlite3_stmt *s = c->st->st[S_EX_STEP_INSERT];
    b_text(c, s, 1, exec_id);
    b_int(c, s, 2, pos);
    b_text(c, s, 3, row.name);
    b_text(c, s, 4, row.status);
    b_text(c, s, 5, row.started);
    b_text(c, s, 6, row.completed);
    b_real_or_null(c, s, 7, row.dur, row.dur_null);
    b_text(c, s, 8, row.error);
    b_int(c, s, 9, row.attempts);
    b_int(c, s, 10, carried);
    return step_done(c, s);
}

static int op_create_execution(op_ctx_t *c, json_t *p, json_t **res)
{
    text_t id, wf, ts, replay_of, replay_mode;
    int require_wf = 0, owner_null = 0;
    long long owner = 0, epoch;
    json_t *order = NULL, *snapshot = NULL, *steps = NULL;
    CHECK(f_str(c, p, "execution_id", 0, &id));
    CHECK(f_str(c, p, "workflow_id", 0, &wf));
    CHECK(f_bool(c, p, "require_workflow", &require_wf));
    CHECK(f_str(c, p, "created_at", 0, &ts));
    CHECK(f_array(c, p, "step_order", &order));
    CHECK(f_string_list(c, order, "step_order"));
    CHECK(f_object(c, p, "input_snapshot", &snapshot));
    CHECK(f_str(c, p, "replay_of", 1, &replay_of));
    CHECK(f_str(c, p, "replay_mode", 1, &replay_mode));
    static const char *const modes[] = {"full", "failed"};
    if (replay_mode.s && !one_of(replay_mode.s, modes, 2))
        return bad(c, "field 'replay_mode' must be 'full', 'failed' or null");
    CHECK(f_int_or_null(c, p, "owner_pid", &owner, &owner_null));
    CHECK(f_int(c, p, "run_epoch", 0, LLONG_MAX, &epoch));
    CHECK(f_array(c, p, "steps", &steps));
    size_t n = json_array_size(steps);
    if (json_array_size(order) != n)
        return bad(c, "step_order has %zu names but steps has %zu rows", json_array_size(order), n);
    if (require_wf) {
        int r = workflow_exists(c, wf);
        if (r < 0) return ABE_IPC_ERR_DB;
        if (r == 0) return status_msg(c, ABE_IPC_ERR_NOT_FOUND, "Workflow not found");
    }
    sqlite3_stmt *s = c->st->st[S_EX_INSERT];
    b_text(c, s, 1, id);
    b_text(c, s, 2, wf);
    b_text(c, s, 3, ts);
    b_int(c, s, 4, (long long)n);
    b_json(c, s, 5, order);
    b_json(c, s, 6, snapshot);
    b_text(c, s, 7, replay_of);
    b_text(c, s, 8, replay_mode);
    b_int_or_null(c, s, 9, owner, owner_null);
    b_int(c, s, 10, epoch);
    CHECK(step_done(c, s));
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step) CHECK(insert_execution_step(c, id, step, i, n));
    CHECK(recount(c, id, ts));
    *res = json_object();
    return 0;
}

/* The fencing fields every progress operation carries (SPEC §4.5). */
typedef struct fence {
    text_t id;
    long long owner, epoch;
} fence_t;

static int f_fence(op_ctx_t *c, json_t *p, fence_t *f)
{
    memset(f, 0, sizeof(*f));
    CHECK(f_str(c, p, "execution_id", 0, &f->id));
    CHECK(f_int(c, p, "owner_pid", LLONG_MIN, LLONG_MAX, &f->owner));
    CHECK(f_int(c, p, "run_epoch", LLONG_MIN, LLONG_MAX, &f->epoch));
    return 0;
}

static int stale(op_ctx_t *c, const fence_t *f)
{
    return status_msg(c, ABE_IPC_ERR_STALE, "stale operation for execution %s (owner %lld, epoch %lld)",
                      f->id.s, f->owner, f->epoch);
}

static int op_start_execution(op_ctx_t *c, json_t *p, json_t **res)
{
    fence_t f;
    text_t ts;
    CHECK(f_fence(c, p, &f));
    CHECK(f_str(c, p, "started_at", 0, &ts));
    sqlite3_stmt *s = c->st->st[S_EX_START];
    b_text(c, s, 1, f.id);
    b_int(c, s, 2, f.owner);
    b_int(c, s, 3, f.epoch);
    b_text(c, s, 4, ts);
    CHECK(step_done(c, s));
    if (sqlite3_changes(c->st->db) == 0) return stale(c, &f);
    *res = json_object();
    return 0;
}

static int update_execution_step(op_ctx_t *c, text_t exec_id, json_t *step, size_t index)
{
    step_row_t row;
    CHECK(f_step_row(c, step, index, &row));
    sqlite3_stmt *s = c->st->st[S_EX_STEP_UPDATE];
    b_text(c, s, 1, exec_id);
    b_text(c, s, 2, row.name);
    b_text(c, s, 3, row.status);
    b_text(c, s, 4, row.started);
    b_text(c, s, 5, row.completed);
    b_real_or_null(c, s, 6, row.dur, row.dur_null);
    b_text(c, s, 7, row.error);
    b_int(c, s, 8, row.attempts);
    CHECK(step_done(c, s));
    if (sqlite3_changes(c->st->db) == 0)
        return status_msg(c, ABE_IPC_ERR_NOT_FOUND, "step '%s' not found in execution %s", row.name.s,
                          exec_id.s);
    return 0;
}

static int op_step_transition(op_ctx_t *c, json_t *p, json_t **res)
{
    fence_t f;
    text_t ts;
    json_t *steps;
    CHECK(f_fence(c, p, &f));
    CHECK(f_str(c, p, "updated_at", 0, &ts));
    CHECK(f_array(c, p, "steps", &steps));
    sqlite3_stmt *s = c->st->st[S_EX_FENCE];
    b_text(c, s, 1, f.id);
    b_int(c, s, 2, f.owner);
    b_int(c, s, 3, f.epoch);
    int r = step_row(c, s);
    if (r < 0) return ABE_IPC_ERR_DB;
    if (r == 0) return stale(c, &f);
    sqlite3_reset(s);
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step) CHECK(update_execution_step(c, f.id, step, i));
    CHECK(recount(c, f.id, ts));
    *res = json_object();
    return 0;
}

/* prune — keep the newest `retention` finished executions, delete older finished ones and their steps
 * (SPEC §4.7). *pruned: executions deleted. */
static int prune(op_ctx_t *c, long long retention, long long *pruned)
{
    *pruned = 0;
    if (retention <= 0) return 0;
    sqlite3_stmt *s = c->st->st[S_PRUNE_STEPS];
    b_int(c, s, 1, retention);
    CHECK(step_done(c, s));
    s = c->st->st[S_PRUNE_EXECS];
    b_int(c, s, 1, retention);
    CHECK(step_done(c, s));
    *pruned = sqlite3_changes64(c->st->db);
    return 0;
}

static json_t *pruned_result(long long n)
{
    json_t *r = json_object();
    if (r && json_object_set_new(r, "pruned", json_integer(n)) != 0) {
        json_decref(r);
        return NULL;
    }
    return r;
}

static int op_finish_execution(op_ctx_t *c, json_t *p, json_t **res)
{
    fence_t f;
    text_t status, ts, error;
    long long retention, pruned;
    CHECK(f_fence(c, p, &f));
    CHECK(f_str(c, p, "status", 0, &status));
    static const char *const finals[] = {"success", "failed"};
    if (!one_of(status.s, finals, 2)) return bad(c, "field 'status' must be 'success' or 'failed'");
    CHECK(f_str(c, p, "completed_at", 0, &ts));
    CHECK(f_str(c, p, "error", 1, &error));
    CHECK(f_int(c, p, "retention", LLONG_MIN, LLONG_MAX, &retention));
    sqlite3_stmt *s = c->st->st[S_EX_FINISH];
    b_text(c, s, 1, f.id);
    b_int(c, s, 2, f.owner);
    b_int(c, s, 3, f.epoch);
    b_text(c, s, 4, status);
    b_text(c, s, 5, ts);
    b_text(c, s, 6, error);
    CHECK(step_done(c, s));
    if (sqlite3_changes(c->st->db) == 0) return stale(c, &f);
    CHECK(prune(c, retention, &pruned));
    *res = pruned_result(pruned);
    return 0;
}

/* requeue_steps — an execution's running steps go back to ready with started_at cleared (SPEC §4.2). */
static int requeue_steps(op_ctx_t *c, const char *exec_id)
{
    sqlite3_stmt *s = c->st->st[S_STEPS_REQUEUE];
    b_cstr(c, s, 1, exec_id);
    return step_done(c, s);
}

static int op_handback_execution(op_ctx_t *c, json_t *p, json_t **res)
{
    json_t *all_v = json_object_get(p, "all");
    int all = 0, owner_null = 1;
    long long owner = 0;
    text_t one;
    if (all_v && !json_is_null(all_v)) {
        CHECK(f_bool(c, p, "all", &all));
        if (!all) return bad(c, "field 'all' must be true when present");
    }
    if (!all) {
        CHECK(f_int(c, p, "owner_pid", LLONG_MIN, LLONG_MAX, &owner));
        owner_null = 0;
    }
    CHECK(f_str(c, p, "execution_id", 1, &one));
    sqlite3_stmt *s;
    if (one.s) {
        s = c->st->st[S_HB_ONE];
        b_text(c, s, 1, one);
        b_int_or_null(c, s, 2, owner, owner_null);
    } else if (all) {
        s = c->st->st[S_HB_ALL];
    } else {
        s = c->st->st[S_HB_BY_OWNER];
        b_int(c, s, 1, owner);
    }
    json_t *ids = NULL;
    CHECK(collect_ids(c, s, &ids));
    char ts[ABE_TS_LEN];
    abe_now_iso(ts);
    size_t i;
    json_t *id;
    int rc = 0;
    json_array_foreach(ids, i, id)
    {
        const char *eid = json_string_value(id);
        sqlite3_stmt *d = c->st->st[S_EX_DISOWN];
        b_cstr(c, d, 1, eid);
        b_cstr(c, d, 2, ts);
        if ((rc = step_done(c, d)) != 0 || (rc = requeue_steps(c, eid)) != 0) break;
    }
    size_t n = json_array_size(ids);
    json_decref(ids);
    if (rc != 0) return rc;
    *res = json_pack("{s:I}", "count", (json_int_t)n);
    return 0;
}

static int op_adopt_execution(op_ctx_t *c, json_t *p, json_t **res)
{
    json_t *pids = NULL;
    CHECK(f_array(c, p, "owner_pids", &pids));
    size_t npids = json_array_size(pids), i;
    json_t *v;
    json_array_foreach(pids, i, v)
    {
        if (!json_is_integer(v)) return bad(c, "owner_pids[%zu] must be an integer", i);
    }
    json_t *adopted = json_array();
    if (!adopted) {
        c->bind_rc = SQLITE_NOMEM;
        return dberr(c);
    }
    if (npids == 0) {
        *res = json_pack("{s:o}", "adopted", adopted);
        return 0;
    }
    long long *load = calloc(npids, sizeof *load);
    json_t *ids = NULL;
    int rc = 0;
    if (!load) {
        c->bind_rc = SQLITE_NOMEM;
        rc = dberr(c);
        goto out;
    }
    /* Current load of each listed pid. */
    json_array_foreach(pids, i, v)
    {
        sqlite3_stmt *s = c->st->st[S_OWNER_COUNT];
        b_int(c, s, 1, (long long)json_integer_value(v));
        int r = step_row(c, s);
        if (r < 0) {
            rc = ABE_IPC_ERR_DB;
            goto out;
        }
        load[i] = r == 1 ? sqlite3_column_int64(s, 0) : 0;
        sqlite3_reset(s);
    }
    if ((rc = collect_ids(c, c->st->st[S_UNOWNED], &ids)) != 0) goto out;
    char ts[ABE_TS_LEN];
    abe_now_iso(ts);
    size_t k;
    json_t *id;
    json_array_foreach(ids, k, id)
    {
        size_t best = 0;
        for (size_t j = 1; j < npids; j++)
            if (load[j] < load[best]) best = j;
        long long pid = (long long)json_integer_value(json_array_get(pids, best));
        const char *eid = json_string_value(id);
        sqlite3_stmt *s = c->st->st[S_EX_ASSIGN];
        b_cstr(c, s, 1, eid);
        b_int(c, s, 2, pid);
        b_cstr(c, s, 3, ts);
        int r = step_row(c, s);
        if (r != 1) {
            rc = r < 0 ? ABE_IPC_ERR_DB : status_msg(c, ABE_IPC_ERR_DB, "execution %s vanished", eid);
            goto out;
        }
        long long epoch = sqlite3_column_int64(s, 0);
        if ((rc = step_done(c, s)) != 0) goto out;
        if ((rc = requeue_steps(c, eid)) != 0) goto out;
        load[best]++;
        json_t *row = json_pack("{s:s,s:I,s:I}", "execution_id", eid, "owner_pid", (json_int_t)pid,
                                "run_epoch", (json_int_t)epoch);
        if (!row || json_array_append_new(adopted, row) != 0) {
            c->bind_rc = SQLITE_NOMEM;
            rc = dberr(c);
            goto out;
        }
    }
out:
    free(load);
    json_decref(ids);
    if (rc != 0) {
        json_decref(adopted);
        return rc;
    }
    *res = json_pack("{s:o}", "adopted", adopted);
    return 0;
}

static int op_purge_executions(op_ctx_t *c, json_t *p, json_t **res)
{
    long long retention, pruned;
    CHECK(f_int(c, p, "retention", LLONG_MIN, LLONG_MAX, &retention));
    CHECK(prune(c, retention, &pruned));
    *res = pruned_result(pruned);
    return 0;
}

static int insert_agent(op_ctx_t *c, json_t *a, text_t loaded_at, size_t index)
{
    text_t id, name, cat, desc, status, version;
    json_t *caps = NULL;
    if (!json_is_object(a)) return bad(c, "agents[%zu] must be an object", index);
    CHECK(f_str(c, a, "id", 0, &id));
    CHECK(f_str(c, a, "name", 0, &name));
    CHECK(f_str(c, a, "category", 0, &cat));
    CHECK(f_str(c, a, "description", 0, &desc));
    CHECK(f_array(c, a, "capabilities", &caps));
    CHECK(f_string_list(c, caps, "capabilities"));
    CHECK(f_str(c, a, "status", 0, &status));
    CHECK(f_str(c, a, "version", 0, &version));
    sqlite3_stmt *s = c->st->st[S_AGENT_INSERT];
    b_text(c, s, 1, id);
    b_text(c, s, 2, name);
    b_text(c, s, 3, cat);
    b_text(c, s, 4, desc);
    b_json(c, s, 5, caps);
    b_text(c, s, 6, status);
    b_text(c, s, 7, version);
    b_text(c, s, 8, loaded_at);
    return step_done(c, s);
}

static int op_sync_agents(op_ctx_t *c, json_t *p, json_t **res)
{
    text_t loaded_at;
    json_t *agents;
    CHECK(f_str(c, p, "loaded_at", 0, &loaded_at));
    CHECK(f_array(c, p, "agents", &agents));
    CHECK(step_done(c, c->st->st[S_AGENTS_DELETE]));
    size_t i;
    json_t *a;
    json_array_foreach(agents, i, a) CHECK(insert_agent(c, a, loaded_at, i));
    *res = json_object();
    return 0;
}

static int op_probe(op_ctx_t *c, json_t *p, json_t **res)
{
    (void)c;
    (void)p;
    *res = json_object();
    return 0;
}

typedef int (*op_fn)(op_ctx_t *c, json_t *p, json_t **res);

static const op_fn k_ops[ABE_OP__COUNT] = {
    [ABE_OP_CREATE_CONVERSATION] = op_create_conversation,
    [ABE_OP_APPEND_MESSAGES] = op_append_messages,
    [ABE_OP_CREATE_WORKFLOW] = op_create_workflow,
    [ABE_OP_DELETE_WORKFLOW] = op_delete_workflow,
    [ABE_OP_CREATE_EXECUTION] = op_create_execution,
    [ABE_OP_START_EXECUTION] = op_start_execution,
    [ABE_OP_STEP_TRANSITION] = op_step_transition,
    [ABE_OP_FINISH_EXECUTION] = op_finish_execution,
    [ABE_OP_HANDBACK_EXECUTION] = op_handback_execution,
    [ABE_OP_ADOPT_EXECUTION] = op_adopt_execution,
    [ABE_OP_PURGE_EXECUTIONS] = op_purge_executions,
    [ABE_OP_SYNC_AGENTS] = op_sync_agents,
    [ABE_OP_PROBE] = op_probe,
};

int abe_store_apply(abe_store_t *st, abe_op_t op, json_t *payload, json_t **result, char *msg, size_t msglen)
{
    op_ctx_t c = {st, msg, msglen, SQLITE_OK};
    *result = NULL;
    if (msg && msglen) msg[0] = '\0';
    if ((int)op <= ABE_OP_NONE || (int)op >= ABE_OP__COUNT || !k_ops[op])
        return bad(&c, "unknown operation %d", (int)op);
    if (!json_is_object(payload)) return bad(&c, "operation %d: payload must be a JSON object", (int)op);
    int rc = k_ops[op](&c, payload, result);
    /* Leave no statement mid-step and no borrowed payload pointer bound. */
    for (int i = S_CONV_INSERT; i < S__COUNT; i++) {
        sqlite3_reset(st->st[i]);
        sqlite3_clear_bindings(st->st[i]);
    }
    if (rc == ABE_IPC_OK && !*result) {
        c.bind_rc = SQLITE_NOMEM;
        rc = dberr(&c);
    }
    if (rc != ABE_IPC_OK) {
        json_decref(*result);
        *result = NULL;
    }
    return rc;
}

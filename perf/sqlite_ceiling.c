/*
 * sqlite_ceiling.c — the raw SQLite write ceiling of this machine for the daemon's most common write, built
 * as build/bin/sqlite_ceiling (perf/README.md documents it and the figures).
 *
 * The persistence process (daemon/abe_persist.c) commits group transactions on a WAL database with
 * synchronous=FULL (SPEC §9.1–§9.2). This tool measures what plain SQLite achieves on the same disk without
 * HTTP, IPC or JSON: it inserts N "conversation writes" — one conversations row plus two
 * conversation_messages rows (the user message and the agent reply), i.e. what POST /api/v1/conversations
 * stores — into a fresh database with the SPEC §9.1 tables and indexes, BATCH writes per transaction, and
 * reports writes/s and commits/s for each batch size given. Batch 1 is one-transaction-per-request (one
 * fsync per write); batch 100 approximates a well-filled group commit. With --savepoints every write is
 * wrapped in its own SAVEPOINT/RELEASE as the daemon's batch executor does; --pragma P (repeatable) runs
 * "PRAGMA P" after the daemon's own pragmas, to try settings (e.g. temp_store=MEMORY, cache_size=-65536).
 *
 * Usage: sqlite_ceiling [--dir DIR] [-n WRITES] [--savepoints] [--pragma P]... [BATCH...]
 *        (defaults: ., 5000, 1 100)
 * Each batch size gets its own fresh file DIR/sqlite_ceiling-<pid>-<batch>.db (removed afterwards, with its
 * -wal and -shm). Exit status 0, 1 on an SQLite error, 2 on a usage error.
 */
#include <sqlite3.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abe_util.h"
#include "bench_util.h"

static const char SCHEMA[] =
    "CREATE TABLE conversations ("
    "  id INTEGER PRIMARY KEY, conversation_id TEXT NOT NULL UNIQUE, agent_id TEXT NOT NULL,"
    "  name TEXT NOT NULL DEFAULT '', description TEXT NOT NULL DEFAULT '', system_message TEXT NOT NULL "
    "DEFAULT '',"
    "  context TEXT NOT NULL DEFAULT '{}', status TEXT NOT NULL DEFAULT 'active',"
    "  created_at TEXT NOT NULL, updated_at TEXT NOT NULL);"
    "CREATE INDEX conversations_created ON conversations(created_at DESC, id DESC);"
    "CREATE TABLE conversation_messages ("
    "  id INTEGER PRIMARY KEY, message_id TEXT NOT NULL UNIQUE,"
    "  conversation_id TEXT NOT NULL REFERENCES conversations(conversation_id) ON DELETE CASCADE,"
    "  role TEXT NOT NULL CHECK (role IN ('user','agent')), content TEXT NOT NULL, agent_id TEXT,"
    "  created_at TEXT NOT NULL);"
    "CREATE INDEX conversation_messages_conv ON conversation_messages(conversation_id, id);";

static const char REPLY[] =
    "I'm Research Analyst. I can help with research and summarization. What would you "
    "like to explore first?";
static const char USER_MSG[] = "Hello agent, please summarise the performance pipeline.";

#define MAX_PRAGMAS 16
static const char *g_pragmas[MAX_PRAGMAS];
static int g_npragmas;

static int exec_sql(sqlite3 *db, const char *sql)
{
    char *err = NULL;
    if (sqlite3_exec(db, sql, NULL, NULL, &err) != SQLITE_OK) {
        fprintf(stderr, "sqlite_ceiling: %s: %s\n", sql, err != NULL ? err : sqlite3_errmsg(db));
        sqlite3_free(err);
        return -1;
    }
    return 0;
}

static int step_done(sqlite3 *db, sqlite3_stmt *st)
{
    int rc = sqlite3_step(st);
    sqlite3_reset(st);
    sqlite3_clear_bindings(st);
    if (rc != SQLITE_DONE) {
        fprintf(stderr, "sqlite_ceiling: insert failed: %s\n", sqlite3_errmsg(db));
        return -1;
    }
    return 0;
}

/* One conversation write: the conversation row, the user message and the reply. */
static int one_write(sqlite3 *db, sqlite3_stmt *conv, sqlite3_stmt *msg)
{
    char cid[ABE_UUID_LEN], mid[ABE_UUID_LEN], ts[ABE_TS_LEN];
    abe_uuid4(cid);
    abe_now_iso(ts);
    sqlite3_bind_text(conv, 1, cid, -1, SQLITE_STATIC);
    sqlite3_bind_text(conv, 2, "agent-research", -1, SQLITE_STATIC);
    sqlite3_bind_text(conv, 3, "{\"topic\":\"performance\"}", -1, SQLITE_STATIC);
    sqlite3_bind_text(conv, 4, ts, -1, SQLITE_STATIC);
    sqlite3_bind_text(conv, 5, ts, -1, SQLITE_STATIC);
    if (step_done(db, conv) != 0) return -1;
    for (int i = 0; i < 2; i++) {
        abe_uuid4(mid);
        sqlite3_bind_text(msg, 1, mid, -1, SQLITE_STATIC);
        sqlite3_bind_text(msg, 2, cid, -1, SQLITE_STATIC);
        sqlite3_bind_text(msg, 3, i == 0 ? "user" : "agent", -1, SQLITE_STATIC);
        sqlite3_bind_text(msg, 4, i == 0 ? USER_MSG : REPLY, -1, SQLITE_STATIC);
        if (i == 0)
            sqlite3_bind_null(msg, 5);
        else
            sqlite3_bind_text(msg, 5, "agent-research", -1, SQLITE_STATIC);
        sqlite3_bind_text(msg, 6, ts, -1, SQLITE_STATIC);
        if (step_done(db, msg) != 0) return -1;
    }
    return 0;
}

static void remove_db(const char *path)
{
    char p[4200];
    unlink(path);
    snprintf(p, sizeof(p), "%s-wal", path);
    unlink(p);
    snprintf(p, sizeof(p), "%s-shm", path);
    unlink(p);
}

/* Run n writes in transactions of batch; prints one result line. Returns 0 or -1. */
static int run(const char *dir, long n, long batch, int savepoints)
{
    char path[4096];
    snprintf(path, sizeof(path), "%s/sqlite_ceiling-%d-%ld.db", dir, (int)getpid(), batch);
    remove_db(path);
    sqlite3 *db = NULL;
    sqlite3_stmt *conv = NULL, *msg = NULL;
    int rc = -1;
    if (sqlite3_open_v2(path, &db, SQLITE_OPEN_READWRITE | SQLITE_OPEN_CREATE, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite_ceiling: cannot open %s: %s\n", path,
                db ? sqlite3_errmsg(db) : "out of memory");
        goto out;
    }
    /* The daemon's writer settings (SPEC §9.1). */
    if (exec_sql(db, "PRAGMA journal_mode=WAL") != 0 || exec_sql(db, "PRAGMA synchronous=FULL") != 0 ||
        exec_sql(db, "PRAGMA foreign_keys=ON") != 0 || exec_sql(db, "PRAGMA wal_autocheckpoint=1000") != 0 ||
        exec_sql(db, SCHEMA) != 0)
        goto out;
    for (int i = 0; i < g_npragmas; i++) {
        char sql[256];
        snprintf(sql, sizeof(sql), "PRAGMA %s", g_pragmas[i]);
        if (exec_sql(db, sql) != 0) goto out;
    }
    if (sqlite3_prepare_v2(db,
                           "INSERT INTO conversations (conversation_id, agent_id, context, created_at, "
                           "updated_at) VALUES (?1, ?2, ?3, ?4, ?5)",
                           -1, &conv, NULL) != SQLITE_OK ||
        sqlite3_prepare_v2(db,
                           "INSERT INTO conversation_messages (message_id, conversation_id, role, content, "
                           "agent_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
                           -1, &msg, NULL) != SQLITE_OK) {
        fprintf(stderr, "sqlite_ceiling: prepare failed: %s\n", sqlite3_errmsg(db));
        goto out;
    }
    long commits = 0;
    uint64_t t0 = bench_mono_ns();
    for (long done = 0; done < n;) {
        if (exec_sql(db, "BEGIN IMMEDIATE") != 0) goto out;
        for (long i = 0; i < batch && done < n; i++, done++) {
            if (savepoints && exec_sql(db, "SAVEPOINT op") != 0) goto out;
            if (one_write(db, conv, msg) != 0) goto out;
            if (savepoints && exec_sql(db, "RELEASE op") != 0) goto out;
        }
        if (exec_sql(db, "COMMIT") != 0) goto out;
        commits++;
    }
    double el = (double)(bench_mono_ns() - t0) / 1e9;
    printf("batch %5ld: %7ld writes in %7.3f s = %9.1f writes/s, %8.1f commits/s, %7.3f ms/commit\n", batch,
           n, el, (double)n / el, (double)commits / el, el * 1000.0 / (double)commits);
    fflush(stdout);
    rc = 0;
out:
    sqlite3_finalize(conv);
    sqlite3_finalize(msg);
    sqlite3_close(db);
    remove_db(path);
    return rc;
}

static void usage(void)
{
    fprintf(stderr,
            "usage: sqlite_ceiling [--dir DIR] [-n WRITES] [--savepoints] [--pragma P]... [BATCH...]\n"
            "  defaults: --dir . -n 5000, batches 1 100\n");
}

int main(int argc, char **argv)
{
    const char *dir = ".";
    long n = 5000;
    int savepoints = 0;
    long batches[32];
    int nb = 0;
    for (int i = 1; i < argc; i++) {
        if (strcmp(argv[i], "--dir") == 0 && i + 1 < argc) {
            dir = argv[++i];
        } else if (strcmp(argv[i], "-n") == 0 && i + 1 < argc) {
            if (bench_parse_long(argv[++i], 1, 100000000, &n) != 0) {
                usage();
                return 2;
            }
        } else if (strcmp(argv[i], "--pragma") == 0 && i + 1 < argc) {
            if (g_npragmas == MAX_PRAGMAS || strlen(argv[i + 1]) > 200) {
                usage();
                return 2;
            }
            g_pragmas[g_npragmas++] = argv[++i];
        } else if (strcmp(argv[i], "--savepoints") == 0) {
            savepoints = 1;
        } else if (argv[i][0] != '-' && nb < 32) {
            if (bench_parse_long(argv[i], 1, 1000000, &batches[nb]) != 0) {
                usage();
                return 2;
            }
            nb++;
        } else {
            usage();
            return 2;
        }
    }
    if (nb == 0) {
        batches[nb++] = 1;
        batches[nb++] = 100;
    }
    printf("sqlite_ceiling: SQLite %s, %ld conversation writes (1 conversation + 2 messages each), WAL, "
           "synchronous=FULL, dir %s%s\n",
           sqlite3_libversion(), n, dir, savepoints ? ", SAVEPOINT per write" : "");
    for (int i = 0; i < g_npragmas; i++)
        printf("  extra: PRAGMA %s\n", g_pragmas[i]);
    for (int i = 0; i < nb; i++)
        if (run(dir, n, batches[i], savepoints) != 0) return 1;
    return 0;
}

/*
 * test_batch.c — unit tests (Criterion suite `batch`) for the group-commit executor abe_batch_run
 * (daemon/abe_persist.c, SPEC §9.2) against a real SQLite store in a temporary directory.
 *
 * An injected apply function performs the real create_workflow write for every item and then, for the
 * item chosen to fail, reports an error after its row was written, so the test proves the savepoint
 * rollback removes exactly that item's writes while the rest commit. Failures of BEGIN, of a savepoint
 * that can no longer be rolled back, and real SQLite constraint errors are covered as well. Visibility
 * is checked through an independent read-only sqlite3 connection.
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abe_persist.h"
#include "abe_store.h"

static char g_dir[64];
static char g_db[128];
static abe_store_t *g_st;

static void setup(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/abe-batch-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_db, sizeof(g_db), "%s/platform.db", g_dir);
    char err[512] = "";
    cr_assert_eq(abe_store_open(&g_st, g_db, err, sizeof(err)), 0, "open: %s", err);
}

static void teardown(void)
{
    abe_store_close(g_st, 1);
    g_st = NULL;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

/* A valid create_workflow payload with one step, id "wf-<n>". */
static json_t *workflow_payload(int n)
{
    char id[32];
    snprintf(id, sizeof(id), "wf-%d", n);
    return json_pack("{s:s, s:s, s:s, s:b, s:s, s:[{s:s, s:n, s:{}, s:[], s:b, s:n, s:n, s:i}]}",
                     "workflow_id", id, "name", "w", "description", "", "parallel_execution", 0, "created_at",
                     "2026-11-22T17:48:12.567454Z", "steps", "name", "s1", "agent_id", "parameters",
                     "depends_on", "fail", 0, "type", "description", "duration_ms", 500);
}

/* Rows matching an SQL count query, through a separate read-only connection. */
static long long count_rows(const char *sql, const char *arg)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, sql, -1, &s, NULL), SQLITE_OK, "%s", sqlite3_errmsg(db));
    if (arg != NULL) sqlite3_bind_text(s, 1, arg, -1, SQLITE_TRANSIENT);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    long long n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static long long workflow_exists(const char *id)
{
    return count_rows("SELECT count(*) FROM workflows WHERE workflow_id = ?1", id);
}

typedef struct inject {
    abe_store_t *st;
    int calls;
    int fail_at;        /* 0-based item index that fails after writing; -1 none */
    int fail_status;    /* status reported by the failing item */
    int break_txn_at;   /* item that ends the transaction behind the executor's back; -1 none */
    int null_result_at; /* item that returns OK without a result object; -1 none */
} inject_t;

static int inject_apply(void *ctx, abe_op_t op, json_t *payload, json_t **result, char *msg, size_t msglen)
{
    inject_t *in = ctx;
    int idx = in->calls++;
    int rc = abe_store_apply(in->st, op, payload, result, msg, msglen);
    if (idx == in->fail_at) {
        cr_assert_eq(rc, ABE_IPC_OK, "the failing item must have written first: %s", msg);
        json_decref(*result);
        *result = NULL;
        snprintf(msg, msglen, "injected failure of item %d", idx + 1);
        return in->fail_status;
    }
    if (idx == in->break_txn_at) abe_store_rollback(in->st);
    if (idx == in->null_result_at) {
        json_decref(*result);
        *result = NULL;
    }
    return rc;
}

static void make_items(abe_batch_item_t *items, size_t n, int first)
{
    for (size_t i = 0; i < n; i++) {
        items[i].op = ABE_OP_CREATE_WORKFLOW;
        items[i].payload = workflow_payload(first + (int)i);
        items[i].status = -1;
        items[i].result = NULL;
    }
}

static void free_items(abe_batch_item_t *items, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        json_decref(items[i].payload);
        json_decref(items[i].result);
    }
}

static const char *result_message(const abe_batch_item_t *it)
{
    return json_string_value(json_object_get(it->result, "message"));
}

TestSuite(batch, .init = setup, .fini = teardown);

Test(batch, failing_item_rolled_back_alone)
{
    abe_batch_item_t items[5];
    make_items(items, 5, 1);
    inject_t in = {
        .st = g_st, .fail_at = 1, .fail_status = ABE_IPC_ERR_DB, .break_txn_at = -1, .null_result_at = -1};
    cr_assert_eq(abe_batch_run(g_st, inject_apply, &in, items, 5), 0);
    cr_assert_eq(in.calls, 5);
    for (int i = 0; i < 5; i++) {
        if (i == 1) continue;
        cr_assert_eq(items[i].status, ABE_IPC_OK, "item %d", i + 1);
        cr_assert(json_is_object(items[i].result));
        cr_assert_eq(json_object_size(items[i].result), 0);
    }
    cr_assert_eq(items[1].status, ABE_IPC_ERR_DB);
    cr_assert_str_eq(result_message(&items[1]), "injected failure of item 2");
    cr_assert_eq(json_object_size(items[1].result), 1);

    cr_assert_eq(workflow_exists("wf-1"), 1);
    cr_assert_eq(workflow_exists("wf-2"), 0);
    cr_assert_eq(workflow_exists("wf-3"), 1);
    cr_assert_eq(workflow_exists("wf-4"), 1);
    cr_assert_eq(workflow_exists("wf-5"), 1);
    cr_assert_eq(count_rows("SELECT count(*) FROM workflow_steps WHERE workflow_id = ?1", "wf-2"), 0);
    cr_assert_eq(count_rows("SELECT count(*) FROM workflow_steps", NULL), 4);
    free_items(items, 5);
}

Test(batch, item_error_keeps_its_status_and_default_message)
{
    abe_batch_item_t items[3];
    make_items(items, 3, 10);
    /* A NOT_FOUND-style failure keeps its status; an out-of-range status becomes a DB error. */
    inject_t in = {.st = g_st,
                   .fail_at = 2,
                   .fail_status = ABE_IPC_ERR_NOT_FOUND,
                   .break_txn_at = -1,
                   .null_result_at = 0};
    cr_assert_eq(abe_batch_run(g_st, inject_apply, &in, items, 3), 0);
    cr_assert_eq(items[0].status, ABE_IPC_OK);
    cr_assert(json_is_object(items[0].result), "an OK item without a result reports {}");
    cr_assert_eq(items[2].status, ABE_IPC_ERR_NOT_FOUND);
    cr_assert_str_eq(result_message(&items[2]), "injected failure of item 3");
    cr_assert_eq(workflow_exists("wf-12"), 0);
    cr_assert_eq(workflow_exists("wf-10"), 1);
    free_items(items, 3);

    make_items(items, 1, 20);
    in = (inject_t){.st = g_st, .fail_at = 0, .fail_status = 42, .break_txn_at = -1, .null_result_at = -1};
    cr_assert_eq(abe_batch_run(g_st, inject_apply, &in, items, 1), 0);
    cr_assert_eq(items[0].status, ABE_IPC_ERR_DB);
    cr_assert_eq(workflow_exists("wf-20"), 0);
    free_items(items, 1);
}

static int store_apply(void *ctx, abe_op_t op, json_t *payload, json_t **result, char *msg, size_t msglen)
{
    return abe_store_apply(ctx, op, payload, result, msg, msglen);
}

Test(batch, real_constraint_violation_fails_only_that_item)
{
    abe_batch_item_t items[3];
    make_items(items, 3, 30);
    json_decref(items[1].payload);
    items[1].payload = workflow_payload(30); /* duplicate workflow_id: UNIQUE constraint */
    cr_assert_eq(abe_batch_run(g_st, store_apply, g_st, items, 3), 0);
    cr_assert_eq(items[0].status, ABE_IPC_OK);
    cr_assert_eq(items[1].status, ABE_IPC_ERR_DB);
    cr_assert_not_null(result_message(&items[1]));
    cr_assert_neq(strlen(result_message(&items[1])), 0);
    cr_assert_eq(items[2].status, ABE_IPC_OK);
    cr_assert_eq(count_rows("SELECT count(*) FROM workflows", NULL), 2);
    cr_assert_eq(count_rows("SELECT count(*) FROM workflow_steps WHERE workflow_id = ?1", "wf-30"), 1);
    free_items(items, 3);
}

Test(batch, begin_failure_fails_every_item)
{
    abe_batch_item_t items[4];
    make_items(items, 4, 40);
    /* A transaction already open makes the executor's BEGIN IMMEDIATE fail. */
    cr_assert_eq(abe_store_begin(g_st), 0);
    inject_t in = {.st = g_st, .fail_at = -1, .break_txn_at = -1, .null_result_at = -1};
    cr_assert_eq(abe_batch_run(g_st, inject_apply, &in, items, 4), -1);
    cr_assert_eq(in.calls, 0, "no operation may run without the transaction");
    for (int i = 0; i < 4; i++) {
        cr_assert_eq(items[i].status, ABE_IPC_ERR_DB);
        cr_assert_not_null(strstr(result_message(&items[i]), "BEGIN IMMEDIATE failed"), "%s",
                           result_message(&items[i]));
    }
    cr_assert_eq(abe_store_rollback(g_st), 0);
    cr_assert_eq(count_rows("SELECT count(*) FROM workflows", NULL), 0);
    free_items(items, 4);

    /* The store is usable again afterwards. */
    make_items(items, 1, 49);
    cr_assert_eq(abe_batch_run(g_st, store_apply, g_st, items, 1), 0);
    cr_assert_eq(items[0].status, ABE_IPC_OK);
    cr_assert_eq(workflow_exists("wf-49"), 1);
    free_items(items, 1);
}

Test(batch, broken_transaction_fails_the_whole_batch)
{
    abe_batch_item_t items[4];
    make_items(items, 4, 50);
    /* Item 3 ends the transaction: its RELEASE and ROLLBACK TO fail, so nothing may be reported as done. */
    inject_t in = {.st = g_st, .fail_at = -1, .break_txn_at = 2, .null_result_at = -1};
    cr_assert_eq(abe_batch_run(g_st, inject_apply, &in, items, 4), -1);
    cr_assert_eq(in.calls, 3);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(items[i].status, ABE_IPC_ERR_DB, "item %d", i + 1);
    cr_assert_eq(count_rows("SELECT count(*) FROM workflows", NULL), 0);
    free_items(items, 4);

    make_items(items, 2, 60);
    cr_assert_eq(abe_batch_run(g_st, store_apply, g_st, items, 2), 0);
    cr_assert_eq(count_rows("SELECT count(*) FROM workflows", NULL), 2);
    free_items(items, 2);
}

Test(batch, empty_batch_is_a_no_op)
{
    inject_t in = {.st = g_st, .fail_at = -1, .break_txn_at = -1, .null_result_at = -1};
    cr_assert_eq(abe_batch_run(g_st, inject_apply, &in, NULL, 0), 0);
    cr_assert_eq(in.calls, 0);
}

/*
 * test_dbread.c — unit tests (Criterion suite `dbread`) for the worker's read-only queries,
 * worker/abe_dbread_sqlite.c (SPEC §3.1 resource objects and field order, §2.4 pagination, §3.4–§3.6 reads,
 * §9.1 read-only WAL connections).
 *
 * A fixture database is written through the real store (daemon/abe_store_sqlite.c) and then read back; every
 * object is compared as its exact compact serialisation (ABE_JSON_DUMP_FLAGS), so field order, types (bool vs
 * integer, real vs null) and values are all checked at once. Query plans are checked with abe_dbr_explain.
 */
#include <criterion/criterion.h>
#include <ftw.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abe_dbread.h"
#include "abe_json.h"
#include "abe_store.h"

static char d_dir[64];
static char d_db[256];
static abe_store_t *d_st;
static abe_dbr_t *d_r;
static char d_msg[512];

static int rm_entry(const char *path, const struct stat *sb, int flag, struct FTW *ftw)
{
    (void)sb;
    (void)flag;
    (void)ftw;
    return remove(path);
}

static void open_store(void)
{
    strcpy(d_dir, "/tmp/abe-dbread-XXXXXX");
    cr_assert_not_null(mkdtemp(d_dir));
    snprintf(d_db, sizeof d_db, "%s/platform.db", d_dir);
    char err[512] = "";
    cr_assert_eq(abe_store_open(&d_st, d_db, err, sizeof err), 0, "%s", err);
}

static void teardown(void)
{
    abe_dbr_close(d_r);
    d_r = NULL;
    abe_store_close(d_st, 1);
    d_st = NULL;
    nftw(d_dir, rm_entry, 16, FTW_DEPTH | FTW_PHYS);
}

/* One op as a whole committed batch; payload consumed. */
static void write_p(abe_op_t op, json_t *payload)
{
    cr_assert_not_null(payload, "test payload did not build");
    json_t *res = NULL;
    cr_assert_eq(abe_store_begin(d_st), 0);
    cr_assert_eq(abe_store_savepoint(d_st), 0);
    cr_assert_eq(abe_store_apply(d_st, op, payload, &res, d_msg, sizeof d_msg), ABE_IPC_OK, "%s", d_msg);
    cr_assert_eq(abe_store_release(d_st), 0);
    cr_assert_eq(abe_store_commit(d_st), 0);
    json_decref(res);
    json_decref(payload);
}

static void write_s(abe_op_t op, const char *json)
{
    json_error_t e;
    json_t *p = json_loads(json, 0, &e);
    cr_assert_not_null(p, "bad test JSON: %s", e.text);
    write_p(op, p);
}

/* Compact dump of v (consumed) compared with want. */
static void expect_json(json_t *v, const char *want)
{
    cr_assert_not_null(v);
    char *got = json_dumps(v, ABE_JSON_DUMP_FLAGS | JSON_ENCODE_ANY);
    cr_assert_not_null(got);
    cr_assert_str_eq(got, want);
    free(got);
    json_decref(v);
}

#define T1 "2026-01-01T00:00:01.000000Z"
#define T2 "2026-01-01T00:00:02.000000Z"
#define T3 "2026-01-01T00:00:03.000000Z"
#define T5 "2026-01-01T00:00:05.000000Z"
#define T6 "2026-01-01T00:00:06.000000Z"
#define T7 "2026-01-01T00:00:07.000000Z"

static void conversations_fixture(void)
{
    write_s(ABE_OP_CREATE_CONVERSATION,
            "{\"conversation_id\":\"c1\",\"agent_id\":\"agent-research\",\"name\":\"first\",\"description\":"
            "\"desc\",\"system_message\":\"sys\",\"context\":{\"k\":[1,2.5]},\"created_at\":\"" T1 "\","
            "\"messages\":[{\"message_id\":\"m1\",\"role\":\"user\",\"content\":\"hi\",\"agent_id\":null,"
            "\"created_at\":\"" T1 "\"},{\"message_id\":\"m2\",\"role\":\"agent\",\"content\":\"hello\","
            "\"agent_id\":\"agent-research\",\"created_at\":\"" T1 "\"}]}");
    write_s(
        ABE_OP_CREATE_CONVERSATION,
        "{\"conversation_id\":\"c2\",\"agent_id\":\"agent-data\",\"name\":\"second\",\"description\":\"\","
        "\"system_message\":\"\",\"context\":[],\"created_at\":\"" T2 "\",\"messages\":[]}");
    /* Same created_at as c2: insertion order breaks the tie (newest first). */
    write_s(ABE_OP_CREATE_CONVERSATION,
            "{\"conversation_id\":\"c3\",\"agent_id\":\"agent-x\",\"name\":\"third\",\"description\":\"\","
            "\"system_message\":\"\",\"context\":{},\"created_at\":\"" T2 "\",\"messages\":[{\"message_id\":"
            "\"m3\",\"role\":\"agent\",\"content\":\"yo\",\"agent_id\":\"agent-x\",\"created_at\":\"" T2
            "\"}]}");
    write_s(
        ABE_OP_APPEND_MESSAGES,
        "{\"conversation_id\":\"c1\",\"updated_at\":\"" T7 "\",\"messages\":[{\"message_id\":\"m4\",\"role\":"
        "\"user\",\"content\":\"more ü\",\"agent_id\":null,\"created_at\":\"" T6 "\"},{\"message_id\":\"m5\","
        "\"role\":\"agent\",\"content\":\"sure\",\"agent_id\":\"agent-research\",\"created_at\":\"" T7
        "\"}]}");
}

static const char *k_workflow =
    "{\"workflow_id\":\"wf1\",\"name\":\"Flow\",\"description\":\"d\",\"parallel_execution\":false,"
    "\"created_at\":\"" T1 "\",\"steps\":["
    "{\"name\":\"a\",\"agent_id\":null,\"parameters\":{\"k\":[1,2.5]},\"depends_on\":[],\"fail\":false,"
    "\"type\":null,\"description\":null,\"duration_ms\":500},"
    "{\"name\":\"b\",\"agent_id\":\"agent-x\",\"parameters\":{},\"depends_on\":[\"a\"],\"fail\":true,"
    "\"type\":\"t\",\"description\":\"second\",\"duration_ms\":0}]}";

static json_t *exec_payload(const char *eid, const char *wf, const char *created_at, long owner)
{
    return json_pack("{s:s,s:s,s:b,s:s,s:[s,s],s:{s:s,s:b,s:[]},s:n,s:n,s:i,s:i,s:[{s:i,s:s,s:s,s:n,s:n,s:n,"
                     "s:n,s:i,s:b},{s:i,s:s,s:s,s:n,s:n,s:n,s:n,s:i,s:b}]}",
                     "execution_id", eid, "workflow_id", wf, "require_workflow", 0, "created_at", created_at,
                     "step_order", "a", "b", "input_snapshot", "workflow_id", wf, "parallel_execution", 0,
                     "steps", "replay_of", "replay_mode", "owner_pid", (int)owner, "run_epoch", 0, "steps",
                     "position", 0, "step_name", "a", "status", "ready", "started_at", "completed_at",
                     "duration_ms", "error", "attempts", 0, "carried_over", 0, "position", 1, "step_name",
                     "b", "status", "pending", "started_at", "completed_at", "duration_ms", "error",
                     "attempts", 0, "carried_over", 0);
}

/* wf1 (2 steps, T1), wf2 (no steps, parallel, T2); e1 running (a success, b running), e2 success, e3 pending
 * replay of e2 in wf2. */
static void workflows_fixture(void)
{
    write_s(ABE_OP_CREATE_WORKFLOW, k_workflow);
    write_s(ABE_OP_CREATE_WORKFLOW, "{\"workflow_id\":\"wf2\",\"name\":\"Empty\",\"description\":\"\","
                                    "\"parallel_execution\":true,\"created_at\":\"" T2 "\",\"steps\":[]}");
    write_p(ABE_OP_CREATE_EXECUTION, exec_payload("e1", "wf1", T1, 100));
    write_p(ABE_OP_CREATE_EXECUTION, exec_payload("e2", "wf1", T2, 100));
    json_t *p = exec_payload("e3", "wf2", T3, 200);
    json_object_set_new(p, "replay_of", json_string("e2"));
    json_object_set_new(p, "replay_mode", json_string("full"));
    write_p(ABE_OP_CREATE_EXECUTION, p);
    write_s(ABE_OP_START_EXECUTION,
            "{\"execution_id\":\"e1\",\"owner_pid\":100,\"run_epoch\":0,\"started_at\":"
            "\"" T5 "\"}");
    write_s(
        ABE_OP_STEP_TRANSITION,
        "{\"execution_id\":\"e1\",\"owner_pid\":100,\"run_epoch\":0,\"updated_at\":\"" T6 "\",\"steps\":["
        "{\"step_name\":\"a\",\"status\":\"success\",\"started_at\":\"" T5 "\",\"completed_at\":\"" T6 "\","
        "\"duration_ms\":501.237,\"error\":null,\"attempts\":1},{\"step_name\":\"b\",\"status\":\"running\","
        "\"started_at\":\"" T6
        "\",\"completed_at\":null,\"duration_ms\":null,\"error\":null,\"attempts\":1}]}");
    write_s(ABE_OP_START_EXECUTION,
            "{\"execution_id\":\"e2\",\"owner_pid\":100,\"run_epoch\":0,\"started_at\":"
            "\"" T5 "\"}");
    write_s(ABE_OP_FINISH_EXECUTION,
            "{\"execution_id\":\"e2\",\"owner_pid\":100,\"run_epoch\":0,\"status\":"
            "\"success\",\"completed_at\":\"" T7 "\",\"error\":null,\"retention\":0}");
}

static void full_fixture(void)
{
    open_store();
    conversations_fixture();
    workflows_fixture();
    d_r = abe_dbr_open(d_db);
    cr_assert_not_null(d_r);
}

/* ---- open --------------------------------------------------------------------------------------------- */

Test(dbread, open_failures, .init = open_store, .fini = teardown)
{
    char path[320];
    snprintf(path, sizeof path, "%s/missing.db", d_dir);
    cr_assert_null(abe_dbr_open(path), "read-only open never creates");
    struct stat sb;
    cr_assert_neq(stat(path, &sb), 0);
    cr_assert_null(abe_dbr_open(""));
    cr_assert_null(abe_dbr_open(NULL));
    /* A database without the schema: the queries cannot be prepared. */
    snprintf(path, sizeof path, "%s/empty.db", d_dir);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    fclose(f);
    cr_assert_null(abe_dbr_open(path));
    cr_assert_str_eq(abe_dbr_errmsg(NULL), "no database connection");
    abe_dbr_close(NULL);
}

/* ---- conversations ------------------------------------------------------------------------------------ */

Test(dbread, conversation_list_order_fields_and_paging, .init = full_fixture, .fini = teardown)
{
    json_t *items = NULL;
    int64_t total = -1;
    cr_assert_eq(abe_dbr_list_conversations(d_r, 100, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 3);
    expect_json(
        items,
        "[{\"id\":\"c3\",\"agent_id\":\"agent-x\",\"name\":\"third\",\"status\":\"active\",\"created_at\":"
        "\"" T2 "\",\"last_updated\":\"" T2 "\",\"message_count\":1},"
        "{\"id\":\"c2\",\"agent_id\":\"agent-data\",\"name\":\"second\",\"status\":\"active\","
        "\"created_at\":\"" T2 "\",\"last_updated\":\"" T2 "\",\"message_count\":0},"
        "{\"id\":\"c1\",\"agent_id\":\"agent-research\",\"name\":\"first\",\"status\":\"active\","
        "\"created_at\":\"" T1 "\",\"last_updated\":\"" T7 "\",\"message_count\":4}]");
    cr_assert_eq(abe_dbr_list_conversations(d_r, 1, 1, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 3);
    cr_assert_eq(json_array_size(items), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(items, 0), "id")), "c2");
    json_decref(items);
    cr_assert_eq(abe_dbr_list_conversations(d_r, 10, 3, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 3, "an offset past the end keeps the total");
    expect_json(items, "[]");
}

Test(dbread, get_conversation_exact, .init = full_fixture, .fini = teardown)
{
    json_t *c = NULL;
    cr_assert_eq(abe_dbr_get_conversation(d_r, "c1", &c), ABE_DBR_OK, "%s", abe_dbr_errmsg(d_r));
    expect_json(
        c, "{\"id\":\"c1\",\"agent_id\":\"agent-research\",\"name\":\"first\",\"description\":\"desc\","
           "\"system_message\":\"sys\",\"status\":\"active\",\"context\":{\"k\":[1,2.5]},"
           "\"created_at\":\"" T1 "\",\"last_updated\":\"" T7 "\",\"messages\":["
           "{\"id\":\"m1\",\"role\":\"user\",\"content\":\"hi\",\"timestamp\":\"" T1 "\",\"agent_id\":null},"
           "{\"id\":\"m2\",\"role\":\"agent\",\"content\":\"hello\",\"timestamp\":\"" T1 "\","
           "\"agent_id\":\"agent-research\"},"
           "{\"id\":\"m4\",\"role\":\"user\",\"content\":\"more ü\",\"timestamp\":\"" T6 "\","
           "\"agent_id\":null},"
           "{\"id\":\"m5\",\"role\":\"agent\",\"content\":\"sure\",\"timestamp\":\"" T7 "\","
           "\"agent_id\":\"agent-research\"}]}");
    cr_assert_eq(abe_dbr_get_conversation(d_r, "c2", &c), ABE_DBR_OK);
    expect_json(c, "{\"id\":\"c2\",\"agent_id\":\"agent-data\",\"name\":\"second\",\"description\":\"\","
                   "\"system_message\":\"\",\"status\":\"active\",\"context\":[],\"created_at\":\"" T2 "\","
                   "\"last_updated\":\"" T2 "\",\"messages\":[]}");
    c = (json_t *)0x1;
    cr_assert_eq(abe_dbr_get_conversation(d_r, "C1", &c), ABE_DBR_NOT_FOUND, "ids compare exactly");
    cr_assert_null(c);
}

Test(dbread, conversation_agent, .init = full_fixture, .fini = teardown)
{
    char buf[64];
    cr_assert_eq(abe_dbr_conversation_agent(d_r, "c1", buf, sizeof buf), ABE_DBR_OK);
    cr_assert_str_eq(buf, "agent-research");
    char small[6];
    cr_assert_eq(abe_dbr_conversation_agent(d_r, "c1", small, sizeof small), ABE_DBR_OK);
    cr_assert_str_eq(small, "agent", "truncated and NUL-terminated");
    cr_assert_eq(abe_dbr_conversation_agent(d_r, "zz", buf, sizeof buf), ABE_DBR_NOT_FOUND);
    cr_assert_str_eq(buf, "");
}

Test(dbread, list_messages_oldest_first_and_paged, .init = full_fixture, .fini = teardown)
{
    json_t *items = NULL;
    int64_t total = -1;
    cr_assert_eq(abe_dbr_list_messages(d_r, "c1", 2, 1, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 4);
    expect_json(items,
                "[{\"id\":\"m2\",\"role\":\"agent\",\"content\":\"hello\",\"timestamp\":\"" T1 "\","
                "\"agent_id\":\"agent-research\"},{\"id\":\"m4\",\"role\":\"user\",\"content\":\"more ü\","
                "\"timestamp\":\"" T6 "\",\"agent_id\":null}]");
    cr_assert_eq(abe_dbr_list_messages(d_r, "c2", 100, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 0);
    expect_json(items, "[]");
    cr_assert_eq(abe_dbr_list_messages(d_r, "c1", 100, 9, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 4);
    expect_json(items, "[]");
    items = (json_t *)0x1;
    cr_assert_eq(abe_dbr_list_messages(d_r, "nope", 100, 0, &items, &total), ABE_DBR_NOT_FOUND);
    cr_assert_null(items);
}

/* ---- workflows ---------------------------------------------------------------------------------------- */

Test(dbread, workflows_list_and_get, .init = full_fixture, .fini = teardown)
{
    json_t *items = NULL, *wf = NULL;
    int64_t total = -1;
    cr_assert_eq(abe_dbr_list_workflows(d_r, 100, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 2);
    expect_json(items, "[{\"id\":\"wf2\",\"name\":\"Empty\",\"description\":\"\",\"parallel_execution\":true,"
                       "\"status\":\"created\",\"created_at\":\"" T2 "\",\"step_count\":0},"
                       "{\"id\":\"wf1\",\"name\":\"Flow\",\"description\":\"d\",\"parallel_execution\":false,"
                       "\"status\":\"created\",\"created_at\":\"" T1 "\",\"step_count\":2}]");
    cr_assert_eq(abe_dbr_list_workflows(d_r, 1, 2, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 2);
    expect_json(items, "[]");

    cr_assert_eq(abe_dbr_get_workflow(d_r, "wf1", &wf), ABE_DBR_OK, "%s", abe_dbr_errmsg(d_r));
    expect_json(wf, "{\"id\":\"wf1\",\"name\":\"Flow\",\"description\":\"d\",\"steps\":["
                    "{\"name\":\"a\",\"agent_id\":null,\"parameters\":{\"k\":[1,2.5]},\"depends_on\":[],"
                    "\"fail\":false,\"type\":null,\"description\":null,\"duration_ms\":500},"
                    "{\"name\":\"b\",\"agent_id\":\"agent-x\",\"parameters\":{},\"depends_on\":[\"a\"],"
                    "\"fail\":true,\"type\":\"t\",\"description\":\"second\",\"duration_ms\":0}],"
                    "\"parallel_execution\":false,\"status\":\"created\",\"created_at\":\"" T1 "\"}");
    cr_assert_eq(abe_dbr_get_workflow(d_r, "wf2", &wf), ABE_DBR_OK);
    expect_json(wf, "{\"id\":\"wf2\",\"name\":\"Empty\",\"description\":\"\",\"steps\":[],"
                    "\"parallel_execution\":true,\"status\":\"created\",\"created_at\":\"" T2 "\"}");
    wf = (json_t *)0x1;
    cr_assert_eq(abe_dbr_get_workflow(d_r, "wf9", &wf), ABE_DBR_NOT_FOUND);
    cr_assert_null(wf);
}

/* ---- executions --------------------------------------------------------------------------------------- */

#define E1_SUMMARY_HEAD                                                                                      \
    "{\"execution_id\":\"e1\",\"workflow_id\":\"wf1\",\"status\":\"running\",\"created_at\":\"" T1 "\","     \
    "\"started_at\":\"" T5 "\",\"completed_at\":null,\"steps_completed\":1,\"total_steps\":2,"               \
    "\"step_order\":[\"a\",\"b\"],\"replay_of\":null,\"replay_mode\":null"
#define E2_SUMMARY                                                                                           \
    "{\"execution_id\":\"e2\",\"workflow_id\":\"wf1\",\"status\":\"success\",\"created_at\":\"" T2 "\","     \
    "\"started_at\":\"" T5 "\",\"completed_at\":\"" T7 "\",\"steps_completed\":0,\"total_steps\":2,"         \
    "\"step_order\":[\"a\",\"b\"],\"replay_of\":null,\"replay_mode\":null,\"error\":null}"
#define E3_SUMMARY                                                                                           \
    "{\"execution_id\":\"e3\",\"workflow_id\":\"wf2\",\"status\":\"pending\",\"created_at\":\"" T3 "\","     \
    "\"started_at\":null,\"completed_at\":null,\"steps_completed\":0,\"total_steps\":2,"                     \
    "\"step_order\":[\"a\",\"b\"],\"replay_of\":\"e2\",\"replay_mode\":\"full\",\"error\":null}"

Test(dbread, executions_list_filters_and_paging, .init = full_fixture, .fini = teardown)
{
    json_t *items = NULL;
    int64_t total = -1;
    cr_assert_eq(abe_dbr_list_executions(d_r, NULL, NULL, 50, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 3);
    expect_json(items, "[" E3_SUMMARY "," E2_SUMMARY "," E1_SUMMARY_HEAD ",\"error\":null}]");

    cr_assert_eq(abe_dbr_list_executions(d_r, NULL, "running", 50, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 1);
    expect_json(items, "[" E1_SUMMARY_HEAD ",\"error\":null}]");

    cr_assert_eq(abe_dbr_list_executions(d_r, "wf1", NULL, 50, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 2);
    expect_json(items, "[" E2_SUMMARY "," E1_SUMMARY_HEAD ",\"error\":null}]");

    cr_assert_eq(abe_dbr_list_executions(d_r, "wf1", "success", 50, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 1);
    expect_json(items, "[" E2_SUMMARY "]");

    cr_assert_eq(abe_dbr_list_executions(d_r, "wf2", "failed", 50, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 0);
    expect_json(items, "[]");

    cr_assert_eq(abe_dbr_list_executions(d_r, "unknown", NULL, 50, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 0, "an unknown workflow id gives an empty page");
    expect_json(items, "[]");

    cr_assert_eq(abe_dbr_list_executions(d_r, NULL, NULL, 1, 1, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 3);
    expect_json(items, "[" E2_SUMMARY "]");
    cr_assert_eq(abe_dbr_list_executions(d_r, NULL, "pending", 5, 1, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 1);
    expect_json(items, "[]");
}

Test(dbread, get_execution_with_steps, .init = full_fixture, .fini = teardown)
{
    json_t *ex = NULL, *steps = NULL;
    cr_assert_eq(abe_dbr_get_execution(d_r, "e1", &ex, &steps), ABE_DBR_OK, "%s", abe_dbr_errmsg(d_r));
    expect_json(ex,
                E1_SUMMARY_HEAD ",\"input_snapshot\":{\"workflow_id\":\"wf1\",\"parallel_execution\":false,"
                                "\"steps\":[]},\"error\":null}");
    expect_json(steps,
                "[{\"name\":\"a\",\"step_name\":\"a\",\"status\":\"success\",\"started_at\":\"" T5 "\","
                "\"completed_at\":\"" T6 "\",\"duration_ms\":501.237,\"error\":null,\"attempts\":1,"
                "\"carried_over\":false},"
                "{\"name\":\"b\",\"step_name\":\"b\",\"status\":\"running\",\"started_at\":\"" T6 "\","
                "\"completed_at\":null,\"duration_ms\":null,\"error\":null,\"attempts\":1,"
                "\"carried_over\":false}]");
    ex = steps = (json_t *)0x1;
    cr_assert_eq(abe_dbr_get_execution(d_r, "e9", &ex, &steps), ABE_DBR_NOT_FOUND);
    cr_assert_null(ex);
    cr_assert_null(steps);
}

Test(dbread, owned_executions, .init = full_fixture, .fini = teardown)
{
    json_t *out = NULL;
    cr_assert_eq(abe_dbr_owned_executions(d_r, 100, &out), ABE_DBR_OK, "%s", abe_dbr_errmsg(d_r));
    expect_json(out,
                "[{\"execution_id\":\"e1\",\"workflow_id\":\"wf1\",\"status\":\"running\",\"started_at\":"
                "\"" T5 "\",\"run_epoch\":0,\"step_order\":[\"a\",\"b\"],\"input_snapshot\":{\"workflow_id\":"
                "\"wf1\",\"parallel_execution\":false,\"steps\":[]},\"steps\":["
                "{\"step_name\":\"a\",\"position\":0,\"status\":\"success\",\"started_at\":\"" T5 "\","
                "\"completed_at\":\"" T6 "\",\"duration_ms\":501.237,\"error\":null,\"attempts\":1,"
                "\"carried_over\":false},"
                "{\"step_name\":\"b\",\"position\":1,\"status\":\"running\",\"started_at\":\"" T6 "\","
                "\"completed_at\":null,\"duration_ms\":null,\"error\":null,\"attempts\":1,"
                "\"carried_over\":false}]}]");
    cr_assert_eq(abe_dbr_owned_executions(d_r, 200, &out), ABE_DBR_OK);
    cr_assert_eq(json_array_size(out), 1);
    cr_assert_str_eq(json_string_value(json_object_get(json_array_get(out, 0), "execution_id")), "e3");
    cr_assert_eq(json_array_size(json_object_get(json_array_get(out, 0), "steps")), 2);
    json_decref(out);
    cr_assert_eq(abe_dbr_owned_executions(d_r, 999, &out), ABE_DBR_OK);
    expect_json(out, "[]");

    /* After a hand-back nobody owns e1; adoption gives it a new epoch. */
    write_s(ABE_OP_HANDBACK_EXECUTION, "{\"owner_pid\":100}");
    cr_assert_eq(abe_dbr_owned_executions(d_r, 100, &out), ABE_DBR_OK);
    expect_json(out, "[]");
    write_s(ABE_OP_ADOPT_EXECUTION, "{\"owner_pids\":[300]}");
    cr_assert_eq(abe_dbr_owned_executions(d_r, 300, &out), ABE_DBR_OK);
    cr_assert_eq(json_integer_value(json_object_get(json_array_get(out, 0), "run_epoch")), 2);
    cr_assert_str_eq(json_string_value(json_object_get(
                         json_array_get(json_object_get(json_array_get(out, 0), "steps"), 1), "status")),
                     "ready");
    json_decref(out);
}

/* ---- consistency and visibility ----------------------------------------------------------------------- */

Test(dbread, sees_commits_not_uncommitted_writes, .init = open_store, .fini = teardown)
{
    d_r = abe_dbr_open(d_db);
    cr_assert_not_null(d_r);
    json_t *items = NULL;
    int64_t total = -1;
    cr_assert_eq(abe_dbr_list_workflows(d_r, 10, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 0);
    json_decref(items);

    /* The writer holds an open transaction: the reader is not blocked and does not see it. */
    json_t *p = json_loads(k_workflow, 0, NULL), *res = NULL;
    cr_assert_eq(abe_store_begin(d_st), 0);
    cr_assert_eq(abe_store_savepoint(d_st), 0);
    cr_assert_eq(abe_store_apply(d_st, ABE_OP_CREATE_WORKFLOW, p, &res, d_msg, sizeof d_msg), ABE_IPC_OK);
    cr_assert_eq(abe_store_release(d_st), 0);
    json_t *wf = NULL;
    cr_assert_eq(abe_dbr_get_workflow(d_r, "wf1", &wf), ABE_DBR_NOT_FOUND);
    cr_assert_eq(abe_dbr_list_workflows(d_r, 10, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 0);
    json_decref(items);
    cr_assert_eq(abe_store_commit(d_st), 0);
    json_decref(p);
    json_decref(res);

    cr_assert_eq(abe_dbr_list_workflows(d_r, 10, 0, &items, &total), ABE_DBR_OK);
    cr_assert_eq(total, 1, "a committed write is visible to the next read");
    cr_assert_eq(json_array_size(items), 1);
    json_decref(items);
    cr_assert_eq(abe_dbr_get_workflow(d_r, "wf1", &wf), ABE_DBR_OK);
    json_decref(wf);

    /* After a checkpoint (WAL truncated) the reader still works. */
    cr_assert_eq(abe_store_checkpoint(d_st, 1), 0);
    cr_assert_eq(abe_dbr_get_workflow(d_r, "wf1", &wf), ABE_DBR_OK);
    json_decref(wf);
}

/* ---- query plans -------------------------------------------------------------------------------------- */

/* Fail if any plan line scans a table without an index; when ordered, also if a temp B-tree sorts. */
static void assert_indexed(const char *query, int ordered, const char *must_mention)
{
    json_t *plan = NULL;
    cr_assert_eq(abe_dbr_explain(d_r, query, &plan), ABE_DBR_OK, "%s: %s", query, abe_dbr_errmsg(d_r));
    cr_assert_gt(json_array_size(plan), 0, "%s: empty plan", query);
    char *dump = json_dumps(plan, JSON_COMPACT);
    size_t i;
    json_t *line;
    int mentioned = must_mention == NULL;
    json_array_foreach(plan, i, line)
    {
        const char *d = json_string_value(line);
        if (strncmp(d, "SCAN ", 5) == 0)
            cr_assert_not_null(strstr(d, "INDEX"), "%s does a full table scan: %s", query, dump);
        if (ordered)
            cr_assert_null(strstr(d, "TEMP B-TREE"), "%s sorts instead of using an index: %s", query, dump);
        if (must_mention && strstr(d, must_mention)) mentioned = 1;
    }
    cr_assert(mentioned, "%s does not use %s: %s", query, must_mention, dump);
    free(dump);
    json_decref(plan);
}

Test(dbread, list_and_get_queries_use_indexes, .init = full_fixture, .fini = teardown)
{
    assert_indexed("list_executions", 1, "workflow_executions_created");
    assert_indexed("list_executions_status", 1, "workflow_executions_status");
    assert_indexed("list_executions_workflow", 1, "workflow_executions_wf");
    assert_indexed("list_executions_workflow_status", 1, "workflow_executions_wf_status");
    assert_indexed("count_executions_status", 0, "list_counts");
    assert_indexed("count_executions", 0, "list_counts");
    assert_indexed("count_conversations", 0, "list_counts");
    assert_indexed("count_workflows", 0, "list_counts");
    assert_indexed("count_executions_workflow", 0, "workflow_executions_wf");
    assert_indexed("count_executions_workflow_status", 0, "workflow_executions_wf_status");
    assert_indexed("list_conversations", 1, "conversations_created");
    assert_indexed("list_workflows", 1, "workflows_created");
    assert_indexed("list_messages", 1, "conversation_messages_conv");
    assert_indexed("count_messages", 0, NULL);
    assert_indexed("get_conversation", 0, NULL);
    assert_indexed("get_workflow", 0, NULL);
    assert_indexed("workflow_steps", 1, NULL);
    assert_indexed("get_execution", 0, NULL);
    assert_indexed("execution_steps", 1, "workflow_execution_steps_pos");
    assert_indexed("owned_executions", 0, "workflow_executions_owner");
    assert_indexed("owned_execution_steps", 1, NULL);

    json_t *plan = (json_t *)0x1;
    cr_assert_eq(abe_dbr_explain(d_r, "no_such_query", &plan), ABE_DBR_NOT_FOUND);
    cr_assert_null(plan);
    cr_assert_eq(abe_dbr_explain(d_r, "begin", &plan), ABE_DBR_NOT_FOUND,
                 "transaction control is not a query");
}

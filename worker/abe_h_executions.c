/*
 * abe_h_executions.c — the execution routes (SPEC §3.6, §4.6):
 *
 *   POST /api/v1/workflows/{workflow_id}/execute                    abe_h_wf_execute     (write)
 *   GET  /api/v1/workflows/{workflow_id}/executions                 abe_h_wf_executions
 *   GET  /api/v1/workflows/executions                               abe_h_exec_list
 *   GET  /api/v1/workflows/executions/{execution_id}                abe_h_exec_get
 *   POST /api/v1/workflows/executions/{execution_id}/replay?mode=   abe_h_exec_replay    (write)
 *
 * Execute and replay build the new execution's plan from an input_snapshot (worker/abe_exec_plan.h:
 * step_order per SPEC §4.1 and the initial step rows, with mode=failed carry-over for replays), send one
 * create_execution operation through the engine (abe_engine_create), and answer after the commit; the
 * engine then runs the execution on this worker. Reads use the worker's read-only connection.
 *
 * The request is parked with abe_park_request (worker/abe_http.h) while the create is in flight.
 */
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abe_dbclient.h"
#include "abe_engine.h"
#include "abe_exec_plan.h"
#include "abe_handlers.h"
#include "abe_json.h"
#include "abe_log.h"
#include "abe_util.h"
#include "abe_worker.h"

#define EXEC_LIMIT_DEFAULT 50
#define EXEC_LIMIT_MAX 500

static const char *const k_exec_statuses[] = {"pending", "running", "success", "failed"};
static const char *const k_replay_modes[] = {"full", "failed"};

/* ---- pending creates ----------------------------------------------------------------------------- */

/* What a parked create needs to build its answer; malloc'd, released by ex_pending_free. */
typedef struct ex_pending {
    char execution_id[ABE_UUID_LEN];
    char *replay_of;         /* malloc'd; NULL for execute */
    const char *replay_mode; /* static string; NULL for execute */
} ex_pending_t;

static void ex_pending_free(void *ptr)
{
    ex_pending_t *p = ptr;
    free(p->replay_of);
    free(p);
}

/* Completion of create_execution, after the commit: the SPEC §3.6 answer. */
static void on_created(abe_req_t *r, int status, json_t *result, void *ctx)
{
    ex_pending_t *p = ctx;
    (void)result;
    if (status == ABE_IPC_OK) {
        json_t *body = p->replay_of
                           ? json_pack("{s:s,s:s,s:s,s:s}", "execution_id", p->execution_id, "status",
                                       "started", "replay_of", p->replay_of, "replay_mode", p->replay_mode)
                           : json_pack("{s:s,s:s}", "execution_id", p->execution_id, "status", "started");
        if (body)
            abe_send_json(r, 200, body);
        else
            abe_send_error(r, 500, "Internal Server Error");
    } else if (status == ABE_IPC_ERR_NOT_FOUND && !p->replay_of) {
        abe_send_error(r, 404, "Workflow not found"); /* deleted between the read and the write */
    } else {
        abe_send_db_status(r, status);
    }
}

/*
 * Create and run a new execution of snapshot (borrowed). replay_of/replay_mode NULL for execute;
 * source_steps (borrowed) non-NULL for a mode=failed replay. require_workflow: execute only.
 * Answers every outcome itself except internal failures, for which it returns -1 (pipeline 500).
 */
static int start_execution(abe_req_t *r, json_t *snapshot, const char *workflow_id, const char *replay_of,
                           const char *replay_mode, json_t *source_steps, int require_workflow)
{
    abe_plan_t *plan = NULL;
    char err[1024];
    int rc = abe_plan_build(snapshot, abe_worker.cfg->max_parallel_steps, &plan, err, sizeof(err));
    if (rc == ABE_PLAN_DAG) {
        abe_send_error(r, 400, err);
        return 0;
    }
    if (rc != ABE_PLAN_OK) {
        abe_log_error("executions: unusable snapshot for workflow %s: %s (correlation_id=%s)", workflow_id,
                      err, r->correlation_id);
        return -1;
    }
    if (source_steps && abe_plan_carry(plan, source_steps, err, sizeof(err)) != ABE_PLAN_OK) {
        abe_log_error("executions: cannot carry steps of %s: %s (correlation_id=%s)", replay_of, err,
                      r->correlation_id);
        abe_plan_free(plan);
        return -1;
    }
    ex_pending_t *p = calloc(1, sizeof(*p));
    if (!p || (replay_of && !(p->replay_of = strdup(replay_of)))) {
        free(p);
        abe_plan_free(plan);
        return -1;
    }
    abe_uuid4(p->execution_id);
    p->replay_mode = replay_mode;
    char ts[ABE_TS_LEN];
    abe_now_iso(ts);
    json_t *payload =
        json_pack("{s:s,s:s,s:b,s:s,s:o,s:O,s:s?,s:s?,s:I,s:I,s:o}", "execution_id", p->execution_id,
                  "workflow_id", workflow_id, "require_workflow", require_workflow, "created_at", ts,
                  "step_order", abe_plan_step_order(plan), "input_snapshot", snapshot, "replay_of", replay_of,
                  "replay_mode", replay_mode, "owner_pid", (json_int_t)getpid(), "run_epoch", (json_int_t)1,
                  "steps", abe_plan_rows(plan));
    if (!payload) {
        ex_pending_free(p);
        abe_plan_free(plan);
        return -1;
    }
    if (abe_db_backlog_full(ABE_OP_CREATE_EXECUTION)) {
        ex_pending_free(p);
        json_decref(payload);
        abe_plan_free(plan);
        abe_send_unavailable(r, "Database queue full; retry later");
        return 0;
    }
    void *parked = abe_park_request(r, on_created, p, ex_pending_free);
    if (!parked) {
        json_decref(payload);
        abe_plan_free(plan);
        return -1;
    }
    if (abe_engine_create(payload, plan, abe_parked_reply, parked) != 0) {
        abe_parked_cancel(parked);
        abe_send_unavailable(r, "Database unavailable; retry later");
    }
    json_decref(payload);
    return 0;
}

/* ---- POST /api/v1/workflows/{workflow_id}/execute ------------------------------------------------ */

int abe_h_wf_execute(abe_req_t *r)
{
    const char *id = r->params[0];
    abe_dbr_t *dbr = abe_req_reader(r);
    if (!dbr) return -1;
    json_t *wf = NULL;
    int rc = abe_dbr_get_workflow(dbr, id, &wf);
    if (rc == ABE_DBR_NOT_FOUND) {
        abe_send_error(r, 404, "Workflow not found");
        return 0;
    }
    if (rc != ABE_DBR_OK) return abe_req_read_failed(r, "get_workflow");
    json_t *snapshot =
        json_pack("{s:s,s:O,s:O}", "workflow_id", id, "parallel_execution",
                  json_object_get(wf, "parallel_execution"), "steps", json_object_get(wf, "steps"));
    json_decref(wf);
    if (!snapshot) return -1;
    rc = start_execution(r, snapshot, id, NULL, NULL, NULL, 1);
    json_decref(snapshot);
    return rc;
}

/* ---- execution lists ----------------------------------------------------------------------------- */

/*
 * Shared by both list routes: validate limit/offset/status (SPEC §3.6), then, when must_exist_wf is set,
 * check that workflow exists (404), then list. wf_filter may be NULL.
 */
static int list_executions(abe_req_t *r, const char *wf_filter, int must_exist_wf)
{
    abe_validator_t v;
    abe_v_init(&v, "query");
    int64_t limit, offset;
    int ok = abe_parse_pagination(r, &v, EXEC_LIMIT_DEFAULT, EXEC_LIMIT_MAX, &limit, &offset);
    const char *status = abe_query_get(r, "status", NULL);
    if (abe_v_query_enum(&v, "status", status, k_exec_statuses, 4) < 0) ok = 0;
    if (!ok) {
        abe_send_issues(r, &v);
        return 0;
    }
    abe_v_free(&v);
    abe_dbr_t *dbr = abe_req_reader(r);
    if (!dbr) return -1;
    if (must_exist_wf) {
        json_t *wf = NULL;
        int rc = abe_dbr_get_workflow(dbr, wf_filter, &wf);
        json_decref(wf);
        if (rc == ABE_DBR_NOT_FOUND) {
            abe_send_error(r, 404, "Workflow not found");
            return 0;
        }
        if (rc != ABE_DBR_OK) return abe_req_read_failed(r, "get_workflow");
    }
    json_t *items = NULL;
    int64_t total = 0;
    if (abe_dbr_list_executions(dbr, wf_filter, status, limit, offset, &items, &total) != ABE_DBR_OK)
        return abe_req_read_failed(r, "list_executions");
    return abe_send_page(r, "items", items, total, limit, offset, 0);
}

int abe_h_exec_list(abe_req_t *r)
{
    return list_executions(r, abe_query_get(r, "workflow_id", NULL), 0);
}

int abe_h_wf_executions(abe_req_t *r)
{
    return list_executions(r, r->params[0], 1);
}

/* ---- GET /api/v1/workflows/executions/{execution_id} --------------------------------------------- */

int abe_h_exec_get(abe_req_t *r)
{
    const char *id = r->params[0];
    abe_dbr_t *dbr = abe_req_reader(r);
    if (!dbr) return -1;
    json_t *ex = NULL, *steps = NULL;
    int rc = abe_dbr_get_execution(dbr, id, &ex, &steps);
    if (rc == ABE_DBR_NOT_FOUND) {
        abe_send_error(r, 404, "Execution not found");
        return 0;
    }
    if (rc != ABE_DBR_OK) return abe_req_read_failed(r, "get_execution");
    json_t *body = json_pack("{s:o,s:o}", "execution", ex, "steps", steps);
    if (!body) return -1;
    abe_send_json(r, 200, body);
    return 0;
}

/* ---- POST /api/v1/workflows/executions/{execution_id}/replay ------------------------------------- */

int abe_h_exec_replay(abe_req_t *r)
{
    abe_validator_t v;
    abe_v_init(&v, "query");
    const char *mode_raw = abe_query_get(r, "mode", NULL);
    if (abe_v_query_enum(&v, "mode", mode_raw, k_replay_modes, 2) < 0) {
        abe_send_issues(r, &v);
        return 0;
    }
    abe_v_free(&v);
    const char *mode = mode_raw && strcmp(mode_raw, "failed") == 0 ? k_replay_modes[1] : k_replay_modes[0];

    const char *id = r->params[0];
    abe_dbr_t *dbr = abe_req_reader(r);
    if (!dbr) return -1;
    json_t *ex = NULL, *steps = NULL;
    int rc = abe_dbr_get_execution(dbr, id, &ex, &steps);
    if (rc == ABE_DBR_NOT_FOUND) {
        abe_send_error(r, 404, "Execution not found");
        return 0;
    }
    if (rc != ABE_DBR_OK) return abe_req_read_failed(r, "get_execution");
    const char *status = json_string_value(json_object_get(ex, "status"));
    if (!status || strcmp(status, "pending") == 0 || strcmp(status, "running") == 0) {
        json_decref(ex);
        json_decref(steps);
        abe_send_error(r, 409, "Execution not yet complete; cannot replay");
        return 0;
    }
    const char *workflow_id = json_string_value(json_object_get(ex, "workflow_id"));
    json_t *snapshot = json_object_get(ex, "input_snapshot");
    if (!workflow_id) {
        json_decref(ex);
        json_decref(steps);
        return -1;
    }
    rc = start_execution(r, snapshot, workflow_id, id, mode, mode == k_replay_modes[1] ? steps : NULL, 0);
    json_decref(ex);
    json_decref(steps);
    return rc;
}

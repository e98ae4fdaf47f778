/*
 * abe_h_workflows.c — the workflow definition routes (SPEC §3.5):
 *
 *   POST   /api/v1/workflows                  abe_h_wf_create  (write)
 *   GET    /api/v1/workflows                  abe_h_wf_list
 *   GET    /api/v1/workflows/{workflow_id}    abe_h_wf_get
 *   DELETE /api/v1/workflows/{workflow_id}    abe_h_wf_delete  (write)
 *
 * (execute and the execution routes live in abe_h_executions.c.)
 *
 * Create validates the body in WorkflowCreate schema order (name, description, steps[i].{name, agent_id,
 * parameters, depends_on, fail, type, description, duration_ms}, parallel_execution) with the shared
 * validator (common/abe_json.h), then checks the DAG (worker/abe_dag.h) for the SPEC §3.5 400s, then sends
 * one create_workflow operation whose steps carry every WorkflowStep field with defaults filled in. Writes
 * answer from the completion callback, after the commit (SPEC §2.4).
 *
 * Writes are parked with abe_submit_write (worker/abe_http.h), which also handles a request that dies
 * before its reply.
 */
#include <stdlib.h>
#include <string.h>

#include "abe_dag.h"
#include "abe_dbclient.h"
#include "abe_handlers.h"
#include "abe_json.h"
#include "abe_log.h"
#include "abe_util.h"
#include "abe_worker.h"

/* Limits in code points / items (SPEC §3.1, §3.5). */
#define WF_NAME_MAX 100
#define WF_DESCRIPTION_MAX 2000
#define WF_STEPS_MAX 500
#define STEP_NAME_MAX 100
#define STEP_AGENT_MAX 100
#define STEP_DEPS_MAX 500
#define STEP_DEP_MAX 100
#define STEP_TYPE_MAX 100
#define STEP_DESCRIPTION_MAX 2000
#define STEP_DURATION_MAX 600000
#define STEP_DURATION_DEFAULT 500
#define WF_LIMIT_DEFAULT 100
#define WF_LIMIT_MAX 500

#define MSG_NUL "Value error, NUL characters are not allowed"

/* ---- pending writes ------------------------------------------------------------------------------ */

typedef enum { WF_PENDING_CREATE, WF_PENDING_DELETE } wf_pending_kind_t;

/* What a parked write needs to build its answer; malloc'd, released with free. */
typedef struct wf_pending {
    wf_pending_kind_t kind;
    char id[ABE_UUID_LEN];
} wf_pending_t;

/* Completion of create_workflow / delete_workflow, after the commit: the SPEC §3.5 answer. */
static void on_wf_write_done(abe_req_t *r, int status, json_t *result, void *ctx)
{
    wf_pending_t *p = ctx;
    (void)result;
    if (status == ABE_IPC_OK && p->kind == WF_PENDING_CREATE) {
        json_t *body = json_pack("{s:s,s:s,s:s}", "id", p->id, "workflow_id", p->id, "status", "created");
        if (body)
            abe_send_json(r, 200, body);
        else
            abe_send_error(r, 500, "Internal Server Error");
    } else if (status == ABE_IPC_OK) {
        abe_send_no_content(r);
    } else if (status == ABE_IPC_ERR_NOT_FOUND && p->kind == WF_PENDING_DELETE) {
        abe_send_error(r, 404, "Workflow not found");
    } else if (status == ABE_IPC_ERR_CONFLICT && p->kind == WF_PENDING_DELETE) {
        abe_send_error(r, 409, "Workflow has a pending or running execution; cannot delete");
    } else {
        abe_send_db_status(r, status);
    }
}

/* Park the request until op (payload borrowed) commits. Always answers; returns 0, or -1 on OOM. */
static int submit_write(abe_req_t *r, abe_op_t op, wf_pending_kind_t kind, const char *id, json_t *payload)
{
    wf_pending_t *p = calloc(1, sizeof(*p));
    if (!p) return -1;
    p->kind = kind;
    snprintf(p->id, sizeof(p->id), "%s", id);
    return abe_submit_write(r, op, payload, on_wf_write_done, p, free);
}

/* ---- validation ---------------------------------------------------------------------------------- */

/* One depends_on entry at the current loc (…, "depends_on", j): a string of 1..100 code points, no NUL. */
static void validate_dep(abe_validator_t *v, json_t *item)
{
    if (!json_is_string(item)) {
        abe_v_issue(v, NULL, "Input should be a valid string", "string_type");
        return;
    }
    const char *s = json_string_value(item);
    size_t len = json_string_length(item);
    size_t cps = abe_utf8_cp_count(s, len);
    char msg[96];
    if (cps < 1) {
        abe_v_issue(v, NULL, "String should have at least 1 character", "string_too_short");
    } else if (cps > STEP_DEP_MAX) {
        snprintf(msg, sizeof(msg), "String should have at most %d characters", STEP_DEP_MAX);
        abe_v_issue(v, NULL, msg, "string_too_long");
    } else if (memchr(s, '\0', len)) {
        abe_v_issue(v, NULL, MSG_NUL, "value_error");
    }
}

/* One WorkflowStep at the current loc (…, "steps", i), fields in schema order (SPEC §3.1). */
static void validate_step(abe_validator_t *v, json_t *step)
{
    if (!json_is_object(step)) {
        abe_v_issue(v, NULL, "Input should be a valid dictionary", "dict_type");
        return;
    }
    json_t *params = NULL, *deps = NULL;
    int b;
    int64_t n;
    abe_v_str(v, step, "name", 1, 1, STEP_NAME_MAX, NULL, NULL);
    abe_v_str(v, step, "agent_id", 0, 0, STEP_AGENT_MAX, NULL, NULL);
    if (abe_v_object(v, step, "parameters", 0, &params) == 1) {
        abe_v_push_key(v, "parameters");
        abe_v_nul_scan(v, params);
        abe_v_pop(v);
    }
    if (abe_v_list(v, step, "depends_on", 0, STEP_DEPS_MAX, &deps) == 1) {
        abe_v_push_key(v, "depends_on");
        size_t j;
        json_t *item;
        json_array_foreach(deps, j, item)
        {
            abe_v_push_index(v, (long)j);
            validate_dep(v, item);
            abe_v_pop(v);
        }
        abe_v_pop(v);
    }
    abe_v_bool(v, step, "fail", 0, &b);
    abe_v_str(v, step, "type", 0, 0, STEP_TYPE_MAX, NULL, NULL);
    abe_v_str(v, step, "description", 0, 0, STEP_DESCRIPTION_MAX, NULL, NULL);
    abe_v_int(v, step, "duration_ms", 0, 0, STEP_DURATION_MAX, &n);
    abe_v_nul_keys(v, step); /* unknown fields are ignored, but no key may hold U+0000 (SPEC §2.1) */
}

/* A present, non-null JSON value of obj[key], or NULL. */
static json_t *opt(json_t *obj, const char *key)
{
    json_t *x = json_object_get(obj, key);
    return x && !json_is_null(x) ? x : NULL;
}

/*
 * The stored WorkflowStep for a validated step: every field, defaults filled in, in SPEC §3.1 order.
 * Returns a new reference or NULL on allocation failure.
 */
static json_t *stored_step(json_t *step)
{
    json_t *agent = opt(step, "agent_id"), *params = opt(step, "parameters"), *deps = opt(step, "depends_on");
    json_t *fail = opt(step, "fail"), *type = opt(step, "type"), *desc = opt(step, "description");
    json_t *dur = opt(step, "duration_ms");
    json_int_t duration = STEP_DURATION_DEFAULT;
    if (dur) duration = json_is_integer(dur) ? json_integer_value(dur) : (json_int_t)json_real_value(dur);
    /* Every value below is a new reference that json_pack's "o" steals (json_pack releases them on error). */
    return json_pack("{s:o,s:o,s:o,s:o,s:b,s:o,s:o,s:I}", "name", json_incref(json_object_get(step, "name")),
                     "agent_id", agent ? json_incref(agent) : json_null(), "parameters",
                     params ? json_incref(params) : json_object(), "depends_on",
                     deps ? json_incref(deps) : json_array(), "fail", fail ? json_is_true(fail) : 0, "type",
                     type ? json_incref(type) : json_null(), "description",
                     desc ? json_incref(desc) : json_null(), "duration_ms", duration);
}

/*
 * The SPEC §3.5 DAG checks over validated steps. Returns ABE_DAG_OK, an error code with detail filled, or
 * ABE_DAG_NOMEM.
 */
static int check_dag(json_t *steps, char *detail, size_t detail_len)
{
    size_t n = json_array_size(steps);
    abe_dag_step_t *ds = calloc(n ? n : 1, sizeof(*ds));
    size_t *order = calloc(n ? n : 1, sizeof(*order));
    int rc = ABE_DAG_NOMEM;
    if (!ds || !order) goto out;
    for (size_t i = 0; i < n; i++) {
        json_t *step = json_array_get(steps, i);
        ds[i].name = json_string_value(json_object_get(step, "name"));
        json_t *deps = opt(step, "depends_on");
        size_t nd = deps ? json_array_size(deps) : 0;
        if (nd) {
            ds[i].deps = calloc(nd, sizeof(char *));
            if (!ds[i].deps) goto out;
            for (size_t j = 0; j < nd; j++)
                ds[i].deps[j] = json_string_value(json_array_get(deps, j));
            ds[i].ndeps = nd;
        }
    }
    rc = abe_dag_order(ds, n, order, detail, detail_len);
out:
    if (ds)
        for (size_t i = 0; i < n; i++)
            free(ds[i].deps);
    free(ds);
    free(order);
    return rc;
}

/* ---- POST /api/v1/workflows ---------------------------------------------------------------------- */

int abe_h_wf_create(abe_req_t *r)
{
    json_t *body = abe_parse_json_body(r);
    if (!body) return 0; /* 415 / 422 already sent */

    abe_validator_t v;
    abe_v_init(&v, "body");
    const char *name = NULL, *description = "";
    size_t name_len = 0, description_len = 0;
    json_t *steps = NULL;
    int parallel = 0;
    abe_v_str(&v, body, "name", 1, 1, WF_NAME_MAX, &name, &name_len);
    abe_v_str(&v, body, "description", 0, 0, WF_DESCRIPTION_MAX, &description, &description_len);
    if (abe_v_list(&v, body, "steps", 1, WF_STEPS_MAX, &steps) == 1) {
        abe_v_push_key(&v, "steps");
        size_t i;
        json_t *step;
        json_array_foreach(steps, i, step)
        {
            abe_v_push_index(&v, (long)i);
            validate_step(&v, step);
            abe_v_pop(&v);
        }
        abe_v_pop(&v);
    }
    abe_v_bool(&v, body, "parallel_execution", 0, &parallel);
    abe_v_nul_keys(&v, body);
    if (!abe_v_ok(&v)) {
        abe_send_issues(r, &v);
        json_decref(body);
        return 0;
    }
    abe_v_free(&v);

    char detail[1024];
    int drc = check_dag(steps, detail, sizeof(detail));
    if (drc == ABE_DAG_NOMEM) {
        json_decref(body);
        return -1;
    }
    if (drc != ABE_DAG_OK) {
        abe_send_error(r, 400, detail);
        json_decref(body);
        return 0;
    }

    json_t *stored = json_array();
    size_t i;
    json_t *step;
    json_array_foreach(steps, i, step)
    {
        if (!stored || json_array_append_new(stored, stored_step(step)) != 0) {
            json_decref(stored);
            json_decref(body);
            return -1;
        }
    }
    char id[ABE_UUID_LEN], ts[ABE_TS_LEN];
    abe_uuid4(id);
    abe_now_iso(ts);
    json_t *payload = json_pack("{s:s,s:s%,s:s%,s:b,s:s,s:o}", "workflow_id", id, "name", name, name_len,
                                "description", description, description_len, "parallel_execution", parallel,
                                "created_at", ts, "steps", stored);
    json_decref(body);
    if (!payload) return -1;
    submit_write(r, ABE_OP_CREATE_WORKFLOW, WF_PENDING_CREATE, id, payload);
    json_decref(payload);
    return 0;
}

/* ---- GET /api/v1/workflows ----------------------------------------------------------------------- */

int abe_h_wf_list(abe_req_t *r)
{
    abe_validator_t v;
    abe_v_init(&v, "query");
    int64_t limit, offset;
    if (!abe_parse_pagination(r, &v, WF_LIMIT_DEFAULT, WF_LIMIT_MAX, &limit, &offset)) {
        abe_send_issues(r, &v);
        return 0;
    }
    abe_v_free(&v);
    abe_dbr_t *dbr = abe_req_reader(r);
    if (!dbr) return -1;
    json_t *items = NULL;
    int64_t total = 0;
    if (abe_dbr_list_workflows(dbr, limit, offset, &items, &total) != ABE_DBR_OK)
        return abe_req_read_failed(r, "list_workflows");
    return abe_send_page(r, "workflows", items, total, limit, offset, 1);
}

/* ---- GET /api/v1/workflows/{workflow_id} --------------------------------------------------------- */

int abe_h_wf_get(abe_req_t *r)
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
    abe_send_json(r, 200, wf);
    return 0;
}

/* ---- DELETE /api/v1/workflows/{workflow_id} ------------------------------------------------------ */

int abe_h_wf_delete(abe_req_t *r)
{
    const char *id = r->params[0];
    json_t *payload = json_pack("{s:s}", "workflow_id", id);
    if (!payload) return -1;
    submit_write(r, ABE_OP_DELETE_WORKFLOW, WF_PENDING_DELETE, "", payload);
    json_decref(payload);
    return 0;
}

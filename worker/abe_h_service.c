/*
 * abe_h_service.c — service routes (SPEC §3.2): identity, liveness, readiness and the API health/ping.
 * Readiness asks the persistence process for a probe (it answers after its BEGIN IMMEDIATE proved the DB
 * writable) with a 1 s deadline, and caches the outcome for at most 1 s per worker.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include "abe_dbclient.h"
#include "abe_handlers.h"
#include "abe_util.h"
#include "abe_worker.h"

#define ABE_READY_DEADLINE_MS 1000
#define ABE_READY_CACHE_NS 1000000000ull

int abe_h_root(abe_req_t *r)
{
    json_t *o =
        json_pack("{s:s,s:s,s:s,s:o,s:[ssssss]}", "message", "advanced-backend multi-agent platform API",
                  "version", ABE_VERSION, "status", "operational", "timestamp", abe_json_timestamp(),
                  "features", "Agent Registry", "Conversation History", "Workflow Automation",
                  "Execution Replay", "Prometheus Metrics", "SLO Alerting");
    if (!o) return -1;
    abe_send_json(r, 200, o);
    return 0;
}

int abe_h_health(abe_req_t *r)
{
    abe_send_json(r, 200, json_pack("{s:s}", "status", "ok"));
    return 0;
}

int abe_h_ping(abe_req_t *r)
{
    abe_send_json(r, 200, json_pack("{s:s}", "status", "ok"));
    return 0;
}

int abe_h_api_health(abe_req_t *r)
{
    long long uptime = (long long)time(NULL) - (long long)abe_worker.shm->started_unix;
    json_t *o = json_pack("{s:s,s:s,s:I,s:i}", "status", "ok", "version", ABE_VERSION, "uptime_seconds",
                          (json_int_t)(uptime < 0 ? 0 : uptime), "workers",
                          atomic_load(&abe_worker.shm->live_workers));
    abe_send_json(r, 200, o);
    return 0;
}

/* ---- readiness -------------------------------------------------------------------------------------- */

typedef struct ready_probe {
    abe_req_t *r; /* NULL once the request was answered by the deadline */
    h2o_timeout_entry_t deadline;
} ready_probe_t;

static h2o_timeout_t g_ready_timeout;
static int g_ready_timeout_init;
static uint64_t g_ready_checked_ns;
static const char *g_ready_reason; /* NULL = ready */

static void answer_ready(abe_req_t *r, const char *reason)
{
    if (!reason) {
        abe_send_json(r, 200, json_pack("{s:s}", "status", "ready"));
        return;
    }
    char detail[96];
    snprintf(detail, sizeof(detail), "Not ready: %s", reason);
    abe_send_unavailable(r, detail);
}

static void on_probe_deadline(h2o_timeout_entry_t *entry)
{
    ready_probe_t *p = H2O_STRUCT_FROM_MEMBER(ready_probe_t, deadline, entry);
    if (p->r) {
        answer_ready(p->r, "persistence unavailable");
        p->r = NULL;
    }
}

static void on_probe_reply(void *arg, int status, json_t *result)
{
    ready_probe_t *p = arg;
    const char *reason = status == ABE_IPC_OK       ? NULL
                         : status == ABE_IPC_ERR_DB ? "database not writable"
                                                    : "persistence unavailable";
    g_ready_reason = reason;
    g_ready_checked_ns = abe_mono_ns();
    if (h2o_timeout_is_linked(&p->deadline)) h2o_timeout_unlink(&p->deadline);
    if (p->r) answer_ready(p->r, reason);
    free(p);
}

int abe_h_health_ready(abe_req_t *r)
{
    if (atomic_load(&abe_worker.shm->shutting_down) || abe_worker.draining) {
        answer_ready(r, "shutting down");
        return 0;
    }
    uint64_t now = abe_mono_ns();
    if (g_ready_checked_ns && now - g_ready_checked_ns < ABE_READY_CACHE_NS) {
        answer_ready(r, g_ready_reason);
        return 0;
    }
    if (!g_ready_timeout_init) {
        h2o_timeout_init(abe_worker.loop, &g_ready_timeout, ABE_READY_DEADLINE_MS);
        g_ready_timeout_init = 1;
    }
    ready_probe_t *p = calloc(1, sizeof(*p));
    if (!p) return -1;
    p->r = r;
    p->deadline.cb = on_probe_deadline;
    json_t *payload = json_object();
    int rc = abe_dbc_submit(ABE_OP_PROBE, ABE_IPC_F_RUNNER, payload, on_probe_reply, p);
    json_decref(payload);
    if (rc != 0) {
        free(p);
        g_ready_reason = "persistence unavailable";
        g_ready_checked_ns = now;
        answer_ready(r, g_ready_reason);
        return 0;
    }
    h2o_timeout_link(abe_worker.loop, &g_ready_timeout, &p->deadline);
    return 0;
}

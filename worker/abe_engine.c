/*
 * abe_engine.c — the workflow execution engine of one worker (worker/abe_engine.h, SPEC §4.3–§4.5).
 *
 * Each execution this worker drives is a "run": its plan (the pure state machine in abe_exec_plan.c), its
 * fencing epoch, and one timer per step. Step timers have arbitrary durations, which h2o 2.2.5's fixed-
 * duration timeout queues cannot express, so the engine keeps every deadline in one min-heap
 * (abe_dq_t) and arms ONE timerfd (CLOCK_MONOTONIC, absolute) to the earliest deadline; the timerfd is an h2o
 * socket with DONT_READ, so the loop just tells us when it fired. Nothing ever sleeps or blocks.
 *
 * Every transition is sent to the persistence process with abe_dbc_submit (ABE_IPC_F_RUNNER) without
 * waiting: start_execution, one step_transition per event (the rows the event changed, e.g. a success and
 * the steps it made ready and started), and finish_execution with the retention setting. Replies are only
 * checked: ABE_IPC_ERR_STALE means another runner owns the execution now (SPEC §4.5 fencing) and this one
 * stops; any other failure also stops the run, and because the DB still names this worker as owner,
 * abe_engine_poll_owned resumes it from the committed rows a second later (at-least-once).
 *
 * Lifetime: a run is "live" while driven (in g.live list). When it stops (finished, fenced, failed, handed
 * back) it leaves that list; if operations are still in flight it waits in g.zombies until their callbacks
 * have run, so a callback never sees freed memory and poll_owned never resumes an execution whose writes are
 * still on their way. Entry points hold a reference while they work on a run.
 */
#include "abe_engine.h"

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <sys/timerfd.h>
#include <unistd.h>

#include "abe_dbclient.h"
#include "abe_exec_plan.h"
#include "abe_hooks.h"
#include "abe_log.h"
#include "abe_util.h"
#include "abe_worker.h"

struct run;

typedef struct run_timer {
    abe_dq_entry_t e; /* first member: the queue hands back &e */
    struct run *run;
    size_t step;
    uint64_t start_ns; /* monotonic start of the current attempt */
} run_timer_t;

typedef struct run {
    struct run *prev, *next; /* in g.live or g.zombies */
    char *execution_id;
    char *workflow_id;
    int64_t epoch;
    abe_plan_t *plan; /* NULL for an execution that could not be resumed */
    run_timer_t *timers;
    unsigned refs; /* in-flight operations + entry points working on it */
    int live;
    int zombie;
    abe_engine_created_fn created; /* abe_engine_create only, until the create reply */
    void *created_arg;
} run_t;

static struct {
    h2o_loop_t *loop;
    int tfd;
    h2o_socket_t *sock;
    abe_dq_t q;
    int armed;
    uint64_t armed_ns;
    run_t *live, *zombies;
    size_t nlive;
    int leaving;
    int poll_needed;          /* a run stopped on a transient error: the DB still says we own it */
    uint64_t seen_generation; /* shm->adopt_generation at the last poll */
    int polled_once;
    void (*handback_done)(void *);
    void *handback_arg;
} g = {.tfd = -1};

/* ---- lists and lifetime ------------------------------------------------------------------------- */

static void list_insert(run_t **head, run_t *r)
{
    r->prev = NULL;
    r->next = *head;
    if (*head) (*head)->prev = r;
    *head = r;
}

static void list_remove(run_t **head, run_t *r)
{
    if (r->prev)
        r->prev->next = r->next;
    else
        *head = r->next;
    if (r->next) r->next->prev = r->prev;
    r->prev = r->next = NULL;
}

static void run_free(run_t *r)
{
    abe_plan_free(r->plan);
    free(r->timers);
    free(r->execution_id);
    free(r->workflow_id);
    free(r);
}

/* Create a live run (takes plan, may be NULL). Returns NULL on allocation failure (plan freed). */
static run_t *run_new(const char *execution_id, const char *workflow_id, int64_t epoch, abe_plan_t *plan)
{
    run_t *r = calloc(1, sizeof(*r));
    if (r) {
        r->execution_id = strdup(execution_id);
        r->workflow_id = strdup(workflow_id ? workflow_id : "");
        r->timers = calloc(plan && plan->n ? plan->n : 1, sizeof(*r->timers));
    }
    if (!r || !r->execution_id || !r->workflow_id || !r->timers) {
        if (r) {
            free(r->execution_id);
            free(r->workflow_id);
            free(r->timers);
            free(r);
        }
        abe_plan_free(plan);
        return NULL;
    }
    r->plan = plan;
    r->epoch = epoch;
    for (size_t i = 0; plan && i < plan->n; i++) {
        abe_dq_entry_init(&r->timers[i].e);
        r->timers[i].run = r;
        r->timers[i].step = i;
    }
    r->live = 1;
    list_insert(&g.live, r);
    g.nlive++;
    return r;
}

static void arm(void);

/* Stop driving r: cancel its timers and leave the live list. Idempotent. Never frees (see run_release). */
static void run_stop(run_t *r)
{
    if (!r->live) return;
    r->live = 0;
    for (size_t i = 0; r->plan && i < r->plan->n; i++)
        abe_dq_remove(&g.q, &r->timers[i].e);
    list_remove(&g.live, r);
    g.nlive--;
    r->zombie = 1;
    list_insert(&g.zombies, r);
    arm();
}

/* Drop one reference; a stopped run with none left is freed. */
static void run_release(run_t *r)
{
    if (r->refs > 0) r->refs--;
    if (r->refs == 0 && !r->live) {
        if (r->zombie) list_remove(&g.zombies, r);
        run_free(r);
    }
}

/* ---- the timerfd ---------------------------------------------------------------------------------- */

/* Arm the timerfd to the earliest deadline (an already-past one fires at once), or disarm it. */
static void arm(void)
{
    if (g.tfd < 0) return;
    abe_dq_entry_t *top = abe_dq_peek(&g.q);
    struct itimerspec its;
    memset(&its, 0, sizeof(its));
    if (!top) {
        if (!g.armed) return;
        g.armed = 0;
    } else {
        if (g.armed && g.armed_ns == top->deadline_ns) return;
        uint64_t at = top->deadline_ns ? top->deadline_ns : 1; /* it_value 0 would disarm */
        its.it_value.tv_sec = (time_t)(at / 1000000000ull);
        its.it_value.tv_nsec = (long)(at % 1000000000ull);
        g.armed = 1;
        g.armed_ns = top->deadline_ns;
    }
    if (timerfd_settime(g.tfd, TFD_TIMER_ABSTIME, &its, NULL) != 0)
        abe_log_error("engine: timerfd_settime failed: %s", strerror(errno));
}

static void on_step_due(run_timer_t *t);

static void on_timerfd(h2o_socket_t *sock, const char *err)
{
    (void)sock;
    if (err) {
        abe_log_error("engine: timer socket error: %s", err);
        return;
    }
    uint64_t expirations;
    while (read(g.tfd, &expirations, sizeof(expirations)) > 0) {
    }
    g.armed = 0;
    uint64_t now = abe_mono_ns();
    uint64_t limit = g.q.next_seq; /* timers queued by these callbacks wait for the next iteration */
    abe_dq_entry_t *e;
    while ((e = abe_dq_pop_due(&g.q, now, limit)))
        on_step_due((run_timer_t *)e);
    arm();
}

/* ---- persistence ---------------------------------------------------------------------------------- */

static void on_op_done(void *arg, int status, json_t *result)
{
    run_t *r = arg;
    if (status != ABE_IPC_OK && r->live) {
        json_t *m = result ? json_object_get(result, "message") : NULL;
        if (status == ABE_IPC_ERR_STALE)
            abe_log_info("engine: execution %s was taken over by another runner (stale epoch %lld); stopping",
                         r->execution_id, (long long)r->epoch);
        else {
            abe_log_warn("engine: persisting execution %s failed (%s%s%s); it resumes from the DB",
                         r->execution_id, abe_ipc_status_name(status), json_is_string(m) ? ": " : "",
                         json_is_string(m) ? json_string_value(m) : "");
            g.poll_needed = 1;
        }
        run_stop(r);
    }
    run_release(r);
}

/* Submit a runner operation for r (payload borrowed). On failure the run stops. Returns 0 or -1. */
static int run_submit(run_t *r, abe_op_t op, json_t *payload)
{
    if (!payload) {
        abe_log_error("engine: out of memory building %s for %s", abe_op_name(op), r->execution_id);
        run_stop(r);
        return -1;
    }
    int rc = abe_dbc_submit(op, ABE_IPC_F_RUNNER, payload, on_op_done, r);
    json_decref(payload);
    if (rc != 0) {
        abe_log_warn("engine: persistence unreachable; execution %s resumes later", r->execution_id);
        g.poll_needed = 1;
        run_stop(r);
        return -1;
    }
    r->refs++;
    return 0;
}

static int send_start(run_t *r, const char *ts)
{
    return run_submit(r, ABE_OP_START_EXECUTION,
                      json_pack("{s:s,s:I,s:I,s:s}", "execution_id", r->execution_id, "owner_pid",
                                (json_int_t)getpid(), "run_epoch", (json_int_t)r->epoch, "started_at", ts));
}

static int send_finish(run_t *r, const char *status, const char *error, const char *ts)
{
    int64_t retention = abe_worker.cfg ? abe_worker.cfg->workflow_execution_retention : 0;
    return run_submit(r, ABE_OP_FINISH_EXECUTION,
                      json_pack("{s:s,s:I,s:I,s:s,s:s,s:s?,s:I}", "execution_id", r->execution_id,
                                "owner_pid", (json_int_t)getpid(), "run_epoch", (json_int_t)r->epoch,
                                "status", status, "completed_at", ts, "error", error, "retention",
                                (json_int_t)retention));
}

/* ---- scheduling ----------------------------------------------------------------------------------- */

/*
 * After an event: start what can start, persist every changed row in one step_transition, and finish the
 * execution when nothing is left. ts is the event's timestamp.
 */
static void run_advance(run_t *r, const char *ts)
{
    abe_plan_t *p = r->plan;
    size_t cap = p->n ? p->n : 1;
    size_t *next = malloc(cap * sizeof(*next));
    if (!next) {
        abe_log_error("engine: out of memory scheduling %s", r->execution_id);
        run_stop(r);
        return;
    }
    size_t k = abe_plan_next(p, next, cap);
    uint64_t now = abe_mono_ns();
    for (size_t j = 0; j < k; j++) {
        size_t i = next[j];
        if (abe_plan_start(p, i, ts) != 0) continue;
        r->timers[i].start_ns = now;
        if (abe_dq_push(&g.q, &r->timers[i].e, now + (uint64_t)p->steps[i].duration_ms * 1000000ull) != 0) {
            free(next);
            abe_log_error("engine: out of memory queueing a step timer for %s", r->execution_id);
            run_stop(r);
            return;
        }
    }
    free(next);
    arm();
    json_t *rows = abe_plan_take_changes(p);
    if (!rows) {
        run_submit(r, ABE_OP_STEP_TRANSITION, NULL);
        return;
    }
    if (json_array_size(rows) > 0) {
        json_t *payload = json_pack("{s:s,s:I,s:I,s:s,s:o}", "execution_id", r->execution_id, "owner_pid",
                                    (json_int_t)getpid(), "run_epoch", (json_int_t)r->epoch, "updated_at", ts,
                                    "steps", rows);
        if (run_submit(r, ABE_OP_STEP_TRANSITION, payload) != 0) return;
    } else {
        json_decref(rows);
    }
    const char *status;
    char *error = NULL;
    if (abe_plan_done(p, &status, &error)) {
        abe_hook_execution_finished(status);
        if (send_finish(r, status, error, ts) == 0) {
            abe_log_debug("engine: execution %s finished: %s", r->execution_id, status);
            run_stop(r);
        }
        free(error);
    }
}

static void on_step_due(run_timer_t *t)
{
    run_t *r = t->run;
    if (!r->live) return;
    r->refs++;
    char ts[ABE_TS_LEN];
    abe_now_iso(ts);
    uint64_t now = abe_mono_ns();
    double ms = (double)(now - t->start_ns) / 1e6;
    int rc = abe_plan_complete(r->plan, t->step, ts, ms);
    if (rc >= 0) {
        abe_hook_step_finished(r->workflow_id, r->plan->steps[t->step].name, ms / 1000.0, rc == 0);
        run_advance(r, ts);
    }
    run_release(r);
}

/* Begin driving r: start_execution when it is still pending, repair rows, then schedule. */
static void run_begin(run_t *r, int send_start_op)
{
    r->refs++;
    char ts[ABE_TS_LEN];
    abe_now_iso(ts);
    if (!send_start_op || send_start(r, ts) == 0) {
        abe_plan_normalize(r->plan, ts);
        run_advance(r, ts);
    }
    run_release(r);
}

/* ---- public API ---------------------------------------------------------------------------------- */

int abe_engine_init(h2o_loop_t *loop)
{
    g.loop = loop;
    g.tfd = timerfd_create(CLOCK_MONOTONIC, TFD_NONBLOCK | TFD_CLOEXEC);
    if (g.tfd < 0) {
        abe_log_error("engine: timerfd_create failed: %s", strerror(errno));
        return -1;
    }
    g.sock = h2o_evloop_socket_create(loop, g.tfd, H2O_SOCKET_FLAG_DONT_READ);
    if (!g.sock) {
        close(g.tfd);
        g.tfd = -1;
        return -1;
    }
    h2o_socket_read_start(g.sock, on_timerfd);
    return 0;
}

static void on_created(void *arg, int status, json_t *result)
{
    run_t *r = arg;
    abe_engine_created_fn cb = r->created;
    r->created = NULL;
    if (cb) cb(r->created_arg, status, result);
    if (status == ABE_IPC_OK && r->live && !g.leaving) {
        run_begin(r, 1);
    } else {
        if (status == ABE_IPC_ERR_UNAVAILABLE) {
            /* No answer (deadline or lost connection): the create may still commit, or may have committed
             * just before the persistence process died. A hand-back queued behind it on the same connection
             * unowns it if it commits later (the supervisor then adopts it), and the next poll picks it up if
             * it is already there. Without both it could stay `pending` and owned by a live worker forever.
             */
            g.poll_needed = 1;
        }
        if ((status == ABE_IPC_OK && g.leaving) || status == ABE_IPC_ERR_UNAVAILABLE) {
            /* Committed while this worker leaves, or possibly committed: hand it back so another worker
             * adopts it. */
            json_t *payload =
                json_pack("{s:I,s:s}", "owner_pid", (json_int_t)getpid(), "execution_id", r->execution_id);
            if (payload &&
                abe_dbc_submit(ABE_OP_HANDBACK_EXECUTION, ABE_IPC_F_RUNNER, payload, on_op_done, r) == 0)
                r->refs++;
            json_decref(payload);
        }
        run_stop(r);
    }
    run_release(r);
}

int abe_engine_create(json_t *payload, struct abe_plan *plan, abe_engine_created_fn created, void *arg)
{
    const char *id = json_string_value(json_object_get(payload, "execution_id"));
    const char *wf = json_string_value(json_object_get(payload, "workflow_id"));
    json_t *jepoch = json_object_get(payload, "run_epoch");
    if (!id || !json_is_integer(jepoch)) {
        abe_plan_free(plan);
        return -1;
    }
    run_t *r = run_new(id, wf, (int64_t)json_integer_value(jepoch), plan);
    if (!r) return -1;
    r->created = created;
    r->created_arg = arg;
    if (abe_dbc_submit(ABE_OP_CREATE_EXECUTION, 0, payload, on_created, r) != 0) {
        r->created = NULL;
        run_stop(r);
        run_release(r);
        return -1;
    }
    r->refs++;
    return 0;
}

/* An owned execution whose snapshot or rows cannot be used: finish it as failed (SPEC §4.2). */
static void fail_unresumable(const char *id, const char *wf, int64_t epoch, int pending, const char *why)
{
    abe_log_error("engine: execution %s could not be resumed: %s", id, why);
    run_t *r = run_new(id, wf, epoch, NULL);
    if (!r) return;
    r->refs++;
    char ts[ABE_TS_LEN];
    abe_now_iso(ts);
    if (!pending || send_start(r, ts) == 0) {
        abe_hook_execution_finished("failed");
        if (send_finish(r, "failed", ABE_PLAN_RESUME_ERROR, ts) == 0) run_stop(r);
    }
    run_release(r);
}

static int cmp_id(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* Sorted ids of every run this worker is driving or winding down (malloc'd; *n set). NULL when empty. */
static const char **driven_ids(size_t *n)
{
    size_t cap = 0;
    for (run_t *r = g.live; r; r = r->next)
        cap++;
    for (run_t *r = g.zombies; r; r = r->next)
        cap++;
    *n = 0;
    if (cap == 0) return NULL;
    const char **ids = malloc(cap * sizeof(*ids));
    if (!ids) return NULL;
    for (run_t *r = g.live; r; r = r->next)
        ids[(*n)++] = r->execution_id;
    for (run_t *r = g.zombies; r; r = r->next)
        ids[(*n)++] = r->execution_id;
    qsort(ids, *n, sizeof(*ids), cmp_id);
    return ids;
}

void abe_engine_poll_owned(void)
{
    if (g.leaving || !abe_worker.cfg) return;
    /* Only look when something can have changed: the first call, an adoption by the supervisor (it bumps
     * the shared generation), or a run this worker dropped on a transient persistence error. Reading
     * every owned execution each second would cost O(in-flight) on the loop. */
    uint64_t gen = abe_worker.shm ? atomic_load(&abe_worker.shm->adopt_generation) : 0;
    if (g.polled_once && g.seen_generation == gen && !g.poll_needed) return;
    abe_dbr_t *dbr = abe_worker_dbr();
    if (!dbr) return;
    json_t *list = NULL;
    int rc = abe_dbr_owned_executions(dbr, (long)getpid(), &list);
    if (rc != ABE_DBR_OK) {
        abe_log_warn("engine: reading owned executions failed: %s", abe_dbr_errmsg(dbr));
        json_decref(list);
        return;
    }
    g.seen_generation = gen;
    g.polled_once = 1;
    g.poll_needed = 0;
    size_t ndriven = 0;
    const char **driven = driven_ids(&ndriven);
    size_t k;
    json_t *item;
    json_array_foreach(list, k, item)
    {
        const char *id = json_string_value(json_object_get(item, "execution_id"));
        if (!id || (driven && bsearch(&id, driven, ndriven, sizeof(*driven), cmp_id))) continue;
        const char *wf = json_string_value(json_object_get(item, "workflow_id"));
        const char *status = json_string_value(json_object_get(item, "status"));
        json_t *jepoch = json_object_get(item, "run_epoch");
        int64_t epoch = json_is_integer(jepoch) ? (int64_t)json_integer_value(jepoch) : 0;
        int pending = status && strcmp(status, "pending") == 0;
        abe_plan_t *plan = NULL;
        char err[256] = "";
        if (abe_plan_build(json_object_get(item, "input_snapshot"), abe_worker.cfg->max_parallel_steps, &plan,
                           err, sizeof(err)) != ABE_PLAN_OK) {
            fail_unresumable(id, wf, epoch, pending, err);
            continue;
        }
        if (abe_plan_load_rows(plan, json_object_get(item, "steps"), err, sizeof(err)) != ABE_PLAN_OK) {
            abe_plan_free(plan);
            fail_unresumable(id, wf, epoch, pending, err);
            continue;
        }
        run_t *r = run_new(id, wf, epoch, plan);
        if (!r) {
            abe_log_error("engine: out of memory resuming %s", id);
            continue;
        }
        abe_log_info("engine: resuming execution %s (epoch %lld)", id, (long long)epoch);
        run_begin(r, pending);
    }
    free(driven);
    json_decref(list);
}

static void on_handback(void *arg, int status, json_t *result)
{
    (void)arg;
    json_t *count = result ? json_object_get(result, "count") : NULL;
    if (status == ABE_IPC_OK)
        abe_log_info("engine: handed back %lld executions",
                     json_is_integer(count) ? (long long)json_integer_value(count) : 0LL);
    else
        abe_log_warn("engine: hand-back failed (%s); the supervisor reclaims them",
                     abe_ipc_status_name(status));
    void (*done)(void *) = g.handback_done;
    g.handback_done = NULL;
    if (done) done(g.handback_arg);
}

size_t abe_engine_handback(void (*done)(void *arg), void *arg)
{
    size_t n = g.nlive;
    g.leaving = 1;
    while (g.live) {
        run_t *r = g.live;
        r->refs++;
        run_stop(r);
        run_release(r); /* freed now unless operations are still in flight */
    }
    arm();
    g.handback_done = done;
    g.handback_arg = arg;
    json_t *payload = json_pack("{s:I}", "owner_pid", (json_int_t)getpid());
    int rc = payload ? abe_dbc_submit(ABE_OP_HANDBACK_EXECUTION, ABE_IPC_F_RUNNER, payload, on_handback, NULL)
                     : -1;
    json_decref(payload);
    if (rc != 0) {
        abe_log_warn("engine: hand-back could not be sent; the supervisor reclaims the executions");
        g.handback_done = NULL;
        if (done) done(arg);
    }
    return n;
}


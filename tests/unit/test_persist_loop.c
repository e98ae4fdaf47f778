/*
 * test_persist_loop.c — end-to-end tests (Criterion suite `persist`) of the persistence process loop
 * (daemon/abe_persist.c, SPEC §9) and of the worker's non-blocking client (worker/abe_dbclient.c), without
 * the rest of the daemon.
 *
 * Each test forks a child that runs abe_persist_main on a temporary database and a real AF_UNIX listening
 * socket, waits for its 'R' on the ready pipe, then talks to it: with the blocking helper
 * abe_ipc_request_sync, with hand-written frames (garbage, bad JSON, pipelined bursts, half-close), and
 * with abe_dbc_submit on an h2o evloop. The shared region comes from abe_shm_create, so the parent reads
 * the child's counters and can fake a full queue (SPEC §9.3). Stops are checked through the exit status:
 * 0 after SIGTERM with every accepted request answered, 1 when the database cannot be opened.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <h2o.h>
#include <jansson.h>
#include <poll.h>
#include <signal.h>
#include <sqlite3.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

#include "abe_config.h"
#include "abe_dbclient.h"
#include "abe_ipc.h"
#include "abe_log.h"
#include "abe_persist.h"
#include "abe_shm.h"

static char g_dir[64];
static char g_db[128];
static char g_sock[100];
static abe_config_t g_cfg;
static abe_shm_t *g_shm;
static pid_t g_child = -1;
static int g_listen = -1;

static void setup(void)
{
    signal(SIGPIPE, SIG_IGN);
    snprintf(g_dir, sizeof(g_dir), "/tmp/abe-persist-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
    snprintf(g_db, sizeof(g_db), "%s/data/platform.db", g_dir);
    snprintf(g_sock, sizeof(g_sock), "%s/persist.sock", g_dir);
    memset(&g_cfg, 0, sizeof(g_cfg));
    snprintf(g_cfg.db_path, sizeof(g_cfg.db_path), "%s", g_db);
    g_cfg.db_batch_size = 256;
    g_cfg.db_max_queue_size = 5000;
    g_cfg.log_level = ABE_LOG_WARNING;
    g_shm = abe_shm_create();
    cr_assert_not_null(g_shm);
}

static void teardown(void)
{
    if (g_child > 0) {
        kill(g_child, SIGKILL);
        waitpid(g_child, NULL, 0);
        g_child = -1;
    }
    if (g_listen >= 0) close(g_listen);
    g_listen = -1;
    char cmd[256];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(persist, .init = setup, .fini = teardown, .timeout = 60);

static int make_listener(int nonblocking)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    snprintf(sun.sun_path, sizeof(sun.sun_path), "%s", g_sock);
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sun, sizeof(sun)), 0, "bind: %s", strerror(errno));
    cr_assert_eq(listen(fd, 128), 0);
    return fd;
}

/*
 * Fork the persistence process. Returns the byte read from the ready pipe ('R'), or -1 on EOF. The
 * parent keeps no copy of the listening socket, so once the child is gone connects are refused.
 */
static int start_child(int nonblocking_listener)
{
    int pfd[2];
    cr_assert_eq(pipe(pfd), 0);
    g_listen = make_listener(nonblocking_listener);
    g_child = fork();
    cr_assert_geq(g_child, 0);
    if (g_child == 0) {
        close(pfd[0]);
        abe_log_init(ABE_LOG_WARNING, 0, NULL, "persistence");
        _exit(abe_persist_main(&g_cfg, g_listen, pfd[1], g_shm));
    }
    close(pfd[1]);
    close(g_listen);
    g_listen = -1;
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 20000), 1, "no readiness byte within 20 s");
    char c = 0;
    ssize_t r = read(pfd[0], &c, 1);
    close(pfd[0]);
    return r == 1 ? c : -1;
}

static int stop_child(int sig)
{
    int ws = 0;
    kill(g_child, sig);
    cr_assert_eq(waitpid(g_child, &ws, 0), g_child);
    g_child = -1;
    return ws;
}

static json_t *workflow_payload(const char *id, const char *description)
{
    return json_pack("{s:s, s:s, s:s, s:b, s:s, s:[{s:s, s:n, s:{}, s:[], s:b, s:n, s:n, s:i}]}",
                     "workflow_id", id, "name", "w", "description", description, "parallel_execution", 0,
                     "created_at", "2026-11-22T17:48:12.567454Z", "steps", "name", "s1", "agent_id",
                     "parameters", "depends_on", "fail", 0, "type", "description", "duration_ms", 500);
}

static long long count_workflows(void)
{
    sqlite3 *db;
    cr_assert_eq(sqlite3_open_v2(g_db, &db, SQLITE_OPEN_READONLY, NULL), SQLITE_OK);
    sqlite3_stmt *s;
    cr_assert_eq(sqlite3_prepare_v2(db, "SELECT count(*) FROM workflows", -1, &s, NULL), SQLITE_OK);
    cr_assert_eq(sqlite3_step(s), SQLITE_ROW);
    long long n = sqlite3_column_int64(s, 0);
    sqlite3_finalize(s);
    sqlite3_close(db);
    return n;
}

static int sync_op(int fd, abe_op_t op, uint16_t flags, json_t *payload, json_t **res)
{
    return abe_ipc_request_sync(fd, op, flags, payload, 10000, res);
}

/* Write a raw frame with the given payload bytes. */
static void send_raw(int fd, uint32_t id, abe_op_t op, uint16_t flags, const char *payload, size_t len)
{
    uint8_t h[ABE_IPC_HEADER_SIZE];
    abe_ipc_encode_header(h, id, (uint8_t)op, 0, flags, (uint32_t)len);
    cr_assert_eq(write(fd, h, sizeof(h)), (ssize_t)sizeof(h));
    if (len > 0) cr_assert_eq(write(fd, payload, len), (ssize_t)len);
}

/* Read one reply frame (blocking, 10 s cap). Returns 0, or -1 on EOF. */
static int read_frame(int fd, abe_ipc_frame_t *fr, char **storage)
{
    static char buf[1 << 16];
    static size_t len;
    static int last_fd = -1;
    if (fd != last_fd) {
        len = 0;
        last_fd = fd;
    }
    for (;;) {
        size_t used;
        abe_ipc_decode_result_t dr = abe_ipc_decode(buf, len, sizeof(buf), fr, &used);
        if (dr == ABE_IPC_DECODE_OK) {
            *storage = malloc(used);
            memcpy(*storage, buf, used);
            fr->payload = *storage + ABE_IPC_HEADER_SIZE;
            memmove(buf, buf + used, len - used);
            len -= used;
            return 0;
        }
        cr_assert_eq(dr, ABE_IPC_DECODE_NEED_MORE);
        struct pollfd p = {.fd = fd, .events = POLLIN};
        cr_assert_eq(poll(&p, 1, 10000), 1, "reply timeout");
        ssize_t r = read(fd, buf + len, sizeof(buf) - len);
        if (r == 0) return -1;
        cr_assert_gt(r, 0, "read: %s", strerror(errno));
        len += (size_t)r;
    }
}

static const char *message_of(json_t *res)
{
    return json_string_value(json_object_get(res, "message"));
}

Test(persist, probe_create_and_errors_then_sigterm_exits_0)
{
    cr_assert_eq(start_child(1), 'R');
    int fd = abe_ipc_connect(g_sock, 0);
    cr_assert_geq(fd, 0);

    json_t *res = NULL;
    cr_assert_eq(sync_op(fd, ABE_OP_PROBE, 0, NULL, &res), ABE_IPC_OK);
    cr_assert(json_is_object(res) && json_object_size(res) == 0);
    json_decref(res);

    json_t *wf = workflow_payload("wf-a", "first");
    cr_assert_eq(sync_op(fd, ABE_OP_CREATE_WORKFLOW, 0, wf, &res), ABE_IPC_OK);
    json_decref(res);
    /* The reply means committed: an independent reader sees the row now. */
    cr_assert_eq(count_workflows(), 1);
    /* Same id again: the store's constraint fails; the error is that op's alone. */
    cr_assert_eq(sync_op(fd, ABE_OP_CREATE_WORKFLOW, 0, wf, &res), ABE_IPC_ERR_DB);
    cr_assert_not_null(message_of(res));
    json_decref(res);
    json_decref(wf);

    json_t *del = json_pack("{s:s}", "workflow_id", "no-such-workflow");
    cr_assert_eq(sync_op(fd, ABE_OP_DELETE_WORKFLOW, 0, del, &res), ABE_IPC_ERR_NOT_FOUND);
    cr_assert_str_eq(message_of(res), "Workflow not found");
    json_decref(res);
    json_decref(del);

    cr_assert_eq(atomic_load(&g_shm->db_ops[ABE_OP_PROBE][0]), 1);
    cr_assert_eq(atomic_load(&g_shm->db_ops[ABE_OP_CREATE_WORKFLOW][0]), 1);
    cr_assert_eq(atomic_load(&g_shm->db_ops[ABE_OP_CREATE_WORKFLOW][1]), 1);
    cr_assert_eq(atomic_load(&g_shm->db_ops[ABE_OP_DELETE_WORKFLOW][1]), 1);
    cr_assert_eq(atomic_load(&g_shm->db_batches), 4);
    cr_assert_eq(atomic_load(&g_shm->db_batch_hist[0]), 4, "four single-op batches");
    cr_assert_eq(atomic_load(&g_shm->db_queue_depth), 0);

    /* SIGINT is for the supervisor only: the persistence process keeps serving. */
    kill(g_child, SIGINT);
    usleep(100 * 1000);
    cr_assert_eq(sync_op(fd, ABE_OP_PROBE, 0, NULL, &res), ABE_IPC_OK);
    json_decref(res);

    int ws = stop_child(SIGTERM);
    cr_assert(WIFEXITED(ws), "child died by signal %d", WIFSIGNALED(ws) ? WTERMSIG(ws) : 0);
    cr_assert_eq(WEXITSTATUS(ws), 0);
    /* Clean stop: TRUNCATE checkpoint leaves an empty (or no) WAL. */
    char wal[160];
    snprintf(wal, sizeof(wal), "%s-wal", g_db);
    struct stat sb;
    cr_assert(stat(wal, &sb) != 0 || sb.st_size == 0, "WAL not truncated: %lld bytes", (long long)sb.st_size);
    cr_assert_eq(count_workflows(), 1);
    close(fd);
}

Test(persist, bad_payloads_answered_and_garbage_closes_only_that_connection)
{
    cr_assert_eq(start_child(0), 'R'); /* a blocking listener works too */
    int fd = abe_ipc_connect(g_sock, 0);
    cr_assert_geq(fd, 0);
    abe_ipc_frame_t fr;
    char *st;

    send_raw(fd, 7, ABE_OP_CREATE_WORKFLOW, 0, "{not json", 9);
    send_raw(fd, 8, ABE_OP_CREATE_WORKFLOW, 0, "[1,2]", 5);
    send_raw(fd, 9, ABE_OP_PROBE, 0, "{}", 2);
    cr_assert_eq(read_frame(fd, &fr, &st), 0);
    cr_assert_eq(fr.id, 7);
    cr_assert_eq(fr.status, ABE_IPC_ERR_BAD_REQUEST);
    cr_assert_eq(fr.op, ABE_OP_CREATE_WORKFLOW);
    free(st);
    cr_assert_eq(read_frame(fd, &fr, &st), 0);
    cr_assert_eq(fr.id, 8);
    cr_assert_eq(fr.status, ABE_IPC_ERR_BAD_REQUEST);
    free(st);
    cr_assert_eq(read_frame(fd, &fr, &st), 0);
    cr_assert_eq(fr.id, 9);
    cr_assert_eq(fr.status, ABE_IPC_OK);
    free(st);
    cr_assert_eq(atomic_load(&g_shm->db_ops[ABE_OP_CREATE_WORKFLOW][1]), 2);

    /* Garbage on a second connection: that one is closed, the first keeps working. */
    int bad = abe_ipc_connect(g_sock, 0);
    cr_assert_geq(bad, 0);
    cr_assert_eq(write(bad, "GET / HTTP/1.1\r\n\r\n", 18), 18);
    char c;
    struct pollfd p = {.fd = bad, .events = POLLIN};
    cr_assert_eq(poll(&p, 1, 5000), 1);
    cr_assert_eq(read(bad, &c, 1), 0, "garbage connection must be closed");
    close(bad);

    /* An oversized length announcement is refused from the header alone. */
    bad = abe_ipc_connect(g_sock, 0);
    uint8_t h[ABE_IPC_HEADER_SIZE];
    abe_ipc_encode_header(h, 1, ABE_OP_SYNC_AGENTS, 0, 0, ABE_IPC_MAX_PAYLOAD + 1);
    cr_assert_eq(write(bad, h, sizeof(h)), (ssize_t)sizeof(h));
    p.fd = bad;
    cr_assert_eq(poll(&p, 1, 5000), 1);
    cr_assert_eq(read(bad, &c, 1), 0);
    close(bad);

    json_t *res = NULL;
    cr_assert_eq(sync_op(fd, ABE_OP_PROBE, 0, NULL, &res), ABE_IPC_OK);
    json_decref(res);
    close(fd);
    int ws = stop_child(SIGTERM);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

Test(persist, backpressure_refuses_requests_but_not_runner_ops)
{
    g_cfg.db_max_queue_size = 3;
    cr_assert_eq(start_child(1), 'R');
    int fd = abe_ipc_connect(g_sock, 0);
    cr_assert_geq(fd, 0);
    /* Pretend three operations are waiting (the child only adds and removes its own). */
    atomic_fetch_add(&g_shm->db_queue_depth, 3);

    json_t *wf = workflow_payload("wf-refused", "x");
    json_t *res = NULL;
    cr_assert_eq(sync_op(fd, ABE_OP_CREATE_WORKFLOW, 0, wf, &res), ABE_IPC_ERR_QUEUE_FULL);
    cr_assert_str_eq(message_of(res), "Database queue full; retry later");
    json_decref(res);
    cr_assert_eq(atomic_load(&g_shm->db_ops[ABE_OP_CREATE_WORKFLOW][2]), 1);
    cr_assert_eq(count_workflows(), 0, "a refused op must not be applied");

    /* A runner operation is never refused; it reaches the store (nothing to hand back here). */
    json_t *hb = json_pack("{s:b}", "all", 1);
    cr_assert_eq(sync_op(fd, ABE_OP_HANDBACK_EXECUTION, ABE_IPC_F_RUNNER, hb, &res), ABE_IPC_OK);
    cr_assert_eq(json_integer_value(json_object_get(res, "count")), 0);
    json_decref(res);
    json_decref(hb);
    cr_assert_eq(atomic_load(&g_shm->db_ops[ABE_OP_HANDBACK_EXECUTION][0]), 1);

    /* Below the bound again: the same request goes through. */
    atomic_fetch_sub(&g_shm->db_queue_depth, 3);
    cr_assert_eq(sync_op(fd, ABE_OP_CREATE_WORKFLOW, 0, wf, &res), ABE_IPC_OK);
    json_decref(res);
    json_decref(wf);
    cr_assert_eq(count_workflows(), 1);
    close(fd);
    int ws = stop_child(SIGTERM);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

/* Send n create_workflow frames in one write; ids base+1..base+n. */
static void send_burst(int fd, uint32_t base, int n, const char *prefix)
{
    size_t cap = (size_t)n * 512, len = 0;
    char *buf = malloc(cap);
    for (int i = 1; i <= n; i++) {
        char id[64];
        snprintf(id, sizeof(id), "%s-%d", prefix, i);
        json_t *wf = workflow_payload(id, "burst");
        char *body = json_dumps(wf, JSON_COMPACT);
        size_t bl = strlen(body);
        cr_assert_lt(len + ABE_IPC_HEADER_SIZE + bl, cap);
        abe_ipc_encode_header((uint8_t *)buf + len, base + (uint32_t)i, ABE_OP_CREATE_WORKFLOW, 0, 0,
                              (uint32_t)bl);
        memcpy(buf + len + ABE_IPC_HEADER_SIZE, body, bl);
        len += ABE_IPC_HEADER_SIZE + bl;
        free(body);
        json_decref(wf);
    }
    size_t off = 0;
    while (off < len) {
        ssize_t w = write(fd, buf + off, len - off);
        cr_assert_gt(w, 0);
        off += (size_t)w;
    }
    free(buf);
}

Test(persist, pipelined_burst_is_group_committed_in_order)
{
    g_cfg.db_batch_size = 16;
    cr_assert_eq(start_child(1), 'R');
    int a = abe_ipc_connect(g_sock, 0), b = abe_ipc_connect(g_sock, 0);
    cr_assert(a >= 0 && b >= 0);
    send_burst(a, 1000, 100, "a");
    send_burst(b, 5000, 40, "b");
    abe_ipc_frame_t fr;
    char *st;
    for (uint32_t i = 1; i <= 100; i++) {
        cr_assert_eq(read_frame(a, &fr, &st), 0);
        cr_assert_eq(fr.id, 1000 + i, "replies keep each connection's order");
        cr_assert_eq(fr.status, ABE_IPC_OK);
        free(st);
    }
    for (uint32_t i = 1; i <= 40; i++) {
        cr_assert_eq(read_frame(b, &fr, &st), 0);
        cr_assert_eq(fr.id, 5000 + i);
        cr_assert_eq(fr.status, ABE_IPC_OK);
        free(st);
    }
    cr_assert_eq(count_workflows(), 140);
    uint64_t batches = atomic_load(&g_shm->db_batches), hist = 0;
    for (int i = 0; i < 10; i++)
        hist += atomic_load(&g_shm->db_batch_hist[i]);
    cr_assert_eq(hist, batches);
    cr_assert_geq(batches, 140 / 16, "no batch exceeds DB_BATCH_SIZE");
    cr_assert_lt(batches, 140, "a burst must be grouped into fewer transactions than operations");
    cr_assert_eq(atomic_load(&g_shm->db_batch_hist[6]) + atomic_load(&g_shm->db_batch_hist[7]) +
                     atomic_load(&g_shm->db_batch_hist[8]) + atomic_load(&g_shm->db_batch_hist[9]),
                 0, "batches of more than 20 are impossible with DB_BATCH_SIZE 16");
    cr_assert_eq(atomic_load(&g_shm->db_ops[ABE_OP_CREATE_WORKFLOW][0]), 140);
    close(a);
    close(b);
    int ws = stop_child(SIGTERM);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

Test(persist, half_closed_peer_still_gets_its_replies)
{
    cr_assert_eq(start_child(1), 'R');
    int fd = abe_ipc_connect(g_sock, 0);
    send_burst(fd, 0, 5, "h");
    cr_assert_eq(shutdown(fd, SHUT_WR), 0);
    abe_ipc_frame_t fr;
    char *st;
    for (uint32_t i = 1; i <= 5; i++) {
        cr_assert_eq(read_frame(fd, &fr, &st), 0);
        cr_assert_eq(fr.id, i);
        cr_assert_eq(fr.status, ABE_IPC_OK);
        free(st);
    }
    cr_assert_eq(read_frame(fd, &fr, &st), -1, "closed once the last reply is out");
    close(fd);
    int ws = stop_child(SIGTERM);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

Test(persist, sigterm_drains_what_was_already_sent)
{
    g_cfg.db_batch_size = 8;
    cr_assert_eq(start_child(1), 'R');
    int fd = abe_ipc_connect(g_sock, 0);
    json_t *res = NULL;
    cr_assert_eq(sync_op(fd, ABE_OP_PROBE, 0, NULL, &res), ABE_IPC_OK); /* connection accepted */
    json_decref(res);
    send_burst(fd, 100, 60, "d");
    kill(g_child, SIGTERM);
    abe_ipc_frame_t fr;
    char *st;
    for (uint32_t i = 1; i <= 60; i++) {
        cr_assert_eq(read_frame(fd, &fr, &st), 0, "reply %u lost in the drain", i);
        cr_assert_eq(fr.id, 100 + i);
        cr_assert_eq(fr.status, ABE_IPC_OK);
        free(st);
    }
    int ws;
    cr_assert_eq(waitpid(g_child, &ws, 0), g_child);
    g_child = -1;
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
    cr_assert_eq(count_workflows(), 60);
    /* After the stop nobody accepts: connecting fails. */
    cr_assert_eq(abe_ipc_connect(g_sock, 0), -1);
    close(fd);
}

Test(persist, unopenable_database_exits_1_without_ready)
{
    snprintf(g_cfg.db_path, sizeof(g_cfg.db_path), "/dev/null/abe/platform.db");
    cr_assert_eq(start_child(1), -1, "no readiness byte when the DB cannot be opened");
    int ws;
    cr_assert_eq(waitpid(g_child, &ws, 0), g_child);
    g_child = -1;
    cr_assert(WIFEXITED(ws));
    cr_assert_eq(WEXITSTATUS(ws), 1);
}

/* ---- worker client on an h2o loop ----------------------------------------------------------------- */

typedef struct dbc_result {
    int calls;
    int status;
    json_t *result;
} dbc_result_t;

static int g_in_submit;

static void on_dbc(void *arg, int status, json_t *result)
{
    dbc_result_t *r = arg;
    cr_assert_eq(g_in_submit, 0, "callback ran inside abe_dbc_submit");
    r->calls++;
    r->status = status;
    json_decref(r->result);
    r->result = result != NULL ? json_incref(result) : NULL;
}

static int submit(abe_op_t op, uint16_t flags, json_t *payload, dbc_result_t *r)
{
    g_in_submit = 1;
    int rc = abe_dbc_submit(op, flags, payload, on_dbc, r);
    g_in_submit = 0;
    return rc;
}

/* Run the loop until every result has been called back or ms (wall clock) elapse. */
static void run_until(h2o_loop_t *loop, dbc_result_t *rs, int n, int ms)
{
    struct timespec t0, t;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    for (;;) {
        int done = 1;
        for (int i = 0; i < n; i++)
            if (rs[i].calls == 0) done = 0;
        clock_gettime(CLOCK_MONOTONIC, &t);
        long long el = (t.tv_sec - t0.tv_sec) * 1000LL + (t.tv_nsec - t0.tv_nsec) / 1000000;
        if (done || el >= ms) return;
        h2o_evloop_run(loop, 10);
    }
}

Test(persist, dbclient_pipelines_and_matches_replies)
{
    cr_assert_eq(start_child(1), 'R');
    h2o_loop_t *loop = h2o_evloop_create();
    cr_assert_eq(abe_dbc_init(loop, g_sock, 10000), 0);

    enum { N = 200 };
    static dbc_result_t rs[N + 2];
    memset(rs, 0, sizeof(rs));
    for (int i = 0; i < N; i++) {
        char id[32];
        snprintf(id, sizeof(id), "c-%d", i);
        json_t *wf = workflow_payload(id, "client");
        cr_assert_eq(submit(ABE_OP_CREATE_WORKFLOW, 0, wf, &rs[i]), 0);
        json_decref(wf);
    }
    /* One large request (8 MiB description) exercises partial writes and big frames on both sides. */
    size_t big = 8u * 1024u * 1024u;
    char *desc = malloc(big + 1);
    memset(desc, 'x', big);
    desc[big] = '\0';
    json_t *wf = workflow_payload("c-big", desc);
    free(desc);
    cr_assert_eq(submit(ABE_OP_CREATE_WORKFLOW, 0, wf, &rs[N]), 0);
    json_decref(wf);
    json_t *del = json_pack("{s:s}", "workflow_id", "missing");
    cr_assert_eq(submit(ABE_OP_DELETE_WORKFLOW, 0, del, &rs[N + 1]), 0);
    json_decref(del);
    cr_assert_eq(abe_dbc_pending(), N + 2);
    for (int i = 0; i < N + 2; i++)
        cr_assert_eq(rs[i].calls, 0);

    run_until(loop, rs, N + 2, 20000);
    for (int i = 0; i <= N; i++) {
        cr_assert_eq(rs[i].calls, 1, "request %d", i);
        cr_assert_eq(rs[i].status, ABE_IPC_OK, "request %d: %s", i, abe_ipc_status_name(rs[i].status));
        json_decref(rs[i].result);
    }
    cr_assert_eq(rs[N + 1].calls, 1);
    cr_assert_eq(rs[N + 1].status, ABE_IPC_ERR_NOT_FOUND);
    cr_assert_str_eq(message_of(rs[N + 1].result), "Workflow not found");
    json_decref(rs[N + 1].result);
    cr_assert_eq(abe_dbc_pending(), 0);
    cr_assert_eq(count_workflows(), N + 1);
    abe_dbc_close();
    int ws = stop_child(SIGTERM);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

Test(persist, dbclient_deadline_late_reply_and_lost_connection)
{
    cr_assert_eq(start_child(1), 'R');
    h2o_loop_t *loop = h2o_evloop_create();
    cr_assert_eq(abe_dbc_init(loop, g_sock, 300), 0);
    dbc_result_t r[3];
    memset(r, 0, sizeof(r));

    /* A stopped persistence process: the deadline answers UNAVAILABLE, exactly once. */
    kill(g_child, SIGSTOP);
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &r[0]), 0);
    run_until(loop, r, 1, 5000);
    cr_assert_eq(r[0].calls, 1);
    cr_assert_eq(r[0].status, ABE_IPC_ERR_UNAVAILABLE);
    cr_assert_null(r[0].result);
    cr_assert_eq(abe_dbc_pending(), 0);

    /* Resumed: the late reply is ignored, and the connection still serves new requests. */
    kill(g_child, SIGCONT);
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &r[1]), 0);
    run_until(loop, &r[1], 1, 5000);
    cr_assert_eq(r[1].calls, 1);
    cr_assert_eq(r[1].status, ABE_IPC_OK);
    cr_assert_eq(r[0].calls, 1, "a late reply must not call back again");
    json_decref(r[1].result);

    /* The process dies with a request in flight: it fails with UNAVAILABLE on EOF, well before the deadline.
     */
    cr_assert_eq(abe_dbc_init(loop, g_sock, 10000), 0);
    kill(g_child, SIGSTOP);
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &r[2]), 0);
    h2o_evloop_run(loop, 10);
    int ws = stop_child(SIGKILL);
    cr_assert(WIFSIGNALED(ws));
    run_until(loop, &r[2], 1, 3000);
    cr_assert_eq(r[2].calls, 1);
    cr_assert_eq(r[2].status, ABE_IPC_ERR_UNAVAILABLE);

    /* Nobody listens now: submit refuses at once and never calls back. */
    dbc_result_t none = {0};
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &none), -1);
    h2o_evloop_run(loop, 10);
    cr_assert_eq(none.calls, 0);
    cr_assert_eq(abe_dbc_pending(), 0);
    abe_dbc_close();
}

Test(persist, dbclient_close_fails_pending_and_rejects_bad_use)
{
    cr_assert_eq(start_child(1), 'R');
    h2o_loop_t *loop = h2o_evloop_create();
    dbc_result_t r[2];
    memset(r, 0, sizeof(r));
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &r[0]), -1, "not initialised");
    cr_assert_eq(abe_dbc_init(NULL, g_sock, 1000), -1);
    cr_assert_eq(abe_dbc_init(loop, "", 1000), -1);
    cr_assert_eq(abe_dbc_init(loop, g_sock, 0), -1);
    cr_assert_eq(abe_dbc_init(loop, g_sock, 5000), 0);
    cr_assert_eq(abe_dbc_submit(ABE_OP_NONE, 0, NULL, on_dbc, &r[0]), -1);
    cr_assert_eq(abe_dbc_submit(ABE_OP_PROBE, 0, NULL, NULL, NULL), -1);

    kill(g_child, SIGSTOP);
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &r[0]), 0);
    cr_assert_eq(submit(ABE_OP_PROBE, ABE_IPC_F_RUNNER, NULL, &r[1]), 0);
    abe_dbc_close();
    cr_assert_eq(r[0].calls, 1);
    cr_assert_eq(r[0].status, ABE_IPC_ERR_UNAVAILABLE);
    cr_assert_eq(r[1].calls, 1);
    cr_assert_eq(abe_dbc_pending(), 0);
    kill(g_child, SIGCONT);

    /* The next submit reconnects. */
    dbc_result_t again = {0};
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &again), 0);
    run_until(loop, &again, 1, 5000);
    cr_assert_eq(again.calls, 1);
    cr_assert_eq(again.status, ABE_IPC_OK);
    json_decref(again.result);
    abe_dbc_close();
    int ws = stop_child(SIGTERM);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

/* Callbacks that re-enter the client: close from a reply or a deadline callback, submit from a callback. */
typedef struct reenter {
    dbc_result_t r;
    int close_in_cb;
    dbc_result_t *chain; /* submit a probe reporting here */
} reenter_t;

static void on_reenter(void *arg, int status, json_t *result)
{
    reenter_t *x = arg;
    on_dbc(&x->r, status, result);
    if (x->close_in_cb) abe_dbc_close();
    if (x->chain != NULL) cr_assert_eq(abe_dbc_submit(ABE_OP_PROBE, 0, NULL, on_dbc, x->chain), 0);
}

Test(persist, dbclient_callbacks_may_close_or_submit)
{
    cr_assert_eq(start_child(1), 'R');
    h2o_loop_t *loop = h2o_evloop_create();
    cr_assert_eq(abe_dbc_init(loop, g_sock, 300), 0);

    /* A's callback closes the client: B and C, answered in the same read, fail exactly once instead. */
    reenter_t a = {.close_in_cb = 1};
    dbc_result_t bc[2];
    memset(bc, 0, sizeof(bc));
    kill(g_child, SIGSTOP); /* so all three replies arrive together */
    cr_assert_eq(abe_dbc_submit(ABE_OP_PROBE, 0, NULL, on_reenter, &a), 0);
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &bc[0]), 0);
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &bc[1]), 0);
    h2o_evloop_run(loop, 10);
    kill(g_child, SIGCONT);
    run_until(loop, &a.r, 1, 5000);
    cr_assert_eq(a.r.calls, 1);
    cr_assert_eq(a.r.status, ABE_IPC_OK);
    json_decref(a.r.result);
    for (int i = 0; i < 2; i++) {
        cr_assert_eq(bc[i].calls, 1);
        cr_assert_eq(bc[i].status, ABE_IPC_ERR_UNAVAILABLE);
    }
    cr_assert_eq(abe_dbc_pending(), 0);

    /* A callback that submits: the chained request reconnects and completes. */
    dbc_result_t chained = {0};
    reenter_t d = {.chain = &chained};
    cr_assert_eq(abe_dbc_submit(ABE_OP_PROBE, 0, NULL, on_reenter, &d), 0);
    run_until(loop, &chained, 1, 5000);
    cr_assert_eq(d.r.calls, 1);
    cr_assert_eq(chained.calls, 1);
    cr_assert_eq(chained.status, ABE_IPC_OK);
    json_decref(d.r.result);
    json_decref(chained.result);

    /* A deadline callback that closes the client while h2o runs its timeouts, then the loop goes on. */
    kill(g_child, SIGSTOP);
    reenter_t f = {.close_in_cb = 1};
    cr_assert_eq(abe_dbc_submit(ABE_OP_PROBE, 0, NULL, on_reenter, &f), 0);
    run_until(loop, &f.r, 1, 5000);
    cr_assert_eq(f.r.calls, 1);
    cr_assert_eq(f.r.status, ABE_IPC_ERR_UNAVAILABLE);
    h2o_evloop_run(loop, 10);
    kill(g_child, SIGCONT);
    dbc_result_t g2 = {0};
    cr_assert_eq(submit(ABE_OP_PROBE, 0, NULL, &g2), 0);
    run_until(loop, &g2, 1, 5000);
    cr_assert_eq(g2.calls, 1);
    cr_assert_eq(g2.status, ABE_IPC_OK);
    json_decref(g2.result);
    abe_dbc_close();
    int ws = stop_child(SIGTERM);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

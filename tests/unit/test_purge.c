/*
 * test_purge.c — unit tests for the purge-executions CLI (daemon/abe_purge.h, SPEC §4.7): N parsing, every
 * row of the SPEC table (messages and exit codes), the offline path against a real SQLite store, and the
 * daemon path against a fake persistence process that answers one abe_ipc frame (success, error reply,
 * malformed reply).
 */
#include <criterion/criterion.h>
#include <fcntl.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abe_config.h"
#include "abe_ipc.h"
#include "abe_purge.h"
#include "abe_store.h"

static char dir[64];
static abe_config_t cfg;

static void setup(void)
{
    snprintf(dir, sizeof(dir), "/tmp/abe-purge-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    abe_config_defaults(&cfg);
    snprintf(cfg.db_path, sizeof(cfg.db_path), "%s/platform.db", dir);
    snprintf(cfg.control_socket, sizeof(cfg.control_socket), "%s/ctl.sock", dir);
    cfg.workflow_execution_retention = 1000;
}

static void teardown(void)
{
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", dir);
    cr_assert_eq(system(cmd), 0);
}

TestSuite(purge, .init = setup, .fini = teardown, .timeout = 30);

/* Run abe_purge_main with stdout captured into out; returns its exit code. */
static int run(const char *n_arg, char *out, size_t outlen)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/stdout.txt", dir);
    fflush(stdout);
    int saved = dup(1);
    int fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600);
    cr_assert_geq(fd, 0);
    dup2(fd, 1);
    close(fd);
    int rc = abe_purge_main(&cfg, n_arg);
    fflush(stdout);
    dup2(saved, 1);
    close(saved);
    FILE *f = fopen(path, "r");
    cr_assert_not_null(f);
    size_t n = fread(out, 1, outlen - 1, f);
    fclose(f);
    out[n] = '\0';
    return rc;
}

/* ---- N ------------------------------------------------------------------------------------------- */

Test(purge, parse_n)
{
    long long v;
    cr_assert_eq(abe_purge_parse_n("5", &v), 0);
    cr_assert_eq(v, 5);
    cr_assert_eq(abe_purge_parse_n(" +7 ", &v), 0);
    cr_assert_eq(v, 7);
    cr_assert_eq(abe_purge_parse_n("-3", &v), 0);
    cr_assert_eq(v, -3);
    cr_assert_eq(abe_purge_parse_n("99999999999999999999999", &v), 0);
    cr_assert_eq(v, 9223372036854775807LL, "saturates");
    cr_assert_eq(
        abe_purge_parse_n("-99999999999999999999999999999999999999999999999999999999999999999999", &v), 0);
    cr_assert_lt(v, 0);
    const char *bad[] = {"", " ", "abc", "1.5", "1e3", "0x10", "5x", "--1", "+", "1 2", NULL};
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_eq(abe_purge_parse_n(bad[i], &v), -1, "accepted '%s'", bad[i] ? bad[i] : "(null)");
}

Test(purge, invalid_n_exits_2)
{
    char out[256];
    cr_assert_eq(run("ten", out, sizeof(out)), 2);
    cr_assert_str_eq(out, "Invalid retention value ten\n");
}

Test(purge, non_positive_n_does_nothing)
{
    char out[256];
    cr_assert_eq(run("0", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Retention <= 0 (purge disabled). Nothing to do.\n");
    cr_assert_eq(run("-4", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Retention <= 0 (purge disabled). Nothing to do.\n");
    cfg.workflow_execution_retention = 0;
    cr_assert_eq(run(NULL, out, sizeof(out)), 0, "the configured retention is used without N");
    cr_assert_str_eq(out, "Retention <= 0 (purge disabled). Nothing to do.\n");
}

Test(purge, missing_db_exits_1)
{
    char out[256];
    cr_assert_eq(run("3", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "Repository not available (DB path missing or initialization failed)\n");
    /* A file that is not a migrated database is "without schema". */
    FILE *f = fopen(cfg.db_path, "w");
    fclose(f);
    cr_assert_eq(run("3", out, sizeof(out)), 1);
    cr_assert_str_eq(out, "Repository not available (DB path missing or initialization failed)\n");
}

/* ---- offline ------------------------------------------------------------------------------------- */

static void apply_ok(abe_store_t *st, abe_op_t op, const char *json)
{
    json_t *p = json_loads(json, 0, NULL);
    cr_assert_not_null(p, "bad test JSON %s", json);
    json_t *res = NULL;
    char msg[256] = "";
    cr_assert_eq(abe_store_begin(st), 0);
    cr_assert_eq(abe_store_apply(st, op, p, &res, msg, sizeof(msg)), ABE_IPC_OK, "%s: %s", abe_op_name(op),
                 msg);
    cr_assert_eq(abe_store_commit(st), 0);
    json_decref(res);
    json_decref(p);
}

/* n finished executions, created one second apart, plus one still running. */
static void seed(int n)
{
    abe_store_t *st = NULL;
    char err[256];
    cr_assert_eq(abe_store_open(&st, cfg.db_path, err, sizeof(err)), 0, "%s", err);
    char buf[1024];
    for (int i = 0; i <= n; i++) {
        snprintf(
            buf, sizeof(buf),
            "{\"execution_id\":\"e%d\",\"workflow_id\":\"w\",\"require_workflow\":false,\"created_at\":"
            "\"2026-01-01T00:00:%02d.000000Z\",\"step_order\":[],\"input_snapshot\":{\"workflow_id\":\"w\","
            "\"parallel_execution\":false,\"steps\":[]},\"replay_of\":null,\"replay_mode\":null,\"owner_"
            "pid\":1,"
            "\"run_epoch\":1,\"steps\":[]}",
            i, i);
        apply_ok(st, ABE_OP_CREATE_EXECUTION, buf);
        if (i == n) break; /* the last one stays pending */
        snprintf(buf, sizeof(buf),
                 "{\"execution_id\":\"e%d\",\"owner_pid\":1,\"run_epoch\":1,\"status\":\"success\","
                 "\"completed_at\":"
                 "\"2026-01-01T00:01:00.000000Z\",\"error\":null,\"retention\":0}",
                 i);
        apply_ok(st, ABE_OP_FINISH_EXECUTION, buf);
    }
    abe_store_close(st, 1);
}

Test(purge, offline_prunes_oldest_finished)
{
    seed(5);
    char out[256];
    cr_assert_eq(run("2", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Purged 3 old workflow executions (retention=2)\n");
    cr_assert_eq(run("2", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Purged 0 old workflow executions (retention=2)\n");
    cfg.workflow_execution_retention = 1;
    cr_assert_eq(run(NULL, out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Purged 1 old workflow executions (retention=1)\n");
}

/* ---- through the daemon -------------------------------------------------------------------------- */

/*
 * Fork a fake persistence process listening on cfg.control_socket that answers one request with status and
 * reply_json, after checking it is purge_executions {"retention": expect_n}. Returns its pid.
 */
static pid_t fake_daemon(int status, const char *reply_json, long long expect_n)
{
    int lfd = socket(AF_UNIX, SOCK_STREAM, 0);
    struct sockaddr_un a = {.sun_family = AF_UNIX};
    cr_assert_lt(strlen(cfg.control_socket), sizeof(a.sun_path));
    memcpy(a.sun_path, cfg.control_socket, strlen(cfg.control_socket) + 1);
    cr_assert_eq(bind(lfd, (struct sockaddr *)&a, sizeof(a)), 0);
    cr_assert_eq(listen(lfd, 4), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        int c = accept(lfd, NULL, NULL);
        uint8_t buf[4096];
        size_t have = 0, used = 0;
        abe_ipc_frame_t fr;
        for (;;) {
            ssize_t n = read(c, buf + have, sizeof(buf) - have);
            if (n <= 0) _exit(10);
            have += (size_t)n;
            abe_ipc_decode_result_t d = abe_ipc_decode(buf, have, sizeof(buf), &fr, &used);
            if (d == ABE_IPC_DECODE_OK) break;
            if (d != ABE_IPC_DECODE_NEED_MORE) _exit(11);
        }
        json_t *p = json_loadb(fr.payload, fr.length, 0, NULL);
        if (fr.op != ABE_OP_PURGE_EXECUTIONS || !p ||
            json_integer_value(json_object_get(p, "retention")) != expect_n)
            _exit(12);
        uint8_t hdr[ABE_IPC_HEADER_SIZE];
        abe_ipc_encode_header(hdr, fr.id, fr.op, (uint8_t)status, 0, (uint32_t)strlen(reply_json));
        if (write(c, hdr, sizeof(hdr)) != (ssize_t)sizeof(hdr)) _exit(13);
        if (write(c, reply_json, strlen(reply_json)) != (ssize_t)strlen(reply_json)) _exit(14);
        _exit(0);
    }
    close(lfd);
    return pid;
}

static void reap(pid_t pid)
{
    int st;
    cr_assert_eq(waitpid(pid, &st, 0), pid);
    cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "fake daemon saw a wrong request (%d)", WEXITSTATUS(st));
}

Test(purge, daemon_does_the_work_when_it_answers)
{
    pid_t pid = fake_daemon(ABE_IPC_OK, "{\"pruned\":7}", 4);
    char out[256];
    cr_assert_eq(run("4", out, sizeof(out)), 0);
    cr_assert_str_eq(out, "Purged 7 old workflow executions (retention=4)\n");
    reap(pid);
}

Test(purge, daemon_error_exits_3)
{
    pid_t pid = fake_daemon(ABE_IPC_ERR_DB, "{\"message\":\"disk I/O error\"}", 1000);
    char out[256];
    cr_assert_eq(run(NULL, out, sizeof(out)), 3);
    cr_assert_str_eq(out, "Purge failed: disk I/O error\n");
    reap(pid);
}

Test(purge, daemon_malformed_reply_exits_3)
{
    pid_t pid = fake_daemon(ABE_IPC_OK, "{\"count\":1}", 2);
    char out[256];
    cr_assert_eq(run("2", out, sizeof(out)), 3);
    cr_assert_str_eq(out, "Purge failed: malformed reply from the daemon\n");
    reap(pid);
}

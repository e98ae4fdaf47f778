/*
 * abe_purge.c — `advanced-backend purge-executions [N]` (SPEC §4.7): the retention prune run once.
 *
 * With the daemon up, its persistence process (the only writer) does the work: the CLI connects to
 * CONTROL_SOCKET — the persistence process's listening socket — and sends one purge_executions operation,
 * waiting up to 30 s for the reply. With the daemon down, the CLI opens DB_PATH itself through the store
 * (5 s busy timeout) and runs the same operation in one transaction. Messages and exit codes follow the
 * SPEC §4.7 table exactly; everything is printed on stdout.
 */
#include "abe_purge.h"

#include <ctype.h>
#include <errno.h>
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abe_ipc.h"
#include "abe_store.h"

#define PURGE_TIMEOUT_MS 30000
#define PURGE_BUSY_MS 5000

int abe_purge_parse_n(const char *s, long long *out)
{
    if (!s) return -1;
    while (isspace((unsigned char)*s))
        s++;
    const char *p = s;
    if (*p == '+' || *p == '-') p++;
    if (!isdigit((unsigned char)*p)) return -1;
    while (isdigit((unsigned char)*p))
        p++;
    const char *end = p;
    while (isspace((unsigned char)*p))
        p++;
    if (*p) return -1;
    char buf[64];
    size_t len = (size_t)(end - s);
    errno = 0;
    long long v;
    if (len >= sizeof(buf)) {
        v = *s == '-' ? LLONG_MIN : LLONG_MAX; /* far beyond 64 bits: saturate */
    } else {
        memcpy(buf, s, len);
        buf[len] = '\0';
        v = strtoll(buf, NULL, 10); /* saturates with ERANGE */
    }
    *out = v;
    return 0;
}

/* The message of an error reply, or the status name. */
static const char *reply_message(json_t *result, int status)
{
    json_t *m = result ? json_object_get(result, "message") : NULL;
    return json_is_string(m) ? json_string_value(m) : abe_ipc_status_name(status);
}

/* Pruned count from an OK reply, or -1 when the reply is malformed. */
static long long pruned_count(json_t *result)
{
    json_t *n = result ? json_object_get(result, "pruned") : NULL;
    return json_is_integer(n) ? (long long)json_integer_value(n) : -1;
}

static int purge_via_daemon(int fd, long long n)
{
    json_t *payload = json_pack("{s:I}", "retention", (json_int_t)n);
    json_t *result = NULL;
    int status =
        payload ? abe_ipc_request_sync(fd, ABE_OP_PURGE_EXECUTIONS, 0, payload, PURGE_TIMEOUT_MS, &result)
                : ABE_IPC_ERR_BAD_REQUEST;
    json_decref(payload);
    int rc;
    long long count = pruned_count(result);
    if (status == ABE_IPC_OK && count >= 0) {
        printf("Purged %lld old workflow executions (retention=%lld)\n", count, n);
        rc = 0;
    } else {
        printf("Purge failed: %s\n",
               status == ABE_IPC_OK ? "malformed reply from the daemon" : reply_message(result, status));
        rc = 3;
    }
    json_decref(result);
    return rc;
}

static int purge_offline(const char *db_path, long long n)
{
    abe_store_t *st = NULL;
    char err[512];
    if (abe_store_open_existing(&st, db_path, PURGE_BUSY_MS, err, sizeof(err)) != 0) {
        printf("Repository not available (DB path missing or initialization failed)\n");
        fprintf(stderr, "%s\n", err);
        return 1;
    }
    json_t *payload = json_pack("{s:I}", "retention", (json_int_t)n);
    json_t *result = NULL;
    char msg[512] = "";
    int rc = 3;
    if (!payload) {
        snprintf(msg, sizeof(msg), "out of memory");
    } else if (abe_store_begin(st) != 0) {
        snprintf(msg, sizeof(msg), "%s", abe_store_errmsg(st));
    } else {
        int status = abe_store_apply(st, ABE_OP_PURGE_EXECUTIONS, payload, &result, msg, sizeof(msg));
        if (status != ABE_IPC_OK) {
            if (!msg[0]) snprintf(msg, sizeof(msg), "%s", abe_ipc_status_name(status));
            abe_store_rollback(st);
        } else if (abe_store_commit(st) != 0) {
            snprintf(msg, sizeof(msg), "%s", abe_store_errmsg(st));
            abe_store_rollback(st);
        } else {
            long long count = pruned_count(result);
            printf("Purged %lld old workflow executions (retention=%lld)\n", count < 0 ? 0 : count, n);
            rc = 0;
        }
    }
    if (rc != 0) printf("Purge failed: %s\n", msg);
    json_decref(payload);
    json_decref(result);
    abe_store_close(st, 0);
    return rc;
}

int abe_purge_main(const abe_config_t *cfg, const char *n_arg)
{
    long long n = (long long)cfg->workflow_execution_retention;
    if (n_arg && abe_purge_parse_n(n_arg, &n) != 0) {
        printf("Invalid retention value %s\n", n_arg);
        fflush(stdout);
        return 2;
    }
    if (n <= 0) {
        printf("Retention <= 0 (purge disabled). Nothing to do.\n");
        fflush(stdout);
        return 0;
    }
    int rc;
    int fd = cfg->control_socket[0] ? abe_ipc_connect(cfg->control_socket, 0) : -1;
    if (fd >= 0) {
        rc = purge_via_daemon(fd, n);
        close(fd);
    } else {
        rc = purge_offline(cfg->db_path, n);
    }
    fflush(stdout);
    return rc;
}

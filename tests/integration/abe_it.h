/*
 * abe_it.h — integration-test harness: starts the real build/bin/advanced-backend on a free loopback port
 * in a fresh temp directory and talks HTTP to it with libcurl. Used by every integration suite.
 */
#ifndef ABE_IT_H
#define ABE_IT_H

#include <jansson.h>
#include <stddef.h>
#include <sys/types.h>

typedef struct abe_it_daemon {
    pid_t pid;            /* supervisor pid (leader of its own process group) */
    int port;
    char dir[256];        /* temp dir holding data/, the DB and the log */
    char db_path[512];
    char log_path[512];   /* stderr/stdout of the daemon */
    char base_url[64];    /* "http://127.0.0.1:<port>" */
    const char *const *env; /* extra environment of the last start (borrowed) */
} abe_it_daemon_t;

typedef struct abe_it_resp {
    long status;          /* HTTP status, 0 on transport error */
    char *body;           /* NUL-terminated body (malloc) */
    size_t len;
    char *headers;        /* raw response header block (malloc), names as sent (lower-case from h2o) */
    json_t *json;         /* parsed body if it was JSON, else NULL */
    double total_ms;
} abe_it_resp_t;

/*
 * abe_it_start — start the daemon in a new mkdtemp dir with UVICORN_HOST=127.0.0.1, a free UVICORN_PORT,
 * DB_PATH=<dir>/data/platform.db, AGENTS_CONFIG_DIR=<source>/conf, UVICORN_WORKERS=2 unless env overrides.
 *   env: NULL-terminated list of "KEY=VALUE" added to the environment (may be NULL). The harness option
 *        "ABE_IT_NOFILE=<n>" instead sets the daemon's RLIMIT_NOFILE (soft and hard) to n.
 * Waits up to 20 s for GET /health/ready == 200. Returns 0 or -1 (log printed to stderr on failure).
 */
int abe_it_start(abe_it_daemon_t *d, const char *const *env);

/* abe_it_restart — start again on the same dir/port/DB after a stop or kill (same env rules). */
int abe_it_restart(abe_it_daemon_t *d, const char *const *env);

/* abe_it_stop — SIGTERM the supervisor and wait up to timeout_s; returns its exit status, or -1 on
 * timeout (it is then SIGKILLed) / abnormal termination. */
int abe_it_stop(abe_it_daemon_t *d, int timeout_s);

/* abe_it_kill9 — SIGKILL the supervisor's whole process group and reap it. */
void abe_it_kill9(abe_it_daemon_t *d);

/* abe_it_cleanup — remove the temp dir (call after stop). */
void abe_it_cleanup(abe_it_daemon_t *d);

/*
 * abe_it_request — one HTTP/1.1 request to the daemon. content_type and body may be NULL. extra_headers:
 * NULL-terminated "Name: value" list or NULL. Fills *out (free with abe_it_resp_free). Returns 0, or -1 on
 * transport failure (out->status = 0).
 */
int abe_it_request(abe_it_daemon_t *d, const char *method, const char *path, const char *content_type,
                   const char *body, size_t body_len, const char *const *extra_headers, abe_it_resp_t *out);

/* Shorthands; the returned struct must be released with abe_it_resp_free. */
abe_it_resp_t abe_it_get(abe_it_daemon_t *d, const char *path);
abe_it_resp_t abe_it_post_json(abe_it_daemon_t *d, const char *path, const char *json_body);
abe_it_resp_t abe_it_delete(abe_it_daemon_t *d, const char *path);
void abe_it_resp_free(abe_it_resp_t *r);

/* abe_it_header — value of response header name (case-insensitive) copied into buf; NULL if absent. */
const char *abe_it_header(const abe_it_resp_t *r, const char *name, char *buf, size_t buflen);

/* abe_it_children — pids of the supervisor's children whose /proc comm equals comm ("abe-worker",
 * "abe-persist"); returns the count written to out (at most max). */
int abe_it_children(abe_it_daemon_t *d, const char *comm, pid_t *out, int max);

/* abe_it_wait_until — poll pred(arg) every 20 ms until it returns non-zero or timeout_ms passes. Returns
 * the last pred value. */
int abe_it_wait_until(int (*pred)(void *arg), void *arg, int timeout_ms);

/*
 * abe_it_agents_dir — make a fresh temp directory holding an agents.yaml with the given content (none when
 * yaml is NULL), for AGENTS_CONFIG_DIR. dir receives its path. Returns 0 or -1. abe_it_agents_dir_remove
 * deletes it again.
 */
int abe_it_agents_dir(const char *yaml, char *dir, size_t dirlen);
void abe_it_agents_dir_remove(const char *dir);

/* abe_it_read_log — the daemon log so far (malloc'd, NUL-terminated). */
char *abe_it_read_log(abe_it_daemon_t *d);

#endif

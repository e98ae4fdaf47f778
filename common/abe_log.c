/*
 * abe_log.c — process-wide logger. Every process (supervisor, workers, persistence) calls abe_log_init
 * after fork with its role name. Lines are formatted into a stack buffer and written with a single
 * write(2) in O_APPEND mode, so concurrent processes never interleave within a line.
 */
#include "abe_log.h"

#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <pthread.h>
#include <unistd.h>

#include "abe_util.h"

static abe_log_level_t g_level = ABE_LOG_INFO;
static int g_json;
static int g_fd = 2;
static char g_file[ABE_CFG_PATH_MAX];
static char g_process[64] = "main";
static int g_pid; /* cached: getpid() is a system call in current glibc; refreshed after every fork */

static void log_after_fork(void)
{
    g_pid = (int)getpid();
}

static int log_pid(void)
{
    if (!g_pid) {
        g_pid = (int)getpid();
        pthread_atfork(NULL, NULL, log_after_fork);
    }
    return g_pid;
}

static const char *const level_names[] = {"debug", "info", "warning", "error", "critical"};

static int open_log(const char *file)
{
    return open(file, O_WRONLY | O_CREAT | O_APPEND | O_CLOEXEC, 0640);
}

int abe_log_init(abe_log_level_t level, int json, const char *file, const char *process)
{
    g_level = level;
    g_json = json;
    if (process) snprintf(g_process, sizeof(g_process), "%s", process);
    if (g_fd > 2) close(g_fd);
    g_fd = 2;
    g_file[0] = '\0';
    if (file && *file) {
        int fd = open_log(file);
        if (fd < 0) return -1;
        g_fd = fd;
        snprintf(g_file, sizeof(g_file), "%s", file);
    }
    return 0;
}

void abe_log_set_process(const char *process)
{
    snprintf(g_process, sizeof(g_process), "%s", process);
}

int abe_log_reopen(void)
{
    if (!g_file[0]) return 0;
    int fd = open_log(g_file);
    if (fd < 0) return -1;
    int old = g_fd;
    g_fd = fd;
    if (old > 2) close(old);
    return 0;
}

static void emit(const char *line, size_t len)
{
    while (len > 0) {
        ssize_t n = write(g_fd, line, len);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) return;
        line += n;
        len -= (size_t)n;
    }
}

/* Writes one record; extra (may be NULL) is a JSON object merged into JSON lines, or appended as
 * key=value pairs in plain format. */
static void log_record(abe_log_level_t level, const char *msg, json_t *extra)
{
    char ts[ABE_TS_LEN];
    abe_now_iso(ts);
    char buf[8192];
    int n;
    if (g_json) {
        json_t *o = json_pack("{s:s,s:s,s:s,s:i,s:s}", "ts", ts, "level", level_names[level], "msg", msg,
                              "pid", log_pid(), "process", g_process);
        if (o && extra) json_object_update(o, extra);
        size_t len = o ? json_dumpb(o, buf, sizeof(buf) - 1, JSON_COMPACT | JSON_REAL_PRECISION(10)) : 0;
        json_decref(o);
        if (len == 0 || len >= sizeof(buf) - 1) return;
        buf[len++] = '\n';
        emit(buf, len);
        return;
    }
    n = snprintf(buf, sizeof(buf), "%s %s [%s %d] %s", ts, level_names[level], g_process, log_pid(), msg);
    if (n < 0) return;
    size_t len = (size_t)n < sizeof(buf) - 2 ? (size_t)n : sizeof(buf) - 2;
    if (extra) {
        const char *k;
        json_t *v;
        json_object_foreach(extra, k, v)
        {
            char *s = json_is_string(v) ? NULL : json_dumps(v, JSON_ENCODE_ANY | JSON_REAL_PRECISION(10));
            int m = snprintf(buf + len, sizeof(buf) - 2 - len, " %s=%s", k, s ? s : json_string_value(v));
            free(s);
            if (m < 0 || (size_t)m >= sizeof(buf) - 2 - len) {
                len = sizeof(buf) - 2;
                break;
            }
            len += (size_t)m;
        }
    }
    buf[len++] = '\n';
    emit(buf, len);
}

void abe_log(abe_log_level_t level, const char *fmt, ...)
{
    if (level < g_level) return;
    char msg[4096];
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(msg, sizeof(msg), fmt, ap);
    va_end(ap);
    log_record(level, msg, NULL);
}

/* The access line is formatted by hand (no jansson object per request): every field is either a number or
 * text from a known-safe alphabet (method token, route template, correlation id of [A-Za-z0-9._-]). */
void abe_log_access(const char *method, const char *route_template, int status, double duration_ms,
                    const char *correlation_id)
{
    if (ABE_LOG_INFO < g_level) return;
    char ts[ABE_TS_LEN], line[1024];
    abe_now_iso(ts);
    int n;
    if (g_json)
        n = snprintf(line, sizeof(line),
                     "{\"ts\":\"%s\",\"level\":\"info\",\"msg\":\"access\",\"pid\":%d,\"process\":\"%s\","
                     "\"method\":\"%s\",\"path\":\"%s\",\"status\":%d,\"duration_ms\":%.3f,\"correlation_"
                     "id\":\"%s\"}\n",
                     ts, log_pid(), g_process, method, route_template, status, duration_ms, correlation_id);
    else
        n = snprintf(
            line, sizeof(line),
            "%s info [%s %d] access method=%s path=%s status=%d duration_ms=%.3f correlation_id=%s\n", ts,
            g_process, log_pid(), method, route_template, status, duration_ms, correlation_id);
    if (n > 0 && (size_t)n < sizeof(line)) emit(line, (size_t)n);
}

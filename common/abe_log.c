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

/* Access-line buffer (workers only, abe_log_set_buffered): like nginx's access_log buffer=, it turns one
 * write(2) per request into one per event-loop iteration. Only whole lines are buffered, so concurrent
 * processes still never interleave inside a line. */
static char g_abuf[16384];
static size_t g_alen;
static int g_buffered;

static void write_all(const char *line, size_t len);

void abe_log_set_buffered(int on)
{
    abe_log_flush();
    g_buffered = on;
}

void abe_log_flush(void)
{
    if (g_alen == 0) return;
    size_t n = g_alen;
    g_alen = 0;
    write_all(g_abuf, n);
}

static void emit(const char *line, size_t len)
{
    abe_log_flush(); /* keep the order: buffered access lines first */
    write_all(line, len);
}

static void emit_access(const char *line, size_t len)
{
    if (!g_buffered) {
        write_all(line, len);
        return;
    }
    if (g_alen + len > sizeof(g_abuf)) abe_log_flush();
    memcpy(g_abuf + g_alen, line, len);
    g_alen += len;
}

static void write_all(const char *line, size_t len)
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
/* Appends src to the line at *pos (bounded by cap); the access line is built by hand, not with printf:
 * it is written once per request. */
static void put(char *line, size_t cap, size_t *pos, const char *src, size_t len)
{
    if (*pos + len > cap) len = cap > *pos ? cap - *pos : 0;
    memcpy(line + *pos, src, len);
    *pos += len;
}

static void put_str(char *line, size_t cap, size_t *pos, const char *s)
{
    put(line, cap, pos, s, strlen(s));
}

static void put_uint(char *line, size_t cap, size_t *pos, unsigned long long v, int min_digits)
{
    char digits[24];
    int n = 0;
    do {
        digits[n++] = (char)('0' + v % 10);
        v /= 10;
    } while (v || n < min_digits);
    char out[24];
    for (int i = 0; i < n; i++)
        out[i] = digits[n - 1 - i];
    put(line, cap, pos, out, (size_t)n);
}

/* Every field is either a number or text from a known-safe alphabet (method token, route template,
 * correlation id of [A-Za-z0-9._-]), so no escaping is needed in either format. */
void abe_log_access(const char *method, const char *route_template, int status, double duration_ms,
                    const char *correlation_id)
{
    if (ABE_LOG_INFO < g_level) return;
    char ts[ABE_TS_LEN], line[1024];
    const size_t cap = sizeof(line) - 1;
    size_t n = 0;
    abe_now_iso(ts);
    unsigned long long us = duration_ms > 0 ? (unsigned long long)(duration_ms * 1000.0 + 0.5) : 0;
    if (g_json) {
        put_str(line, cap, &n, "{\"ts\":\"");
        put_str(line, cap, &n, ts);
        put_str(line, cap, &n, "\",\"level\":\"info\",\"msg\":\"access\",\"pid\":");
        put_uint(line, cap, &n, (unsigned long long)log_pid(), 1);
        put_str(line, cap, &n, ",\"process\":\"");
        put_str(line, cap, &n, g_process);
        put_str(line, cap, &n, "\",\"method\":\"");
        put_str(line, cap, &n, method);
        put_str(line, cap, &n, "\",\"path\":\"");
        put_str(line, cap, &n, route_template);
        put_str(line, cap, &n, "\",\"status\":");
        put_uint(line, cap, &n, (unsigned long long)status, 1);
        put_str(line, cap, &n, ",\"duration_ms\":");
        put_uint(line, cap, &n, us / 1000, 1);
        put(line, cap, &n, ".", 1);
        put_uint(line, cap, &n, us % 1000, 3);
        put_str(line, cap, &n, ",\"correlation_id\":\"");
        put_str(line, cap, &n, correlation_id);
        put_str(line, cap, &n, "\"}");
    } else {
        put_str(line, cap, &n, ts);
        put_str(line, cap, &n, " info [");
        put_str(line, cap, &n, g_process);
        put(line, cap, &n, " ", 1);
        put_uint(line, cap, &n, (unsigned long long)log_pid(), 1);
        put_str(line, cap, &n, "] access method=");
        put_str(line, cap, &n, method);
        put_str(line, cap, &n, " path=");
        put_str(line, cap, &n, route_template);
        put_str(line, cap, &n, " status=");
        put_uint(line, cap, &n, (unsigned long long)status, 1);
        put_str(line, cap, &n, " duration_ms=");
        put_uint(line, cap, &n, us / 1000, 1);
        put(line, cap, &n, ".", 1);
        put_uint(line, cap, &n, us % 1000, 3);
        put_str(line, cap, &n, " correlation_id=");
        put_str(line, cap, &n, correlation_id);
    }
    line[n++] = '\n';
    emit_access(line, n);
}

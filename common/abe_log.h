/*
 * abe_log.h — process-wide logging (SPEC §10 LOG_LEVEL / LOG_FORMAT / LOG_FILE).
 *
 * Plain lines: "<ts> <level> [<process> <pid>] <msg>". JSON lines: {"ts","level","msg","pid",...}; the
 * access line adds method, path (the route template), status, duration_ms, correlation_id.
 * Each line is written with one write(2) so lines from several processes never interleave.
 */
#ifndef ABE_LOG_H
#define ABE_LOG_H

#include "abe_config.h"

/*
 * abe_log_init — set level, format and destination for this process.
 *   file: path to append to, or NULL/"" for stderr. process: short role name ("supervisor", "worker 1").
 * Returns 0, or -1 if the file cannot be opened (logging then goes to stderr).
 */
int abe_log_init(abe_log_level_t level, int json, const char *file, const char *process);

/* abe_log_set_process — change the role name after fork. */
void abe_log_set_process(const char *process);

/* abe_log_reopen — reopen LOG_FILE (SIGUSR1). Returns 0 or -1. */
int abe_log_reopen(void);

/* abe_log — printf-style message at level; dropped below the configured level. */
void abe_log(abe_log_level_t level, const char *fmt, ...) __attribute__((format(printf, 2, 3)));

/* abe_log_access — one access line per response (info level). duration in ms. */
void abe_log_access(const char *method, const char *route_template, int status, double duration_ms,
                    const char *correlation_id);

/*
 * abe_log_set_buffered — when on, access lines are collected in a 16 KiB per-process buffer and written by
 * abe_log_flush (or when the buffer fills, or before any other log line). A worker turns it on and flushes
 * after every event-loop iteration, so no line waits longer than the iteration that produced it.
 */
void abe_log_set_buffered(int on);

/* abe_log_flush — write out buffered access lines (no-op when empty). */
void abe_log_flush(void);

#define abe_log_debug(...) abe_log(ABE_LOG_DEBUG, __VA_ARGS__)
#define abe_log_info(...) abe_log(ABE_LOG_INFO, __VA_ARGS__)
#define abe_log_warn(...) abe_log(ABE_LOG_WARNING, __VA_ARGS__)
#define abe_log_error(...) abe_log(ABE_LOG_ERROR, __VA_ARGS__)

#endif

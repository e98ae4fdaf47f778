/*
 * test_log.c — the logger: JSON and plain access lines (hand-formatted), level filtering, the per-iteration
 * access-line buffer, and reopening LOG_FILE (SPEC §10 LOG_LEVEL / LOG_FORMAT / LOG_FILE).
 */
#include <criterion/criterion.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abe_log.h"

static char g_dir[64];

static void setup(void)
{
    snprintf(g_dir, sizeof(g_dir), "/tmp/abe-log-XXXXXX");
    cr_assert_not_null(mkdtemp(g_dir));
}

static void teardown(void)
{
    abe_log_init(ABE_LOG_INFO, 0, NULL, "test");
    char cmd[128];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", g_dir);
    cr_assert_eq(system(cmd), 0);
}

static char *slurp(const char *path)
{
    FILE *f = fopen(path, "r");
    if (!f) return strdup("");
    size_t cap = 1 << 20;
    char *buf = malloc(cap);
    size_t n = fread(buf, 1, cap - 1, f);
    fclose(f);
    buf[n] = '\0';
    return buf;
}

TestSuite(log, .init = setup, .fini = teardown);

Test(log, json_access_line_is_valid_json_with_every_field)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/a.log", g_dir);
    cr_assert_eq(abe_log_init(ABE_LOG_INFO, 1, path, "abe-worker"), 0);
    abe_log_access("GET", "/api/v1/workflows/{workflow_id}", 404, 12.3456, "cid-1");
    abe_log_access("POST", "__unmatched__", 200, 0.0004, "x.y_z");
    char *s = slurp(path);
    char *line2 = strchr(s, '\n');
    cr_assert_not_null(line2);
    *line2++ = '\0';
    json_error_t e;
    json_t *o = json_loads(s, 0, &e);
    cr_assert_not_null(o, "not JSON: %s (%s)", s, e.text);
    cr_assert_str_eq(json_string_value(json_object_get(o, "level")), "info");
    cr_assert_str_eq(json_string_value(json_object_get(o, "msg")), "access");
    cr_assert_eq(json_integer_value(json_object_get(o, "pid")), getpid());
    cr_assert_str_eq(json_string_value(json_object_get(o, "method")), "GET");
    cr_assert_str_eq(json_string_value(json_object_get(o, "path")), "/api/v1/workflows/{workflow_id}");
    cr_assert_eq(json_integer_value(json_object_get(o, "status")), 404);
    cr_assert_float_eq(json_real_value(json_object_get(o, "duration_ms")), 12.346, 1e-9);
    cr_assert_str_eq(json_string_value(json_object_get(o, "correlation_id")), "cid-1");
    const char *ts = json_string_value(json_object_get(o, "ts"));
    cr_assert(ts && strlen(ts) == 27 && ts[26] == 'Z' && ts[19] == '.', "ts %s", ts);
    json_decref(o);
    o = json_loads(line2, JSON_DISABLE_EOF_CHECK, &e);
    cr_assert_not_null(o, "second line not JSON: %s", line2);
    cr_assert_float_eq(json_real_value(json_object_get(o, "duration_ms")), 0.0, 1e-9);
    json_decref(o);
    free(s);
}

Test(log, plain_lines_and_level_filter)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/p.log", g_dir);
    cr_assert_eq(abe_log_init(ABE_LOG_WARNING, 0, path, "abe-supervisor"), 0);
    abe_log_info("hidden %d", 1);
    abe_log_access("GET", "/health", 200, 1.5, "c");
    abe_log_warn("shown %d", 2);
    char *s = slurp(path);
    cr_assert_null(strstr(s, "hidden"));
    cr_assert_null(strstr(s, "access"), "access lines are info level");
    cr_assert_not_null(strstr(s, " warning [abe-supervisor "), "%s", s);
    cr_assert_not_null(strstr(s, "shown 2\n"));
    free(s);
    cr_assert_eq(abe_log_init(ABE_LOG_INFO, 0, path, "abe-worker"), 0);
    abe_log_access("DELETE", "/api/v1/workflows/{workflow_id}", 204, 2.0, "cid");
    s = slurp(path);
    cr_assert_not_null(
        strstr(s, "access method=DELETE path=/api/v1/workflows/{workflow_id} status=204 duration_ms=2.000 "
                  "correlation_id=cid\n"),
        "%s", s);
    free(s);
}

Test(log, buffered_access_lines_wait_for_flush_and_keep_order)
{
    char path[128];
    snprintf(path, sizeof(path), "%s/b.log", g_dir);
    cr_assert_eq(abe_log_init(ABE_LOG_INFO, 0, path, "w"), 0);
    abe_log_set_buffered(1);
    abe_log_access("GET", "/a", 200, 1, "one");
    abe_log_access("GET", "/b", 200, 1, "two");
    char *s = slurp(path);
    cr_assert_eq(strlen(s), 0, "buffered lines written early: %s", s);
    free(s);
    abe_log_warn("after two"); /* another line flushes the buffer first, so the order is kept */
    abe_log_access("GET", "/c", 200, 1, "three");
    abe_log_flush();
    s = slurp(path);
    char *one = strstr(s, "correlation_id=one"), *two = strstr(s, "correlation_id=two");
    char *warn = strstr(s, "after two"), *three = strstr(s, "correlation_id=three");
    cr_assert(one && two && warn && three && one < two && two < warn && warn < three, "%s", s);
    free(s);
    /* many lines: the 16 KiB buffer flushes itself when full, losing nothing */
    for (int i = 0; i < 1000; i++)
        abe_log_access("GET", "/many", 200, 1, "many");
    abe_log_set_buffered(0);
    s = slurp(path);
    int n = 0;
    for (char *p = s; (p = strstr(p, "correlation_id=many\n")); p++)
        n++;
    cr_assert_eq(n, 1000);
    free(s);
}

Test(log, reopen_follows_a_rotated_file)
{
    char path[128], rotated[140];
    snprintf(path, sizeof(path), "%s/r.log", g_dir);
    snprintf(rotated, sizeof(rotated), "%s/r.log.1", g_dir);
    cr_assert_eq(abe_log_init(ABE_LOG_INFO, 0, path, "w"), 0);
    abe_log_info("before");
    cr_assert_eq(rename(path, rotated), 0);
    abe_log_info("still old");
    cr_assert_eq(abe_log_reopen(), 0);
    abe_log_info("after");
    char *old = slurp(rotated), *cur = slurp(path);
    cr_assert(strstr(old, "before") && strstr(old, "still old") && !strstr(old, "after"), "%s", old);
    cr_assert(strstr(cur, "after") && !strstr(cur, "before"), "%s", cur);
    free(old);
    free(cur);
    cr_assert_eq(abe_log_init(ABE_LOG_INFO, 0, "/nonexistent-dir/x.log", "w"), -1,
                 "unopenable file reported");
}

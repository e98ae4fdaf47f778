/*
 * test_config.c — Criterion unit tests (suite "config") for common/abe_config.c, the SPEC §10 loader.
 *
 * Covers the three layers (defaults, YAML file, environment), every class of bad value (each must name its
 * key in "config error: <KEY>: <reason>"), list normalisation, derived defaults, and the shipped
 * conf/advanced-backend.yaml (which must set nothing but defaults). Every test passes an explicit envp so the
 * process environment never matters; fixtures live in tests/unit/fixtures/config/ or are written to a
 * mkdtemp directory. Criterion runs each test in its own process, so chdir() in a test is harmless.
 */
#include <criterion/criterion.h>

#include <limits.h>
#include <math.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abe_config.h"

#define FX(name) ABE_SOURCE_DIR "/tests/unit/fixtures/config/" name
#define EMPTY FX("empty.yaml")

static char *no_env[] = {NULL};

/* Loads path with envp into *cfg; err receives the message. */
static int load(abe_config_t *cfg, const char *path, char **envp, char *err, size_t errlen)
{
    return abe_config_load(cfg, path, envp, err, errlen);
}

/* Asserts that loading path with envp fails with "config error: <key>: ..." and leaves *cfg untouched. */
static void expect_error(const char *path, char **envp, const char *key, const char *needle)
{
    abe_config_t cfg, before;
    char err[2048];
    char prefix[256];
    memset(&cfg, 0x5a, sizeof(cfg));
    memcpy(&before, &cfg, sizeof(cfg));
    int rc = load(&cfg, path, envp, err, sizeof(err));
    cr_assert_eq(rc, -1, "expected failure for key %s (env[0]=%s)", key, envp[0] ? envp[0] : "-");
    snprintf(prefix, sizeof(prefix), "config error: %s: ", key);
    cr_assert(strncmp(err, prefix, strlen(prefix)) == 0, "message '%s' does not start with '%s'", err,
              prefix);
    cr_assert(strlen(err) > strlen(prefix), "empty reason in '%s'", err);
    if (needle != NULL) cr_assert(strstr(err, needle) != NULL, "message '%s' lacks '%s'", err, needle);
    cr_assert(memcmp(&cfg, &before, sizeof(cfg)) == 0, "config modified on failure");
}

/* Asserts that the single environment entry kv is rejected with the key named. */
static void expect_env_error(const char *kv, const char *key)
{
    char *env[] = {(char *)kv, NULL};
    expect_error(EMPTY, env, key, "environment");
}

/* Loads the empty fixture with one environment entry; asserts success. */
static void load_env1(abe_config_t *cfg, const char *kv)
{
    char err[1024];
    char *env[] = {(char *)kv, NULL};
    int rc = load(cfg, EMPTY, env, err, sizeof(err));
    cr_assert_eq(rc, 0, "load with %s failed: %s", kv, err);
}

static void assert_default_values(const abe_config_t *c)
{
    cr_assert_str_eq(c->host, "0.0.0.0");
    cr_assert_eq(c->port, 8000);
    cr_assert_eq(c->workers, 2);
    cr_assert_eq(c->backlog, 2048);
    cr_assert_eq(c->graceful_timeout_s, 30);
    cr_assert_eq(c->keepalive_timeout_s, 10);
    cr_assert_eq(c->max_body_bytes, 1048576);
    cr_assert_eq(c->worker_max_requests, 0);
    cr_assert_eq(c->worker_max_boot_failures, 5);
    cr_assert_str_eq(c->trusted_proxies, "");
    cr_assert_eq(c->log_level, ABE_LOG_INFO);
    cr_assert_eq(c->log_json, 0);
    cr_assert_str_eq(c->log_file, "");
    cr_assert_str_eq(c->db_path, "data/platform.db");
    cr_assert_eq(c->db_max_queue_size, 5000);
    cr_assert_eq(c->db_batch_size, 256);
    cr_assert_str_eq(c->agents_config_dir, "conf");
    cr_assert_eq(c->workflow_execution_retention, 1000);
    static const double buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10};
    cr_assert_eq(c->n_step_duration_buckets, 8);
    for (int i = 0; i < 8; i++)
        cr_assert_eq(c->step_duration_buckets[i], buckets[i], "bucket %d", i);
    cr_assert_eq(c->max_parallel_steps, 16);
    cr_assert_eq(c->enable_profiling, 0);
    cr_assert_eq(c->enable_test_endpoints, 0);
    static const int classes[] = {50, 100, 250, 500};
    cr_assert_eq(c->n_latency_classes, 4);
    for (int i = 0; i < 4; i++)
        cr_assert_eq(c->latency_classes_ms[i], classes[i]);
    cr_assert_eq(c->metrics_max_series, 1000);
    cr_assert_eq(c->rate_limit_rps, 0.0);
    cr_assert_eq(c->rate_limit_burst, 0.0);
    cr_assert_str_eq(c->slo_alert_webhook_url, "");
    cr_assert_eq(c->slo_error_rate_threshold, 0.05);
    cr_assert_eq(c->slo_error_rate_5xx_threshold, 0.05);
    cr_assert_eq(c->slo_error_rate_4xx_threshold, 0.10);
    cr_assert_eq(c->slo_latency_p95_threshold, 0.750);
    cr_assert_eq(c->slo_error_rate_window_s, 300);
    cr_assert_eq(c->slo_latency_window_s, 300);
    cr_assert_eq(c->slo_alert_cooldown_s, 300);
    cr_assert_eq(c->slo_min_requests, 1);
}

/* Writes prefix, then n copies of ch, then suffix into out (NUL-terminated); returns out. */
static char *fill(char *out, size_t outsz, const char *prefix, char ch, size_t n, const char *suffix)
{
    size_t p = strlen(prefix);
    cr_assert(p + n + strlen(suffix) < outsz);
    memcpy(out, prefix, p);
    memset(out + p, ch, n);
    strcpy(out + p + n, suffix);
    return out;
}

/* Makes a fresh temporary directory, writes text to <dir>/name and returns the file's path (static buffer).
 */
static const char *write_temp(const char *name, const char *text)
{
    static char dir[64], path[256];
    snprintf(dir, sizeof(dir), "/tmp/abe-config-XXXXXX");
    cr_assert_not_null(mkdtemp(dir));
    snprintf(path, sizeof(path), "%s/%s", dir, name);
    FILE *f = fopen(path, "w");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, strlen(text), f), strlen(text));
    cr_assert_eq(fclose(f), 0);
    return path;
}

/* ---- defaults and layers ---------------------------------------------------------------------------------
 */

Test(config, defaults_function)
{
    abe_config_t c;
    abe_config_defaults(&c);
    assert_default_values(&c);
    cr_assert_str_eq(c.config_file, "");
}

Test(config, empty_and_comment_only_files_give_defaults)
{
    abe_config_t c;
    char err[512];
    cr_assert_eq(load(&c, EMPTY, no_env, err, sizeof(err)), 0, "%s", err);
    assert_default_values(&c);
    cr_assert_str_eq(c.config_file, EMPTY);
    cr_assert_str_eq(c.pid_file, "data/advanced-backend.pid");
    cr_assert_str_eq(c.control_socket, "data/advanced-backend.sock");
    cr_assert_eq(load(&c, FX("comments_only.yaml"), no_env, err, sizeof(err)), 0, "%s", err);
    assert_default_values(&c);
}

Test(config, missing_default_file_is_fine)
{
    char dir[] = "/tmp/abe-config-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(chdir(dir), 0);
    abe_config_t c;
    char err[512];
    cr_assert_eq(load(&c, NULL, no_env, err, sizeof(err)), 0, "%s", err);
    assert_default_values(&c);
    cr_assert_str_eq(c.config_file, "");
}

Test(config, default_file_is_read_from_working_directory)
{
    char dir[] = "/tmp/abe-config-XXXXXX";
    cr_assert_not_null(mkdtemp(dir));
    cr_assert_eq(chdir(dir), 0);
    cr_assert_eq(mkdir("conf", 0700), 0);
    FILE *f = fopen("conf/advanced-backend.yaml", "w");
    cr_assert_not_null(f);
    fputs("UVICORN_WORKERS: 7\n", f);
    cr_assert_eq(fclose(f), 0);
    abe_config_t c;
    char err[512];
    cr_assert_eq(load(&c, NULL, no_env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.workers, 7);
    cr_assert_str_eq(c.config_file, "conf/advanced-backend.yaml");
}

Test(config, shipped_file_sets_only_defaults)
{
    abe_config_t shipped, plain;
    char err[512];
    cr_assert_eq(load(&shipped, ABE_SOURCE_DIR "/conf/advanced-backend.yaml", no_env, err, sizeof(err)), 0,
                 "%s", err);
    cr_assert_eq(load(&plain, EMPTY, no_env, err, sizeof(err)), 0, "%s", err);
    assert_default_values(&shipped);
    memset(shipped.config_file, 0, sizeof(shipped.config_file));
    memset(plain.config_file, 0, sizeof(plain.config_file));
    cr_assert(memcmp(&shipped, &plain, sizeof(plain)) == 0, "shipped file changes a setting");
}

Test(config, good_file_sets_every_key_case_insensitively)
{
    abe_config_t c;
    char err[512];
    cr_assert_eq(load(&c, FX("good.yaml"), no_env, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.host, "127.0.0.1");
    cr_assert_eq(c.port, 9000);
    cr_assert_eq(c.workers, 4);
    cr_assert_eq(c.graceful_timeout_s, 45);
    cr_assert_eq(c.keepalive_timeout_s, 0);
    cr_assert_eq(c.max_body_bytes, 2048);
    cr_assert_eq(c.worker_max_requests, 100000);
    cr_assert_eq(c.worker_max_boot_failures, 2);
    cr_assert_str_eq(c.trusted_proxies, "10.0.0.1,192.168.0.0/16,::1,fd00::/8");
    cr_assert_str_eq(c.pid_file, "/run/abe/abe.pid");
    cr_assert_str_eq(c.control_socket, "/run/abe/abe.sock");
    cr_assert_eq(c.log_level, ABE_LOG_WARNING);
    cr_assert_eq(c.log_json, 1);
    cr_assert_str_eq(c.log_file, "/var/log/abe.log");
    cr_assert_str_eq(c.db_path, "/var/lib/abe/platform.db");
    cr_assert_eq(c.db_max_queue_size, 10);
    cr_assert_eq(c.db_batch_size, 10000);
    cr_assert_str_eq(c.agents_config_dir, "/etc/abe");
    cr_assert_eq(c.workflow_execution_retention, -1);
    cr_assert_eq(c.n_step_duration_buckets, 3);
    cr_assert_eq(c.step_duration_buckets[0], 1e-3);
    cr_assert_eq(c.step_duration_buckets[1], 0.5);
    cr_assert_eq(c.step_duration_buckets[2], 2.0);
    cr_assert_eq(c.max_parallel_steps, 500);
    cr_assert_eq(c.enable_profiling, 1);
    cr_assert_eq(c.enable_test_endpoints, 1);
    cr_assert_eq(c.n_latency_classes, 2);
    cr_assert_eq(c.latency_classes_ms[0], 20);
    cr_assert_eq(c.latency_classes_ms[1], 500);
    cr_assert_eq(c.metrics_max_series, 10);
    cr_assert_eq(c.rate_limit_rps, 12.5);
    cr_assert_eq(c.rate_limit_burst, 30.0);
    cr_assert_str_eq(c.slo_alert_webhook_url, "https://hooks.example.com/slo?token=abc");
    cr_assert_eq(c.slo_error_rate_threshold, 0.2);
    cr_assert_eq(c.slo_error_rate_5xx_threshold, 0.15);
    cr_assert_eq(c.slo_error_rate_4xx_threshold, 1.0);
    cr_assert_eq(c.slo_latency_p95_threshold, 1.5);
    cr_assert_eq(c.slo_error_rate_window_s, 60);
    cr_assert_eq(c.slo_latency_window_s, 3600);
    cr_assert_eq(c.slo_alert_cooldown_s, 0);
    cr_assert_eq(c.slo_min_requests, 20);
    cr_assert_str_eq(c.config_file, FX("good.yaml"));
}

Test(config, environment_overrides_defaults)
{
    abe_config_t c;
    char err[512];
    char *env[] = {"UVICORN_PORT=9100",  "LOG_LEVEL=Debug",   "ENABLE_TEST_ENDPOINTS=TRUE",
                   "RATE_LIMIT_RPS=2.5", "DB_PATH=/srv/x.db", "uvicorn_workers=9",
                   "UNRELATED=1",        "UVICORN_PORTX=1",   NULL};
    cr_assert_eq(load(&c, EMPTY, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.port, 9100);
    cr_assert_eq(c.log_level, ABE_LOG_DEBUG);
    cr_assert_eq(c.enable_test_endpoints, 1);
    cr_assert_eq(c.rate_limit_rps, 2.5);
    cr_assert_str_eq(c.db_path, "/srv/x.db");
    cr_assert_eq(c.workers, 2, "environment names are case-sensitive");
}

Test(config, environment_beats_file)
{
    abe_config_t c;
    char err[512];
    char *env[] = {"UVICORN_PORT=9100", "LOG_FORMAT=plain", "LATENCY_CLASSES=7,3", "PID_FILE=/tmp/e.pid",
                   NULL};
    cr_assert_eq(load(&c, FX("good.yaml"), env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.port, 9100);
    cr_assert_eq(c.log_json, 0);
    cr_assert_eq(c.n_latency_classes, 2);
    cr_assert_eq(c.latency_classes_ms[0], 3);
    cr_assert_eq(c.latency_classes_ms[1], 7);
    cr_assert_str_eq(c.pid_file, "/tmp/e.pid");
    cr_assert_eq(c.workers, 4, "keys the environment does not set still come from the file");
}

Test(config, environment_empty_string_wins)
{
    abe_config_t c;
    char err[512];
    char *env[] = {"ENABLE_PROFILING=",
                   "LOG_FILE=",
                   "LATENCY_CLASSES=",
                   "PID_FILE=",
                   "CONTROL_SOCKET=",
                   "WORKFLOW_STEP_DURATION_BUCKETS=",
                   "TRUSTED_PROXIES=",
                   "SLO_ALERT_WEBHOOK_URL=",
                   NULL};
    cr_assert_eq(load(&c, FX("good.yaml"), env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.enable_profiling, 0);
    cr_assert_str_eq(c.log_file, "");
    cr_assert_eq(c.n_latency_classes, 0);
    cr_assert_str_eq(c.pid_file, "");
    cr_assert_str_eq(c.control_socket, "");
    cr_assert_eq(c.n_step_duration_buckets, 8, "empty bucket list means the default");
    cr_assert_eq(c.step_duration_buckets[0], 0.05);
    cr_assert_str_eq(c.trusted_proxies, "");
    cr_assert_str_eq(c.slo_alert_webhook_url, "");
}

Test(config, yaml_nulls_are_empty_strings)
{
    abe_config_t c;
    char err[512];
    cr_assert_eq(load(&c, FX("null_values.yaml"), no_env, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.log_file, "");
    cr_assert_str_eq(c.pid_file, "", "an explicit empty PID_FILE means none, not the derived default");
    cr_assert_str_eq(c.control_socket, "data/advanced-backend.sock");
    cr_assert_eq(c.enable_profiling, 0);
    cr_assert_eq(c.n_latency_classes, 0);
    cr_assert_eq(c.n_step_duration_buckets, 8);
}

/* ---- booleans, numbers, enums ----------------------------------------------------------------------------
 */

Test(config, boolean_spellings)
{
    static const char *const truthy[] = {"true", "TRUE", "1", "yes", "Yes", "on", "ON", " true "};
    static const char *const falsy[] = {"false", "False", "0", "no", "NO", "off", "Off", ""};
    abe_config_t c;
    char kv[64];
    for (size_t i = 0; i < sizeof(truthy) / sizeof(truthy[0]); i++) {
        snprintf(kv, sizeof(kv), "ENABLE_PROFILING=%s", truthy[i]);
        load_env1(&c, kv);
        cr_assert_eq(c.enable_profiling, 1, "%s", kv);
    }
    char *env_on[] = {"ENABLE_TEST_ENDPOINTS=1", NULL};
    for (size_t i = 0; i < sizeof(falsy) / sizeof(falsy[0]); i++) {
        snprintf(kv, sizeof(kv), "ENABLE_TEST_ENDPOINTS=%s", falsy[i]);
        char err[512];
        cr_assert_eq(load(&c, EMPTY, env_on, err, sizeof(err)), 0);
        cr_assert_eq(c.enable_test_endpoints, 1);
        load_env1(&c, kv);
        cr_assert_eq(c.enable_test_endpoints, 0, "%s", kv);
    }
}

Test(config, bad_boolean_names_key)
{
    expect_env_error("ENABLE_PROFILING=maybe", "ENABLE_PROFILING");
    expect_env_error("ENABLE_TEST_ENDPOINTS=2", "ENABLE_TEST_ENDPOINTS");
    expect_env_error("ENABLE_TEST_ENDPOINTS=truee", "ENABLE_TEST_ENDPOINTS");
}

Test(config, bad_integer_names_key)
{
    expect_env_error("UVICORN_PORT=abc", "UVICORN_PORT");
    expect_env_error("UVICORN_PORT=1.5", "UVICORN_PORT");
    expect_env_error("UVICORN_PORT=", "UVICORN_PORT");
    expect_env_error("UVICORN_PORT=80a", "UVICORN_PORT");
    expect_env_error("UVICORN_PORT=0x50", "UVICORN_PORT");
    expect_env_error("UVICORN_WORKERS=+", "UVICORN_WORKERS");
    expect_env_error("WORKER_MAX_REQUESTS=99999999999999999999", "WORKER_MAX_REQUESTS");
    expect_env_error("WORKFLOW_EXECUTION_RETENTION=-99999999999999999999", "WORKFLOW_EXECUTION_RETENTION");
    expect_env_error("DB_MAX_QUEUE_SIZE=1e3", "DB_MAX_QUEUE_SIZE");
    expect_env_error("SLO_MIN_REQUESTS=ten", "SLO_MIN_REQUESTS");
    expect_env_error("SLO_ALERT_COOLDOWN_SECONDS=5s", "SLO_ALERT_COOLDOWN_SECONDS");
}

Test(config, integer_range_names_key)
{
    expect_env_error("UVICORN_PORT=0", "UVICORN_PORT");
    expect_env_error("UVICORN_PORT=65536", "UVICORN_PORT");
    expect_env_error("UVICORN_PORT=4294967297", "UVICORN_PORT"); /* would wrap to 1 in an int */
    expect_env_error("UVICORN_WORKERS=0", "UVICORN_WORKERS");
    expect_env_error("UVICORN_BACKLOG=0", "UVICORN_BACKLOG");
    expect_env_error("UVICORN_BACKLOG=65536", "UVICORN_BACKLOG");
    expect_env_error("UVICORN_WORKERS=65", "UVICORN_WORKERS");
    expect_env_error("GRACEFUL_TIMEOUT=0", "GRACEFUL_TIMEOUT");
    expect_env_error("GRACEFUL_TIMEOUT=3601", "GRACEFUL_TIMEOUT");
    expect_env_error("KEEPALIVE_TIMEOUT=-1", "KEEPALIVE_TIMEOUT");
    expect_env_error("KEEPALIVE_TIMEOUT=3601", "KEEPALIVE_TIMEOUT");
    expect_env_error("MAX_BODY_BYTES=1023", "MAX_BODY_BYTES");
    expect_env_error("MAX_BODY_BYTES=67108865", "MAX_BODY_BYTES");
    expect_env_error("WORKER_MAX_REQUESTS=-1", "WORKER_MAX_REQUESTS");
    expect_env_error("WORKER_MAX_BOOT_FAILURES=0", "WORKER_MAX_BOOT_FAILURES");
    expect_env_error("DB_MAX_QUEUE_SIZE=0", "DB_MAX_QUEUE_SIZE");
    expect_env_error("DB_BATCH_SIZE=0", "DB_BATCH_SIZE");
    expect_env_error("DB_BATCH_SIZE=10001", "DB_BATCH_SIZE");
    expect_env_error("MAX_PARALLEL_STEPS=0", "MAX_PARALLEL_STEPS");
    expect_env_error("MAX_PARALLEL_STEPS=501", "MAX_PARALLEL_STEPS");
    expect_env_error("METRICS_MAX_SERIES=9", "METRICS_MAX_SERIES");
    expect_env_error("METRICS_MAX_SERIES=100001", "METRICS_MAX_SERIES");
    expect_env_error("SLO_ERROR_RATE_WINDOW=0", "SLO_ERROR_RATE_WINDOW");
    expect_env_error("SLO_LATENCY_WINDOW=3601", "SLO_LATENCY_WINDOW");
    expect_env_error("SLO_ALERT_COOLDOWN_SECONDS=-5", "SLO_ALERT_COOLDOWN_SECONDS");
    expect_env_error("SLO_MIN_REQUESTS=0", "SLO_MIN_REQUESTS");
    char *env[] = {"UVICORN_PORT=65536", NULL};
    expect_error(EMPTY, env, "UVICORN_PORT", "between 1 and 65535");
}

Test(config, integer_range_edges_accepted)
{
    static const char *const ok[] = {"UVICORN_PORT=1",
                                     "UVICORN_PORT=65535",
                                     "UVICORN_WORKERS=64",
                                     "KEEPALIVE_TIMEOUT=0",
                                     "KEEPALIVE_TIMEOUT=3600",
                                     "MAX_BODY_BYTES=1024",
                                     "MAX_BODY_BYTES=67108864",
                                     "DB_BATCH_SIZE=10000",
                                     "METRICS_MAX_SERIES=100000",
                                     "WORKFLOW_EXECUTION_RETENTION=0",
                                     "UVICORN_PORT= 8080 ",
                                     "UVICORN_PORT=+8080"};
    abe_config_t c;
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        load_env1(&c, ok[i]);
    load_env1(&c, "WORKER_MAX_REQUESTS=9223372036854775807");
    cr_assert_eq(c.worker_max_requests, INT64_MAX);
    load_env1(&c, "UVICORN_PORT= 8080 ");
    cr_assert_eq(c.port, 8080);
}

Test(config, bad_number_names_key)
{
    expect_env_error("RATE_LIMIT_RPS=fast", "RATE_LIMIT_RPS");
    expect_env_error("RATE_LIMIT_RPS=-1", "RATE_LIMIT_RPS");
    expect_env_error("RATE_LIMIT_RPS=nan", "RATE_LIMIT_RPS");
    expect_env_error("RATE_LIMIT_RPS=inf", "RATE_LIMIT_RPS");
    expect_env_error("RATE_LIMIT_RPS=1e999", "RATE_LIMIT_RPS");
    expect_env_error("RATE_LIMIT_BURST=-0.5", "RATE_LIMIT_BURST");
    expect_env_error("SLO_ERROR_RATE_THRESHOLD=1.01", "SLO_ERROR_RATE_THRESHOLD");
    expect_env_error("SLO_ERROR_RATE_THRESHOLD=", "SLO_ERROR_RATE_THRESHOLD");
    expect_env_error("SLO_ERROR_RATE_5XX_THRESHOLD=-0.1", "SLO_ERROR_RATE_5XX_THRESHOLD");
    expect_env_error("SLO_ERROR_RATE_4XX_THRESHOLD=2", "SLO_ERROR_RATE_4XX_THRESHOLD");
    expect_env_error("SLO_LATENCY_P95_THRESHOLD=-1", "SLO_LATENCY_P95_THRESHOLD");
    expect_env_error("SLO_LATENCY_P95_THRESHOLD=0x10", "SLO_LATENCY_P95_THRESHOLD");
    abe_config_t c;
    load_env1(&c, "SLO_ERROR_RATE_4XX_THRESHOLD=0");
    cr_assert_eq(c.slo_error_rate_4xx_threshold, 0.0);
    load_env1(&c, "SLO_LATENCY_P95_THRESHOLD=2.5e-1");
    cr_assert_eq(c.slo_latency_p95_threshold, 0.25);
}

Test(config, bad_enum_names_key)
{
    expect_env_error("LOG_LEVEL=verbose", "LOG_LEVEL");
    expect_env_error("LOG_LEVEL=", "LOG_LEVEL");
    expect_env_error("LOG_LEVEL=warn", "LOG_LEVEL");
    expect_env_error("LOG_FORMAT=xml", "LOG_FORMAT");
    expect_env_error("LOG_FORMAT=", "LOG_FORMAT");
    abe_config_t c;
    static const char *const levels[] = {"debug", "INFO", "Warning", "error", "CRITICAL"};
    for (int i = 0; i < 5; i++) {
        char kv[64];
        snprintf(kv, sizeof(kv), "LOG_LEVEL=%s", levels[i]);
        load_env1(&c, kv);
        cr_assert_eq((int)c.log_level, i);
    }
    load_env1(&c, "LOG_FORMAT=JSON");
    cr_assert_eq(c.log_json, 1);
}

Test(config, log_level_names)
{
    cr_assert_str_eq(abe_config_log_level_name(ABE_LOG_DEBUG), "debug");
    cr_assert_str_eq(abe_config_log_level_name(ABE_LOG_INFO), "info");
    cr_assert_str_eq(abe_config_log_level_name(ABE_LOG_WARNING), "warning");
    cr_assert_str_eq(abe_config_log_level_name(ABE_LOG_ERROR), "error");
    cr_assert_str_eq(abe_config_log_level_name(ABE_LOG_CRITICAL), "critical");
    cr_assert_str_eq(abe_config_log_level_name((abe_log_level_t)42), "info");
}

/* ---- strings
 * ----------------------------------------------------------------------------------------------- */

Test(config, required_strings_must_not_be_empty)
{
    expect_env_error("DB_PATH=", "DB_PATH");
    expect_env_error("UVICORN_HOST=", "UVICORN_HOST");
    expect_env_error("AGENTS_CONFIG_DIR=", "AGENTS_CONFIG_DIR");
}

Test(config, overlong_strings_are_errors_not_truncated)
{
    static char kv[ABE_CFG_STR_MAX + 64];
    expect_env_error(fill(kv, sizeof(kv), "DB_PATH=/", 'a', ABE_CFG_PATH_MAX - 1, ""), "DB_PATH");
    expect_env_error(fill(kv, sizeof(kv), "UVICORN_HOST=", 'h', 256, ""), "UVICORN_HOST");
    expect_env_error(fill(kv, sizeof(kv), "SLO_ALERT_WEBHOOK_URL=http://x/", 'u', ABE_CFG_STR_MAX, ""),
                     "SLO_ALERT_WEBHOOK_URL");
    strcpy(kv, "TRUSTED_PROXIES=");
    while (strlen(kv) < ABE_CFG_STR_MAX + 32)
        strcat(kv, "10.10.10.10,");
    expect_env_error(kv, "TRUSTED_PROXIES");

    /* exactly at the limit is fine */
    abe_config_t c;
    load_env1(&c, fill(kv, sizeof(kv), "LOG_FILE=", 'l', ABE_CFG_PATH_MAX - 1, ""));
    cr_assert_eq(strlen(c.log_file), (size_t)ABE_CFG_PATH_MAX - 1);
    load_env1(&c, fill(kv, sizeof(kv), "UVICORN_HOST=", 'h', 255, ""));
    cr_assert_eq(strlen(c.host), 255);

    /* and from the file */
    static char text[ABE_CFG_PATH_MAX + 64];
    fill(text, sizeof(text), "LOG_FILE: ", 'f', ABE_CFG_PATH_MAX, "\n");
    expect_error(write_temp("long.yaml", text), no_env, "LOG_FILE", "too long");
}

Test(config, nul_byte_in_file_value_is_rejected)
{
    expect_error(FX("nul_byte.yaml"), no_env, "DB_PATH", "NUL");
}

/* ---- file errors
 * ------------------------------------------------------------------------------------------- */

Test(config, unknown_key_is_named)
{
    expect_error(FX("unknown_key.yaml"), no_env, "LISTEN_BACKLOG", "unknown key");
    expect_error(write_temp("cf.yaml", "CONFIG_FILE: other.yaml\n"), no_env, "CONFIG_FILE", "unknown key");
    expect_error(write_temp("nm.yaml", "NOTIFY_SOCKET: /run/x\n"), no_env, "NOTIFY_SOCKET", "unknown key");
}

Test(config, missing_explicit_file_is_error)
{
    expect_error(FX("does-not-exist.yaml"), no_env, "CONFIG_FILE", "does-not-exist.yaml");
    expect_error(FX(""), no_env, "CONFIG_FILE", "regular file"); /* a directory */
    expect_error("", no_env, "CONFIG_FILE", NULL);
}

Test(config, yaml_syntax_error_names_file_and_line)
{
    expect_error(FX("syntax_error.yaml"), no_env, "CONFIG_FILE", "syntax_error.yaml: line 3");
    expect_error(write_temp("tab.yaml", "UVICORN_PORT: 1\n\tLOG_LEVEL: info\n"), no_env, "CONFIG_FILE",
                 "line 2");
    expect_error(write_temp("bin.yaml", "UVICORN_PORT: 1\nLOG_LEVEL: \xff\xfe\n"), no_env, "CONFIG_FILE",
                 "bin.yaml: byte ");
}

Test(config, non_mapping_top_level_is_error)
{
    expect_error(FX("not_mapping.yaml"), no_env, "CONFIG_FILE", "mapping");
    expect_error(FX("scalar_top.yaml"), no_env, "CONFIG_FILE", "mapping");
}

Test(config, structural_file_errors)
{
    expect_error(FX("duplicate_key.yaml"), no_env, "UVICORN_PORT", "more than once");
    expect_error(FX("seq_for_scalar.yaml"), no_env, "UVICORN_PORT", "not a list");
    expect_error(FX("mapping_value.yaml"), no_env, "LOG_LEVEL", "mapping");
    expect_error(FX("nested_list_item.yaml"), no_env, "LATENCY_CLASSES", "list items");
    expect_error(FX("two_docs.yaml"), no_env, "CONFIG_FILE", "more than one");
    expect_error(FX("complex_key.yaml"), no_env, "CONFIG_FILE", "keys");
}

Test(config, bad_value_in_file_names_key_file_and_line)
{
    expect_error(FX("bad_value.yaml"), no_env, "UVICORN_PORT", "bad_value.yaml line 3");
}

Test(config, bad_file_value_is_error_even_if_env_overrides)
{
    char *env[] = {"UVICORN_PORT=9000", NULL};
    expect_error(FX("bad_value.yaml"), env, "UVICORN_PORT", "\"eighty\"");
}

Test(config, error_buffer_is_truncated_safely)
{
    abe_config_t c;
    char err[16];
    memset(err, 'x', sizeof(err));
    char *env[] = {"UVICORN_PORT=abc", NULL};
    cr_assert_eq(load(&c, EMPTY, env, err, sizeof(err)), -1);
    cr_assert_eq(strlen(err), sizeof(err) - 1);
    cr_assert_eq(strncmp(err, "config error: U", 15), 0);
    cr_assert_eq(load(&c, EMPTY, env, NULL, 0), -1);
}

/* ---- lists
 * --------------------------------------------------------------------------------------------------- */

Test(config, lists_as_comma_strings_in_file)
{
    abe_config_t c;
    char err[512];
    cr_assert_eq(load(&c, FX("lists_comma.yaml"), no_env, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.trusted_proxies, "10.0.0.0/8,2001:db8::1");
    cr_assert_eq(c.n_step_duration_buckets, 3);
    cr_assert_eq(c.step_duration_buckets[0], 0.25);
    cr_assert_eq(c.step_duration_buckets[1], 1.0);
    cr_assert_eq(c.step_duration_buckets[2], 10.0);
    cr_assert_eq(c.n_latency_classes, 3);
    cr_assert_eq(c.latency_classes_ms[0], 50);
    cr_assert_eq(c.latency_classes_ms[1], 100);
    cr_assert_eq(c.latency_classes_ms[2], 250);
}

Test(config, bucket_normalisation)
{
    abe_config_t c;
    load_env1(&c, "WORKFLOW_STEP_DURATION_BUCKETS=5, 0.1, -1, 0, 0.1, 2.5,5");
    cr_assert_eq(c.n_step_duration_buckets, 3);
    cr_assert_eq(c.step_duration_buckets[0], 0.1);
    cr_assert_eq(c.step_duration_buckets[1], 2.5);
    cr_assert_eq(c.step_duration_buckets[2], 5.0);
    load_env1(&c, "WORKFLOW_STEP_DURATION_BUCKETS=0,-1,-0.5");
    cr_assert_eq(c.n_step_duration_buckets, 8, "all dropped means the default");
    cr_assert_eq(c.step_duration_buckets[7], 10.0);
    expect_env_error("WORKFLOW_STEP_DURATION_BUCKETS=0.1,abc", "WORKFLOW_STEP_DURATION_BUCKETS");
    expect_env_error("WORKFLOW_STEP_DURATION_BUCKETS=1;2", "WORKFLOW_STEP_DURATION_BUCKETS");
    expect_env_error("WORKFLOW_STEP_DURATION_BUCKETS=inf", "WORKFLOW_STEP_DURATION_BUCKETS");
    expect_error(write_temp("b.yaml", "WORKFLOW_STEP_DURATION_BUCKETS: [0.1, fast]\n"), no_env,
                 "WORKFLOW_STEP_DURATION_BUCKETS", "\"fast\"");
}

Test(config, list_capacity)
{
    static char kv[4096];
    /* 65 distinct values are too many ... */
    size_t p = (size_t)snprintf(kv, sizeof(kv), "WORKFLOW_STEP_DURATION_BUCKETS=");
    for (int i = 1; i <= ABE_CFG_LIST_MAX + 1; i++)
        p += (size_t)snprintf(kv + p, sizeof(kv) - p, "%d,", i);
    expect_env_error(kv, "WORKFLOW_STEP_DURATION_BUCKETS");
    /* ... but 64 distinct values given twice are fine */
    p = (size_t)snprintf(kv, sizeof(kv), "LATENCY_CLASSES=");
    for (int r = 0; r < 2; r++)
        for (int i = ABE_CFG_LIST_MAX; i >= 1; i--)
            p += (size_t)snprintf(kv + p, sizeof(kv) - p, "%d,", i);
    abe_config_t c;
    load_env1(&c, kv);
    cr_assert_eq(c.n_latency_classes, ABE_CFG_LIST_MAX);
    for (int i = 0; i < ABE_CFG_LIST_MAX; i++)
        cr_assert_eq(c.latency_classes_ms[i], i + 1);
    kv[strlen("LATENCY_CLASSES=")] = '\0';
    strcat(kv, "1");
    for (int i = 2; i <= ABE_CFG_LIST_MAX + 1; i++)
        snprintf(kv + strlen(kv), sizeof(kv) - strlen(kv), ",%d", i);
    expect_env_error(kv, "LATENCY_CLASSES");
}

Test(config, latency_classes)
{
    abe_config_t c;
    load_env1(&c, "LATENCY_CLASSES=500, 50,50 ,100");
    cr_assert_eq(c.n_latency_classes, 3);
    cr_assert_eq(c.latency_classes_ms[0], 50);
    cr_assert_eq(c.latency_classes_ms[1], 100);
    cr_assert_eq(c.latency_classes_ms[2], 500);
    load_env1(&c, "LATENCY_CLASSES=");
    cr_assert_eq(c.n_latency_classes, 0, "\"\" means unclassified");
    expect_env_error("LATENCY_CLASSES=0", "LATENCY_CLASSES");
    expect_env_error("LATENCY_CLASSES=50,-100", "LATENCY_CLASSES");
    expect_env_error("LATENCY_CLASSES=1.5", "LATENCY_CLASSES");
    expect_env_error("LATENCY_CLASSES=fast", "LATENCY_CLASSES");
    expect_env_error("LATENCY_CLASSES=3000000000", "LATENCY_CLASSES");
}

Test(config, trusted_proxies)
{
    abe_config_t c;
    load_env1(&c, "TRUSTED_PROXIES=10.0.0.1, 192.168.0.0/16 , ::1,2001:db8::/32");
    cr_assert_str_eq(c.trusted_proxies, "10.0.0.1,192.168.0.0/16,::1,2001:db8::/32");
    load_env1(&c, "TRUSTED_PROXIES=0.0.0.0/0,::/0");
    cr_assert_str_eq(c.trusted_proxies, "0.0.0.0/0,::/0");
    expect_env_error("TRUSTED_PROXIES=10.0.0.300", "TRUSTED_PROXIES");
    expect_env_error("TRUSTED_PROXIES=10.0.0.0/33", "TRUSTED_PROXIES");
    expect_env_error("TRUSTED_PROXIES=::1/129", "TRUSTED_PROXIES");
    expect_env_error("TRUSTED_PROXIES=10.0.0.0/", "TRUSTED_PROXIES");
    expect_env_error("TRUSTED_PROXIES=10.0.0.0/-1", "TRUSTED_PROXIES");
    expect_env_error("TRUSTED_PROXIES=proxy.example.com", "TRUSTED_PROXIES");
    expect_error(write_temp("p.yaml", "TRUSTED_PROXIES: [10.0.0.1, nope]\n"), no_env, "TRUSTED_PROXIES",
                 "\"nope\"");
}

/* ---- derived defaults -------------------------------------------------------------------------------------
 */

Test(config, pid_file_and_control_socket_follow_db_path)
{
    abe_config_t c;
    load_env1(&c, "DB_PATH=/tmp/advanced-backend/platform.db");
    cr_assert_str_eq(c.pid_file, "/tmp/advanced-backend/advanced-backend.pid");
    cr_assert_str_eq(c.control_socket, "/tmp/advanced-backend/advanced-backend.sock");
    load_env1(&c, "DB_PATH=platform.db");
    cr_assert_str_eq(c.pid_file, "./advanced-backend.pid");
    cr_assert_str_eq(c.control_socket, "./advanced-backend.sock");
    load_env1(&c, "DB_PATH=/platform.db");
    cr_assert_str_eq(c.pid_file, "/advanced-backend.pid");
    load_env1(&c, "DB_PATH=a//b.db");
    cr_assert_str_eq(c.pid_file, "a/advanced-backend.pid");

    char err[512];
    char *env[] = {"DB_PATH=/srv/db/x.db", "CONTROL_SOCKET=/run/abe.sock", NULL};
    cr_assert_eq(load(&c, EMPTY, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.pid_file, "/srv/db/advanced-backend.pid");
    cr_assert_str_eq(c.control_socket, "/run/abe.sock");

    /* DB_PATH from the file, PID_FILE from the file, socket derived */
    cr_assert_eq(load(&c, FX("overall_only.yaml"), env + 2, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.pid_file, "/tmp/abe.pid");
    cr_assert_str_eq(c.control_socket, "data/advanced-backend.sock");
}

Test(config, control_socket_must_fit_a_unix_socket)
{
    static char kv[512];
    char *env1[] = {fill(kv, sizeof(kv), "DB_PATH=/", 'd', 150, "/platform.db"), NULL};
    expect_error(EMPTY, env1, "CONTROL_SOCKET", "derived from DB_PATH");
    char *env2[] = {fill(kv, sizeof(kv), "CONTROL_SOCKET=/", 's', 120, ""), NULL};
    expect_error(EMPTY, env2, "CONTROL_SOCKET", "Unix socket");
    char *env[] = {kv, "CONTROL_SOCKET=/run/abe.sock", NULL};
    fill(kv, sizeof(kv), "DB_PATH=/", 'd', 150, "/platform.db");
    abe_config_t c;
    char err[512];
    cr_assert_eq(load(&c, EMPTY, env, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_eq(c.control_socket, "/run/abe.sock");
}

Test(config, derived_pid_file_too_long_is_error)
{
    static char kv[ABE_CFG_PATH_MAX + 64];
    fill(kv, sizeof(kv), "DB_PATH=/", 'd', ABE_CFG_PATH_MAX - 20, "/x.db");
    char *env[] = {kv, "CONTROL_SOCKET=/run/abe.sock", NULL};
    expect_error(EMPTY, env, "PID_FILE", "DB_PATH");
}

Test(config, slo_5xx_threshold_follows_overall)
{
    abe_config_t c;
    char err[512];
    load_env1(&c, "SLO_ERROR_RATE_THRESHOLD=0.2");
    cr_assert_eq(c.slo_error_rate_5xx_threshold, 0.2);

    cr_assert_eq(load(&c, FX("overall_only.yaml"), no_env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.slo_error_rate_threshold, 0.3);
    cr_assert_eq(c.slo_error_rate_5xx_threshold, 0.3);

    char *env[] = {"SLO_ERROR_RATE_THRESHOLD=0.4", NULL};
    cr_assert_eq(load(&c, FX("overall_only.yaml"), env, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.slo_error_rate_5xx_threshold, 0.4, "follows the effective (env) overall threshold");

    char *env2[] = {"SLO_ERROR_RATE_5XX_THRESHOLD=0.01", NULL};
    cr_assert_eq(load(&c, FX("overall_only.yaml"), env2, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.slo_error_rate_threshold, 0.3);
    cr_assert_eq(c.slo_error_rate_5xx_threshold, 0.01);

    char *env3[] = {"SLO_ERROR_RATE_THRESHOLD=0.9", NULL};
    cr_assert_eq(load(&c, FX("good.yaml"), env3, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(c.slo_error_rate_5xx_threshold, 0.15, "an explicit file value is kept");
}

Test(config, reload_failure_keeps_previous_config)
{
    abe_config_t c;
    char err[512];
    cr_assert_eq(load(&c, FX("good.yaml"), no_env, err, sizeof(err)), 0, "%s", err);
    abe_config_t before;
    memcpy(&before, &c, sizeof(c));
    cr_assert_eq(load(&c, FX("bad_value.yaml"), no_env, err, sizeof(err)), -1);
    cr_assert(memcmp(&before, &c, sizeof(c)) == 0);
    cr_assert_eq(c.port, 9000);
}

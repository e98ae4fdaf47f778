/*
 * abe_config.h — daemon configuration (SPEC §10).
 *
 * Layers: built-in defaults, then the YAML file (flat mapping, keys case-insensitive, parsed with libyaml),
 * then the environment, which always wins (even when set to ""). The supervisor loads it once before fork;
 * workers and the persistence process inherit the struct by copy-on-write. All strings are owned by the
 * struct (fixed buffers), so the struct can be copied with memcpy and needs no free.
 */
#ifndef ABE_CONFIG_H
#define ABE_CONFIG_H

#include <stddef.h>
#include <stdint.h>

#define ABE_CFG_PATH_MAX 1024
#define ABE_CFG_STR_MAX 2048
#define ABE_CFG_LIST_MAX 64

typedef enum { ABE_LOG_DEBUG = 0, ABE_LOG_INFO, ABE_LOG_WARNING, ABE_LOG_ERROR, ABE_LOG_CRITICAL } abe_log_level_t;

typedef struct abe_config {
    char host[256];                 /* UVICORN_HOST, default "0.0.0.0" */
    int port;                       /* UVICORN_PORT 1..65535, default 8000 */
    int workers;                    /* UVICORN_WORKERS 1..64, default 2 */
    int backlog;                    /* UVICORN_BACKLOG 1..65535, default 2048 (uvicorn's): listen(2) backlog;
                                     * not in SPEC §10 — the foundation issue asks for it; the kernel caps it at
                                     * net.core.somaxconn */
    int graceful_timeout_s;         /* GRACEFUL_TIMEOUT 1..3600, default 30 */
    int keepalive_timeout_s;        /* KEEPALIVE_TIMEOUT 0..3600, default 10 */
    int64_t max_body_bytes;         /* MAX_BODY_BYTES 1024..67108864, default 1048576 */
    int64_t worker_max_requests;    /* WORKER_MAX_REQUESTS >=0, default 0 */
    int worker_max_boot_failures;   /* WORKER_MAX_BOOT_FAILURES >=1, default 5 */
    char trusted_proxies[ABE_CFG_STR_MAX]; /* TRUSTED_PROXIES, checked IPs/CIDRs, ","-joined */
    char pid_file[ABE_CFG_PATH_MAX];       /* PID_FILE, default <dir of DB_PATH>/advanced-backend.pid; "" = none */
    char control_socket[ABE_CFG_PATH_MAX]; /* CONTROL_SOCKET, <dir of DB_PATH>/advanced-backend.sock; "" = none */
    abe_log_level_t log_level;      /* LOG_LEVEL, default info */
    int log_json;                   /* LOG_FORMAT=json -> 1, plain -> 0 */
    char log_file[ABE_CFG_PATH_MAX];/* LOG_FILE, "" = stderr */
    char db_path[ABE_CFG_PATH_MAX]; /* DB_PATH, default "data/platform.db" */
    int64_t db_max_queue_size;      /* DB_MAX_QUEUE_SIZE >=1, default 5000 */
    int db_batch_size;              /* DB_BATCH_SIZE 1..10000, default 256 */
    char agents_config_dir[ABE_CFG_PATH_MAX]; /* AGENTS_CONFIG_DIR, default "conf" */
    int64_t workflow_execution_retention;     /* WORKFLOW_EXECUTION_RETENTION, default 1000; <=0 disables */
    double step_duration_buckets[ABE_CFG_LIST_MAX]; /* WORKFLOW_STEP_DURATION_BUCKETS, seconds, sorted unique */
    int n_step_duration_buckets;
    int max_parallel_steps;         /* MAX_PARALLEL_STEPS 1..500, default 16 */
    int enable_profiling;           /* ENABLE_PROFILING bool */
    int enable_test_endpoints;      /* ENABLE_TEST_ENDPOINTS bool */
    int latency_classes_ms[ABE_CFG_LIST_MAX]; /* LATENCY_CLASSES, sorted unique positive ms */
    int n_latency_classes;          /* 0 = "unclassified" */
    int metrics_max_series;         /* METRICS_MAX_SERIES 10..100000, default 1000 */
    double rate_limit_rps;          /* RATE_LIMIT_RPS >=0, default 0 (off) */
    double rate_limit_burst;        /* RATE_LIMIT_BURST >=0, default 0 */
    char slo_alert_webhook_url[ABE_CFG_STR_MAX]; /* SLO_ALERT_WEBHOOK_URL, "" = off */
    double slo_error_rate_threshold;     /* 0..1, default 0.05 */
    double slo_error_rate_5xx_threshold; /* 0..1, default = overall */
    double slo_error_rate_4xx_threshold; /* 0..1, default 0.10 */
    double slo_latency_p95_threshold;    /* seconds >=0, default 0.750 */
    int slo_error_rate_window_s;         /* 1..3600, default 300 */
    int slo_latency_window_s;            /* 1..3600, default 300 */
    int64_t slo_alert_cooldown_s;        /* >=0, default 300 */
    int64_t slo_min_requests;            /* >=1, default 1 */
    char config_file[ABE_CFG_PATH_MAX];  /* the file actually read, "" if none */
} abe_config_t;

/*
 * abe_config_defaults — fill *cfg with the SPEC §10 built-in defaults (derived defaults such as PID_FILE
 * are resolved by abe_config_load). Never fails.
 */
void abe_config_defaults(abe_config_t *cfg);

/*
 * abe_config_load — build the effective configuration: defaults, then the YAML file, then the environment.
 *   path:     file to read; NULL means the default "conf/advanced-backend.yaml" (a missing default file is
 *             fine). When path is non-NULL (from --config or CONFIG_FILE) a missing file is an error.
 *   envp:     environment to read overrides from (NULL = the process environ).
 *   err/errlen: on failure receives "config error: <KEY>: <reason>" (NUL-terminated, truncated to errlen).
 * Returns 0 on success, -1 on any error (unknown key, bad type/range, unreadable/unparsable file). On
 * failure *cfg is left unchanged, so a failed SIGHUP reload keeps the running configuration.
 * Strings longer than their buffers are an error (never truncated); the YAML file is capped at 1 MiB.
 * PID_FILE / CONTROL_SOCKET not set anywhere are derived from the effective DB_PATH;
 * SLO_ERROR_RATE_5XX_THRESHOLD not set anywhere follows SLO_ERROR_RATE_THRESHOLD. CONFIG_FILE is not a
 * key: the caller resolves it into path. cfg->config_file records the file actually read ("" if none).
 * Implements SPEC §10.
 */
int abe_config_load(abe_config_t *cfg, const char *path, char *const *envp, char *err, size_t errlen);

/* abe_config_log_level_name — "debug".."critical" for a level; static string. */
const char *abe_config_log_level_name(abe_log_level_t lvl);

#endif

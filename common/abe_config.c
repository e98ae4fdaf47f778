/*
 * abe_config.c — the daemon's configuration loader (SPEC §10, exit 78 of §11.1).
 *
 * One descriptor table (g_keys) lists every SPEC §10 daemon variable with its type, the offset of its field
 * in abe_config_t and its range. Loading is three layers over a private copy of the struct:
 *   1. abe_config_defaults();
 *   2. the YAML file, read whole (size-capped) and parsed with libyaml's document loader: a flat mapping
 * whose keys match table names case-insensitively; values are scalars, or for list keys a sequence of
 * scalars;
 *   3. the environment (exact upper-case names), which always wins, even when set to "".
 * Then derived values are resolved (PID_FILE / CONTROL_SOCKET from DB_PATH, SLO_ERROR_RATE_5XX_THRESHOLD from
 * the overall threshold) and the copy is published to the caller only when everything is valid, so a failed
 * SIGHUP reload leaves the running configuration untouched. Every error is reported as
 * "config error: <KEY>: <reason>"; the supervisor prints it and exits 78.
 */
#include "abe_config.h"

#include <arpa/inet.h>
#include <ctype.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <math.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <unistd.h>
#include <yaml.h>

extern char **environ;

#define DEFAULT_CONFIG_PATH "conf/advanced-backend.yaml"
#define CONFIG_FILE_MAX_BYTES (1024 * 1024) /* a flat settings file is a few KiB; refuse anything absurd */
#define SHOWN_VALUE_MAX 48                  /* bytes of a bad value echoed back in an error message */
#define NUMBER_TEXT_MAX 64                  /* longest text accepted as a number */
#define KEY_NAME_MAX 64                     /* longest key name looked up in the table */

static const double k_default_buckets[] = {0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10};
static const int k_default_latency_classes[] = {50, 100, 250, 500};
static const char *const k_level_names[] = {"debug", "info", "warning", "error", "critical"};

/* ---- descriptor table ------------------------------------------------------------------------------------
 */

typedef enum {
    K_STR,       /* char[size]; F_NONEMPTY rejects "" */
    K_INT,       /* int in [imin, imax] */
    K_I64,       /* int64_t in [imin, imax] */
    K_DBL,       /* double in [dmin, dmax] */
    K_BOOL,      /* int 0/1 */
    K_LOGLEVEL,  /* abe_log_level_t */
    K_LOGFORMAT, /* int log_json */
    K_BUCKETS,   /* step_duration_buckets + n_step_duration_buckets */
    K_LATENCY,   /* latency_classes_ms + n_latency_classes */
    K_PROXIES,   /* char[size], normalised comma list of IPs / CIDRs */
} key_type_t;

#define F_NONEMPTY 1u

typedef struct {
    const char *name;
    key_type_t type;
    size_t off;
    size_t size;
    int64_t imin, imax;
    double dmin, dmax;
    unsigned flags;
} key_desc_t;

#define FIELD_SIZE(f) sizeof(((abe_config_t *)0)->f)
#define D_STR(n, f, fl)                                                                                      \
    {                                                                                                        \
        n, K_STR, offsetof(abe_config_t, f), FIELD_SIZE(f), 0, 0, 0, 0, fl                                   \
    }
#define D_INT(n, f, lo, hi)                                                                                  \
    {                                                                                                        \
        n, K_INT, offsetof(abe_config_t, f), 0, lo, hi, 0, 0, 0                                              \
    }
#define D_I64(n, f, lo, hi)                                                                                  \
    {                                                                                                        \
        n, K_I64, offsetof(abe_config_t, f), 0, lo, hi, 0, 0, 0                                              \
    }
#define D_DBL(n, f, lo, hi)                                                                                  \
    {                                                                                                        \
        n, K_DBL, offsetof(abe_config_t, f), 0, 0, 0, lo, hi, 0                                              \
    }
#define D_BOOL(n, f)                                                                                         \
    {                                                                                                        \
        n, K_BOOL, offsetof(abe_config_t, f), 0, 0, 0, 0, 0, 0                                               \
    }
#define D_OTHER(n, t, f)                                                                                     \
    {                                                                                                        \
        n, t, offsetof(abe_config_t, f), FIELD_SIZE(f), 0, 0, 0, 0, 0                                        \
    }

static const key_desc_t g_keys[] = {
    D_STR("UVICORN_HOST", host, F_NONEMPTY),
    D_INT("UVICORN_PORT", port, 1, 65535),
    D_INT("UVICORN_WORKERS", workers, 1, 64),
    D_INT("UVICORN_BACKLOG", backlog, 1, 65535),
    D_INT("GRACEFUL_TIMEOUT", graceful_timeout_s, 1, 3600),
    D_INT("KEEPALIVE_TIMEOUT", keepalive_timeout_s, 0, 3600),
    D_I64("MAX_BODY_BYTES", max_body_bytes, 1024, 67108864),
    D_I64("WORKER_MAX_REQUESTS", worker_max_requests, 0, INT64_MAX),
    D_INT("WORKER_MAX_BOOT_FAILURES", worker_max_boot_failures, 1, INT_MAX),
    D_OTHER("TRUSTED_PROXIES", K_PROXIES, trusted_proxies),
    D_STR("PID_FILE", pid_file, 0),
    D_STR("CONTROL_SOCKET", control_socket, 0),
    D_OTHER("LOG_LEVEL", K_LOGLEVEL, log_level),
    D_OTHER("LOG_FORMAT", K_LOGFORMAT, log_json),
    D_STR("LOG_FILE", log_file, 0),
    D_STR("DB_PATH", db_path, F_NONEMPTY),
    D_I64("DB_MAX_QUEUE_SIZE", db_max_queue_size, 1, INT64_MAX),
    D_INT("DB_BATCH_SIZE", db_batch_size, 1, 10000),
    D_STR("AGENTS_CONFIG_DIR", agents_config_dir, F_NONEMPTY),
    D_I64("WORKFLOW_EXECUTION_RETENTION", workflow_execution_retention, INT64_MIN, INT64_MAX),
    D_OTHER("WORKFLOW_STEP_DURATION_BUCKETS", K_BUCKETS, step_duration_buckets),
    D_INT("MAX_PARALLEL_STEPS", max_parallel_steps, 1, 500),
    D_BOOL("ENABLE_PROFILING", enable_profiling),
    D_BOOL("ENABLE_TEST_ENDPOINTS", enable_test_endpoints),
    D_OTHER("LATENCY_CLASSES", K_LATENCY, latency_classes_ms),
    D_INT("METRICS_MAX_SERIES", metrics_max_series, 10, 100000),
    D_DBL("RATE_LIMIT_RPS", rate_limit_rps, 0, HUGE_VAL),
    D_DBL("RATE_LIMIT_BURST", rate_limit_burst, 0, HUGE_VAL),
    D_STR("SLO_ALERT_WEBHOOK_URL", slo_alert_webhook_url, 0),
    D_DBL("SLO_ERROR_RATE_THRESHOLD", slo_error_rate_threshold, 0, 1),
    D_DBL("SLO_ERROR_RATE_5XX_THRESHOLD", slo_error_rate_5xx_threshold, 0, 1),
    D_DBL("SLO_ERROR_RATE_4XX_THRESHOLD", slo_error_rate_4xx_threshold, 0, 1),
    D_DBL("SLO_LATENCY_P95_THRESHOLD", slo_latency_p95_threshold, 0, HUGE_VAL),
    D_INT("SLO_ERROR_RATE_WINDOW", slo_error_rate_window_s, 1, 3600),
    D_INT("SLO_LATENCY_WINDOW", slo_latency_window_s, 1, 3600),
    D_I64("SLO_ALERT_COOLDOWN_SECONDS", slo_alert_cooldown_s, 0, INT64_MAX),
    D_I64("SLO_MIN_REQUESTS", slo_min_requests, 1, INT64_MAX),
};

#define N_KEYS (sizeof(g_keys) / sizeof(g_keys[0]))

/* Per-load state: where errors go and which keys some layer set explicitly. */
typedef struct {
    char *err;
    size_t errlen;
    const char *path; /* file being read, for messages */
    unsigned char set[N_KEYS];
} load_ctx_t;

/* One value to apply: a scalar (n == 1, !is_seq) or the items of a YAML sequence. */
typedef struct {
    const char *s;
    size_t len;
} item_t;

typedef struct {
    const item_t *items;
    size_t n;
    int is_seq;
    char where[ABE_CFG_PATH_MAX + 32]; /* "from the environment" or "<file> line N", for messages */
} value_t;

/* ---- helpers ---------------------------------------------------------------------------------------------
 */

static int cfg_error(load_ctx_t *ctx, const char *key, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

static int cfg_error(load_ctx_t *ctx, const char *key, const char *fmt, ...)
{
    if (ctx->err != NULL && ctx->errlen > 0) {
        int n = snprintf(ctx->err, ctx->errlen, "config error: %s: ", key);
        if (n >= 0 && (size_t)n < ctx->errlen) {
            va_list ap;
            va_start(ap, fmt);
            vsnprintf(ctx->err + n, ctx->errlen - (size_t)n, fmt, ap);
            va_end(ap);
        }
    }
    return -1;
}

/* Render untrusted bytes for an error message: printable ASCII only, capped, into out[SHOWN_VALUE_MAX + 4].
 */
static const char *show(const char *s, size_t len, char *out, size_t outsz)
{
    size_t o = 0;
    for (size_t i = 0; i < len && o + 4 < outsz; i++) {
        unsigned char c = (unsigned char)s[i];
        out[o++] = (c >= 0x20 && c < 0x7f && c != '"') ? (char)c : '?';
    }
    if (len > 0 && o < len && o + 3 < outsz) {
        memcpy(out + o, "...", 3);
        o += 3;
    }
    out[o] = '\0';
    return out;
}

static int is_space(char c)
{
    return c == ' ' || c == '\t' || c == '\r' || c == '\n';
}

/* Trim surrounding whitespace of s[0..len) into buf (NUL-terminated). Returns -1 if it does not fit. */
static int trim_copy(const char *s, size_t len, char *buf, size_t bufsz)
{
    while (len > 0 && is_space(s[0])) {
        s++;
        len--;
    }
    while (len > 0 && is_space(s[len - 1]))
        len--;
    if (len >= bufsz) return -1;
    memcpy(buf, s, len);
    buf[len] = '\0';
    return 0;
}

/* Strict base-10 integer: optional sign, digits only, no overflow. */
static int parse_i64(const char *s, size_t len, int64_t *out)
{
    char buf[NUMBER_TEXT_MAX];
    if (trim_copy(s, len, buf, sizeof(buf)) != 0 || buf[0] == '\0') return -1;
    const char *p = buf + ((buf[0] == '+' || buf[0] == '-') ? 1 : 0);
    if (*p == '\0') return -1;
    for (const char *q = p; *q; q++)
        if (!isdigit((unsigned char)*q)) return -1;
    errno = 0;
    char *end = NULL;
    long long v = strtoll(buf, &end, 10);
    if (errno == ERANGE || end == NULL || *end != '\0') return -1;
    *out = (int64_t)v;
    return 0;
}

/* Finite decimal number ("1", "0.25", "1e-3"); rejects hex, inf and nan. */
static int parse_double(const char *s, size_t len, double *out)
{
    char buf[NUMBER_TEXT_MAX];
    if (trim_copy(s, len, buf, sizeof(buf)) != 0 || buf[0] == '\0') return -1;
    int digits = 0;
    for (const char *q = buf; *q; q++) {
        if (isdigit((unsigned char)*q))
            digits = 1;
        else if (strchr("+-.eE", *q) == NULL)
            return -1;
    }
    if (!digits) return -1;
    errno = 0;
    char *end = NULL;
    double v = strtod(buf, &end);
    if (errno == ERANGE || end == NULL || *end != '\0' || !isfinite(v)) return -1;
    *out = v;
    return 0;
}

/* Case-insensitive match of s[0..len) (trimmed) against a NULL-terminated word list; returns index or -1. */
static int match_word(const char *s, size_t len, const char *const *words)
{
    char buf[16];
    if (trim_copy(s, len, buf, sizeof(buf)) != 0) return -1;
    for (int i = 0; words[i] != NULL; i++)
        if (strcasecmp(buf, words[i]) == 0) return i;
    return -1;
}

/* Calls fn on every non-empty, trimmed comma-separated token of every item. Stops at the first error. */
typedef int (*token_fn)(load_ctx_t *ctx, const key_desc_t *k, void *state, const char *tok, size_t len,
                        const value_t *v);

static int for_each_token(load_ctx_t *ctx, const key_desc_t *k, const value_t *v, token_fn fn, void *state)
{
    for (size_t i = 0; i < v->n; i++) {
        const char *s = v->items[i].s;
        size_t len = v->items[i].len;
        size_t start = 0;
        for (size_t j = 0; j <= len; j++) {
            if (j < len && s[j] != ',') continue;
            const char *tok = s + start;
            size_t tlen = j - start;
            while (tlen > 0 && is_space(tok[0])) {
                tok++;
                tlen--;
            }
            while (tlen > 0 && is_space(tok[tlen - 1]))
                tlen--;
            if (tlen > 0 && fn(ctx, k, state, tok, tlen, v) != 0) return -1;
            start = j + 1;
        }
    }
    return 0;
}

/* ---- list keys -------------------------------------------------------------------------------------------
 */

typedef struct {
    double vals[ABE_CFG_LIST_MAX];
    int n;
} dbl_set_t;

typedef struct {
    int vals[ABE_CFG_LIST_MAX];
    int n;
} int_set_t;

static int bucket_token(load_ctx_t *ctx, const key_desc_t *k, void *state, const char *tok, size_t len,
                        const value_t *v)
{
    dbl_set_t *set = state;
    char shown[SHOWN_VALUE_MAX + 4];
    double d;
    if (parse_double(tok, len, &d) != 0)
        return cfg_error(ctx, k->name, "\"%s\" is not a number (%s)", show(tok, len, shown, sizeof(shown)),
                         v->where);
    if (d <= 0) return 0; /* SPEC §10: values <= 0 are dropped */
    int i = 0;
    while (i < set->n && set->vals[i] < d)
        i++;
    if (i < set->n && set->vals[i] == d) return 0;
    if (set->n == ABE_CFG_LIST_MAX)
        return cfg_error(ctx, k->name, "too many buckets (at most %d distinct values) (%s)", ABE_CFG_LIST_MAX,
                         v->where);
    memmove(&set->vals[i + 1], &set->vals[i], (size_t)(set->n - i) * sizeof(double));
    set->vals[i] = d;
    set->n++;
    return 0;
}

static int latency_token(load_ctx_t *ctx, const key_desc_t *k, void *state, const char *tok, size_t len,
                         const value_t *v)
{
    int_set_t *set = state;
    char shown[SHOWN_VALUE_MAX + 4];
    int64_t x;
    if (parse_i64(tok, len, &x) != 0 || x < 1 || x > INT_MAX)
        return cfg_error(ctx, k->name, "\"%s\" is not a positive integer number of milliseconds (%s)",
                         show(tok, len, shown, sizeof(shown)), v->where);
    int i = 0;
    while (i < set->n && set->vals[i] < x)
        i++;
    if (i < set->n && set->vals[i] == x) return 0;
    if (set->n == ABE_CFG_LIST_MAX)
        return cfg_error(ctx, k->name, "too many classes (at most %d distinct values) (%s)", ABE_CFG_LIST_MAX,
                         v->where);
    memmove(&set->vals[i + 1], &set->vals[i], (size_t)(set->n - i) * sizeof(int));
    set->vals[i] = (int)x;
    set->n++;
    return 0;
}

typedef struct {
    char *out;
    size_t size;
    size_t used;
} proxy_list_t;

/* An IPv4/IPv6 address, optionally "/prefix" (0..32 or 0..128). */
static int valid_ip_or_cidr(const char *s)
{
    char addr[INET6_ADDRSTRLEN + 8];
    const char *slash = strchr(s, '/');
    size_t alen = slash ? (size_t)(slash - s) : strlen(s);
    if (alen == 0 || alen >= sizeof(addr)) return 0;
    memcpy(addr, s, alen);
    addr[alen] = '\0';
    unsigned char bin[16];
    int max_prefix;
    if (inet_pton(AF_INET, addr, bin) == 1)
        max_prefix = 32;
    else if (inet_pton(AF_INET6, addr, bin) == 1)
        max_prefix = 128;
    else
        return 0;
    if (slash == NULL) return 1;
    int64_t prefix;
    if (slash[1] == '+' || slash[1] == '-' || parse_i64(slash + 1, strlen(slash + 1), &prefix) != 0) return 0;
    return prefix >= 0 && prefix <= max_prefix;
}

static int proxy_token(load_ctx_t *ctx, const key_desc_t *k, void *state, const char *tok, size_t len,
                       const value_t *v)
{
    proxy_list_t *pl = state;
    char buf[INET6_ADDRSTRLEN + 8];
    char shown[SHOWN_VALUE_MAX + 4];
    if (trim_copy(tok, len, buf, sizeof(buf)) != 0 || !valid_ip_or_cidr(buf))
        return cfg_error(ctx, k->name, "\"%s\" is not an IP address or CIDR (%s)",
                         show(tok, len, shown, sizeof(shown)), v->where);
    size_t need = (pl->used ? 1 : 0) + strlen(buf);
    if (pl->used + need >= pl->size)
        return cfg_error(ctx, k->name, "value too long (at most %zu bytes) (%s)", pl->size - 1, v->where);
    if (pl->used) pl->out[pl->used++] = ',';
    memcpy(pl->out + pl->used, buf, strlen(buf));
    pl->used += strlen(buf);
    pl->out[pl->used] = '\0';
    return 0;
}

/* ---- applying one value ----------------------------------------------------------------------------------
 */

static int apply_value(load_ctx_t *ctx, abe_config_t *cfg, size_t ki, const value_t *v)
{
    const key_desc_t *k = &g_keys[ki];
    char *field = (char *)cfg + k->off;
    char shown[SHOWN_VALUE_MAX + 4];
    int is_list = k->type == K_BUCKETS || k->type == K_LATENCY || k->type == K_PROXIES;

    if (v->is_seq && !is_list)
        return cfg_error(ctx, k->name, "must be a single value, not a list (%s)", v->where);
    for (size_t i = 0; i < v->n; i++)
        if (memchr(v->items[i].s, '\0', v->items[i].len) != NULL)
            return cfg_error(ctx, k->name, "value contains a NUL byte (%s)", v->where);

    const char *s = v->n > 0 ? v->items[0].s : "";
    size_t len = v->n > 0 ? v->items[0].len : 0;
    ctx->set[ki] = 1;

    switch (k->type) {
    case K_STR:
        if (len >= k->size)
            return cfg_error(ctx, k->name, "value too long (%zu bytes, at most %zu) (%s)", len, k->size - 1,
                             v->where);
        if (len == 0 && (k->flags & F_NONEMPTY))
            return cfg_error(ctx, k->name, "must not be empty (%s)", v->where);
        memcpy(field, s, len);
        field[len] = '\0';
        return 0;
    case K_INT:
    case K_I64: {
        int64_t x;
        if (parse_i64(s, len, &x) != 0)
            return cfg_error(ctx, k->name, "\"%s\" is not an integer (%s)",
                             show(s, len, shown, sizeof(shown)), v->where);
        if (x < k->imin || x > k->imax) {
            if (k->imax == INT64_MAX || k->imax == INT_MAX)
                return cfg_error(ctx, k->name, "must be >= %lld, got %lld (%s)", (long long)k->imin,
                                 (long long)x, v->where);
            return cfg_error(ctx, k->name, "must be between %lld and %lld, got %lld (%s)", (long long)k->imin,
                             (long long)k->imax, (long long)x, v->where);
        }
        if (k->type == K_INT)
            *(int *)(void *)field = (int)x;
        else
            *(int64_t *)(void *)field = x;
        return 0;
    }
    case K_DBL: {
        double d;
        if (parse_double(s, len, &d) != 0)
            return cfg_error(ctx, k->name, "\"%s\" is not a number (%s)", show(s, len, shown, sizeof(shown)),
                             v->where);
        if (d < k->dmin || d > k->dmax) {
            if (isinf(k->dmax))
                return cfg_error(ctx, k->name, "must be >= %g, got %g (%s)", k->dmin, d, v->where);
            return cfg_error(ctx, k->name, "must be between %g and %g, got %g (%s)", k->dmin, k->dmax, d,
                             v->where);
        }
        *(double *)(void *)field = d;
        return 0;
    }
    case K_BOOL: {
        static const char *const words[] = {"false", "0", "no", "off", "", "true", "1", "yes", "on", NULL};
        int i = match_word(s, len, words);
        if (i < 0)
            return cfg_error(ctx, k->name, "\"%s\" is not a boolean (true/false, 1/0, yes/no, on/off) (%s)",
                             show(s, len, shown, sizeof(shown)), v->where);
        *(int *)(void *)field = i >= 5;
        return 0;
    }
    case K_LOGLEVEL: {
        static const char *const words[] = {"debug", "info", "warning", "error", "critical", NULL};
        int i = match_word(s, len, words);
        if (i < 0)
            return cfg_error(ctx, k->name, "\"%s\" is not one of debug, info, warning, error, critical (%s)",
                             show(s, len, shown, sizeof(shown)), v->where);
        *(abe_log_level_t *)(void *)field = (abe_log_level_t)i;
        return 0;
    }
    case K_LOGFORMAT: {
        static const char *const words[] = {"plain", "json", NULL};
        int i = match_word(s, len, words);
        if (i < 0)
            return cfg_error(ctx, k->name, "\"%s\" is not one of plain, json (%s)",
                             show(s, len, shown, sizeof(shown)), v->where);
        *(int *)(void *)field = i;
        return 0;
    }
    case K_BUCKETS: {
        dbl_set_t set = {.n = 0};
        if (for_each_token(ctx, k, v, bucket_token, &set) != 0) return -1;
        if (set.n == 0) { /* SPEC §10: an empty result means the default */
            set.n = (int)(sizeof(k_default_buckets) / sizeof(k_default_buckets[0]));
            memcpy(set.vals, k_default_buckets, sizeof(k_default_buckets));
        }
        memcpy(cfg->step_duration_buckets, set.vals, (size_t)set.n * sizeof(double));
        cfg->n_step_duration_buckets = set.n;
        return 0;
    }
    case K_LATENCY: {
        int_set_t set = {.n = 0};
        if (for_each_token(ctx, k, v, latency_token, &set) != 0) return -1;
        memcpy(cfg->latency_classes_ms, set.vals, (size_t)set.n * sizeof(int));
        cfg->n_latency_classes = set.n; /* 0 = "unclassified" */
        return 0;
    }
    case K_PROXIES: {
        char buf[ABE_CFG_STR_MAX];
        proxy_list_t pl = {buf, k->size < sizeof(buf) ? k->size : sizeof(buf), 0};
        buf[0] = '\0';
        if (for_each_token(ctx, k, v, proxy_token, &pl) != 0) return -1;
        memcpy(field, buf, pl.used + 1);
        return 0;
    }
    }
    return cfg_error(ctx, k->name, "internal error: unknown key type");
}

static int find_key(const char *name)
{
    for (size_t i = 0; i < N_KEYS; i++)
        if (strcasecmp(g_keys[i].name, name) == 0) return (int)i;
    return -1;
}

/* ---- layer 2: the YAML file ------------------------------------------------------------------------------
 */

/* Reads the whole regular file at path into a malloc'd buffer. Returns 0, 1 when it does not exist and
 * missing_ok, or -1 with an error set. */
static int read_file(load_ctx_t *ctx, const char *path, int missing_ok, char **out, size_t *outlen)
{
    int fd = open(path, O_RDONLY | O_CLOEXEC);
    if (fd < 0) {
        if (errno == ENOENT && missing_ok) return 1;
        return cfg_error(ctx, "CONFIG_FILE", "cannot open %s: %s", path, strerror(errno));
    }
    struct stat st;
    if (fstat(fd, &st) != 0 || !S_ISREG(st.st_mode)) {
        close(fd);
        return cfg_error(ctx, "CONFIG_FILE", "%s is not a regular file", path);
    }
    if (st.st_size > CONFIG_FILE_MAX_BYTES) {
        close(fd);
        return cfg_error(ctx, "CONFIG_FILE", "%s is too large (%lld bytes, at most %d)", path,
                         (long long)st.st_size, CONFIG_FILE_MAX_BYTES);
    }
    char *buf = malloc((size_t)st.st_size + 1);
    if (buf == NULL) {
        close(fd);
        return cfg_error(ctx, "CONFIG_FILE", "out of memory reading %s", path);
    }
    size_t got = 0;
    while (got < (size_t)st.st_size) {
        ssize_t n = read(fd, buf + got, (size_t)st.st_size - got);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) {
            int e = n < 0 ? errno : EIO;
            free(buf);
            close(fd);
            return cfg_error(ctx, "CONFIG_FILE", "cannot read %s: %s", path, strerror(e));
        }
        got += (size_t)n;
    }
    close(fd);
    buf[got] = '\0';
    *out = buf;
    *outlen = got;
    return 0;
}

static int yaml_syntax_error(load_ctx_t *ctx, const yaml_parser_t *p)
{
    const char *problem = p->problem ? p->problem : "invalid YAML";
    if (p->error == YAML_READER_ERROR) /* bad encoding: libyaml reports a byte offset, not a line */
        return cfg_error(ctx, "CONFIG_FILE", "%s: byte %zu: %s", ctx->path, (size_t)p->problem_offset,
                         problem);
    return cfg_error(ctx, "CONFIG_FILE", "%s: line %zu column %zu: %s%s%s", ctx->path,
                     (size_t)p->problem_mark.line + 1, (size_t)p->problem_mark.column + 1, problem,
                     p->context ? " " : "", p->context ? p->context : "");
}

/* A plain "~"/"null"/"" scalar is YAML null; treated as the empty string. */
static int is_null_scalar(const yaml_node_t *n)
{
    if (n->type != YAML_SCALAR_NODE || n->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    const char *s = (const char *)n->data.scalar.value;
    return n->data.scalar.length == 0 || strcmp(s, "~") == 0 || strcmp(s, "null") == 0 ||
           strcmp(s, "Null") == 0 || strcmp(s, "NULL") == 0;
}

static int apply_mapping(load_ctx_t *ctx, abe_config_t *cfg, yaml_document_t *doc, yaml_node_t *map)
{
    unsigned char seen[N_KEYS] = {0};
    for (yaml_node_pair_t *pair = map->data.mapping.pairs.start; pair < map->data.mapping.pairs.top; pair++) {
        yaml_node_t *kn = yaml_document_get_node(doc, pair->key);
        yaml_node_t *vn = yaml_document_get_node(doc, pair->value);
        if (kn == NULL || vn == NULL)
            return cfg_error(ctx, "CONFIG_FILE", "%s: malformed mapping", ctx->path);
        if (kn->type != YAML_SCALAR_NODE)
            return cfg_error(ctx, "CONFIG_FILE", "%s: line %zu: keys must be plain names", ctx->path,
                             (size_t)kn->start_mark.line + 1);
        const char *kname = (const char *)kn->data.scalar.value;
        size_t klen = kn->data.scalar.length;
        int ki = (klen < KEY_NAME_MAX && strlen(kname) == klen) ? find_key(kname) : -1;
        if (ki < 0) {
            char shown[SHOWN_VALUE_MAX + 4];
            show(kname, klen, shown, sizeof(shown));
            for (char *c = shown; *c; c++)
                *c = (char)toupper((unsigned char)*c);
            return cfg_error(ctx, shown, "unknown key (in %s line %zu)", ctx->path,
                             (size_t)kn->start_mark.line + 1);
        }
        if (seen[ki])
            return cfg_error(ctx, g_keys[ki].name, "set more than once (in %s line %zu)", ctx->path,
                             (size_t)kn->start_mark.line + 1);
        seen[ki] = 1;

        item_t items[ABE_CFG_LIST_MAX * 4];
        value_t v = {.items = items, .n = 0, .is_seq = 0};
        snprintf(v.where, sizeof(v.where), "in %s line %zu", ctx->path, (size_t)vn->start_mark.line + 1);
        if (vn->type == YAML_SCALAR_NODE) {
            items[0].s = is_null_scalar(vn) ? "" : (const char *)vn->data.scalar.value;
            items[0].len = is_null_scalar(vn) ? 0 : vn->data.scalar.length;
            v.n = 1;
        } else if (vn->type == YAML_SEQUENCE_NODE) {
            v.is_seq = 1;
            for (yaml_node_item_t *it = vn->data.sequence.items.start; it < vn->data.sequence.items.top;
                 it++) {
                yaml_node_t *in = yaml_document_get_node(doc, *it);
                if (in == NULL || in->type != YAML_SCALAR_NODE)
                    return cfg_error(ctx, g_keys[ki].name, "list items must be plain values (%s)", v.where);
                if (v.n == sizeof(items) / sizeof(items[0]))
                    return cfg_error(ctx, g_keys[ki].name, "too many list items (%s)", v.where);
                items[v.n].s = is_null_scalar(in) ? "" : (const char *)in->data.scalar.value;
                items[v.n].len = is_null_scalar(in) ? 0 : in->data.scalar.length;
                v.n++;
            }
        } else {
            return cfg_error(ctx, g_keys[ki].name, "must be a value or a list, not a mapping (%s)", v.where);
        }
        if (apply_value(ctx, cfg, (size_t)ki, &v) != 0) return -1;
    }
    return 0;
}

/* Parses text as the settings file and applies it. Returns 0 or -1 with an error set. */
static int apply_yaml(load_ctx_t *ctx, abe_config_t *cfg, const char *text, size_t len)
{
    yaml_parser_t parser;
    yaml_document_t doc;
    int rc = -1;
    if (!yaml_parser_initialize(&parser))
        return cfg_error(ctx, "CONFIG_FILE", "cannot initialise the YAML parser");
    yaml_parser_set_input_string(&parser, (const unsigned char *)text, len);
    if (!yaml_parser_load(&parser, &doc)) {
        rc = yaml_syntax_error(ctx, &parser);
        yaml_parser_delete(&parser);
        return rc;
    }
    yaml_node_t *root = yaml_document_get_root_node(&doc);
    int had_document = root != NULL;
    if (root == NULL || is_null_scalar(root)) {
        rc = 0; /* empty file (or only comments / "---"): all defaults */
    } else if (root->type != YAML_MAPPING_NODE) {
        rc = cfg_error(ctx, "CONFIG_FILE", "%s: the top level must be a mapping of settings", ctx->path);
    } else {
        rc = apply_mapping(ctx, cfg, &doc, root);
    }
    yaml_document_delete(&doc);
    if (rc == 0 && had_document) {
        /* A second document would be silently ignored by a single load; refuse it. */
        if (!yaml_parser_load(&parser, &doc)) {
            rc = yaml_syntax_error(ctx, &parser);
        } else {
            if (yaml_document_get_root_node(&doc) != NULL)
                rc = cfg_error(ctx, "CONFIG_FILE", "%s: more than one YAML document", ctx->path);
            yaml_document_delete(&doc);
        }
    }
    yaml_parser_delete(&parser);
    return rc;
}

/* ---- layer 3: the environment ----------------------------------------------------------------------------
 */

static const char *env_lookup(char *const *envp, const char *name)
{
    size_t nlen = strlen(name);
    for (char *const *e = envp; e != NULL && *e != NULL; e++)
        if (strncmp(*e, name, nlen) == 0 && (*e)[nlen] == '=') return *e + nlen + 1;
    return NULL;
}

static int apply_env(load_ctx_t *ctx, abe_config_t *cfg, char *const *envp)
{
    for (size_t ki = 0; ki < N_KEYS; ki++) {
        const char *val = env_lookup(envp, g_keys[ki].name);
        if (val == NULL) continue;
        item_t item = {val, strlen(val)};
        value_t v = {.items = &item, .n = 1, .is_seq = 0};
        snprintf(v.where, sizeof(v.where), "from the environment");
        if (apply_value(ctx, cfg, ki, &v) != 0) return -1;
    }
    return 0;
}

/* ---- derived values --------------------------------------------------------------------------------------
 */

/* "<dir of db_path>/<name>" into out; dir of "platform.db" is ".". Returns -1 when it does not fit. */
static int sibling_path(const char *db_path, const char *name, char *out, size_t outsz)
{
    const char *slash = strrchr(db_path, '/');
    size_t dlen;
    const char *dir = db_path;
    if (slash == NULL) {
        dir = ".";
        dlen = 1;
    } else {
        dlen = (size_t)(slash - db_path);
        while (dlen > 0 && db_path[dlen - 1] == '/')
            dlen--;
        if (dlen == 0) { /* "/platform.db" */
            dir = "";
            dlen = 0;
        }
    }
    int n = snprintf(out, outsz, "%.*s/%s", (int)dlen, dir, name);
    return (n < 0 || (size_t)n >= outsz) ? -1 : 0;
}

static int resolve_derived(load_ctx_t *ctx, abe_config_t *cfg)
{
    int pid_i = find_key("PID_FILE"), sock_i = find_key("CONTROL_SOCKET");
    int overall_5xx = find_key("SLO_ERROR_RATE_5XX_THRESHOLD");
    if (!ctx->set[pid_i] &&
        sibling_path(cfg->db_path, "advanced-backend.pid", cfg->pid_file, sizeof(cfg->pid_file)) != 0)
        return cfg_error(ctx, "PID_FILE", "the default derived from DB_PATH is too long (at most %zu bytes)",
                         sizeof(cfg->pid_file) - 1);
    if (!ctx->set[sock_i] && sibling_path(cfg->db_path, "advanced-backend.sock", cfg->control_socket,
                                          sizeof(cfg->control_socket)) != 0)
        return cfg_error(ctx, "CONTROL_SOCKET",
                         "the default derived from DB_PATH is too long (at most %zu bytes)",
                         sizeof(cfg->control_socket) - 1);
    size_t sun_max = sizeof(((struct sockaddr_un *)0)->sun_path) - 1;
    if (strlen(cfg->control_socket) > sun_max)
        return cfg_error(ctx, "CONTROL_SOCKET", "path too long for a Unix socket (%zu bytes, at most %zu)%s",
                         strlen(cfg->control_socket), sun_max,
                         ctx->set[sock_i] ? ""
                                          : "; it is derived from DB_PATH, set CONTROL_SOCKET explicitly");
    if (!ctx->set[overall_5xx]) cfg->slo_error_rate_5xx_threshold = cfg->slo_error_rate_threshold;
    return 0;
}

/* ---- public API ------------------------------------------------------------------------------------------
 */

void abe_config_defaults(abe_config_t *cfg)
{
    memset(cfg, 0, sizeof(*cfg));
    snprintf(cfg->host, sizeof(cfg->host), "0.0.0.0");
    cfg->port = 8000;
    cfg->workers = 2;
    cfg->backlog = 2048;
    cfg->graceful_timeout_s = 30;
    cfg->keepalive_timeout_s = 10;
    cfg->max_body_bytes = 1048576;
    cfg->worker_max_requests = 0;
    cfg->worker_max_boot_failures = 5;
    cfg->log_level = ABE_LOG_INFO;
    cfg->log_json = 0;
    snprintf(cfg->db_path, sizeof(cfg->db_path), "data/platform.db");
    cfg->db_max_queue_size = 5000;
    cfg->db_batch_size = 256;
    snprintf(cfg->agents_config_dir, sizeof(cfg->agents_config_dir), "conf");
    cfg->workflow_execution_retention = 1000;
    cfg->n_step_duration_buckets = (int)(sizeof(k_default_buckets) / sizeof(k_default_buckets[0]));
    memcpy(cfg->step_duration_buckets, k_default_buckets, sizeof(k_default_buckets));
    cfg->max_parallel_steps = 16;
    cfg->n_latency_classes = (int)(sizeof(k_default_latency_classes) / sizeof(k_default_latency_classes[0]));
    memcpy(cfg->latency_classes_ms, k_default_latency_classes, sizeof(k_default_latency_classes));
    cfg->metrics_max_series = 1000;
    cfg->slo_error_rate_threshold = 0.05;
    cfg->slo_error_rate_5xx_threshold = 0.05;
    cfg->slo_error_rate_4xx_threshold = 0.10;
    cfg->slo_latency_p95_threshold = 0.750;
    cfg->slo_error_rate_window_s = 300;
    cfg->slo_latency_window_s = 300;
    cfg->slo_alert_cooldown_s = 300;
    cfg->slo_min_requests = 1;
}

int abe_config_load(abe_config_t *cfg, const char *path, char *const *envp, char *err, size_t errlen)
{
    load_ctx_t ctx;
    memset(&ctx, 0, sizeof(ctx));
    ctx.err = err;
    ctx.errlen = errlen;
    if (err != NULL && errlen > 0) err[0] = '\0';

    abe_config_t *tmp = malloc(sizeof(*tmp));
    if (tmp == NULL) return cfg_error(&ctx, "CONFIG_FILE", "out of memory");
    abe_config_defaults(tmp);

    int explicit_path = path != NULL;
    const char *file = explicit_path ? path : DEFAULT_CONFIG_PATH;
    ctx.path = file;
    int rc = 0;
    if (strlen(file) >= sizeof(tmp->config_file)) {
        rc =
            cfg_error(&ctx, "CONFIG_FILE", "path too long (at most %zu bytes)", sizeof(tmp->config_file) - 1);
    } else if (file[0] == '\0') {
        rc = cfg_error(&ctx, "CONFIG_FILE", "empty path");
    } else {
        char *text = NULL;
        size_t len = 0;
        int r = read_file(&ctx, file, !explicit_path, &text, &len);
        if (r < 0) {
            rc = -1;
        } else if (r == 0) {
            snprintf(tmp->config_file, sizeof(tmp->config_file), "%s", file);
            rc = apply_yaml(&ctx, tmp, text, len);
            free(text);
        }
    }
    if (rc == 0) rc = apply_env(&ctx, tmp, envp != NULL ? envp : environ);
    if (rc == 0) rc = resolve_derived(&ctx, tmp);
    if (rc == 0) memcpy(cfg, tmp, sizeof(*cfg));
    free(tmp);
    return rc;
}

const char *abe_config_log_level_name(abe_log_level_t lvl)
{
    if ((int)lvl < 0 || (size_t)lvl >= sizeof(k_level_names) / sizeof(k_level_names[0])) return "info";
    return k_level_names[lvl];
}

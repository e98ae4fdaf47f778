/*
 * abe_it.c — integration-test harness (see abe_it.h): real daemon binary, real loopback HTTP via libcurl.
 */
#include "abe_it.h"

#include <arpa/inet.h>
#include <curl/curl.h>
#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static int free_port(void)
{
    int fd = socket(AF_INET, SOCK_STREAM, 0);
    struct sockaddr_in a = {.sin_family = AF_INET, .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    socklen_t len = sizeof(a);
    if (fd < 0 || bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 ||
        getsockname(fd, (struct sockaddr *)&a, &len) != 0) {
        if (fd >= 0) close(fd);
        return -1;
    }
    int port = ntohs(a.sin_port);
    close(fd);
    return port;
}

static void msleep(int ms)
{
    struct timespec ts = {.tv_sec = ms / 1000, .tv_nsec = (long)(ms % 1000) * 1000000L};
    nanosleep(&ts, NULL);
}

static int spawn(abe_it_daemon_t *d, const char *const *env)
{
    pid_t pid = fork();
    if (pid < 0) return -1;
    if (pid == 0) {
        setpgid(0, 0);
        /* A test process that dies (timeout, crash) takes its daemon with it: no orphaned daemons. */
        prctl(PR_SET_PDEATHSIG, SIGTERM);
        char port[16];
        snprintf(port, sizeof(port), "%d", d->port);
        setenv("UVICORN_HOST", "127.0.0.1", 1);
        setenv("UVICORN_PORT", port, 1);
        setenv("UVICORN_WORKERS", "2", 1);
        setenv("DB_PATH", d->db_path, 1);
        setenv("AGENTS_CONFIG_DIR", ABE_SOURCE_DIR "/conf", 1);
        setenv("GRACEFUL_TIMEOUT", "10", 1);
        unsetenv("CONFIG_FILE");
        for (const char *const *e = env; e && *e; e++) {
            if (strncmp(*e, "ABE_IT_NOFILE=", 14) == 0) { /* harness option: the daemon's descriptor limit */
                struct rlimit rl = {.rlim_cur = (rlim_t)atol(*e + 14), .rlim_max = (rlim_t)atol(*e + 14)};
                setrlimit(RLIMIT_NOFILE, &rl);
                continue;
            }
            char kv[4096];
            snprintf(kv, sizeof(kv), "%s", *e);
            char *eq = strchr(kv, '=');
            if (!eq) continue;
            *eq = '\0';
            setenv(kv, eq + 1, 1);
        }
        int fd = open(d->log_path, O_WRONLY | O_CREAT | O_APPEND, 0644);
        if (fd >= 0) {
            dup2(fd, 1);
            dup2(fd, 2);
            close(fd);
        }
        int null = open("/dev/null", O_RDONLY);
        if (null >= 0) dup2(null, 0);
        if (chdir(d->dir) != 0) _exit(127);
        execl(ABE_BINARY, ABE_BINARY, "run", "--config", ABE_SOURCE_DIR "/conf/advanced-backend.yaml",
              (char *)NULL);
        _exit(127);
    }
    setpgid(pid, pid);
    d->pid = pid;
    d->env = env;
    return 0;
}

/* Ready means /health/ready answers 200 and every configured worker is up (GET /api/v1/health). */
static int wait_ready(abe_it_daemon_t *d)
{
    long want = 2;
    for (const char *const *e = d->env; e && *e; e++)
        if (strncmp(*e, "UVICORN_WORKERS=", 16) == 0) want = atol(*e + 16);
    for (int i = 0; i < 1000; i++) {
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            fprintf(stderr, "daemon exited early (status %d); log:\n", status);
            char *log = abe_it_read_log(d);
            fprintf(stderr, "%s\n", log ? log : "");
            free(log);
            d->pid = 0;
            return -1;
        }
        abe_it_resp_t r = abe_it_get(d, "/health/ready");
        long st = r.status;
        abe_it_resp_free(&r);
        if (st == 200) {
            r = abe_it_get(d, "/api/v1/health");
            long workers = (long)json_integer_value(json_object_get(r.json, "workers"));
            abe_it_resp_free(&r);
            if (workers == want) return 0;
        }
        msleep(20);
    }
    fprintf(stderr, "daemon not ready after 20 s\n");
    return -1;
}

int abe_it_start(abe_it_daemon_t *d, const char *const *env)
{
    static int curl_ready;
    if (!curl_ready) {
        curl_global_init(CURL_GLOBAL_DEFAULT);
        curl_ready = 1;
    }
    signal(SIGPIPE, SIG_IGN);
    memset(d, 0, sizeof(*d));
    snprintf(d->dir, sizeof(d->dir), "/tmp/abe-it-XXXXXX");
    if (!mkdtemp(d->dir)) return -1;
    snprintf(d->db_path, sizeof(d->db_path), "%s/data/platform.db", d->dir);
    snprintf(d->log_path, sizeof(d->log_path), "%s/daemon.log", d->dir);
    d->port = free_port();
    snprintf(d->base_url, sizeof(d->base_url), "http://127.0.0.1:%d", d->port);
    if (d->port <= 0 || spawn(d, env) != 0) return -1;
    return wait_ready(d);
}

int abe_it_restart(abe_it_daemon_t *d, const char *const *env)
{
    if (spawn(d, env) != 0) return -1;
    return wait_ready(d);
}

int abe_it_stop(abe_it_daemon_t *d, int timeout_s)
{
    if (d->pid <= 0) return -1;
    kill(d->pid, SIGTERM);
    for (int i = 0; i < timeout_s * 100; i++) {
        int status;
        if (waitpid(d->pid, &status, WNOHANG) == d->pid) {
            d->pid = 0;
            return WIFEXITED(status) ? WEXITSTATUS(status) : -1;
        }
        msleep(10);
    }
    abe_it_kill9(d);
    return -1;
}

void abe_it_kill9(abe_it_daemon_t *d)
{
    if (d->pid <= 0) return;
    kill(-d->pid, SIGKILL);
    kill(d->pid, SIGKILL);
    waitpid(d->pid, NULL, 0);
    /* children re-parented to init die of PDEATHSIG/SIGKILL; give them a moment */
    for (int i = 0; i < 100 && kill(-d->pid, 0) == 0; i++)
        msleep(10);
    d->pid = 0;
}

void abe_it_cleanup(abe_it_daemon_t *d)
{
    if (d->pid > 0) abe_it_kill9(d);
    if (d->dir[0] && strncmp(d->dir, "/tmp/abe-it-", 12) == 0) {
        char cmd[512];
        snprintf(cmd, sizeof(cmd), "rm -rf '%s'", d->dir);
        if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", d->dir);
    }
}

typedef struct buf {
    char *p;
    size_t n;
} buf_t;

static size_t on_data(char *ptr, size_t size, size_t nmemb, void *ud)
{
    buf_t *b = ud;
    size_t add = size * nmemb;
    char *np = realloc(b->p, b->n + add + 1);
    if (!np) return 0;
    memcpy(np + b->n, ptr, add);
    b->p = np;
    b->n += add;
    b->p[b->n] = '\0';
    return add;
}

int abe_it_request(abe_it_daemon_t *d, const char *method, const char *path, const char *content_type,
                   const char *body, size_t body_len, const char *const *extra_headers, abe_it_resp_t *out)
{
    memset(out, 0, sizeof(*out));
    CURL *c = curl_easy_init();
    if (!c) return -1;
    char url[16384];
    snprintf(url, sizeof(url), "%s%s", d->base_url, path);
    buf_t bb = {0}, hb = {0};
    struct curl_slist *hdrs = NULL;
    if (content_type) {
        char h[512];
        snprintf(h, sizeof(h), "Content-Type: %s", content_type);
        hdrs = curl_slist_append(hdrs, h);
    }
    for (const char *const *e = extra_headers; e && *e; e++)
        hdrs = curl_slist_append(hdrs, *e);
    hdrs = curl_slist_append(hdrs, "Expect:");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_PATH_AS_IS, 1L);
    curl_easy_setopt(c, CURLOPT_CUSTOMREQUEST, method);
    if (strcmp(method, "HEAD") == 0) curl_easy_setopt(c, CURLOPT_NOBODY, 1L);
    if (body) {
        curl_easy_setopt(c, CURLOPT_POSTFIELDS, body);
        curl_easy_setopt(c, CURLOPT_POSTFIELDSIZE_LARGE, (curl_off_t)body_len);
    }
    curl_easy_setopt(c, CURLOPT_HTTPHEADER, hdrs);
    curl_easy_setopt(c, CURLOPT_WRITEFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, &bb);
    curl_easy_setopt(c, CURLOPT_HEADERFUNCTION, on_data);
    curl_easy_setopt(c, CURLOPT_HEADERDATA, &hb);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 60000L);
    curl_easy_setopt(c, CURLOPT_NOSIGNAL, 1L);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) {
        curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &out->status);
        double t = 0;
        curl_easy_getinfo(c, CURLINFO_TOTAL_TIME, &t);
        out->total_ms = t * 1000.0;
    }
    curl_slist_free_all(hdrs);
    curl_easy_cleanup(c);
    out->body = bb.p ? bb.p : strdup("");
    out->len = bb.n;
    out->headers = hb.p ? hb.p : strdup("");
    if (out->len) out->json = json_loadb(out->body, out->len, 0, NULL);
    return rc == CURLE_OK ? 0 : -1;
}

abe_it_resp_t abe_it_get(abe_it_daemon_t *d, const char *path)
{
    abe_it_resp_t r;
    abe_it_request(d, "GET", path, NULL, NULL, 0, NULL, &r);
    return r;
}

abe_it_resp_t abe_it_post_json(abe_it_daemon_t *d, const char *path, const char *json_body)
{
    abe_it_resp_t r;
    abe_it_request(d, "POST", path, "application/json", json_body, json_body ? strlen(json_body) : 0, NULL,
                   &r);
    return r;
}

abe_it_resp_t abe_it_delete(abe_it_daemon_t *d, const char *path)
{
    abe_it_resp_t r;
    abe_it_request(d, "DELETE", path, NULL, NULL, 0, NULL, &r);
    return r;
}

void abe_it_resp_free(abe_it_resp_t *r)
{
    free(r->body);
    free(r->headers);
    json_decref(r->json);
    memset(r, 0, sizeof(*r));
}

const char *abe_it_header(const abe_it_resp_t *r, const char *name, char *buf, size_t buflen)
{
    size_t nl = strlen(name);
    const char *p = r->headers;
    while (p && *p) {
        const char *eol = strstr(p, "\r\n");
        size_t ll = eol ? (size_t)(eol - p) : strlen(p);
        if (ll > nl && p[nl] == ':' && strncasecmp(p, name, nl) == 0) {
            const char *v = p + nl + 1;
            while (*v == ' ')
                v++;
            size_t vl = (size_t)(p + ll - v);
            if (vl >= buflen) vl = buflen - 1;
            memcpy(buf, v, vl);
            buf[vl] = '\0';
            return buf;
        }
        p = eol ? eol + 2 : NULL;
    }
    return NULL;
}

int abe_it_children(abe_it_daemon_t *d, const char *comm, pid_t *out, int max)
{
    DIR *dir = opendir("/proc");
    int n = 0;
    struct dirent *e;
    while (dir && (e = readdir(dir)) && n < max) {
        pid_t pid = (pid_t)atoi(e->d_name);
        if (pid <= 0) continue;
        char path[64], line[512];
        snprintf(path, sizeof(path), "/proc/%d/stat", (int)pid);
        FILE *f = fopen(path, "r");
        if (!f) continue;
        size_t len = fread(line, 1, sizeof(line) - 1, f);
        fclose(f);
        line[len] = '\0';
        char *lp = strchr(line, '('), *rp = strrchr(line, ')');
        if (!lp || !rp) continue;
        int ppid = 0;
        char state;
        if (sscanf(rp + 2, "%c %d", &state, &ppid) != 2 || ppid != d->pid || state == 'Z') continue;
        if ((size_t)(rp - lp - 1) == strlen(comm) && strncmp(lp + 1, comm, strlen(comm)) == 0) out[n++] = pid;
    }
    if (dir) closedir(dir);
    return n;
}

int abe_it_wait_until(int (*pred)(void *arg), void *arg, int timeout_ms)
{
    int v = 0;
    for (int t = 0; t <= timeout_ms; t += 20) {
        if ((v = pred(arg))) return v;
        msleep(20);
    }
    return v;
}

char *abe_it_read_log(abe_it_daemon_t *d)
{
    FILE *f = fopen(d->log_path, "r");
    if (!f) return NULL;
    fseek(f, 0, SEEK_END);
    long n = ftell(f);
    fseek(f, 0, SEEK_SET);
    char *s = malloc((size_t)n + 1);
    size_t got = s ? fread(s, 1, (size_t)n, f) : 0;
    fclose(f);
    if (s) s[got] = '\0';
    return s;
}

int abe_it_agents_dir(const char *yaml, char *dir, size_t dirlen)
{
    snprintf(dir, dirlen, "/tmp/abe-it-agents-XXXXXX");
    if (!mkdtemp(dir)) return -1;
    if (!yaml) return 0;
    char path[512];
    snprintf(path, sizeof(path), "%s/agents.yaml", dir);
    FILE *f = fopen(path, "w");
    if (!f) return -1;
    int ok = fputs(yaml, f) >= 0;
    return fclose(f) == 0 && ok ? 0 : -1;
}

void abe_it_agents_dir_remove(const char *dir)
{
    if (!dir || !dir[0]) return;
    char path[512];
    snprintf(path, sizeof(path), "%s/agents.yaml", dir);
    unlink(path);
    rmdir(dir);
}

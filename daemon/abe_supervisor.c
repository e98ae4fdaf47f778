/*
 * abe_supervisor.c — the master cycle, readable top to bottom like nginx's ngx_master_process_cycle:
 * signal handlers only set sig_atomic_t flags; one loop (ppoll with the signals unblocked atomically, a
 * 100 ms tick) acts on them: reap children, respawn with backoff, hand back and re-assign executions of dead
 * workers, and drive the graceful stop.
 *
 * Process tree: supervisor → persistence (started first, stopped last) and workers (direct children). Every
 * child gets PR_SET_PDEATHSIG so it dies with the supervisor.
 */
#include "abe_supervisor.h"

#include <errno.h>
#include <fcntl.h>
#include <netdb.h>
#include <netinet/in.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/resource.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include <h2o.h>

#include "abe_http.h"
#include "abe_ipc.h"
#include "abe_log.h"
#include "abe_persist.h"
#include "abe_proctitle.h"
#include "abe_router.h"
#include "abe_shm.h"
#include "abe_util.h"
#include "abe_worker.h"

#define ABE_TICK_MS 100
#define ABE_BACKOFF_MIN_NS 100000000ull   /* 0.1 s */
#define ABE_BACKOFF_MAX_NS 10000000000ull /* 10 s */
#define ABE_STABLE_NS 30000000000ull      /* a child up this long resets its backoff */
#define ABE_ADOPT_EVERY_NS 5000000000ull
#define ABE_PERSIST_READY_MS 60000
#define ABE_MAX_DEAD_PIDS 256
/* Deadline of one supervisor -> persistence call. Short: the supervisor loop (signals, reaping, respawns)
 * waits for it, and a stalled persistence process must not hold the loop for long; a call that times out is
 * retried on a later tick. */
#define ABE_PERSIST_CALL_MS 1000
#define ABE_PERSIST_MAX_FAILURES 5 /* consecutive failed restarts before the daemon gives up (exit 1) */

typedef enum { SLOT_FREE = 0, SLOT_RUNNING, SLOT_WAIT_RESPAWN } slot_state_t;

typedef struct child_slot {
    pid_t pid;
    slot_state_t state;
    uint64_t started_ns;
    uint64_t respawn_at_ns;
    uint64_t backoff_ns;
    int was_ready;
} child_slot_t;

static volatile sig_atomic_t sig_stop, sig_chld, sig_hup;

static struct {
    abe_config_t cfg;
    abe_agent_registry_t *agents;
    abe_shm_t *shm;
    int listen_fd;
    int persist_listen_fd;
    char persist_addr[ABE_CFG_PATH_MAX + 2];
    h2o_globalconf_t globalconf;
    child_slot_t persist;
    child_slot_t workers[ABE_MAX_WORKERS];
    int boot_failures;
    int persist_failures; /* consecutive persistence starts that never became ready */
    int adopt_uncertain;  /* an adopt call got no answer: it may have committed unseen */
    int stopping;
    uint64_t stop_deadline_ns;
    uint64_t next_adopt_ns;
    int adopt_needed;
    pid_t dead_pids[ABE_MAX_DEAD_PIDS]; /* crashed workers whose executions still need a hand-back */
    int n_dead;
} S;

static void on_signal(int signo)
{
    if (signo == SIGCHLD)
        sig_chld = 1;
    else if (signo == SIGHUP)
        sig_hup = 1;
    else
        sig_stop++;
}

/* ---- sockets --------------------------------------------------------------------------------------- */

static int bind_http(const abe_config_t *cfg)
{
    struct addrinfo hints = {.ai_family = AF_UNSPEC,
                             .ai_socktype = SOCK_STREAM,
                             .ai_flags = AI_PASSIVE | AI_NUMERICHOST},
                    *res;
    char port[16];
    snprintf(port, sizeof(port), "%d", cfg->port);
    int rc = getaddrinfo(cfg->host, port, &hints, &res);
    if (rc != 0) {
        hints.ai_flags = AI_PASSIVE;
        rc = getaddrinfo(cfg->host, port, &hints, &res);
    }
    if (rc != 0) {
        abe_log_error("cannot resolve UVICORN_HOST %s: %s", cfg->host, gai_strerror(rc));
        return -1;
    }
    int fd = socket(res->ai_family, SOCK_STREAM | SOCK_CLOEXEC, 0);
    int one = 1, zero = 0;
    if (fd >= 0) {
        setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
        if (res->ai_family == AF_INET6) setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &zero, sizeof(zero));
    }
    if (fd < 0 || bind(fd, res->ai_addr, res->ai_addrlen) != 0 || listen(fd, cfg->backlog) != 0) {
        abe_log_error("cannot listen on %s:%d: %s", cfg->host, cfg->port, strerror(errno));
        if (fd >= 0) close(fd);
        freeaddrinfo(res);
        return -1;
    }
    freeaddrinfo(res);
    fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
    return fd;
}

/* The persistence socket doubles as CONTROL_SOCKET (purge-executions talks to it). A file left by a daemon
 * that died is replaced (SPEC §11.1); with CONTROL_SOCKET="" an abstract name is used. */
static int bind_persist(const abe_config_t *cfg)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    socklen_t len;
    if (cfg->control_socket[0]) {
        if (strlen(cfg->control_socket) >= sizeof(sun.sun_path)) {
            abe_log_error("CONTROL_SOCKET path too long: %s", cfg->control_socket);
            return -1;
        }
        snprintf(S.persist_addr, sizeof(S.persist_addr), "%s", cfg->control_socket);
        strcpy(sun.sun_path, cfg->control_socket);
        unlink(cfg->control_socket);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(sun.sun_path) + 1);
    } else {
        snprintf(S.persist_addr, sizeof(S.persist_addr), "@advanced-backend-%d", (int)getpid());
        sun.sun_path[0] = '\0';
        size_t n = strlen(S.persist_addr + 1);
        memcpy(sun.sun_path + 1, S.persist_addr + 1, n);
        len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + 1 + n);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
    mode_t old = umask(0177);
    int ok = fd >= 0 && bind(fd, (struct sockaddr *)&sun, len) == 0 && listen(fd, 128) == 0;
    umask(old);
    if (!ok) {
        abe_log_error("cannot listen on control socket %s: %s", S.persist_addr, strerror(errno));
        if (fd >= 0) close(fd);
        return -1;
    }
    return fd;
}

/* ---- persistence requests from the supervisor (blocking, short) ------------------------------------ */

static int persist_request(abe_op_t op, json_t *payload, json_t **result)
{
    int fd = abe_ipc_connect(S.persist_addr, 0);
    if (fd < 0) {
        json_decref(payload);
        return ABE_IPC_ERR_UNAVAILABLE;
    }
    json_t *res = NULL;
    int st = abe_ipc_request_sync(fd, op, ABE_IPC_F_RUNNER, payload, ABE_PERSIST_CALL_MS, &res);
    close(fd);
    json_decref(payload);
    if (result)
        *result = res;
    else
        json_decref(res);
    return st;
}

static void sync_agents(void)
{
    char ts[ABE_TS_LEN];
    json_t *p = json_pack("{s:s,s:O}", "loaded_at", abe_now_iso(ts), "agents", S.agents->agents_json);
    int st = persist_request(ABE_OP_SYNC_AGENTS, p, NULL);
    if (st != ABE_IPC_OK) abe_log_warn("agents mirror not written: %s", abe_ipc_status_name(st));
}

/* Hand back executions of crashed workers; retried every tick until the persistence process takes it. */
static void flush_dead_pids(void)
{
    int kept = 0, failed = 0;
    for (int i = 0; i < S.n_dead; i++) {
        /* After one failure this tick, keep the rest for a later tick instead of waiting on each. */
        int st = failed ? ABE_IPC_ERR_UNAVAILABLE
                        : persist_request(ABE_OP_HANDBACK_EXECUTION,
                                          json_pack("{s:i}", "owner_pid", (int)S.dead_pids[i]), NULL);
        if (st == ABE_IPC_OK) {
            S.adopt_needed = 1;
        } else {
            failed = 1;
            S.dead_pids[kept++] = S.dead_pids[i];
        }
    }
    S.n_dead = kept;
}

/* Assign unowned pending/running executions to the ready workers (SPEC §4.5 adoption). */
static void adopt_executions(void)
{
    json_t *pids = json_array();
    for (int i = 0; i < ABE_MAX_WORKERS; i++)
        if (S.workers[i].state == SLOT_RUNNING && atomic_load(&S.shm->workers[i].ready) &&
            !atomic_load(&S.shm->workers[i].draining)) /* a draining worker is handing executions back */
            json_array_append_new(pids, json_integer(S.workers[i].pid));
    if (json_array_size(pids) == 0) {
        json_decref(pids);
        return;
    }
    json_t *res = NULL;
    int st = persist_request(ABE_OP_ADOPT_EXECUTION, json_pack("{s:o}", "owner_pids", pids), &res);
    if (st == ABE_IPC_OK) {
        S.adopt_needed = 0;
        size_t n = json_array_size(json_object_get(res, "adopted"));
        if (n) abe_log_info("adopted %zu unowned executions", n);
        /* Workers look for their new executions. After a call that got no answer (it may have committed
         * anyway), the next answered one bumps too. */
        if (n || S.adopt_uncertain) {
            atomic_fetch_add(&S.shm->adopt_generation, 1);
            /* Wake the workers' event loops so they start their new executions at once. */
            for (int i = 0; i < ABE_MAX_WORKERS; i++)
                if (S.workers[i].state == SLOT_RUNNING && S.workers[i].pid > 0 &&
                    atomic_load(&S.shm->workers[i].ready)) /* ready: its SIGUSR2 handler is installed */
                    kill(S.workers[i].pid, SIGUSR2);
        }
        S.adopt_uncertain = 0;
    } else {
        S.adopt_uncertain = 1;
        S.adopt_needed = 1;
    }
    json_decref(res);
}

/* ---- children -------------------------------------------------------------------------------------- */

static void child_common(const char *title, const char *comm, int pdeathsig)
{
    prctl(PR_SET_PDEATHSIG, pdeathsig);
    if (getppid() == 1) _exit(1);
    abe_proctitle_set(title, comm);
    abe_log_set_process(comm);
    struct sigaction sa = {.sa_handler = SIG_DFL};
    sigaction(SIGCHLD, &sa, NULL);
    sa.sa_handler =
        SIG_IGN; /* reloads are the supervisor's business; a terminal hang-up must not kill children */
    sigaction(SIGHUP, &sa, NULL);
}

static int spawn_persist(void)
{
    int pfd[2];
    if (pipe2(pfd, O_CLOEXEC) != 0) return -1;
    pid_t pid = fork();
    if (pid < 0) {
        close(pfd[0]);
        close(pfd[1]);
        return -1;
    }
    if (pid == 0) {
        close(pfd[0]);
        close(S.listen_fd);
        child_common("advanced-backend: persistence", "abe-persist", SIGTERM);
        _exit(abe_persist_main(&S.cfg, S.persist_listen_fd, pfd[1], S.shm));
    }
    close(pfd[1]);
    S.persist.pid = pid;
    S.persist.state = SLOT_RUNNING;
    S.persist.started_ns = abe_mono_ns();
    struct pollfd p = {.fd = pfd[0], .events = POLLIN};
    char c = 0;
    int rc = poll(&p, 1, ABE_PERSIST_READY_MS);
    ssize_t n = rc > 0 ? read(pfd[0], &c, 1) : -1;
    close(pfd[0]);
    if (n != 1 || c != 'R') {
        abe_log_error("persistence process failed to start (DB_PATH %s)", S.cfg.db_path);
        return -1;
    }
    atomic_store(&S.shm->persist_pid, pid);
    abe_log_info("persistence process %d ready", (int)pid);
    return 0;
}

static void spawn_worker(int i)
{
    atomic_store(&S.shm->workers[i].ready, 0);
    atomic_store(&S.shm->workers[i].draining, 0);
    atomic_store(&S.shm->workers[i].db_pending, 0);
    pid_t pid = fork();
    if (pid < 0) {
        abe_log_error("fork failed: %s", strerror(errno));
        S.workers[i].state = SLOT_WAIT_RESPAWN;
        S.workers[i].respawn_at_ns = abe_mono_ns() + ABE_BACKOFF_MIN_NS;
        return;
    }
    if (pid == 0) {
        char title[64], comm[16];
        snprintf(title, sizeof(title), "advanced-backend: worker %d", i + 1);
        snprintf(comm, sizeof(comm), "abe-worker");
        close(S.persist_listen_fd);
        child_common(title, comm, SIGTERM);
        abe_worker.cfg = &S.cfg;
        abe_worker.shm = S.shm;
        abe_worker.agents = S.agents;
        abe_worker.persist_addr = S.persist_addr;
        _exit(abe_worker_main(i, S.listen_fd, &S.globalconf));
    }
    atomic_store(&S.shm->workers[i].pid, pid);
    S.workers[i].pid = pid;
    S.workers[i].state = SLOT_RUNNING;
    S.workers[i].started_ns = abe_mono_ns();
    S.workers[i].was_ready = 0;
}

static void schedule_respawn(child_slot_t *c, uint64_t now)
{
    if (now - c->started_ns >= ABE_STABLE_NS || c->backoff_ns == 0)
        c->backoff_ns = ABE_BACKOFF_MIN_NS;
    else if ((c->backoff_ns *= 2) > ABE_BACKOFF_MAX_NS)
        c->backoff_ns = ABE_BACKOFF_MAX_NS;
    c->state = SLOT_WAIT_RESPAWN;
    c->respawn_at_ns = now + c->backoff_ns;
}

static void describe_exit(int status, char *buf, size_t len)
{
    if (WIFSIGNALED(status))
        snprintf(buf, len, "killed by signal %d", WTERMSIG(status));
    else
        snprintf(buf, len, "exited with status %d", WEXITSTATUS(status));
}

static void reap_children(void)
{
    int status;
    pid_t pid;
    uint64_t now = abe_mono_ns();
    while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
        char how[64];
        describe_exit(status, how, sizeof(how));
        if (pid == S.persist.pid) {
            atomic_store(&S.shm->persist_pid, 0);
            atomic_store(&S.shm->db_queue_depth, 0);
            S.persist.pid = 0;
            if (S.stopping) {
                S.persist.state = SLOT_FREE;
                abe_log_info("persistence process %d %s", (int)pid, how);
            } else {
                abe_log_error("persistence process %d %s; restarting", (int)pid, how);
                schedule_respawn(&S.persist, now);
            }
            continue;
        }
        for (int i = 0; i < ABE_MAX_WORKERS; i++) {
            child_slot_t *w = &S.workers[i];
            if (w->pid != pid) continue;
            int was_ready = w->was_ready || atomic_load(&S.shm->workers[i].ready);
            atomic_store(&S.shm->workers[i].pid, 0);
            atomic_store(&S.shm->workers[i].ready, 0);
            atomic_store(&S.shm->workers[i].db_pending, 0); /* its requests died with it */
            w->pid = 0;
            /* Whatever way it ended, anything still owned by this pid is handed back: its own hand-back may
             * have raced an adoption that committed after it (harmless when it owns nothing). */
            if (S.n_dead < ABE_MAX_DEAD_PIDS) S.dead_pids[S.n_dead++] = pid;
            if (S.stopping) {
                w->state = SLOT_FREE;
                abe_log_info("worker %d (pid %d) %s", i + 1, (int)pid, how);
                continue;
            }
            if (WIFEXITED(status) && WEXITSTATUS(status) == 0) {
                /* Recycled (WORKER_MAX_REQUESTS): it drained and handed its executions back itself. */
                abe_log_info("worker %d (pid %d) recycled; starting a fresh one", i + 1, (int)pid);
                w->state = SLOT_WAIT_RESPAWN;
                w->respawn_at_ns = now;
                continue;
            }
            abe_log_warn("worker %d (pid %d) %s; respawning", i + 1, (int)pid, how);
            atomic_fetch_add(&S.shm->worker_restarts, 1);
            if (!was_ready) S.boot_failures++;
            schedule_respawn(w, now);
        }
    }
}

static void update_ready_workers(void)
{
    int live = 0;
    for (int i = 0; i < ABE_MAX_WORKERS; i++) {
        child_slot_t *w = &S.workers[i];
        if (w->state != SLOT_RUNNING || !atomic_load(&S.shm->workers[i].ready)) continue;
        if (!w->was_ready) {
            w->was_ready = 1;
            S.boot_failures = 0;
            S.adopt_needed = 1;
        }
        if (!atomic_load(&S.shm->workers[i].draining)) live++;
    }
    atomic_store(&S.shm->live_workers, live);
}

static int children_alive(void)
{
    int n = 0;
    for (int i = 0; i < ABE_MAX_WORKERS; i++)
        if (S.workers[i].pid > 0) n++;
    return n;
}

static void signal_workers(int signo)
{
    for (int i = 0; i < ABE_MAX_WORKERS; i++)
        if (S.workers[i].pid > 0) kill(S.workers[i].pid, signo);
}

static void begin_stop(void)
{
    S.stopping = 1;
    atomic_store(&S.shm->shutting_down, 1);
    S.stop_deadline_ns = abe_mono_ns() + (uint64_t)S.cfg.graceful_timeout_s * 1000000000ull;
    abe_log_info("graceful stop: draining %d workers (timeout %d s)", children_alive(),
                 S.cfg.graceful_timeout_s);
    if (S.listen_fd >= 0) {
        close(S.listen_fd);
        S.listen_fd = -1;
    }
    for (int i = 0; i < ABE_MAX_WORKERS; i++)
        if (S.workers[i].state == SLOT_WAIT_RESPAWN) S.workers[i].state = SLOT_FREE;
    signal_workers(SIGTERM);
}

static void wait_persist_exit(int timeout_ms)
{
    if (S.persist.pid <= 0) return;
    kill(S.persist.pid, SIGTERM);
    uint64_t deadline = abe_mono_ns() + (uint64_t)timeout_ms * 1000000ull;
    int status;
    while (abe_mono_ns() < deadline) {
        if (waitpid(S.persist.pid, &status, WNOHANG) == S.persist.pid) {
            S.persist.pid = 0;
            return;
        }
        usleep(10000);
    }
    abe_log_warn("persistence process did not stop in time; killing it");
    kill(S.persist.pid, SIGKILL);
    waitpid(S.persist.pid, &status, 0);
    S.persist.pid = 0;
}

static void build_globalconf(void)
{
    h2o_config_init(&S.globalconf);
    S.globalconf.server_name = h2o_iovec_init(H2O_STRLIT("advanced-backend"));
    S.globalconf.max_request_entity_size = (size_t)S.cfg.max_body_bytes * 2;
    S.globalconf.http1.req_timeout =
        (uint64_t)(S.cfg.keepalive_timeout_s > 0 ? S.cfg.keepalive_timeout_s : 10) * 1000;
    S.globalconf.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host =
        h2o_config_register_host(&S.globalconf, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    abe_http_register(host);
}

static void write_pid_file(void)
{
    if (!S.cfg.pid_file[0]) return;
    char tmp[ABE_CFG_PATH_MAX + 8];
    snprintf(tmp, sizeof(tmp), "%s.tmp", S.cfg.pid_file);
    FILE *f = fopen(tmp, "w");
    if (!f || fprintf(f, "%d\n", (int)getpid()) < 0 || fclose(f) != 0 || rename(tmp, S.cfg.pid_file) != 0)
        abe_log_warn("cannot write PID_FILE %s: %s", S.cfg.pid_file, strerror(errno));
}

/* mkdir -p of path's directory; an existing non-directory on the way is an error (ENOTDIR). */
static int mkdir_parent(const char *path)
{
    char buf[ABE_CFG_PATH_MAX];
    snprintf(buf, sizeof(buf), "%s", path);
    char *slash = strrchr(buf, '/');
    if (!slash || slash == buf) return 0;
    *slash = '\0';
    for (char *p = buf + 1;; p++) {
        if (*p == '/' || *p == '\0') {
            char saved = *p;
            *p = '\0';
            struct stat st;
            if (mkdir(buf, 0755) != 0 && errno != EEXIST) return -1;
            if (stat(buf, &st) != 0) return -1;
            if (!S_ISDIR(st.st_mode)) {
                errno = ENOTDIR;
                return -1;
            }
            *p = saved;
            if (saved == '\0') break;
        }
    }
    return 0;
}

int abe_supervisor_run(const abe_config_t *cfg, abe_agent_registry_t *agents)
{
    memcpy(&S.cfg, cfg, sizeof(S.cfg));
    S.agents = agents;
    S.listen_fd = S.persist_listen_fd = -1;
    abe_proctitle_set("advanced-backend: supervisor", "abe-supervisor");
    abe_log_set_process("abe-supervisor");

    struct sigaction sa = {.sa_handler = on_signal};
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sigaction(SIGCHLD, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    struct sigaction ign = {.sa_handler = SIG_IGN};
    sigaction(SIGPIPE, &ign, NULL);
    /* USR1/TTIN/TTOU belong to the operations issue; until then they must not kill the daemon. */
    sigaction(SIGUSR1, &ign, NULL);
    sigaction(SIGUSR2, &ign, NULL); /* inherited as "ignored" until a worker installs its wake-up handler */
    sigaction(SIGTTIN, &ign, NULL);
    sigaction(SIGTTOU, &ign, NULL);
    sigset_t block, empty;
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigaddset(&block, SIGINT);
    sigaddset(&block, SIGQUIT);
    sigaddset(&block, SIGCHLD);
    sigaddset(&block, SIGHUP);
    sigprocmask(SIG_BLOCK, &block, NULL);
    sigemptyset(&empty);

    /* Each keep-alive connection is a descriptor: use the hard limit the operator granted (systemd
     * LimitNOFILE=), not the 1024 soft default. Inherited by every child. */
    struct rlimit nofile;
    if (getrlimit(RLIMIT_NOFILE, &nofile) == 0 && nofile.rlim_cur < nofile.rlim_max) {
        nofile.rlim_cur = nofile.rlim_max;
        setrlimit(RLIMIT_NOFILE, &nofile);
    }
    if (!(S.shm = abe_shm_create())) {
        abe_log_error("cannot create shared memory: %s", strerror(errno));
        return 1;
    }
    if (mkdir_parent(S.cfg.db_path) != 0) {
        abe_log_error("cannot create the directory of DB_PATH %s: %s", S.cfg.db_path, strerror(errno));
        return 1;
    }
    if ((S.listen_fd = bind_http(&S.cfg)) < 0 || (S.persist_listen_fd = bind_persist(&S.cfg)) < 0) return 1;
    write_pid_file();
    if (abe_router_init(abe_routes, abe_routes_count) != 0) {
        abe_log_error("internal error: malformed route table");
        return 1;
    }
    build_globalconf();

    if (spawn_persist() != 0) {
        wait_persist_exit(1000);
        return 1;
    }
    sync_agents();
    persist_request(ABE_OP_HANDBACK_EXECUTION, json_pack("{s:b}", "all", 1), NULL);
    for (int i = 0; i < S.cfg.workers; i++)
        spawn_worker(i);
    abe_log_info("serving on %s:%d with %d workers", S.cfg.host, S.cfg.port, S.cfg.workers);

    int exit_code = 0;
    for (;;) {
        struct timespec tick = {.tv_sec = 0, .tv_nsec = ABE_TICK_MS * 1000000L};
        ppoll(NULL, 0, &tick, &empty);
        uint64_t now = abe_mono_ns();

        if (sig_stop && !S.stopping) {
            begin_stop();
        } else if (sig_stop > 1 || (S.stopping && now > S.stop_deadline_ns && children_alive())) {
            abe_log_warn("graceful stop %s: killing %d remaining workers",
                         sig_stop > 1 ? "interrupted by a second signal" : "timed out", children_alive());
            signal_workers(SIGKILL);
            S.stop_deadline_ns = UINT64_MAX;
            sig_stop = 1;
        }
        if (sig_hup) {
            sig_hup = 0;
            abe_log_warn(
                "SIGHUP: live reload is provided by the operations milestone; configuration unchanged");
        }
        if (sig_chld) {
            sig_chld = 0;
            reap_children();
        }
        if (S.stopping) {
            if (!children_alive()) break;
            continue;
        }
        if (S.boot_failures >= S.cfg.worker_max_boot_failures) {
            abe_log_error("workers failed to boot %d times in a row; stopping", S.boot_failures);
            exit_code = 3;
            begin_stop();
            continue;
        }
        if (S.persist.state == SLOT_WAIT_RESPAWN && now >= S.persist.respawn_at_ns) {
            if (spawn_persist() == 0) {
                S.persist_failures = 0;
            } else {
                wait_persist_exit(1000);
                if (++S.persist_failures >= ABE_PERSIST_MAX_FAILURES) {
                    abe_log_error("persistence process failed to start %d times in a row; stopping",
                                  S.persist_failures);
                    exit_code = 1;
                    begin_stop();
                    continue;
                }
                schedule_respawn(&S.persist, abe_mono_ns());
            }
        }
        for (int i = 0; i < S.cfg.workers && i < ABE_MAX_WORKERS; i++)
            if (S.workers[i].state == SLOT_WAIT_RESPAWN && now >= S.workers[i].respawn_at_ns) spawn_worker(i);
        update_ready_workers();
        if (S.n_dead && S.persist.pid > 0) flush_dead_pids();
        if (S.persist.pid > 0 && (S.adopt_needed || now >= S.next_adopt_ns)) {
            adopt_executions();
            S.next_adopt_ns = now + ABE_ADOPT_EVERY_NS;
        }
    }

    /* Workers are gone: flush their hand-backs, then stop the persistence process last (it checkpoints). */
    if (S.persist.pid > 0 && S.n_dead) flush_dead_pids();
    wait_persist_exit(10000);
    if (S.cfg.pid_file[0]) unlink(S.cfg.pid_file);
    if (S.cfg.control_socket[0]) unlink(S.cfg.control_socket);
    abe_log_info("stopped");
    return exit_code;
}

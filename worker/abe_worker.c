/*
 * abe_worker.c — one worker process: an h2o evloop accepting from the listening socket the supervisor
 * created and shared before fork, serving HTTP/1.1 through the pipeline in abe_http.c, and driving workflow
 * executions (abe_engine.c) on the same loop.
 *
 * Lifecycle: boot (loop, context, listener) → mark ready in shared memory → serve → on SIGTERM/SIGINT/SIGQUIT
 * drain: stop accepting, ask h2o to close keep-alive connections after their current response, wait for
 * in-flight requests (bounded by GRACEFUL_TIMEOUT), hand executions back, exit 0.
 */
#include "abe_worker.h"

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <unistd.h>

#include "abe_dbclient.h"
#include "abe_engine.h"
#include "abe_http.h"
#include "abe_log.h"
#include "abe_util.h"

#define ABE_ACCEPT_BATCH 16
#define ABE_ENGINE_POLL_MS 1000
#define ABE_ACCEPT_PAUSE_MS 100

abe_worker_t abe_worker;

static volatile sig_atomic_t g_stop;
static uint64_t g_seen_generation;
static void on_accept_resume(h2o_timeout_entry_t *entry);
static h2o_accept_ctx_t g_accept_ctx;
static h2o_socket_t *g_listener;
static h2o_timeout_t g_tick_timeout;
static h2o_timeout_entry_t g_tick;
static int g_handback_done;
static h2o_timeout_t g_accept_pause_timeout;
static h2o_timeout_entry_t g_accept_pause = {.cb = on_accept_resume};

/* SIGUSR2 from the supervisor: executions were assigned to workers (adoption). The handler only interrupts
 * epoll_wait; the loop then compares the shared adopt generation and polls at once. */
static void on_wake_signal(int signo)
{
    (void)signo;
}

static void on_stop_signal(int signo)
{
    (void)signo;
    g_stop = 1;
}

abe_dbr_t *abe_worker_dbr(void)
{
    if (!abe_worker.dbr) abe_worker.dbr = abe_dbr_open(abe_worker.cfg->db_path);
    return abe_worker.dbr;
}

static void on_accept(h2o_socket_t *listener, const char *err);

/* Accepting resumes after a pause taken when the process ran out of descriptors (see on_accept). */
static void on_accept_resume(h2o_timeout_entry_t *entry)
{
    (void)entry;
    if (g_listener && !abe_worker.draining) h2o_socket_read_start(g_listener, on_accept);
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err) return;
    for (int i = 0; i < ABE_ACCEPT_BATCH; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock) {
            /* Out of descriptors or memory: the listener stays readable, so reading it again would spin the
             * loop at 100 % CPU and starve the connections we have. Stop accepting for a moment, as nginx
             * does; new connections wait in the kernel backlog meanwhile. */
            if (errno == EMFILE || errno == ENFILE || errno == ENOBUFS || errno == ENOMEM) {
                static uint64_t last_warn_ns;
                uint64_t now = abe_mono_ns();
                if (last_warn_ns == 0 || now - last_warn_ns >= 10000000000ull) { /* at most one per 10 s */
                    abe_log_warn("accept: %s; pausing accepts for %d ms", strerror(errno),
                                 ABE_ACCEPT_PAUSE_MS);
                    last_warn_ns = now;
                }
                h2o_socket_read_stop(listener);
                if (!h2o_timeout_is_linked(&g_accept_pause))
                    h2o_timeout_link(abe_worker.loop, &g_accept_pause_timeout, &g_accept_pause);
            }
            break;
        }
        h2o_accept(&g_accept_ctx, sock);
    }
}

static void on_tick(h2o_timeout_entry_t *entry)
{
    if (!abe_worker.draining) abe_engine_poll_owned();
    h2o_timeout_link(abe_worker.loop, &g_tick_timeout, &g_tick);
}

static void on_handback_done(void *arg)
{
    (void)arg;
    g_handback_done = 1;
}

/* Graceful drain (SPEC §11.2): returns once in-flight requests are answered or the deadline passed. */
static void drain(void)
{
    abe_worker_t *w = &abe_worker;
    w->draining = 1;
    atomic_store(&w->shm->workers[w->index].draining, 1);
    if (h2o_timeout_is_linked(&g_accept_pause)) h2o_timeout_unlink(&g_accept_pause);
    if (g_listener) {
        h2o_socket_read_stop(g_listener);
        h2o_socket_close(g_listener);
        g_listener = NULL;
    }
    h2o_context_request_shutdown(w->ctx);
    uint64_t deadline = abe_mono_ns() + (uint64_t)w->cfg->graceful_timeout_s * 1000000000ull;
    /* Finish in-flight requests; idle keep-alive connections are closed when we exit. */
    while (abe_http_inflight() > 0 && abe_mono_ns() < deadline)
        h2o_evloop_run(w->loop, 50);
    /* Give h2o a moment to flush the last responses. */
    uint64_t flush_until = abe_mono_ns() + 100000000ull;
    while (!h2o_linklist_is_empty(&w->ctx->http1._conns) && abe_mono_ns() < flush_until)
        h2o_evloop_run(w->loop, 10);
    size_t n = abe_engine_handback(on_handback_done, NULL);
    uint64_t hb_deadline = abe_mono_ns() + 5000000000ull;
    while (!g_handback_done && abe_mono_ns() < hb_deadline)
        h2o_evloop_run(w->loop, 50);
    abe_log_info("worker drained (%zu executions handed back%s)", n,
                 g_handback_done ? "" : ", not acknowledged");
}

int abe_worker_main(int index, int listen_fd, h2o_globalconf_t *globalconf)
{
    abe_worker_t *w = &abe_worker;
    w->index = index;
    w->pid = getpid();

    struct sigaction sa;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_stop_signal;
    sigaction(SIGTERM, &sa, NULL);
    sigaction(SIGINT, &sa, NULL);
    sigaction(SIGQUIT, &sa, NULL);
    sa.sa_handler = on_wake_signal;
    sigaction(SIGUSR2, &sa, NULL);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGPIPE, &sa, NULL);
    sigaction(SIGHUP, &sa, NULL);
    sigset_t all;
    sigemptyset(&all);
    sigprocmask(SIG_SETMASK, &all, NULL);

    static h2o_context_t ctx;
    w->loop = h2o_evloop_create();
    h2o_context_init(&ctx, w->loop, globalconf);
    w->ctx = &ctx;
    g_accept_ctx.ctx = &ctx;
    g_accept_ctx.hosts = globalconf->hosts;

    if (abe_dbc_init(w->loop, w->persist_addr, 30000) != 0 || abe_engine_init(w->loop) != 0) {
        abe_log_error("worker %d: cannot initialise persistence client or engine", index);
        return 3;
    }
    abe_dbc_publish_pending(&w->shm->workers[index].db_pending);
    if (abe_dbc_connect() != 0)
        abe_log_warn("worker %d: persistence not reachable yet; will retry", index + 1);
    g_listener = h2o_evloop_socket_create(w->loop, listen_fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(g_listener, on_accept);

    h2o_timeout_init(w->loop, &g_accept_pause_timeout, ABE_ACCEPT_PAUSE_MS);
    h2o_timeout_init(w->loop, &g_tick_timeout, ABE_ENGINE_POLL_MS);
    g_tick.cb = on_tick;
    h2o_timeout_link(w->loop, &g_tick_timeout, &g_tick);

    atomic_store(&w->shm->workers[index].ready, 1);
    abe_log_info("worker %d ready", index + 1);

    abe_log_set_buffered(1);
    while (!g_stop && !w->draining && !w->recycle) {
        h2o_evloop_run(w->loop, INT32_MAX);
        abe_log_flush();
        /* Adopted executions start now rather than at the next 1 s tick (cheap: one atomic load unless
         * the generation moved). */
        if (atomic_load(&w->shm->adopt_generation) != g_seen_generation) {
            g_seen_generation = atomic_load(&w->shm->adopt_generation);
            abe_engine_poll_owned();
        }
    }
    if (w->recycle && !g_stop)
        abe_log_info("worker %d recycling after %lld requests (WORKER_MAX_REQUESTS)", index + 1,
                     (long long)w->requests);

    abe_log_set_buffered(0); /* drain's loop iterations log unbuffered */
    drain();
    /* `ready` stays set: the supervisor reads it at reap time (it tells a crash after boot from a boot
     * failure) and clears the slot itself. */
    abe_dbc_close();
    /* h2o_context_dispose asserts while connections remain (h2o-2.2.5 notes, pitfall 9): just exit. */
    return 0;
}

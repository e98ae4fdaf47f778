/*
 * abe_persist.c — the persistence process (SPEC §9): the only SQLite writer, see abe_persist.h.
 *
 * One thread, one epoll loop. Workers, the supervisor and the purge CLI connect to the AF_UNIX listening
 * socket the supervisor created; every connection gets an input buffer (frames are decoded with
 * common/abe_ipc.c) and an output buffer (replies, written non-blocking, EPOLLOUT while the peer lags).
 * Decoded requests join one FIFO (so each connection's order is kept). Whenever the FIFO is non-empty the
 * loop takes up to DB_BATCH_SIZE operations into one transaction (abe_batch_run: SAVEPOINT per op, one
 * COMMIT = one fsync), then answers every requester. There is no artificial wait: epoll is polled with a
 * zero timeout while work is queued, so operations that arrive during a commit form the next batch.
 *
 * Backpressure (SPEC §9.3): shm->db_queue_depth counts operations queued but not yet inside a
 * transaction; at DB_MAX_QUEUE_SIZE a request without ABE_IPC_F_RUNNER is answered at once with
 * ABE_IPC_ERR_QUEUE_FULL. Counters for the metrics endpoint live in the shared region.
 *
 * Shutdown: SIGTERM only sets a flag (SIGTERM is blocked except inside epoll_pwait, so the flag can never
 * be missed). The loop then stops accepting, keeps reading what connected peers already sent, runs the
 * remaining batches, flushes the replies, and closes the store with a TRUNCATE checkpoint — all bounded by
 * ABE_PERSIST_DRAIN_MS; a clean stop ends with two info lines summarising the shared batch counters (batch
 * count, batch-size histogram, per-op result totals), which perf/bench_writes reports. SIGINT is ignored so a
 * terminal Ctrl-C reaches only the supervisor, which stops this process last.
 */
#include "abe_persist.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/epoll.h>
#include <sys/socket.h>
#include <time.h>
#include <unistd.h>

#include "abe_log.h"
#include "abe_util.h"

#define ABE_PERSIST_DRAIN_MS 5000                      /* bound on the SIGTERM drain */
#define ABE_PERSIST_WAL_CHECK_MS (10 * 60 * 1000)      /* SPEC §9.1: every 10 min */
#define ABE_PERSIST_WAL_LIMIT (64LL * 1024 * 1024)     /* bytes; TRUNCATE checkpoint above this */
#define ABE_PERSIST_READ_CHUNK (64u * 1024u)           /* minimum free input space per read(2) */
#define ABE_PERSIST_READ_PER_WAKE (1u * 1024u * 1024u) /* fairness: bytes read per connection per event */
#define ABE_PERSIST_MAX_OUTBUF (512u * 1024u * 1024u)  /* a peer that stops reading is dropped past this */
#define ABE_PERSIST_MAX_ACCEPT 64                      /* connections accepted per listener event */

typedef struct persist_conn {
    int fd;          /* -1 once closed */
    int eof;         /* the peer finished sending; close once its replies are out */
    int refs;        /* queued operations that will answer on this connection */
    uint32_t events; /* current epoll interest */
    char *in;
    size_t in_len, in_cap;
    char *out;
    size_t out_off, out_len, out_cap;
    int dirty; /* on the flush list */
    int busy;  /* pinned while the loop handles one of its events */
    struct persist_conn *dirty_next;
    struct persist_conn *prev, *next; /* open connections */
} persist_conn_t;

typedef struct persist_item {
    struct persist_item *next;
    persist_conn_t *conn;
    uint32_t id;
    abe_op_t op;
    uint16_t flags;
    json_t *payload;
} persist_item_t;

typedef struct persist {
    const abe_config_t *cfg;
    abe_shm_t *shm;
    abe_store_t *st;
    int epfd;
    int listen_fd;
    int listen_nonblocking;
    persist_conn_t *conns;
    persist_item_t *qhead, *qtail;
    size_t qlen;
    persist_conn_t *dirty;
    size_t batch_cap;
    abe_batch_item_t *bitems;
    persist_item_t **btaken;
} persist_t;

static volatile sig_atomic_t g_stop;
static char g_listen_tag; /* epoll data.ptr of the listener */

static void on_sigterm(int sig)
{
    (void)sig;
    g_stop = 1;
}

static long long now_ms(void)
{
    return (long long)(abe_mono_ns() / 1000000u);
}

/* ---- batch executor ------------------------------------------------------------------------------ */

static json_t *message_json(const char *msg)
{
    json_t *o = json_object();
    if (o != NULL) json_object_set_new(o, "message", json_string(msg != NULL ? msg : ""));
    return o;
}

static const char *default_message(int status)
{
    switch (status) {
    case ABE_IPC_ERR_NOT_FOUND:
        return "Not found";
    case ABE_IPC_ERR_CONFLICT:
        return "Conflict";
    case ABE_IPC_ERR_STALE:
        return "Stale fencing epoch";
    case ABE_IPC_ERR_BAD_REQUEST:
        return "Bad request";
    default:
        return "Database write failed";
    }
}

static void set_item_error(abe_batch_item_t *it, int status, const char *msg)
{
    json_decref(it->result);
    it->status = status;
    it->result = message_json(msg != NULL && msg[0] != '\0' ? msg : default_message(status));
}

static void fail_all(abe_batch_item_t *items, size_t n, const char *what, const char *detail)
{
    char msg[512];
    snprintf(msg, sizeof(msg), "%s: %s", what, detail != NULL ? detail : "unknown error");
    for (size_t i = 0; i < n; i++)
        set_item_error(&items[i], ABE_IPC_ERR_DB, msg);
}

int abe_batch_run(abe_store_t *st, abe_batch_apply_fn apply, void *apply_ctx, abe_batch_item_t *items,
                  size_t n)
{
    char msg[512];

    for (size_t i = 0; i < n; i++) {
        items[i].status = ABE_IPC_ERR_DB;
        items[i].result = NULL;
    }
    if (n == 0) return 0;
    if (abe_store_begin(st) != 0) {
        fail_all(items, n, "BEGIN IMMEDIATE failed", abe_store_errmsg(st));
        return -1;
    }
    for (size_t i = 0; i < n; i++) {
        abe_batch_item_t *it = &items[i];
        if (abe_store_savepoint(st) != 0) {
            set_item_error(it, ABE_IPC_ERR_DB, abe_store_errmsg(st));
            continue;
        }
        json_t *res = NULL;
        msg[0] = '\0';
        int status = apply(apply_ctx, it->op, it->payload, &res, msg, sizeof(msg));
        if (status == ABE_IPC_OK) {
            if (abe_store_release(st) == 0) {
                it->status = ABE_IPC_OK;
                it->result = res != NULL ? res : json_object();
                continue;
            }
            json_decref(res);
            snprintf(msg, sizeof(msg), "RELEASE failed: %s", abe_store_errmsg(st));
            status = ABE_IPC_ERR_DB;
        } else {
            json_decref(res);
            if (status < ABE_IPC_ERR_DB || status > ABE_IPC_ERR_UNAVAILABLE) status = ABE_IPC_ERR_DB;
        }
        if (abe_store_rollback_to(st) != 0) {
            /* The savepoint cannot be undone: nothing in this transaction can be trusted. */
            char detail[512];
            snprintf(detail, sizeof(detail), "%s", abe_store_errmsg(st));
            abe_store_rollback(st);
            fail_all(items, n, "ROLLBACK TO failed", detail);
            return -1;
        }
        set_item_error(it, status, msg);
    }
    if (abe_store_commit(st) != 0) {
        char detail[512];
        snprintf(detail, sizeof(detail), "%s", abe_store_errmsg(st));
        abe_store_rollback(st);
        fail_all(items, n, "COMMIT failed", detail);
        return -1;
    }
    return 0;
}

/* Production apply: the store, plus the readiness probe, which BEGIN IMMEDIATE already answered. */
static int persist_apply(void *ctx, abe_op_t op, json_t *payload, json_t **result, char *msg, size_t msglen)
{
    if (op == ABE_OP_PROBE) {
        *result = json_object();
        return ABE_IPC_OK;
    }
    return abe_store_apply(ctx, op, payload, result, msg, msglen);
}

/* ---- connections --------------------------------------------------------------------------------- */

static void conn_set_events(persist_t *p, persist_conn_t *c, uint32_t events)
{
    if (c->fd < 0 || c->events == events) return;
    struct epoll_event ev = {.events = events, .data.ptr = c};
    if (epoll_ctl(p->epfd, EPOLL_CTL_MOD, c->fd, &ev) == 0) c->events = events;
}

static void conn_free_if_unused(persist_conn_t *c)
{
    if (c->fd < 0 && c->refs == 0 && !c->dirty && !c->busy) free(c);
}

/* Close the socket; the struct lives on while queued operations still reference it. */
static void conn_close(persist_t *p, persist_conn_t *c)
{
    if (c->fd < 0) return;
    epoll_ctl(p->epfd, EPOLL_CTL_DEL, c->fd, NULL);
    close(c->fd);
    c->fd = -1;
    free(c->in);
    free(c->out);
    c->in = c->out = NULL;
    c->in_len = c->in_cap = c->out_off = c->out_len = c->out_cap = 0;
    if (c->prev != NULL)
        c->prev->next = c->next;
    else
        p->conns = c->next;
    if (c->next != NULL) c->next->prev = c->prev;
    c->prev = c->next = NULL;
    conn_free_if_unused(c);
}

static int out_reserve(persist_conn_t *c, size_t extra)
{
    if (c->out_off > 0 && c->out_off == c->out_len) c->out_off = c->out_len = 0;
    if (c->out_cap - c->out_len >= extra) return 0;
    if (c->out_off > 0) {
        memmove(c->out, c->out + c->out_off, c->out_len - c->out_off);
        c->out_len -= c->out_off;
        c->out_off = 0;
        if (c->out_cap - c->out_len >= extra) return 0;
    }
    if (c->out_len + extra > ABE_PERSIST_MAX_OUTBUF) return -1;
    size_t ncap = c->out_cap ? c->out_cap : 4096;
    while (ncap - c->out_len < extra)
        ncap *= 2;
    char *nb = realloc(c->out, ncap);
    if (nb == NULL) return -1;
    c->out = nb;
    c->out_cap = ncap;
    return 0;
}

static int out_dump_cb(const char *buf, size_t size, void *data)
{
    persist_conn_t *c = data;
    if (out_reserve(c, size) != 0) return -1;
    memcpy(c->out + c->out_len, buf, size);
    c->out_len += size;
    return 0;
}

static void mark_dirty(persist_t *p, persist_conn_t *c)
{
    if (!c->dirty) {
        c->dirty = 1;
        c->dirty_next = p->dirty;
        p->dirty = c;
    }
}

/* Queue one reply frame on c (discarded when c is already closed). body: borrowed; NULL means {}. */
static void conn_reply(persist_t *p, persist_conn_t *c, uint32_t id, abe_op_t op, int status, json_t *body)
{
    if (c->fd < 0) return;
    if (out_reserve(c, ABE_IPC_HEADER_SIZE) != 0) {
        abe_log_error("persistence: reply buffer limit reached on a connection; closing it");
        conn_close(p, c);
        return;
    }
    size_t start = c->out_len;
    c->out_len += ABE_IPC_HEADER_SIZE;
    int rc = body != NULL ? json_dump_callback(body, out_dump_cb, c, JSON_COMPACT) : out_dump_cb("{}", 2, c);
    size_t plen = c->out_len - start - ABE_IPC_HEADER_SIZE;
    if (rc != 0 || plen > ABE_IPC_MAX_PAYLOAD) {
        /* Unserialisable or oversized result: answer with a short error the peer can read instead. */
        static const char fallback[] = "{\"message\":\"reply could not be encoded\"}";
        c->out_len = start + ABE_IPC_HEADER_SIZE;
        if (out_dump_cb(fallback, sizeof(fallback) - 1, c) != 0) {
            c->out_len = start;
            abe_log_error("persistence: cannot buffer reply; closing the connection");
            conn_close(p, c);
            return;
        }
        status = ABE_IPC_ERR_DB;
        plen = sizeof(fallback) - 1;
    }
    abe_ipc_encode_header((uint8_t *)c->out + start, id, (uint8_t)op, (uint8_t)status, 0, (uint32_t)plen);
    mark_dirty(p, c);
}

static void conn_reply_message(persist_t *p, persist_conn_t *c, uint32_t id, abe_op_t op, int status,
                               const char *msg)
{
    json_t *o = message_json(msg);
    conn_reply(p, c, id, op, status, o);
    json_decref(o);
}

/* Write what the kernel takes now; EPOLLOUT while blocked; close after the last reply of a finished peer. */
static void conn_flush(persist_t *p, persist_conn_t *c)
{
    while (c->fd >= 0 && c->out_off < c->out_len) {
        ssize_t w = send(c->fd, c->out + c->out_off, c->out_len - c->out_off, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            c->out_off += (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            conn_set_events(p, c, (c->eof ? 0 : EPOLLIN) | EPOLLOUT);
            return;
        }
        abe_log_debug("persistence: peer gone while writing replies (%s); discarding them", strerror(errno));
        conn_close(p, c);
        return;
    }
    if (c->fd < 0) return;
    c->out_off = c->out_len = 0;
    if (c->eof && c->refs == 0) {
        conn_close(p, c);
        return;
    }
    conn_set_events(p, c, c->eof ? 0 : EPOLLIN);
}

static void flush_dirty(persist_t *p)
{
    while (p->dirty != NULL) {
        persist_conn_t *c = p->dirty;
        p->dirty = c->dirty_next;
        c->dirty = 0;
        c->dirty_next = NULL;
        if (c->fd >= 0)
            conn_flush(p, c);
        else
            conn_free_if_unused(c);
    }
}

/* One decoded request: refuse (backpressure), reject (bad JSON) or queue it. */
static void handle_request(persist_t *p, persist_conn_t *c, const abe_ipc_frame_t *fr)
{
    abe_op_t op = (abe_op_t)fr->op;

    if (atomic_load(&p->shm->db_queue_depth) >= p->cfg->db_max_queue_size &&
        !(fr->flags & ABE_IPC_F_RUNNER)) {
        atomic_fetch_add(&p->shm->db_ops[op][2], 1);
        conn_reply_message(p, c, fr->id, op, ABE_IPC_ERR_QUEUE_FULL, "Database queue full; retry later");
        return;
    }
    json_error_t jerr;
    json_t *payload = json_loadb(fr->payload, fr->length, 0, &jerr);
    if (payload == NULL || !json_is_object(payload)) {
        char msg[256];
        if (payload == NULL)
            snprintf(msg, sizeof(msg), "Invalid JSON payload: %s", jerr.text);
        else
            snprintf(msg, sizeof(msg), "Invalid payload: not a JSON object");
        json_decref(payload);
        atomic_fetch_add(&p->shm->db_ops[op][1], 1);
        abe_log_warn("persistence: %s request %u rejected: %s", abe_op_name(op), fr->id, msg);
        conn_reply_message(p, c, fr->id, op, ABE_IPC_ERR_BAD_REQUEST, msg);
        return;
    }
    persist_item_t *it = calloc(1, sizeof(*it));
    if (it == NULL) {
        json_decref(payload);
        atomic_fetch_add(&p->shm->db_ops[op][1], 1);
        conn_reply_message(p, c, fr->id, op, ABE_IPC_ERR_DB, "Out of memory");
        return;
    }
    it->conn = c;
    it->id = fr->id;
    it->op = op;
    it->flags = fr->flags;
    it->payload = payload;
    c->refs++;
    if (p->qtail != NULL)
        p->qtail->next = it;
    else
        p->qhead = it;
    p->qtail = it;
    p->qlen++;
    atomic_fetch_add(&p->shm->db_queue_depth, 1);
}

static int in_reserve(persist_conn_t *c, size_t want_free)
{
    if (c->in_cap - c->in_len >= want_free) return 0;
    size_t ncap = c->in_cap ? c->in_cap : ABE_PERSIST_READ_CHUNK;
    while (ncap - c->in_len < want_free)
        ncap *= 2;
    char *nb = realloc(c->in, ncap);
    if (nb == NULL) return -1;
    c->in = nb;
    c->in_cap = ncap;
    return 0;
}

/* Decode every complete frame in c's input; a bad frame closes the connection. */
static void conn_decode(persist_t *p, persist_conn_t *c)
{
    size_t off = 0;
    while (c->fd >= 0 && off < c->in_len) {
        abe_ipc_frame_t fr;
        size_t used = 0;
        abe_ipc_decode_result_t dr =
            abe_ipc_decode(c->in + off, c->in_len - off, ABE_IPC_MAX_PAYLOAD, &fr, &used);
        if (dr == ABE_IPC_DECODE_NEED_MORE) break;
        if (dr != ABE_IPC_DECODE_OK) {
            abe_log_warn("persistence: closing a connection that sent an invalid frame (%s)",
                         dr == ABE_IPC_DECODE_BAD_MAGIC   ? "bad magic"
                         : dr == ABE_IPC_DECODE_OVERSIZED ? "oversized payload"
                                                          : "bad op or status");
            conn_close(p, c);
            return;
        }
        handle_request(p, c, &fr);
        off += used;
    }
    if (c->fd < 0) return;
    if (off > 0) {
        memmove(c->in, c->in + off, c->in_len - off);
        c->in_len -= off;
    }
    /* Give back memory held for a large frame once it has been consumed. */
    if (c->in_len == 0 && c->in_cap > 4 * ABE_PERSIST_READ_CHUNK) {
        free(c->in);
        c->in = NULL;
        c->in_cap = 0;
    }
}

/* Bytes still missing for the frame at the front of the input (at least one read chunk). */
static size_t in_wanted(const persist_conn_t *c)
{
    size_t want = ABE_PERSIST_READ_CHUNK;
    if (c->in_len >= ABE_IPC_HEADER_SIZE) {
        const uint8_t *h = (const uint8_t *)c->in;
        size_t flen = (((size_t)h[4] << 24) | ((size_t)h[5] << 16) | ((size_t)h[6] << 8) | h[7]);
        if (flen <= ABE_IPC_MAX_PAYLOAD && flen + ABE_IPC_HEADER_SIZE > c->in_len &&
            flen + ABE_IPC_HEADER_SIZE - c->in_len > want)
            want = flen + ABE_IPC_HEADER_SIZE - c->in_len;
    }
    return want;
}

static void conn_read(persist_t *p, persist_conn_t *c)
{
    size_t total = 0;
    while (c->fd >= 0 && !c->eof && total < ABE_PERSIST_READ_PER_WAKE) {
        if (in_reserve(c, in_wanted(c)) != 0) {
            abe_log_error("persistence: out of memory buffering a request; closing the connection");
            conn_close(p, c);
            return;
        }
        ssize_t r = recv(c->fd, c->in + c->in_len, c->in_cap - c->in_len, MSG_DONTWAIT);
        if (r > 0) {
            c->in_len += (size_t)r;
            total += (size_t)r;
            conn_decode(p, c);
            continue;
        }
        if (r == 0) {
            c->eof = 1;
            if (c->in_len > 0)
                abe_log_warn("persistence: peer closed mid-frame (%zu bytes dropped)", c->in_len);
            break;
        }
        if (errno == EINTR) continue;
        if (errno == EAGAIN || errno == EWOULDBLOCK) return;
        abe_log_debug("persistence: read error on a connection: %s", strerror(errno));
        conn_close(p, c);
        return;
    }
    if (c->fd >= 0 && c->eof) {
        if (c->refs == 0 && c->out_off == c->out_len)
            conn_close(p, c);
        else
            conn_set_events(p, c, c->out_off < c->out_len ? EPOLLOUT : 0);
    }
}

static void accept_conns(persist_t *p)
{
    int max = p->listen_nonblocking ? ABE_PERSIST_MAX_ACCEPT : 1;
    for (int i = 0; i < max; i++) {
        int fd = accept4(p->listen_fd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC);
        if (fd < 0) {
            if (errno == EINTR) continue;
            if (errno != EAGAIN && errno != EWOULDBLOCK && errno != ECONNABORTED)
                abe_log_warn("persistence: accept failed: %s", strerror(errno));
            return;
        }
        persist_conn_t *c = calloc(1, sizeof(*c));
        struct epoll_event ev = {.events = EPOLLIN, .data.ptr = c};
        if (c == NULL || epoll_ctl(p->epfd, EPOLL_CTL_ADD, fd, &ev) != 0) {
            abe_log_error("persistence: cannot register a connection: %s", strerror(errno));
            free(c);
            close(fd);
            continue;
        }
        c->fd = fd;
        c->events = EPOLLIN;
        c->next = p->conns;
        if (p->conns != NULL) p->conns->prev = c;
        p->conns = c;
    }
}

/* ---- batches ------------------------------------------------------------------------------------- */

static void run_one_batch(persist_t *p)
{
    size_t n = 0;
    while (p->qhead != NULL && n < p->batch_cap) {
        persist_item_t *it = p->qhead;
        p->qhead = it->next;
        if (p->qhead == NULL) p->qtail = NULL;
        p->qlen--;
        p->btaken[n] = it;
        p->bitems[n].op = it->op;
        p->bitems[n].payload = it->payload;
        p->bitems[n].status = ABE_IPC_ERR_DB;
        p->bitems[n].result = NULL;
        n++;
    }
    if (n == 0) return;
    atomic_fetch_sub(&p->shm->db_queue_depth, (int64_t)n);

    int rc = abe_batch_run(p->st, persist_apply, p->st, p->bitems, n);
    if (rc == 0) {
        atomic_fetch_add(&p->shm->db_batches, 1);
        atomic_fetch_add(&p->shm->db_batch_hist[abe_shm_batch_bucket((int)n)], 1);
    } else {
        abe_log_error("persistence: batch of %zu operation(s) failed: %s", n,
                      n > 0 && p->bitems[0].result != NULL
                          ? json_string_value(json_object_get(p->bitems[0].result, "message"))
                          : "unknown error");
    }
    for (size_t i = 0; i < n; i++) {
        persist_item_t *it = p->btaken[i];
        abe_batch_item_t *bi = &p->bitems[i];
        int col = bi->status == ABE_IPC_OK ? 0 : bi->status == ABE_IPC_ERR_STALE ? 3 : 1;
        atomic_fetch_add(&p->shm->db_ops[it->op][col], 1);
        if (bi->status == ABE_IPC_ERR_DB && rc == 0)
            abe_log_error("persistence: %s failed and was rolled back: %s", abe_op_name(it->op),
                          json_string_value(json_object_get(bi->result, "message")));
        else if (bi->status != ABE_IPC_OK && rc == 0)
            abe_log_debug("persistence: %s answered %s", abe_op_name(it->op),
                          abe_ipc_status_name(bi->status));
        conn_reply(p, it->conn, it->id, it->op, bi->status, bi->result);
        json_decref(bi->result);
        bi->result = NULL;
        json_decref(it->payload);
        it->conn->refs--;
        persist_conn_t *c = it->conn;
        free(it);
        if (c->fd < 0)
            conn_free_if_unused(c);
        else if (c->eof && c->refs == 0)
            mark_dirty(p, c); /* the flush closes it once the last reply is out */
    }
}

/* Drop whatever is still queued (only when the drain deadline passed). */
static void drop_queue(persist_t *p)
{
    if (p->qlen > 0)
        abe_log_error("persistence: drain deadline passed; %zu queued operation(s) not applied", p->qlen);
    while (p->qhead != NULL) {
        persist_item_t *it = p->qhead;
        p->qhead = it->next;
        json_decref(it->payload);
        it->conn->refs--;
        persist_conn_t *c = it->conn;
        free(it);
        if (c->fd < 0) conn_free_if_unused(c);
    }
    p->qtail = NULL;
    p->qlen = 0;
}

static int output_pending(const persist_t *p)
{
    for (const persist_conn_t *c = p->conns; c != NULL; c = c->next)
        if (c->out_off < c->out_len) return 1;
    return 0;
}

static void maybe_checkpoint(persist_t *p)
{
    long long wal = abe_store_wal_bytes(p->st);
    if (wal > ABE_PERSIST_WAL_LIMIT) {
        abe_log_info("persistence: WAL is %lld bytes; running wal_checkpoint(TRUNCATE)", wal);
        if (abe_store_checkpoint(p->st, 1) != 0)
            abe_log_warn("persistence: checkpoint failed: %s", abe_store_errmsg(p->st));
    }
}

static void event_loop(persist_t *p, const sigset_t *waitmask)
{
    struct epoll_event evs[64];
    long long next_wal = now_ms() + ABE_PERSIST_WAL_CHECK_MS;
    long long drain_deadline = 0;
    int draining = 0;

    for (;;) {
        if (g_stop && !draining) {
            draining = 1;
            drain_deadline = now_ms() + ABE_PERSIST_DRAIN_MS;
            epoll_ctl(p->epfd, EPOLL_CTL_DEL, p->listen_fd, NULL);
            abe_log_info("persistence: SIGTERM received; draining %zu queued operation(s)", p->qlen);
        }
        int timeout;
        long long now = now_ms();
        if (p->qlen > 0 || (draining && !output_pending(p))) {
            timeout = 0;
        } else if (draining) {
            timeout = 20;
        } else {
            long long d = next_wal - now;
            timeout = d <= 0 ? 0 : d > INT_MAX ? INT_MAX : (int)d;
        }
        int n = epoll_pwait(p->epfd, evs, (int)(sizeof(evs) / sizeof(evs[0])), timeout, waitmask);
        if (n < 0) {
            if (errno == EINTR) continue;
            abe_log_error("persistence: epoll_wait failed: %s", strerror(errno));
            n = 0;
            draining = 1;
            g_stop = 1;
            if (drain_deadline == 0) drain_deadline = now_ms() + ABE_PERSIST_DRAIN_MS;
        }
        for (int i = 0; i < n; i++) {
            if (evs[i].data.ptr == &g_listen_tag) {
                if (!draining) accept_conns(p);
                continue;
            }
            persist_conn_t *c = evs[i].data.ptr;
            uint32_t e = evs[i].events;
            if (c->fd < 0) continue;
            c->busy = 1; /* a close below must not free c while we still look at it */
            if (e & (EPOLLIN | EPOLLHUP | EPOLLERR)) conn_read(p, c);
            /* Both directions gone: replies could not be delivered anyway. */
            if (c->fd >= 0 && (e & (EPOLLHUP | EPOLLERR)) && c->eof) conn_close(p, c);
            if (c->fd >= 0 && (e & EPOLLOUT)) conn_flush(p, c);
            c->busy = 0;
            conn_free_if_unused(c);
        }
        if (p->qlen > 0) run_one_batch(p);
        flush_dirty(p);

        now = now_ms();
        if (now >= next_wal) {
            next_wal = now + ABE_PERSIST_WAL_CHECK_MS;
            maybe_checkpoint(p);
        }
        if (draining) {
            if (n == 0 && p->qlen == 0 && !output_pending(p)) break;
            if (now >= drain_deadline) {
                abe_log_warn("persistence: drain took over %d ms; stopping", ABE_PERSIST_DRAIN_MS);
                break;
            }
        }
    }
    drop_queue(p);
    while (p->conns != NULL)
        conn_close(p, p->conns);
    flush_dirty(p);
}

/*
 * Clean-shutdown summary of the shared batch counters (SPEC §9.2): committed transactions, the batch-size
 * histogram (bucket upper bounds 1,2,5,10,20,50,100,200,500,+Inf; counts per bucket, not cumulative) and
 * per-op ok/error/rejected/stale totals for every op that was seen. The counters live in the shared region,
 * so they cover the daemon's whole run, across restarts of this process. perf/bench_writes reads this line.
 */
static void log_batch_stats(const persist_t *p)
{
    static const char *const bounds[10] = {"1", "2", "5", "10", "20", "50", "100", "200", "500", "+Inf"};
    char line[4096];
    size_t len = 0;
    uint64_t ops = 0;

    for (int b = 0; b < 10; b++) {
        uint64_t v = atomic_load(&p->shm->db_batch_hist[b]);
        int w = snprintf(line + len, sizeof(line) - len, "%s%s:%llu", b == 0 ? "" : " ", bounds[b],
                         (unsigned long long)v);
        if (w > 0 && (size_t)w < sizeof(line) - len) len += (size_t)w;
    }
    abe_log_info("persistence: batch statistics: batches=%llu sizes{%s}",
                 (unsigned long long)atomic_load(&p->shm->db_batches), line);
    len = 0;
    line[0] = '\0';
    for (int op = 1; op < ABE_OP__COUNT; op++) {
        uint64_t ok = atomic_load(&p->shm->db_ops[op][0]), err = atomic_load(&p->shm->db_ops[op][1]);
        uint64_t rej = atomic_load(&p->shm->db_ops[op][2]), stale = atomic_load(&p->shm->db_ops[op][3]);
        if (ok + err + rej + stale == 0) continue;
        ops += ok + err + rej + stale;
        int w = snprintf(line + len, sizeof(line) - len, "%s%s ok=%llu error=%llu rejected=%llu stale=%llu",
                         len == 0 ? "" : "; ", abe_op_name(op), (unsigned long long)ok,
                         (unsigned long long)err, (unsigned long long)rej, (unsigned long long)stale);
        if (w > 0 && (size_t)w < sizeof(line) - len) len += (size_t)w;
    }
    abe_log_info("persistence: op totals: %s", ops > 0 ? line : "none");
}

int abe_persist_main(const abe_config_t *cfg, int listen_fd, int ready_fd, abe_shm_t *shm)
{
    static abe_shm_t private_shm; /* used only when the caller passes no shared region */
    struct sigaction sa, old_term, old_int, old_pipe;
    sigset_t block, oldmask, waitmask;
    persist_t p;
    char err[1024];
    int rc = 1;

    memset(&p, 0, sizeof(p));
    p.cfg = cfg;
    p.shm = shm != NULL ? shm : &private_shm;
    p.listen_fd = listen_fd;
    p.epfd = -1;
    atomic_store(&p.shm->db_queue_depth, 0);

    g_stop = 0;
    memset(&sa, 0, sizeof(sa));
    sa.sa_handler = on_sigterm;
    sigemptyset(&sa.sa_mask);
    sigaction(SIGTERM, &sa, &old_term);
    sa.sa_handler = SIG_IGN;
    sigaction(SIGINT, &sa, &old_int);
    sigaction(SIGPIPE, &sa, &old_pipe);
    sigemptyset(&block);
    sigaddset(&block, SIGTERM);
    sigprocmask(SIG_BLOCK, &block, &oldmask);
    waitmask = oldmask;
    sigdelset(&waitmask, SIGTERM);

    err[0] = '\0';
    if (abe_store_open(&p.st, cfg->db_path, err, sizeof(err)) != 0) {
        abe_log_error("persistence: cannot open database %s: %s", cfg->db_path,
                      err[0] ? err : "unknown error");
        p.st = NULL;
        goto out;
    }
    p.batch_cap = cfg->db_batch_size > 0 ? (size_t)cfg->db_batch_size : 1;
    p.bitems = calloc(p.batch_cap, sizeof(*p.bitems));
    p.btaken = calloc(p.batch_cap, sizeof(*p.btaken));
    p.epfd = epoll_create1(EPOLL_CLOEXEC);
    int lflags = fcntl(listen_fd, F_GETFL);
    p.listen_nonblocking = lflags >= 0 && (lflags & O_NONBLOCK);
    struct epoll_event lev = {.events = EPOLLIN, .data.ptr = &g_listen_tag};
    if (p.bitems == NULL || p.btaken == NULL || p.epfd < 0 ||
        epoll_ctl(p.epfd, EPOLL_CTL_ADD, listen_fd, &lev) != 0) {
        abe_log_error("persistence: cannot set up the event loop on %s: %s", cfg->db_path, strerror(errno));
        abe_store_close(p.st, 0);
        p.st = NULL;
        goto out;
    }

    if (ready_fd >= 0) {
        char r = 'R';
        ssize_t w;
        do {
            w = write(ready_fd, &r, 1);
        } while (w < 0 && errno == EINTR);
        close(ready_fd);
        ready_fd = -1;
    }
    abe_log_info("persistence: database %s open; batch size %d, queue bound %lld", cfg->db_path,
                 cfg->db_batch_size, (long long)cfg->db_max_queue_size);

    event_loop(&p, &waitmask);

    abe_store_close(p.st, 1);
    p.st = NULL;
    log_batch_stats(&p);
    abe_log_info("persistence: stopped cleanly");
    rc = 0;

out:
    if (ready_fd >= 0) close(ready_fd); /* EOF without 'R' tells the supervisor the start failed */
    if (p.epfd >= 0) close(p.epfd);
    free(p.bitems);
    free(p.btaken);
    atomic_store(&p.shm->db_queue_depth, 0);
    /* Unblock first, while our handler is still installed, so a SIGTERM pending now is harmless. */
    sigprocmask(SIG_SETMASK, &oldmask, NULL);
    sigaction(SIGTERM, &old_term, NULL);
    sigaction(SIGINT, &old_int, NULL);
    sigaction(SIGPIPE, &old_pipe, NULL);
    return rc;
}

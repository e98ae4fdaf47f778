/*
 * abe_dbclient.c — the worker's non-blocking client for the persistence process (SPEC §9.2–§9.3), driven by
 * the worker's h2o 2.2.5 event loop; see abe_dbclient.h.
 *
 * State is per process (one worker = one connection). abe_dbc_submit serialises the payload straight into
 * a staging buffer behind a 16-byte abe_ipc header. h2o 2.2.5 allows only one h2o_socket_write in flight
 * per socket and needs the written bytes to stay put until its callback, so the client keeps two buffers:
 * the one being written and the staging one; the write-complete callback swaps them. Replies are decoded
 * from sock->input and matched by id through a small chained hash of pending requests; each pending
 * request also sits in one h2o_timeout_t queue (one fixed duration, timeout_ms) for its deadline.
 *
 * Every callback runs from the loop (read / write / timeout callbacks) or from abe_dbc_close, never from
 * inside abe_dbc_submit. A callback may itself submit or close; a generation counter detects that and the
 * reply loop stops touching the old connection. abe_dbc_close also unregisters the timeout queue so a
 * worker that is exiting can dispose its loop (h2o_evloop_destroy asserts otherwise); the next submit
 * re-registers it.
 */
#include "abe_dbclient.h"

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abe_log.h"

typedef struct dbc_pending {
    uint32_t id;
    abe_dbc_cb cb;
    void *arg;
    h2o_timeout_entry_t deadline;    /* linked in g.timeout while waiting */
    struct dbc_pending *hnext;       /* hash chain */
    struct dbc_pending *prev, *next; /* submission order, for failing everything in FIFO order */
} dbc_pending_t;

typedef struct dbc_buf {
    char *data;
    size_t len, cap;
} dbc_buf_t;

static struct {
    h2o_loop_t *loop;
    char addr[256];
    uint32_t timeout_ms;
    int timeout_ready; /* g.timeout registered with the loop */
    int in_timeout_cb; /* inside on_deadline: h2o is iterating the loop's timeout list */
    h2o_timeout_t timeout;
    h2o_socket_t *sock;
    int writing; /* an h2o_socket_write is in flight (using g.inflight) */
    dbc_buf_t inflight, staging;
    uint64_t gen; /* bumped on every close */
    uint32_t next_id;
    dbc_pending_t **buckets;
    size_t nbuckets; /* power of two */
    size_t npending;
    _Atomic int64_t *published; /* shared copy of npending, or NULL */
    dbc_pending_t *head, *tail;
} g;

/* ---- pending table --------------------------------------------------------------------------------- */

static size_t bucket_of(uint32_t id, size_t nb)
{
    return (size_t)((id * 2654435761u) & (uint32_t)(nb - 1));
}

static int table_grow(void)
{
    size_t nb = g.nbuckets ? g.nbuckets * 2 : 64;
    dbc_pending_t **b = calloc(nb, sizeof(*b));
    if (b == NULL) return -1;
    for (dbc_pending_t *p = g.head; p != NULL; p = p->next) {
        size_t i = bucket_of(p->id, nb);
        p->hnext = b[i];
        b[i] = p;
    }
    free(g.buckets);
    g.buckets = b;
    g.nbuckets = nb;
    return 0;
}

static dbc_pending_t *table_find(uint32_t id)
{
    if (g.nbuckets == 0) return NULL;
    for (dbc_pending_t *p = g.buckets[bucket_of(id, g.nbuckets)]; p != NULL; p = p->hnext)
        if (p->id == id) return p;
    return NULL;
}

static int table_insert(dbc_pending_t *p)
{
    if ((g.npending + 1 > g.nbuckets) && table_grow() != 0 && g.nbuckets == 0) return -1;
    size_t i = bucket_of(p->id, g.nbuckets);
    p->hnext = g.buckets[i];
    g.buckets[i] = p;
    p->next = NULL;
    p->prev = g.tail;
    if (g.tail != NULL)
        g.tail->next = p;
    else
        g.head = p;
    g.tail = p;
    g.npending++;
    if (g.published) atomic_store(g.published, (int64_t)g.npending);
    return 0;
}

static void table_remove(dbc_pending_t *p)
{
    dbc_pending_t **pp = &g.buckets[bucket_of(p->id, g.nbuckets)];
    while (*pp != NULL && *pp != p)
        pp = &(*pp)->hnext;
    if (*pp == p) *pp = p->hnext;
    if (p->prev != NULL)
        p->prev->next = p->next;
    else
        g.head = p->next;
    if (p->next != NULL)
        p->next->prev = p->prev;
    else
        g.tail = p->prev;
    p->prev = p->next = p->hnext = NULL;
    g.npending--;
    if (g.published) atomic_store(g.published, (int64_t)g.npending);
    if (h2o_timeout_is_linked(&p->deadline)) h2o_timeout_unlink(&p->deadline);
}

/* Remove p and run its callback once; p is freed before the callback so re-entrant calls see a clean table.
 */
static void complete(dbc_pending_t *p, int status, json_t *result)
{
    abe_dbc_cb cb = p->cb;
    void *arg = p->arg;
    table_remove(p);
    free(p);
    cb(arg, status, result);
}

/* ---- connection ------------------------------------------------------------------------------------ */

static void buf_free(dbc_buf_t *b)
{
    free(b->data);
    b->data = NULL;
    b->len = b->cap = 0;
}

static int buf_reserve(dbc_buf_t *b, size_t extra)
{
    if (b->cap - b->len >= extra) return 0;
    size_t ncap = b->cap ? b->cap : 4096;
    while (ncap - b->len < extra) {
        if (ncap > SIZE_MAX / 2) return -1;
        ncap *= 2;
    }
    char *nd = realloc(b->data, ncap);
    if (nd == NULL) return -1;
    b->data = nd;
    b->cap = ncap;
    return 0;
}

static int buf_dump_cb(const char *buf, size_t size, void *data)
{
    dbc_buf_t *b = data;
    if (buf_reserve(b, size) != 0) return -1;
    memcpy(b->data + b->len, buf, size);
    b->len += size;
    return 0;
}

/* Close the socket and drop unsent bytes; pending requests are left to the caller. */
static void close_socket(void)
{
    if (g.sock != NULL) {
        h2o_socket_read_stop(g.sock);
        h2o_socket_close(g.sock); /* closes the fd now; no callback of ours runs afterwards */
        g.sock = NULL;
    }
    g.writing = 0;
    buf_free(&g.inflight);
    g.staging.len = 0;
    g.gen++;
}

/*
 * Fail every pending request with UNAVAILABLE in submission order. The list is detached first, so a
 * callback that submits again (reconnecting) only adds to a fresh table and is never failed here.
 */
static void fail_all(void)
{
    dbc_pending_t *doomed = NULL, **tailp = &doomed;
    while (g.head != NULL) {
        dbc_pending_t *p = g.head;
        table_remove(p);
        *tailp = p;
        tailp = &p->next;
    }
    while (doomed != NULL) {
        dbc_pending_t *p = doomed;
        doomed = p->next;
        abe_dbc_cb cb = p->cb;
        void *arg = p->arg;
        free(p);
        cb(arg, ABE_IPC_ERR_UNAVAILABLE, NULL);
    }
}

static void connection_lost(const char *why)
{
    if (g.npending > 0)
        abe_log_warn("db client: connection to %s lost (%s); failing %zu pending request(s)", g.addr, why,
                     g.npending);
    close_socket();
    fail_all();
}

static void on_write_complete(h2o_socket_t *sock, const char *err);

static void start_write(void)
{
    if (g.writing || g.sock == NULL || g.staging.len == 0) return;
    dbc_buf_t t = g.inflight;
    g.inflight = g.staging;
    g.staging = t;
    g.staging.len = 0;
    g.writing = 1;
    h2o_iovec_t iov = h2o_iovec_init(g.inflight.data, g.inflight.len);
    h2o_socket_write(g.sock, &iov, 1, on_write_complete);
}

static void on_write_complete(h2o_socket_t *sock, const char *err)
{
    (void)sock;
    g.writing = 0;
    if (err != NULL) {
        connection_lost(err);
        return;
    }
    g.inflight.len = 0;
    /* Do not keep a huge buffer around after a large request went out. */
    if (g.inflight.cap > 1024u * 1024u) buf_free(&g.inflight);
    start_write();
}

static void on_read(h2o_socket_t *sock, const char *err)
{
    if (err != NULL) {
        connection_lost(err);
        return;
    }
    uint64_t gen = g.gen;
    for (;;) {
        abe_ipc_frame_t fr;
        size_t used = 0;
        abe_ipc_decode_result_t dr =
            abe_ipc_decode(sock->input->bytes, sock->input->size, ABE_IPC_MAX_PAYLOAD, &fr, &used);
        if (dr == ABE_IPC_DECODE_NEED_MORE) return;
        if (dr != ABE_IPC_DECODE_OK) {
            abe_log_error("db client: invalid frame from %s (code %d); reconnecting", g.addr, (int)dr);
            connection_lost("invalid frame");
            return;
        }
        json_error_t jerr;
        json_t *res = json_loadb(fr.payload, fr.length, 0, &jerr);
        uint32_t id = fr.id;
        int status = fr.status;
        h2o_buffer_consume(&sock->input, used);
        if (res == NULL) {
            abe_log_error("db client: unreadable reply payload from %s: %s", g.addr, jerr.text);
            connection_lost("unreadable reply");
            return;
        }
        dbc_pending_t *p = table_find(id);
        if (p != NULL)
            complete(p, status, res); /* a late reply to a request that timed out finds nothing: ignored */
        json_decref(res);
        if (g.gen != gen) return; /* the callback closed the connection */
    }
}

static void on_deadline(h2o_timeout_entry_t *entry)
{
    dbc_pending_t *p = H2O_STRUCT_FROM_MEMBER(dbc_pending_t, deadline, entry);
    abe_log_warn("db client: request %u got no reply within %u ms", p->id, g.timeout_ms);
    g.in_timeout_cb = 1;
    complete(p, ABE_IPC_ERR_UNAVAILABLE, NULL);
    g.in_timeout_cb = 0;
}

static int ensure_connected(void)
{
    if (g.sock != NULL) return 0;
    int fd = abe_ipc_connect(g.addr, 1);
    if (fd < 0) {
        abe_log_warn("db client: cannot connect to %s: %s", g.addr, strerror(errno));
        return -1;
    }
    g.sock = h2o_evloop_socket_create(g.loop, fd, 0);
    if (g.sock == NULL) {
        close(fd);
        return -1;
    }
    h2o_socket_read_start(g.sock, on_read);
    return 0;
}

int abe_dbc_init(h2o_loop_t *loop, const char *addr, uint32_t timeout_ms)
{
    if (loop == NULL || addr == NULL || addr[0] == '\0' || strlen(addr) >= sizeof(g.addr) || timeout_ms == 0)
        return -1;
    if (g.loop != NULL) abe_dbc_close();
    g.loop = loop;
    snprintf(g.addr, sizeof(g.addr), "%s", addr);
    g.timeout_ms = timeout_ms;
    if (g.next_id == 0) g.next_id = (uint32_t)getpid() << 8;
    return 0;
}

int abe_dbc_submit(abe_op_t op, uint16_t flags, json_t *payload, abe_dbc_cb cb, void *arg)
{
    if (g.loop == NULL || cb == NULL || op <= ABE_OP_NONE || op >= ABE_OP__COUNT) return -1;
    if (ensure_connected() != 0) return -1;
    if (!g.timeout_ready) {
        h2o_timeout_init(g.loop, &g.timeout, g.timeout_ms);
        g.timeout_ready = 1;
    }

    /* Frame = header placeholder + compact JSON dumped straight into the staging buffer. */
    size_t start = g.staging.len;
    if (buf_reserve(&g.staging, ABE_IPC_HEADER_SIZE) != 0) return -1;
    g.staging.len += ABE_IPC_HEADER_SIZE;
    int rc = payload != NULL ? json_dump_callback(payload, buf_dump_cb, &g.staging, JSON_COMPACT)
                             : buf_dump_cb("{}", 2, &g.staging);
    size_t plen = g.staging.len - start - ABE_IPC_HEADER_SIZE;
    if (rc != 0 || plen > ABE_IPC_MAX_PAYLOAD) {
        g.staging.len = start;
        abe_log_error("db client: cannot encode a %s request (%zu bytes)", abe_op_name(op), plen);
        return -1;
    }
    dbc_pending_t *p = calloc(1, sizeof(*p));
    if (p == NULL) {
        g.staging.len = start;
        return -1;
    }
    do {
        p->id = ++g.next_id;
    } while (p->id == 0 || table_find(p->id) != NULL);
    p->cb = cb;
    p->arg = arg;
    p->deadline.cb = on_deadline;
    if (table_insert(p) != 0) {
        free(p);
        g.staging.len = start;
        return -1;
    }
    abe_ipc_encode_header((uint8_t *)g.staging.data + start, p->id, (uint8_t)op, 0, flags, (uint32_t)plen);
    h2o_timeout_link(g.loop, &g.timeout, &p->deadline);
    start_write();
    return 0;
}

int abe_dbc_connect(void)
{
    if (g.loop == NULL) return -1;
    return ensure_connected();
}

void abe_dbc_publish_pending(_Atomic int64_t *counter)
{
    g.published = counter;
    if (counter) atomic_store(counter, (int64_t)g.npending);
}

size_t abe_dbc_pending(void)
{
    return g.npending;
}

void abe_dbc_close(void)
{
    close_socket();
    fail_all();
    /* A callback may have submitted again (a new connection): then keep the timeout queue and table. */
    if (g.npending == 0 && g.sock == NULL) {
        /* Unregistering the queue while h2o walks the timeout list would break its iteration. */
        if (g.timeout_ready && !g.in_timeout_cb) {
            h2o_timeout_dispose(g.loop, &g.timeout);
            g.timeout_ready = 0;
        }
        buf_free(&g.staging);
        free(g.buckets);
        g.buckets = NULL;
        g.nbuckets = 0;
    }
}

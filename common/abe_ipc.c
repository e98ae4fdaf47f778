/*
 * abe_ipc.c — framing of the worker <-> persistence wire protocol (SPEC §9.2), see abe_ipc.h.
 *
 * Three consumers share this file: the persistence process (daemon/abe_persist.c) decodes requests and
 * encodes replies on its epoll loop; the worker's non-blocking client (worker/abe_dbclient.c) does the
 * reverse on the h2o loop; the supervisor and the purge CLI use the blocking helpers at the bottom
 * (abe_ipc_connect, abe_ipc_request_sync). The codec itself is pure: it never allocates and never reads
 * past the bytes it is given, which is what tests/fuzz/fuzz_ipc.c checks.
 */
#include "abe_ipc.h"

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <time.h>
#include <unistd.h>

static const uint8_t abe_ipc_magic[4] = {'A', 'B', 'E', '1'};

static uint32_t get_be32(const uint8_t *p)
{
    return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) | ((uint32_t)p[2] << 8) | (uint32_t)p[3];
}

static void put_be32(uint8_t *p, uint32_t v)
{
    p[0] = (uint8_t)(v >> 24);
    p[1] = (uint8_t)(v >> 16);
    p[2] = (uint8_t)(v >> 8);
    p[3] = (uint8_t)v;
}

abe_ipc_decode_result_t abe_ipc_decode(const void *buf, size_t len, size_t max_payload,
                                       abe_ipc_frame_t *frame, size_t *consumed)
{
    const uint8_t *p = buf;
    size_t cmp = len < 4 ? len : 4;

    /* Reject garbage as early as the first byte so a peer cannot make us buffer it. */
    if (cmp > 0 && memcmp(p, abe_ipc_magic, cmp) != 0) return ABE_IPC_DECODE_BAD_MAGIC;
    if (len < ABE_IPC_HEADER_SIZE) return ABE_IPC_DECODE_NEED_MORE;

    uint32_t length = get_be32(p + 4);
    uint8_t op = p[12];
    uint8_t status = p[13];
    if (op == ABE_OP_NONE || op >= ABE_OP__COUNT || status > ABE_IPC_ERR_UNAVAILABLE)
        return ABE_IPC_DECODE_BAD_OP;
    if (max_payload > ABE_IPC_MAX_PAYLOAD) max_payload = ABE_IPC_MAX_PAYLOAD;
    if (length > max_payload) return ABE_IPC_DECODE_OVERSIZED;
    if (len - ABE_IPC_HEADER_SIZE < length) return ABE_IPC_DECODE_NEED_MORE;

    frame->length = length;
    frame->id = get_be32(p + 8);
    frame->op = op;
    frame->status = status;
    frame->flags = (uint16_t)(((unsigned)p[14] << 8) | p[15]);
    frame->payload = (const char *)p + ABE_IPC_HEADER_SIZE;
    *consumed = ABE_IPC_HEADER_SIZE + (size_t)length;
    return ABE_IPC_DECODE_OK;
}

void abe_ipc_encode_header(uint8_t out[ABE_IPC_HEADER_SIZE], uint32_t id, uint8_t op, uint8_t status,
                           uint16_t flags, uint32_t length)
{
    memcpy(out, abe_ipc_magic, 4);
    put_be32(out + 4, length);
    put_be32(out + 8, id);
    out[12] = op;
    out[13] = status;
    out[14] = (uint8_t)(flags >> 8);
    out[15] = (uint8_t)flags;
}

const char *abe_op_name(int op)
{
    static const char *const names[ABE_OP__COUNT] = {
        [ABE_OP_NONE] = "unknown",
        [ABE_OP_CREATE_CONVERSATION] = "create_conversation",
        [ABE_OP_APPEND_MESSAGES] = "append_messages",
        [ABE_OP_CREATE_WORKFLOW] = "create_workflow",
        [ABE_OP_DELETE_WORKFLOW] = "delete_workflow",
        [ABE_OP_CREATE_EXECUTION] = "create_execution",
        [ABE_OP_START_EXECUTION] = "start_execution",
        [ABE_OP_STEP_TRANSITION] = "step_transition",
        [ABE_OP_FINISH_EXECUTION] = "finish_execution",
        [ABE_OP_HANDBACK_EXECUTION] = "handback_execution",
        [ABE_OP_ADOPT_EXECUTION] = "adopt_execution",
        [ABE_OP_PURGE_EXECUTIONS] = "purge_executions",
        [ABE_OP_SYNC_AGENTS] = "sync_agents",
        [ABE_OP_PROBE] = "probe",
    };
    if (op <= ABE_OP_NONE || op >= ABE_OP__COUNT) return "unknown";
    return names[op];
}

const char *abe_ipc_status_name(int status)
{
    switch (status) {
    case ABE_IPC_OK:
        return "ok";
    case ABE_IPC_ERR_DB:
        return "error";
    case ABE_IPC_ERR_NOT_FOUND:
        return "not_found";
    case ABE_IPC_ERR_CONFLICT:
        return "conflict";
    case ABE_IPC_ERR_STALE:
        return "stale";
    case ABE_IPC_ERR_QUEUE_FULL:
        return "queue_full";
    case ABE_IPC_ERR_BAD_REQUEST:
        return "bad_request";
    case ABE_IPC_ERR_UNAVAILABLE:
        return "unavailable";
    default:
        return "unknown";
    }
}

int abe_ipc_connect(const char *addr, int nonblocking)
{
    struct sockaddr_un sun;
    socklen_t alen;
    size_t n;

    if (addr == NULL || addr[0] == '\0') {
        errno = EINVAL;
        return -1;
    }
    memset(&sun, 0, sizeof(sun));
    sun.sun_family = AF_UNIX;
    n = strlen(addr);
    if (addr[0] == '@') {
        /* Abstract namespace: sun_path[0] = NUL, the name follows, length counts exactly its bytes. */
        if (n - 1 > sizeof(sun.sun_path) - 1 || n == 1) {
            errno = n == 1 ? EINVAL : ENAMETOOLONG;
            return -1;
        }
        memcpy(sun.sun_path + 1, addr + 1, n - 1);
        alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
    } else {
        if (n >= sizeof(sun.sun_path)) {
            errno = ENAMETOOLONG;
            return -1;
        }
        memcpy(sun.sun_path, addr, n);
        alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n + 1);
    }

    int fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | (nonblocking ? SOCK_NONBLOCK : 0), 0);
    if (fd < 0) return -1;
    int rc;
    do {
        rc = connect(fd, (struct sockaddr *)&sun, alen);
    } while (rc != 0 && errno == EINTR);
    if (rc != 0) {
        /* A non-blocking AF_UNIX connect completes or fails at once; EAGAIN (backlog full) is a failure. */
        int e = errno;
        close(fd);
        errno = e;
        return -1;
    }
    return fd;
}

/* Milliseconds left until deadline (CLOCK_MONOTONIC ms); 0 once it passed. */
static int ms_left(long long deadline_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    long long now = (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000;
    if (now >= deadline_ms) return 0;
    long long d = deadline_ms - now;
    return d > 0x7fffffff ? 0x7fffffff : (int)d;
}

static long long deadline_after(int timeout_ms)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000 + (timeout_ms > 0 ? timeout_ms : 0);
}

/* Wait for events on fd until the deadline. Returns 1 when ready, 0 on timeout, -1 on error. */
static int wait_fd(int fd, short events, long long deadline_ms)
{
    for (;;) {
        struct pollfd pfd = {.fd = fd, .events = events};
        int left = ms_left(deadline_ms);
        int rc = poll(&pfd, 1, left);
        if (rc > 0) return 1;
        if (rc == 0) return 0;
        if (errno != EINTR) return -1;
    }
}

static int send_all(int fd, const char *p, size_t n, long long deadline_ms)
{
    while (n > 0) {
        ssize_t w = send(fd, p, n, MSG_NOSIGNAL | MSG_DONTWAIT);
        if (w > 0) {
            p += w;
            n -= (size_t)w;
            continue;
        }
        if (w < 0 && errno == EINTR) continue;
        if (w < 0 && (errno == EAGAIN || errno == EWOULDBLOCK)) {
            if (wait_fd(fd, POLLOUT, deadline_ms) != 1) return -1;
            continue;
        }
        return -1;
    }
    return 0;
}

int abe_ipc_request_sync(int fd, abe_op_t op, uint16_t flags, json_t *payload, int timeout_ms,
                         json_t **result)
{
    static uint32_t next_id;
    long long deadline = deadline_after(timeout_ms);
    uint8_t hdr[ABE_IPC_HEADER_SIZE];
    char *body;
    size_t blen;
    int status = ABE_IPC_ERR_UNAVAILABLE;

    if (result != NULL) *result = NULL;
    if (op <= ABE_OP_NONE || op >= ABE_OP__COUNT) return ABE_IPC_ERR_BAD_REQUEST;

    body = payload != NULL ? json_dumps(payload, JSON_COMPACT) : strdup("{}");
    if (body == NULL) return ABE_IPC_ERR_BAD_REQUEST;
    blen = strlen(body);
    if (blen > ABE_IPC_MAX_PAYLOAD) {
        free(body);
        return ABE_IPC_ERR_BAD_REQUEST;
    }
    if (next_id == 0) next_id = ((uint32_t)getpid() << 16) ^ (uint32_t)time(NULL);
    uint32_t id = ++next_id;
    abe_ipc_encode_header(hdr, id, (uint8_t)op, 0, flags, (uint32_t)blen);
    int sent = send_all(fd, (const char *)hdr, sizeof(hdr), deadline) == 0 &&
               send_all(fd, body, blen, deadline) == 0;
    free(body);
    if (!sent) return ABE_IPC_ERR_UNAVAILABLE;

    /* Read frames until the reply carrying our id arrives; replies to older (timed-out) ids are skipped. */
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    if (buf == NULL) return ABE_IPC_ERR_UNAVAILABLE;
    for (;;) {
        abe_ipc_frame_t fr;
        size_t used;
        abe_ipc_decode_result_t dr = abe_ipc_decode(buf, len, ABE_IPC_MAX_PAYLOAD, &fr, &used);
        if (dr == ABE_IPC_DECODE_OK) {
            if (fr.id == id) {
                json_error_t jerr;
                json_t *res = json_loadb(fr.payload, fr.length, 0, &jerr);
                if (res == NULL) break; /* a reply we cannot read: transport failure */
                status = fr.status;
                if (result != NULL)
                    *result = res;
                else
                    json_decref(res);
                break;
            }
            memmove(buf, buf + used, len - used);
            len -= used;
            continue;
        }
        if (dr != ABE_IPC_DECODE_NEED_MORE) break;
        if (len == cap) {
            /* Grow towards the announced frame size (bounded by the decoder's max payload check). */
            size_t want = cap * 2;
            if (len >= ABE_IPC_HEADER_SIZE) {
                uint32_t flen = ((uint32_t)(uint8_t)buf[4] << 24) | ((uint32_t)(uint8_t)buf[5] << 16) |
                                ((uint32_t)(uint8_t)buf[6] << 8) | (uint32_t)(uint8_t)buf[7];
                if ((size_t)flen + ABE_IPC_HEADER_SIZE > want) want = (size_t)flen + ABE_IPC_HEADER_SIZE;
            }
            char *nb = realloc(buf, want);
            if (nb == NULL) break;
            buf = nb;
            cap = want;
        }
        ssize_t r = recv(fd, buf + len, cap - len, MSG_DONTWAIT);
        if (r > 0) {
            len += (size_t)r;
            continue;
        }
        if (r == 0) break; /* peer closed */
        if (errno == EINTR) continue;
        if (errno != EAGAIN && errno != EWOULDBLOCK) break;
        if (wait_fd(fd, POLLIN, deadline) != 1) break;
    }
    free(buf);
    return status;
}

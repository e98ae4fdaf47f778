/*
 * test_ipc.c — unit tests (Criterion suite `ipc`) for the wire framing in common/abe_ipc.c (SPEC §9.2):
 * encode/decode round trip, partial frames fed byte by byte, the size bound on both sides of the limit,
 * garbage (bad magic, bad op, bad status), two frames in one buffer, op and status names, the address
 * forms of abe_ipc_connect and the blocking request helper against a scripted peer on a socketpair.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <fcntl.h>
#include <jansson.h>
#include <signal.h>
#include <stdio.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abe_ipc.h"

/* Build a whole frame (header + payload) into a fresh buffer; returns its length. */
static size_t make_frame(uint8_t **out, uint32_t id, uint8_t op, uint8_t status, uint16_t flags,
                         const char *payload)
{
    size_t plen = strlen(payload);
    *out = malloc(ABE_IPC_HEADER_SIZE + plen);
    cr_assert_not_null(*out);
    abe_ipc_encode_header(*out, id, op, status, flags, (uint32_t)plen);
    memcpy(*out + ABE_IPC_HEADER_SIZE, payload, plen);
    return ABE_IPC_HEADER_SIZE + plen;
}

Test(ipc, header_layout_is_big_endian)
{
    uint8_t h[ABE_IPC_HEADER_SIZE];
    abe_ipc_encode_header(h, 0x01020304u, ABE_OP_CREATE_WORKFLOW, ABE_IPC_ERR_STALE, 0xA1B2, 0x00000506u);
    const uint8_t want[ABE_IPC_HEADER_SIZE] = {'A', 'B', 'E', '1', 0, 0, 5, 6, 1, 2, 3, 4, 3, 4, 0xA1, 0xB2};
    cr_assert_arr_eq(h, want, sizeof(want));
}

Test(ipc, round_trip)
{
    uint8_t *buf;
    size_t n = make_frame(&buf, 0xDEADBEEFu, ABE_OP_STEP_TRANSITION, ABE_IPC_ERR_CONFLICT, ABE_IPC_F_RUNNER,
                          "{\"a\":1}");
    abe_ipc_frame_t fr;
    size_t used = 0;
    cr_assert_eq(abe_ipc_decode(buf, n, ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_OK);
    cr_assert_eq(used, n);
    cr_assert_eq(fr.id, 0xDEADBEEFu);
    cr_assert_eq(fr.op, ABE_OP_STEP_TRANSITION);
    cr_assert_eq(fr.status, ABE_IPC_ERR_CONFLICT);
    cr_assert_eq(fr.flags, ABE_IPC_F_RUNNER);
    cr_assert_eq(fr.length, 7);
    cr_assert_eq(fr.payload, (const char *)buf + ABE_IPC_HEADER_SIZE);
    cr_assert_eq(memcmp(fr.payload, "{\"a\":1}", 7), 0);
    free(buf);
}

Test(ipc, empty_payload_frame)
{
    uint8_t h[ABE_IPC_HEADER_SIZE];
    abe_ipc_encode_header(h, 1, ABE_OP_PROBE, 0, 0, 0);
    abe_ipc_frame_t fr;
    size_t used = 0;
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), 0, &fr, &used), ABE_IPC_DECODE_OK);
    cr_assert_eq(used, ABE_IPC_HEADER_SIZE);
    cr_assert_eq(fr.length, 0);
}

Test(ipc, partial_frames_byte_by_byte)
{
    uint8_t *buf;
    size_t n = make_frame(&buf, 42, ABE_OP_PROBE, 0, 0, "{\"hello\":\"world\"}");
    abe_ipc_frame_t fr;
    size_t used = 0;
    for (size_t len = 0; len < n; len++) {
        /* An exact-size heap copy lets ASan catch any read past len. */
        uint8_t *part = malloc(len ? len : 1);
        memcpy(part, buf, len);
        cr_assert_eq(abe_ipc_decode(part, len, ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_NEED_MORE,
                     "prefix of %zu bytes", len);
        free(part);
    }
    cr_assert_eq(abe_ipc_decode(buf, n, ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_OK);
    cr_assert_eq(fr.id, 42);
    free(buf);
}

Test(ipc, bad_magic_detected_early)
{
    const char junk[] = "GET / HTTP/1.1\r\n\r\n";
    abe_ipc_frame_t fr;
    size_t used = 0;
    cr_assert_eq(abe_ipc_decode(junk, 1, ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_BAD_MAGIC);
    cr_assert_eq(abe_ipc_decode(junk, sizeof(junk) - 1, ABE_IPC_MAX_PAYLOAD, &fr, &used),
                 ABE_IPC_DECODE_BAD_MAGIC);
    uint8_t h[ABE_IPC_HEADER_SIZE];
    abe_ipc_encode_header(h, 1, ABE_OP_PROBE, 0, 0, 0);
    h[3] = '2'; /* "ABE2" */
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_BAD_MAGIC);
    cr_assert_eq(abe_ipc_decode(h, 3, ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_NEED_MORE);
}

Test(ipc, bad_op_and_status)
{
    uint8_t h[ABE_IPC_HEADER_SIZE];
    abe_ipc_frame_t fr;
    size_t used = 0;
    abe_ipc_encode_header(h, 1, ABE_OP_NONE, 0, 0, 0);
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_BAD_OP);
    abe_ipc_encode_header(h, 1, ABE_OP__COUNT, 0, 0, 0);
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_BAD_OP);
    abe_ipc_encode_header(h, 1, 255, 0, 0, 0);
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_BAD_OP);
    abe_ipc_encode_header(h, 1, ABE_OP_PROBE, ABE_IPC_ERR_UNAVAILABLE + 1, 0, 0);
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_BAD_OP);
    abe_ipc_encode_header(h, 1, ABE_OP_PROBE - 1, ABE_IPC_ERR_UNAVAILABLE, 0, 0);
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_OK);
}

Test(ipc, oversized_rejected_from_header_alone)
{
    uint8_t h[ABE_IPC_HEADER_SIZE];
    abe_ipc_frame_t fr;
    size_t used = 0;
    abe_ipc_encode_header(h, 1, ABE_OP_SYNC_AGENTS, 0, 0, ABE_IPC_MAX_PAYLOAD + 1);
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_OVERSIZED);
    abe_ipc_encode_header(h, 1, ABE_OP_SYNC_AGENTS, 0, 0, 0xFFFFFFFFu);
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_OVERSIZED);
    /* A caller limit above the protocol maximum is clamped to it. */
    abe_ipc_encode_header(h, 1, ABE_OP_SYNC_AGENTS, 0, 0, ABE_IPC_MAX_PAYLOAD + 1);
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), (size_t)ABE_IPC_MAX_PAYLOAD * 4, &fr, &used),
                 ABE_IPC_DECODE_OVERSIZED);
}

Test(ipc, max_length_boundary)
{
    uint8_t h[ABE_IPC_HEADER_SIZE];
    abe_ipc_frame_t fr;
    size_t used = 0;
    /* Exactly the limit is legal (the header alone then asks for more bytes) ... */
    abe_ipc_encode_header(h, 1, ABE_OP_SYNC_AGENTS, 0, 0, ABE_IPC_MAX_PAYLOAD);
    cr_assert_eq(abe_ipc_decode(h, sizeof(h), ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_NEED_MORE);
    /* ... and with a small caller limit the boundary moves with it, payload present. */
    uint8_t *buf;
    size_t n = make_frame(&buf, 9, ABE_OP_PROBE, 0, 0, "{\"k\":\"0123456789\"}"); /* 18-byte payload */
    cr_assert_eq(abe_ipc_decode(buf, n, 18, &fr, &used), ABE_IPC_DECODE_OK);
    cr_assert_eq(used, n);
    cr_assert_eq(abe_ipc_decode(buf, n, 17, &fr, &used), ABE_IPC_DECODE_OVERSIZED);
    free(buf);
}

Test(ipc, max_payload_frame_decodes_completely)
{
    size_t n = ABE_IPC_HEADER_SIZE + (size_t)ABE_IPC_MAX_PAYLOAD;
    uint8_t *buf = malloc(n);
    cr_assert_not_null(buf);
    abe_ipc_encode_header(buf, 77, ABE_OP_SYNC_AGENTS, 0, 0, ABE_IPC_MAX_PAYLOAD);
    memset(buf + ABE_IPC_HEADER_SIZE, ' ', ABE_IPC_MAX_PAYLOAD);
    abe_ipc_frame_t fr;
    size_t used = 0;
    cr_assert_eq(abe_ipc_decode(buf, n - 1, ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_NEED_MORE);
    cr_assert_eq(abe_ipc_decode(buf, n, ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_OK);
    cr_assert_eq(used, n);
    cr_assert_eq(fr.length, ABE_IPC_MAX_PAYLOAD);
    free(buf);
}

Test(ipc, two_frames_in_one_buffer)
{
    uint8_t *a, *b;
    size_t na = make_frame(&a, 1, ABE_OP_CREATE_CONVERSATION, 0, 0, "{\"x\":1}");
    size_t nb = make_frame(&b, 2, ABE_OP_APPEND_MESSAGES, 0, ABE_IPC_F_RUNNER, "{\"y\":[2,3]}");
    uint8_t *both = malloc(na + nb + 5);
    memcpy(both, a, na);
    memcpy(both + na, b, nb);
    memcpy(both + na + nb, "ABE1x", 5); /* start of a third, incomplete frame */
    abe_ipc_frame_t fr;
    size_t used = 0, off = 0;
    cr_assert_eq(abe_ipc_decode(both, na + nb + 5, ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_OK);
    cr_assert_eq(used, na);
    cr_assert_eq(fr.id, 1);
    cr_assert_eq(fr.op, ABE_OP_CREATE_CONVERSATION);
    off += used;
    cr_assert_eq(abe_ipc_decode(both + off, na + nb + 5 - off, ABE_IPC_MAX_PAYLOAD, &fr, &used),
                 ABE_IPC_DECODE_OK);
    cr_assert_eq(used, nb);
    cr_assert_eq(fr.id, 2);
    cr_assert_eq(fr.flags, ABE_IPC_F_RUNNER);
    cr_assert_eq(memcmp(fr.payload, "{\"y\":[2,3]}", fr.length), 0);
    off += used;
    cr_assert_eq(abe_ipc_decode(both + off, 5, ABE_IPC_MAX_PAYLOAD, &fr, &used), ABE_IPC_DECODE_NEED_MORE);
    free(a);
    free(b);
    free(both);
}

Test(ipc, op_and_status_names)
{
    static const char *const want[] = {"create_conversation",
                                       "append_messages",
                                       "create_workflow",
                                       "delete_workflow",
                                       "create_execution",
                                       "start_execution",
                                       "step_transition",
                                       "finish_execution",
                                       "handback_execution",
                                       "adopt_execution",
                                       "purge_executions",
                                       "sync_agents",
                                       "probe"};
    for (int op = ABE_OP_CREATE_CONVERSATION; op < ABE_OP__COUNT; op++)
        cr_assert_str_eq(abe_op_name(op), want[op - 1]);
    cr_assert_str_eq(abe_op_name(ABE_OP_NONE), "unknown");
    cr_assert_str_eq(abe_op_name(ABE_OP__COUNT), "unknown");
    cr_assert_str_eq(abe_op_name(-1), "unknown");
    cr_assert_str_eq(abe_ipc_status_name(ABE_IPC_OK), "ok");
    cr_assert_str_eq(abe_ipc_status_name(ABE_IPC_ERR_DB), "error");
    cr_assert_str_eq(abe_ipc_status_name(ABE_IPC_ERR_NOT_FOUND), "not_found");
    cr_assert_str_eq(abe_ipc_status_name(ABE_IPC_ERR_STALE), "stale");
    cr_assert_str_eq(abe_ipc_status_name(ABE_IPC_ERR_QUEUE_FULL), "queue_full");
    cr_assert_str_eq(abe_ipc_status_name(ABE_IPC_ERR_UNAVAILABLE), "unavailable");
    cr_assert_str_eq(abe_ipc_status_name(99), "unknown");
}

Test(ipc, connect_errors)
{
    errno = 0;
    cr_assert_eq(abe_ipc_connect("", 0), -1);
    cr_assert_eq(errno, EINVAL);
    cr_assert_eq(abe_ipc_connect("@", 0), -1);
    cr_assert_eq(abe_ipc_connect(NULL, 0), -1);
    char longpath[300];
    memset(longpath, 'a', sizeof(longpath) - 1);
    longpath[0] = '/';
    longpath[sizeof(longpath) - 1] = '\0';
    cr_assert_eq(abe_ipc_connect(longpath, 0), -1);
    cr_assert_eq(errno, ENAMETOOLONG);
    cr_assert_eq(abe_ipc_connect("/nonexistent-dir-abe/x.sock", 1), -1);
    cr_assert_eq(errno, ENOENT);
}

/* Listen on an abstract or filesystem address; returns the listening fd. */
static int listen_on(const char *addr)
{
    struct sockaddr_un sun = {.sun_family = AF_UNIX};
    socklen_t alen;
    if (addr[0] == '@') {
        memcpy(sun.sun_path + 1, addr + 1, strlen(addr) - 1);
        alen = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + strlen(addr));
    } else {
        strcpy(sun.sun_path, addr);
        alen = (socklen_t)sizeof(sun);
    }
    int fd = socket(AF_UNIX, SOCK_STREAM, 0);
    cr_assert_geq(fd, 0);
    cr_assert_eq(bind(fd, (struct sockaddr *)&sun, alen), 0, "bind %s: %s", addr, strerror(errno));
    cr_assert_eq(listen(fd, 4), 0);
    return fd;
}

Test(ipc, connect_abstract_and_path)
{
    char name[64];
    snprintf(name, sizeof(name), "@abe-test-ipc-%d", (int)getpid());
    int l = listen_on(name);
    int c = abe_ipc_connect(name, 1);
    cr_assert_geq(c, 0, "connect %s: %s", name, strerror(errno));
    int fl = fcntl(c, F_GETFD);
    cr_assert(fl & FD_CLOEXEC);
    cr_assert(fcntl(c, F_GETFL) & O_NONBLOCK);
    close(c);
    close(l);

    char path[] = "/tmp/abe-ipc-XXXXXX";
    cr_assert_not_null(mkdtemp(path));
    char sock[128];
    snprintf(sock, sizeof(sock), "%s/s", path);
    l = listen_on(sock);
    c = abe_ipc_connect(sock, 0);
    cr_assert_geq(c, 0);
    cr_assert_eq(fcntl(c, F_GETFL) & O_NONBLOCK, 0);
    close(c);
    close(l);
    unlink(sock);
    rmdir(path);
}

/* Scripted peer: read one request, answer first with a stale id, then with the right one. */
static void peer_answer(int fd, int mode)
{
    uint8_t buf[4096];
    size_t len = 0;
    abe_ipc_frame_t fr;
    size_t used;
    for (;;) {
        abe_ipc_decode_result_t dr = abe_ipc_decode(buf, len, ABE_IPC_MAX_PAYLOAD, &fr, &used);
        if (dr == ABE_IPC_DECODE_OK) break;
        if (dr != ABE_IPC_DECODE_NEED_MORE) _exit(2);
        ssize_t r = read(fd, buf + len, sizeof(buf) - len);
        if (r <= 0) _exit(3);
        len += (size_t)r;
    }
    if (mode == 2) /* never answer: the client must time out */
    {
        sleep(2);
        _exit(0);
    }
    if (mode == 3) { /* answer with a payload that is not JSON */
        uint8_t h[ABE_IPC_HEADER_SIZE];
        abe_ipc_encode_header(h, fr.id, fr.op, 0, 0, 3);
        (void)!write(fd, h, sizeof(h));
        (void)!write(fd, "{{{", 3);
        _exit(0);
    }
    /* Echo the request payload back inside {"echo": …, "flags": n}, after a reply to another id. */
    char body[2048];
    int blen = snprintf(body, sizeof(body), "{\"echo\":%.*s,\"flags\":%u}", (int)fr.length, fr.payload,
                        (unsigned)fr.flags);
    uint8_t h[ABE_IPC_HEADER_SIZE];
    abe_ipc_encode_header(h, fr.id - 1, fr.op, ABE_IPC_ERR_DB, 0, 2);
    (void)!write(fd, h, sizeof(h));
    (void)!write(fd, "{}", 2);
    abe_ipc_encode_header(h, fr.id, fr.op, ABE_IPC_ERR_NOT_FOUND, 0, (uint32_t)blen);
    /* Byte by byte, so the client must reassemble. */
    for (size_t i = 0; i < sizeof(h); i++)
        (void)!write(fd, h + i, 1);
    for (int i = 0; i < blen; i++)
        (void)!write(fd, body + i, 1);
    _exit(0);
}

static pid_t spawn_peer(int *client_fd, int mode)
{
    int sv[2];
    cr_assert_eq(socketpair(AF_UNIX, SOCK_STREAM, 0, sv), 0);
    pid_t pid = fork();
    cr_assert_geq(pid, 0);
    if (pid == 0) {
        close(sv[0]);
        peer_answer(sv[1], mode);
    }
    close(sv[1]);
    *client_fd = sv[0];
    return pid;
}

Test(ipc, request_sync_matches_id_and_reassembles)
{
    int fd;
    pid_t pid = spawn_peer(&fd, 1);
    json_t *payload = json_pack("{s:s}", "k", "v");
    json_t *res = NULL;
    int st = abe_ipc_request_sync(fd, ABE_OP_DELETE_WORKFLOW, ABE_IPC_F_RUNNER, payload, 5000, &res);
    cr_assert_eq(st, ABE_IPC_ERR_NOT_FOUND);
    cr_assert_not_null(res);
    cr_assert_str_eq(json_string_value(json_object_get(json_object_get(res, "echo"), "k")), "v");
    cr_assert_eq(json_integer_value(json_object_get(res, "flags")), ABE_IPC_F_RUNNER);
    json_decref(res);
    json_decref(payload);
    close(fd);
    int ws;
    waitpid(pid, &ws, 0);
    cr_assert(WIFEXITED(ws) && WEXITSTATUS(ws) == 0);
}

Test(ipc, request_sync_times_out)
{
    int fd;
    pid_t pid = spawn_peer(&fd, 2);
    json_t *res = (json_t *)1;
    int st = abe_ipc_request_sync(fd, ABE_OP_PROBE, 0, NULL, 200, &res);
    cr_assert_eq(st, ABE_IPC_ERR_UNAVAILABLE);
    cr_assert_null(res);
    close(fd);
    kill(pid, SIGKILL);
    waitpid(pid, NULL, 0);
}

Test(ipc, request_sync_bad_reply_and_closed_peer)
{
    int fd;
    pid_t pid = spawn_peer(&fd, 3);
    json_t *res = NULL;
    cr_assert_eq(abe_ipc_request_sync(fd, ABE_OP_PROBE, 0, NULL, 2000, &res), ABE_IPC_ERR_UNAVAILABLE);
    cr_assert_null(res);
    waitpid(pid, NULL, 0);
    /* The peer is gone now: sending fails or the read sees EOF, never a hang or SIGPIPE. */
    cr_assert_eq(abe_ipc_request_sync(fd, ABE_OP_PROBE, 0, NULL, 2000, &res), ABE_IPC_ERR_UNAVAILABLE);
    cr_assert_eq(abe_ipc_request_sync(fd, ABE_OP_NONE, 0, NULL, 2000, &res), ABE_IPC_ERR_BAD_REQUEST);
    close(fd);
}

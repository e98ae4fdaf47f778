/*
 * bare_h2o.c — the reference point for the foundation benchmark: a bare libh2o 2.2.5 evloop server with the
 * same prefork shape as the daemon (N workers sharing one listening socket) answering every request with
 * {"status":"ok"}. No router, no logging, no JSON library. Usage: bare_h2o PORT [WORKERS]
 */
#include <h2o.h>
#include <netinet/in.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>
#include <unistd.h>

static h2o_globalconf_t config;
static h2o_accept_ctx_t accept_ctx;

static int on_req(h2o_handler_t *self, h2o_req_t *req)
{
    (void)self;
    static h2o_generator_t gen = {NULL, NULL};
    req->res.status = 200;
    req->res.reason = "OK";
    req->res.content_length = 15;
    h2o_add_header(&req->pool, &req->res.headers, H2O_TOKEN_CONTENT_TYPE, NULL,
                   H2O_STRLIT("application/json"));
    h2o_start_response(req, &gen);
    h2o_iovec_t body = h2o_iovec_init(H2O_STRLIT("{\"status\":\"ok\"}"));
    h2o_send(req, &body, 1, H2O_SEND_STATE_FINAL);
    return 0;
}

static void on_accept(h2o_socket_t *listener, const char *err)
{
    if (err) return;
    for (int i = 0; i < 16; i++) {
        h2o_socket_t *sock = h2o_evloop_socket_accept(listener);
        if (!sock) break;
        h2o_accept(&accept_ctx, sock);
    }
}

static void run_worker(int fd)
{
    prctl(PR_SET_PDEATHSIG, SIGTERM);
    h2o_context_t ctx;
    h2o_evloop_t *loop = h2o_evloop_create();
    h2o_context_init(&ctx, loop, &config);
    accept_ctx.ctx = &ctx;
    accept_ctx.hosts = config.hosts;
    h2o_socket_t *listener = h2o_evloop_socket_create(loop, fd, H2O_SOCKET_FLAG_DONT_READ);
    h2o_socket_read_start(listener, on_accept);
    for (;;)
        h2o_evloop_run(loop, INT32_MAX);
}

int main(int argc, char **argv)
{
    char *end = NULL;
    long port = argc >= 2 ? strtol(argv[1], &end, 10) : 0;
    long workers = argc > 2 ? strtol(argv[2], NULL, 10) : 2;
    if (argc < 2 || argc > 3 || !end || *end || port < 1 || port > 65535 || workers < 1 || workers > 64) {
        fprintf(stderr, "usage: %s PORT [WORKERS=2]   (1-65535, 1-64; serves {\"status\":\"ok\"} on 127.0.0.1)\n",
                argv[0]);
        return 2;
    }
    signal(SIGPIPE, SIG_IGN);
    h2o_config_init(&config);
    config.http1.upgrade_to_http2 = 0;
    h2o_hostconf_t *host = h2o_config_register_host(&config, h2o_iovec_init(H2O_STRLIT("default")), 65535);
    h2o_pathconf_t *path = h2o_config_register_path(host, "/", 0);
    h2o_create_handler(path, sizeof(h2o_handler_t))->on_req = on_req;

    int fd = socket(AF_INET, SOCK_STREAM, 0), one = 1;
    struct sockaddr_in a = {
        .sin_family = AF_INET, .sin_port = htons((uint16_t)port), .sin_addr.s_addr = htonl(INADDR_LOOPBACK)};
    setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof(one));
    if (bind(fd, (struct sockaddr *)&a, sizeof(a)) != 0 || listen(fd, 1024) != 0) {
        perror("bind");
        return 1;
    }
    for (int i = 0; i < workers; i++)
        if (fork() == 0) run_worker(fd);
    while (wait(NULL) > 0)
        ;
    return 0;
}

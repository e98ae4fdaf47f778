/*
 * main.c — the advanced-backend command line (SPEC §11.1): runs the daemon in the foreground or one of the
 * maintenance subcommands. Exit codes: 0 ok, 1 fatal runtime error, 2 usage, 3 boot failures / purge failed,
 * 78 configuration error.
 */
#include <curl/curl.h>
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abe_agents.h"
#include "abe_config.h"
#include "abe_log.h"
#include "abe_proctitle.h"
#include "abe_purge.h"
#include "abe_supervisor.h"

#define EXIT_USAGE 2
#define EXIT_CONFIG 78

static void usage(FILE *out)
{
    fputs("usage:\n"
          "  advanced-backend [run] [--config FILE]                 run the daemon in the foreground\n"
          "  advanced-backend --check-config|-t [--config FILE]     validate settings and agents.yaml\n"
          "  advanced-backend -s reload|stop [--config FILE]        send HUP / TERM to the pid in PID_FILE\n"
          "  advanced-backend purge-executions [N] [--config FILE]  prune finished executions (SPEC 4.7)\n"
          "  advanced-backend healthcheck [--config FILE] [--url URL]\n"
          "  advanced-backend --version | --help\n",
          out);
}

/* Loads configuration and the agent registry; prints the error and returns EXIT_CONFIG on failure. */
static int load_all(const char *config_path, abe_config_t *cfg, abe_agent_registry_t **agents)
{
    char err[1024];
    if (!config_path) {
        const char *env = getenv("CONFIG_FILE");
        if (env && *env) config_path = env;
    }
    if (abe_config_load(cfg, config_path, NULL, err, sizeof(err)) != 0) {
        fprintf(stderr, "%s\n", err);
        return EXIT_CONFIG;
    }
    abe_log_init(cfg->log_level, cfg->log_json, cfg->log_file, "abe-supervisor");
    if (agents && abe_agents_load(cfg->agents_config_dir, agents, err, sizeof(err)) != 0) {
        fprintf(stderr, "config error: AGENTS_CONFIG_DIR: %s\n", err);
        return EXIT_CONFIG;
    }
    return 0;
}

static int signal_daemon(const abe_config_t *cfg, const char *what)
{
    int signo = strcmp(what, "reload") == 0 ? SIGHUP : strcmp(what, "stop") == 0 ? SIGTERM : 0;
    if (!signo) {
        fprintf(stderr, "-s takes reload or stop\n");
        return EXIT_USAGE;
    }
    FILE *f = cfg->pid_file[0] ? fopen(cfg->pid_file, "r") : NULL;
    long pid = 0;
    if (!f || fscanf(f, "%ld", &pid) != 1 || pid <= 1) {
        if (f) fclose(f);
        fprintf(stderr, "no running daemon: PID_FILE %s missing or invalid\n", cfg->pid_file);
        return 1;
    }
    fclose(f);
    if (kill((pid_t)pid, signo) != 0) {
        fprintf(stderr, "cannot signal pid %ld: %s\n", pid, strerror(errno));
        return 1;
    }
    return 0;
}

static int healthcheck(const abe_config_t *cfg, const char *url)
{
    char buf[512];
    if (!url) {
        const char *host = cfg->host;
        if (strcmp(host, "0.0.0.0") == 0 || host[0] == '\0')
            snprintf(buf, sizeof(buf), "http://127.0.0.1:%d/health/ready", cfg->port);
        else if (strcmp(host, "::") == 0)
            snprintf(buf, sizeof(buf), "http://[::1]:%d/health/ready", cfg->port);
        else if (strchr(host, ':'))
            snprintf(buf, sizeof(buf), "http://[%s]:%d/health/ready", host, cfg->port);
        else
            snprintf(buf, sizeof(buf), "http://%s:%d/health/ready", host, cfg->port);
        url = buf;
    }
    curl_global_init(CURL_GLOBAL_DEFAULT);
    CURL *c = curl_easy_init();
    long status = 0;
    FILE *devnull = fopen("/dev/null", "w");
    curl_easy_setopt(c, CURLOPT_URL, url);
    curl_easy_setopt(c, CURLOPT_TIMEOUT_MS, 5000L);
    curl_easy_setopt(c, CURLOPT_WRITEDATA, devnull);
    CURLcode rc = curl_easy_perform(c);
    if (rc == CURLE_OK) curl_easy_getinfo(c, CURLINFO_RESPONSE_CODE, &status);
    curl_easy_cleanup(c);
    if (devnull) fclose(devnull);
    if (rc != CURLE_OK) {
        printf("unhealthy: %s: %s\n", url, curl_easy_strerror(rc));
        return 1;
    }
    printf("%s: HTTP %ld\n", status == 200 ? "healthy" : "unhealthy", status);
    return status == 200 ? 0 : 1;
}

int main(int argc, char **argv)
{
    abe_proctitle_init(argc, argv);
    const char *config_path = NULL, *signal_arg = NULL, *url = NULL, *command = NULL, *purge_n = NULL;
    int check = 0;
    for (int i = 1; i < argc; i++) {
        const char *a = argv[i];
        if (strcmp(a, "--config") == 0 || strcmp(a, "-c") == 0) {
            if (++i >= argc) {
                usage(stderr);
                return EXIT_USAGE;
            }
            config_path = argv[i];
        } else if (strncmp(a, "--config=", 9) == 0) {
            config_path = a + 9;
        } else if (strcmp(a, "--check-config") == 0 || strcmp(a, "-t") == 0) {
            check = 1;
        } else if (strcmp(a, "-s") == 0) {
            if (++i >= argc) {
                usage(stderr);
                return EXIT_USAGE;
            }
            signal_arg = argv[i];
        } else if (strcmp(a, "--url") == 0) {
            if (++i >= argc) {
                usage(stderr);
                return EXIT_USAGE;
            }
            url = argv[i];
        } else if (strcmp(a, "--version") == 0 || strcmp(a, "-v") == 0) {
            printf("advanced-backend %s\n", ABE_VERSION);
            return 0;
        } else if (strcmp(a, "--help") == 0 || strcmp(a, "-h") == 0) {
            usage(stdout);
            return 0;
        } else if (!command && a[0] != '-') {
            command = a;
        } else if (command && strcmp(command, "purge-executions") == 0 && !purge_n) {
            /* the optional N of purge-executions; may be negative or not a number (SPEC 4.7 reports it) */
            purge_n = a; /* may be negative, e.g. -5 */
        } else {
            fprintf(stderr, "unknown argument: %s\n", a);
            usage(stderr);
            return EXIT_USAGE;
        }
    }

    abe_config_t cfg;
    abe_agent_registry_t *agents = NULL;
    if (check) {
        int rc = load_all(config_path, &cfg, &agents);
        abe_agents_free(agents);
        if (rc == 0) printf("configuration OK\n");
        return rc;
    }
    if (signal_arg) {
        int rc = load_all(config_path, &cfg, NULL);
        return rc ? rc : signal_daemon(&cfg, signal_arg);
    }
    if (!command || strcmp(command, "run") == 0) {
        int rc = load_all(config_path, &cfg, &agents);
        if (rc) return rc;
        return abe_supervisor_run(&cfg, agents);
    }
    if (strcmp(command, "purge-executions") == 0) {
        int rc = load_all(config_path, &cfg, NULL);
        return rc ? rc : abe_purge_main(&cfg, purge_n);
    }
    if (strcmp(command, "healthcheck") == 0) {
        int rc = load_all(config_path, &cfg, NULL);
        return rc ? rc : healthcheck(&cfg, url);
    }
    fprintf(stderr, "unknown command: %s\n", command);
    usage(stderr);
    return EXIT_USAGE;
}

/*
 * abe_proctitle.c — see abe_proctitle.h. The kernel shows /proc/<pid>/cmdline from the original argv
 * area; environ normally follows it contiguously, so after copying environ elsewhere the title may use
 * both.
 */
#include "abe_proctitle.h"

#include <stdlib.h>
#include <string.h>
#include <sys/prctl.h>

extern char **environ;

static char *g_area;
static size_t g_area_len;

void abe_proctitle_init(int argc, char **argv)
{
    if (argc <= 0 || !argv || !argv[0]) return;
    char *start = argv[0], *end = argv[0] + strlen(argv[0]) + 1;
    for (int i = 1; i < argc; i++)
        if (argv[i] == end) end = argv[i] + strlen(argv[i]) + 1;
    size_t n = 0;
    for (char **e = environ; e && *e; e++)
        n++;
    char **copy = calloc(n + 1, sizeof(char *));
    if (!copy) {
        g_area = start;
        g_area_len = (size_t)(end - start);
        return;
    }
    for (size_t i = 0; i < n; i++) {
        if (environ[i] == end) end = environ[i] + strlen(environ[i]) + 1;
        copy[i] = strdup(environ[i]);
    }
    environ = copy;
    /* argv[1..] keep pointing into the area; duplicate them so option parsing still works. */
    for (int i = 1; i < argc; i++)
        argv[i] = strdup(argv[i]);
    g_area = start;
    g_area_len = (size_t)(end - start);
}

void abe_proctitle_set(const char *title, const char *comm)
{
    if (comm) prctl(PR_SET_NAME, comm, 0, 0, 0);
    if (!g_area || g_area_len < 2 || !title) return;
    size_t len = strlen(title);
    if (len > g_area_len - 1) len = g_area_len - 1;
    memcpy(g_area, title, len);
    memset(g_area + len, 0, g_area_len - len);
}

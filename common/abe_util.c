/*
 * abe_util.c — timestamps, UUID4, clocks and UTF-8 counting shared by every process.
 */
#include "abe_util.h"

#include <stdio.h>
#include <string.h>
#include <sys/random.h>
#include <time.h>
#include <pthread.h>
#include <unistd.h>

/* The date-and-seconds part changes once a second: it is cached per process and only the microseconds are
 * formatted per call (this runs for every access line and most responses). */
char *abe_now_iso(char out[ABE_TS_LEN])
{
    static time_t cached_sec = (time_t)-1;
    static char cached[20]; /* "YYYY-MM-DDTHH:MM:SS" */
    struct timespec ts;
    clock_gettime(CLOCK_REALTIME, &ts);
    if (ts.tv_sec != cached_sec) {
        struct tm tm;
        gmtime_r(&ts.tv_sec, &tm);
        char tmp[64]; /* wider than needed so the compiler can prove no truncation */
        snprintf(tmp, sizeof(tmp), "%04d-%02d-%02dT%02d:%02d:%02d", tm.tm_year + 1900, tm.tm_mon + 1,
                 tm.tm_mday, tm.tm_hour, tm.tm_min, tm.tm_sec);
        memcpy(cached, tmp, sizeof(cached) - 1);
        cached_sec = ts.tv_sec;
    }
    memcpy(out, cached, 19);
    out[19] = '.';
    long us = ts.tv_nsec / 1000;
    for (int i = 25; i >= 20; i--) {
        out[i] = (char)('0' + us % 10);
        us /= 10;
    }
    out[26] = 'Z';
    out[27] = '\0';
    return out;
}

/* Random bytes come from getrandom(2) in 4 KiB refills (256 UUIDs per syscall) instead of one syscall
 * per id: the hot path mints a correlation id for most requests. The buffer is per process and is
 * discarded after fork by a pthread_atfork child handler, so parent and children never share bytes. */
static unsigned char g_rand[4096];
static size_t g_rand_pos = sizeof(g_rand);
static int g_rand_pid; /* 1 once the fork handler is registered */

static void random_after_fork(void)
{
    g_rand_pos = sizeof(g_rand);
}

static void random_bytes(unsigned char *out, size_t n)
{
    if (!g_rand_pid) {
        g_rand_pid = 1;
        pthread_atfork(NULL, NULL, random_after_fork);
    }
    if (g_rand_pos + n > sizeof(g_rand)) {
        size_t got = 0;
        while (got < sizeof(g_rand)) {
            ssize_t r = getrandom(g_rand + got, sizeof(g_rand) - got, 0);
            if (r > 0) got += (size_t)r;
        }
        g_rand_pos = 0;
    }
    memcpy(out, g_rand + g_rand_pos, n);
    memset(g_rand + g_rand_pos, 0, n);
    g_rand_pos += n;
}

char *abe_uuid4(char out[ABE_UUID_LEN])
{
    unsigned char b[16];
    random_bytes(b, sizeof(b));
    b[6] = (unsigned char)((b[6] & 0x0f) | 0x40);
    b[8] = (unsigned char)((b[8] & 0x3f) | 0x80);
    static const char hex[] = "0123456789abcdef";
    char *p = out;
    for (int i = 0; i < 16; i++) {
        if (i == 4 || i == 6 || i == 8 || i == 10) *p++ = '-';
        *p++ = hex[b[i] >> 4];
        *p++ = hex[b[i] & 15];
    }
    *p = '\0';
    return out;
}

uint64_t abe_mono_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000ull + (uint64_t)ts.tv_nsec;
}

size_t abe_utf8_cp_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

/*
 * abe_reply.c — deterministic agent replies (SPEC §5), used by the conversation handlers when a user message
 * is stored (abe_reply_generate) or a conversation is created without one (abe_reply_greeting).
 *
 * A reply is one fragment per capability, in capability order, with a fragment identical to an earlier one
 * dropped. Two fragments are identical exactly when they come from the same key family (research, code, data,
 * content, operations) or are both fallbacks for byte-identical capabilities (the fixed text around the
 * capability makes any other pair differ), so duplicates are detected by that "kind" rather than by comparing
 * the (up to 64 KiB × 3) fragment texts. M is copied verbatim with memcpy, so any bytes survive unchanged.
 */
#include "abe_reply.h"

#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

/* Key families of SPEC §5 ("none" = fallback). */
enum { K_RESEARCH, K_CODE, K_DATA, K_CONTENT, K_OPS, K_NONE };

/* Each fragment is prefix + M + suffix; the fallback is "Using my " + cap + FALLBACK_MID + M + "'.". */
static const struct {
    const char *prefix, *suffix;
} fragments[] = {
    [K_RESEARCH] = {"I will research '", "' and summarise the findings."},
    [K_CODE] = {"I will design and write code for '", "'."},
    [K_DATA] = {"I will analyse the data for '", "'."},
    [K_CONTENT] = {"I will draft written content for '", "'."},
    [K_OPS] = {"I will plan and automate the operations for '", "'."},
};
#define FALLBACK_PRE "Using my "
#define FALLBACK_MID " capability, I will help with '"
#define FALLBACK_END "'."

/* Keys in SPEC test order and the family each selects. */
static const struct {
    const char *key;
    int kind;
} keys[] = {
    {"research", K_RESEARCH}, {"coding", K_CODE}, {"code", K_CODE},      {"data", K_DATA},
    {"content", K_CONTENT},   {"ops", K_OPS},     {"operations", K_OPS},
};

/* ASCII-only case-insensitive substring test: does lower(hay) contain needle (already lower-case)? */
static int contains_ci(const char *hay, const char *needle)
{
    size_t hl = strlen(hay), nl = strlen(needle);
    if (nl > hl) return 0;
    for (size_t i = 0; i + nl <= hl; i++) {
        size_t j = 0;
        while (j < nl) {
            unsigned char c = (unsigned char)hay[i + j];
            if (c >= 'A' && c <= 'Z') c = (unsigned char)(c - 'A' + 'a');
            if (c != (unsigned char)needle[j]) break;
            j++;
        }
        if (j == nl) return 1;
    }
    return 0;
}

static int cap_kind(const char *cap)
{
    for (size_t i = 0; i < sizeof(keys) / sizeof(keys[0]); i++)
        if (contains_ci(cap, keys[i].key)) return keys[i].kind;
    return K_NONE;
}

/* Checked size arithmetic: *acc += v, returns 0 on overflow. */
static int add_sz(size_t *acc, size_t v)
{
    if (v > SIZE_MAX - *acc) return 0;
    *acc += v;
    return 1;
}

/* Reply with a single template around M: prefix + M + suffix. */
static char *wrap(const char *prefix, const char *msg, size_t len, const char *suffix)
{
    size_t pl = strlen(prefix), sl = strlen(suffix), total = pl;
    if (!add_sz(&total, len) || !add_sz(&total, sl) || !add_sz(&total, 1)) return NULL;
    char *out = malloc(total);
    if (!out) return NULL;
    memcpy(out, prefix, pl);
    if (len) memcpy(out + pl, msg, len);
    memcpy(out + pl + len, suffix, sl);
    out[pl + len + sl] = '\0';
    return out;
}

static void put(char **p, const char *s, size_t n)
{
    if (n) memcpy(*p, s, n);
    *p += n;
}

char *abe_reply_generate(const abe_agent_t *agent, const char *msg, size_t len)
{
    if (!msg) len = 0;
    if (!agent) return wrap("Request received: '", msg, len, "'.");
    if (agent->ncap == 0) return wrap("Ready to work on: '", msg, len, "'.");

    /* kinds[i]: family of capability i, or -1 when its fragment repeats an earlier one. */
    int *kinds = malloc(agent->ncap * sizeof(int));
    if (!kinds) return NULL;
    int seen[K_NONE] = {0};
    size_t total = 1; /* NUL */
    int ok = 1, first = 1;
    for (size_t i = 0; i < agent->ncap && ok; i++) {
        const char *cap = agent->capabilities[i] ? agent->capabilities[i] : "";
        int k = cap_kind(cap);
        if (k != K_NONE) {
            if (seen[k]) {
                kinds[i] = -1;
                continue;
            }
            seen[k] = 1;
        } else {
            for (size_t j = 0; j < i; j++) {
                if (kinds[j] == K_NONE &&
                    strcmp(agent->capabilities[j] ? agent->capabilities[j] : "", cap) == 0) {
                    k = -1;
                    break;
                }
            }
            if (k == -1) {
                kinds[i] = -1;
                continue;
            }
        }
        kinds[i] = k;
        if (!first) ok = add_sz(&total, 1);
        first = 0;
        if (k == K_NONE)
            ok = ok && add_sz(&total, strlen(FALLBACK_PRE) + strlen(FALLBACK_MID) + strlen(FALLBACK_END)) &&
                 add_sz(&total, strlen(cap));
        else
            ok = ok && add_sz(&total, strlen(fragments[k].prefix) + strlen(fragments[k].suffix));
        ok = ok && add_sz(&total, len);
    }
    char *out = ok ? malloc(total) : NULL;
    if (!out) {
        free(kinds);
        return NULL;
    }
    char *p = out;
    first = 1;
    for (size_t i = 0; i < agent->ncap; i++) {
        int k = kinds[i];
        if (k < 0) continue;
        if (!first) put(&p, " ", 1);
        first = 0;
        if (k == K_NONE) {
            const char *cap = agent->capabilities[i] ? agent->capabilities[i] : "";
            put(&p, FALLBACK_PRE, strlen(FALLBACK_PRE));
            put(&p, cap, strlen(cap));
            put(&p, FALLBACK_MID, strlen(FALLBACK_MID));
            put(&p, msg, len);
            put(&p, FALLBACK_END, strlen(FALLBACK_END));
        } else {
            put(&p, fragments[k].prefix, strlen(fragments[k].prefix));
            put(&p, msg, len);
            put(&p, fragments[k].suffix, strlen(fragments[k].suffix));
        }
    }
    *p = '\0';
    free(kinds);
    return out;
}

char *abe_reply_greeting(const abe_agent_t *agent)
{
    if (!agent || !agent->name) return strdup("Hello. How can I help?");
    return wrap("Hello, I am ", agent->name, strlen(agent->name), ". How can I help?");
}

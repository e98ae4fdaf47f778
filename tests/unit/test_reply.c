/*
 * test_reply.c — unit tests for the deterministic replies of SPEC §5 (worker/abe_reply.c): unknown agent,
 * no capabilities, every key of the keyword table (and their test order), the fallback fragment, dropping of
 * repeated fragments, ASCII-only lower-casing, verbatim message bytes, greetings and a 64 KiB message.
 */
#include <criterion/criterion.h>

#include <stdlib.h>
#include <string.h>

#include "abe_reply.h"

/* Build a borrowed agent view over a capability list (the reply code only reads the struct). */
static abe_agent_t make_agent(const char *name, char **caps, size_t ncap)
{
    abe_agent_t a = {0};
    a.id = (char *)"agent-x";
    a.name = (char *)name;
    a.capabilities = caps;
    a.ncap = ncap;
    return a;
}

#define MAXCAP 6

typedef struct reply_case {
    const char *label;
    const char *caps[MAXCAP]; /* NULL-terminated */
    const char *msg;
    const char *want;
} reply_case_t;

static const reply_case_t cases[] = {
    {"spec example",
     {"Coding", "weird", "code review", NULL},
     "build X",
     "I will design and write code for 'build X'. Using my weird capability, I will help with 'build X'."},
    {"research", {"research", NULL}, "m", "I will research 'm' and summarise the findings."},
    {"research substring, upper case",
     {"Market RESEARCH", NULL},
     "m",
     "I will research 'm' and summarise the findings."},
    {"coding", {"coding", NULL}, "m", "I will design and write code for 'm'."},
    {"code", {"source code", NULL}, "m", "I will design and write code for 'm'."},
    {"data", {"Data Analysis", NULL}, "m", "I will analyse the data for 'm'."},
    {"database contains data", {"database", NULL}, "m", "I will analyse the data for 'm'."},
    {"content", {"content writing", NULL}, "m", "I will draft written content for 'm'."},
    {"ops", {"DevOps", NULL}, "m", "I will plan and automate the operations for 'm'."},
    {"operations", {"Operations", NULL}, "m", "I will plan and automate the operations for 'm'."},
    {"ops and operations are one fragment",
     {"ops", "operations", NULL},
     "m",
     "I will plan and automate the operations for 'm'."},
    {"research wins over code (key order)",
     {"code research", NULL},
     "m",
     "I will research 'm' and summarise the findings."},
    {"code wins over data (key order)", {"data code", NULL}, "m", "I will design and write code for 'm'."},
    {"data wins over content (key order)", {"content data", NULL}, "m", "I will analyse the data for 'm'."},
    {"content wins over ops (key order)",
     {"ops content", NULL},
     "m",
     "I will draft written content for 'm'."},
    {"fallback keeps capability as written",
     {"Translation", NULL},
     "m",
     "Using my Translation capability, I will help with 'm'."},
    {"capability order preserved",
     {"content", "research", "zzz", "data", NULL},
     "q",
     "I will draft written content for 'q'. I will research 'q' and summarise the findings. Using my zzz "
     "capability, I will help with 'q'. I will analyse the data for 'q'."},
    {"repeated fallback dropped, different case kept",
     {"weird", "weird", "Weird", NULL},
     "m",
     "Using my weird capability, I will help with 'm'. Using my Weird capability, I will help with 'm'."},
    {"repeated key fragment dropped wherever it recurs",
     {"research", "summarization", "Research", "coding", NULL},
     "m",
     "I will research 'm' and summarise the findings. Using my summarization capability, I will help with "
     "'m'. "
     "I will design and write code for 'm'."},
    {"non-ASCII letters are not lower-cased",
     {"D\xC3\x84TA", NULL},
     "m",
     "Using my D\xC3\x84TA capability, I will help with 'm'."},
    {"unicode and quotes verbatim",
     {"research", NULL},
     "it's \"\xF0\x9F\x9A\x80\" caf\xC3\xA9\nline2",
     "I will research 'it's \"\xF0\x9F\x9A\x80\" caf\xC3\xA9\nline2' and summarise the findings."},
    {"empty message", {"coding", NULL}, "", "I will design and write code for ''."},
    {"empty capability is a fallback", {"", NULL}, "m", "Using my  capability, I will help with 'm'."},
};

Test(reply, table)
{
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        char *caps[MAXCAP];
        size_t n = 0;
        while (cases[i].caps[n]) {
            caps[n] = (char *)cases[i].caps[n];
            n++;
        }
        abe_agent_t a = make_agent("X", caps, n);
        char *got = abe_reply_generate(&a, cases[i].msg, strlen(cases[i].msg));
        cr_assert_not_null(got, "%s", cases[i].label);
        cr_expect_str_eq(got, cases[i].want, "case '%s': got [%s]", cases[i].label, got);
        free(got);
    }
}

Test(reply, unknown_agent)
{
    char *got = abe_reply_generate(NULL, "hello 'there'", 13);
    cr_assert_str_eq(got, "Request received: 'hello 'there''.");
    free(got);
}

Test(reply, no_capabilities)
{
    abe_agent_t a = make_agent("Empty", NULL, 0);
    char *got = abe_reply_generate(&a, "do it", 5);
    cr_assert_str_eq(got, "Ready to work on: 'do it'.");
    free(got);
}

Test(reply, message_is_length_delimited)
{
    /* Only len bytes of msg are used, even when more follow. */
    char *caps[] = {(char *)"data"};
    abe_agent_t a = make_agent("X", caps, 1);
    char *got = abe_reply_generate(&a, "abcdef", 3);
    cr_assert_str_eq(got, "I will analyse the data for 'abc'.");
    free(got);
    got = abe_reply_generate(NULL, "abcdef", 0);
    cr_assert_str_eq(got, "Request received: ''.");
    free(got);
}

Test(reply, large_message_every_fragment)
{
    size_t len = 65536;
    char *msg = malloc(len);
    cr_assert_not_null(msg);
    for (size_t i = 0; i < len; i++)
        msg[i] = (char)('a' + (i % 26));
    char *caps[] = {(char *)"research", (char *)"code", (char *)"data",
                    (char *)"content",  (char *)"ops",  (char *)"misc"};
    abe_agent_t a = make_agent("X", caps, 6);
    char *got = abe_reply_generate(&a, msg, len);
    cr_assert_not_null(got);
    const char *fixed[] = {"I will research '",
                           "' and summarise the findings.",
                           " I will design and write code for '",
                           "'.",
                           " I will analyse the data for '",
                           "'.",
                           " I will draft written content for '",
                           "'.",
                           " I will plan and automate the operations for '",
                           "'.",
                           " Using my misc capability, I will help with '",
                           "'."};
    size_t want = 0;
    for (size_t i = 0; i < sizeof(fixed) / sizeof(fixed[0]); i++)
        want += strlen(fixed[i]);
    want += 6 * len;
    cr_assert_eq(strlen(got), want);
    cr_assert_eq(memcmp(got + strlen(fixed[0]), msg, len), 0);
    cr_assert_eq(memcmp(got + want - len - 2, msg, len), 0);
    cr_assert_str_eq(got + want - 2, "'.");
    free(got);
    free(msg);
}

Test(reply, greeting)
{
    abe_agent_t a = make_agent("Research Analyst", NULL, 0);
    char *g = abe_reply_greeting(&a);
    cr_assert_str_eq(g, "Hello, I am Research Analyst. How can I help?");
    free(g);
    abe_agent_t u = make_agent("Caf\xC3\xA9 \"Bot\"", NULL, 0);
    g = abe_reply_greeting(&u);
    cr_assert_str_eq(g, "Hello, I am Caf\xC3\xA9 \"Bot\". How can I help?");
    free(g);
    g = abe_reply_greeting(NULL);
    cr_assert_str_eq(g, "Hello. How can I help?");
    free(g);
}

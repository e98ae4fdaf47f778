/*
 * test_conversations.c — integration tests for the conversation routes (SPEC §3.4) and their replies
 * (SPEC §5), driven over HTTP against the real daemon (tests/integration/abe_it.h).
 *
 * Every test starts its own daemon (two workers) on a fresh database, with a test-owned agents.yaml so
 * reply texts are known exactly. Covered: create with and without a user message, greetings, the reply
 * rules (fragments, de-duplication, unknown agent, no capabilities), field order of every response, message
 * ordering and timestamps, paging, the 404/415/422 cases, the 64 KiB message limit counted in code points,
 * read-your-write across workers on fresh connections, and the SPEC §12.1 load scenario from concurrent
 * client processes (plus concurrent appends to one conversation, whose pairs must never interleave).
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/wait.h>
#include <unistd.h>

#include "abe_it.h"

static abe_it_daemon_t D;
static char agents_dir[256];
static char agents_env[300];

static const char AGENTS_YAML[] =
    "agents:\n"
    "  - id: agent-research\n"
    "    name: Research Analyst\n"
    "    category: research\n"
    "    description: Finds and summarises sources.\n"
    "    capabilities: [research, summarization]\n"
    "  - id: agent-mixed\n"
    "    name: Mixed Bag\n"
    "    capabilities: [\"Coding\", \"weird\", \"code review\"]\n"
    "  - id: agent-idle\n"
    "    name: Idle Agent\n"
    "    capabilities: []\n"
    "  - id: agent-ops\n"
    "    name: Ops Crew\n"
    "    capabilities: [Data Analysis, Content Writing, DevOps, operations, Research]\n";

static const char LOAD_BODY[] =
    "{\"agent_id\":\"agent-research\",\"user_message\":\"Hello agent, please summarise the "
    "performance pipeline.\",\"context\":{\"topic\":\"performance\"}}";
static const char LOAD_MSG[] = "Hello agent, please summarise the performance pipeline.";

static void start_daemon(void)
{
    cr_assert_eq(abe_it_agents_dir(AGENTS_YAML, agents_dir, sizeof(agents_dir)), 0, "agents dir: %s",
                 strerror(errno));
    snprintf(agents_env, sizeof(agents_env), "AGENTS_CONFIG_DIR=%s", agents_dir);
    const char *env[] = {agents_env, NULL};
    cr_assert_eq(abe_it_start(&D, env), 0, "daemon did not start");
}

static void stop_daemon(void)
{
    abe_it_stop(&D, 30);
    abe_it_cleanup(&D);
    abe_it_agents_dir_remove(agents_dir);
}

TestSuite(conversations, .init = start_daemon, .fini = stop_daemon, .timeout = 240);

/* ---- helpers ------------------------------------------------------------------------------------------ */

static int is_ts(const char *s)
{
    /* 2026-11-22T17:48:12.567454Z */
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (!s || strlen(s) != sizeof(pat) - 1) return 0;
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i]) return 0;
    }
    return 1;
}

static int is_uuid4(const char *s)
{
    if (!s || strlen(s) != 36 || s[14] != '4' || !strchr("89ab", s[19])) return 0;
    for (int i = 0; i < 36; i++) {
        if (i == 8 || i == 13 || i == 18 || i == 23) {
            if (s[i] != '-') return 0;
        } else if (!strchr("0123456789abcdef", s[i])) {
            return 0;
        }
    }
    return 1;
}

/* The object's keys must be exactly keys[] (NULL-terminated), in that order. */
static void assert_keys(json_t *obj, const char *const *keys, const char *what)
{
    cr_assert(json_is_object(obj), "%s is not an object", what);
    size_t i = 0;
    const char *k;
    json_t *val;
    json_object_foreach(obj, k, val)
    {
        (void)val;
        cr_assert_not_null(keys[i], "%s: unexpected extra key '%s'", what, k);
        cr_assert_str_eq(k, keys[i], "%s: key %zu is '%s', expected '%s'", what, i, k, keys[i]);
        i++;
    }
    cr_assert_null(keys[i], "%s: missing key '%s'", what, keys[i]);
}

static const char *const CONV_KEYS[] = {"id",     "agent_id", "name",       "description",  "system_message",
                                        "status", "context",  "created_at", "last_updated", "messages",
                                        NULL};
static const char *const MSG_KEYS[] = {"id", "role", "content", "timestamp", "agent_id", NULL};
static const char *const SUMMARY_KEYS[] = {"id",         "agent_id",     "name",          "status",
                                           "created_at", "last_updated", "message_count", NULL};

static const char *sget(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

/* String equality where a missing value (NULL) never matches; for texts too long for cr_assert_str_eq's
 * failure message. */
static int streq(const char *a, const char *b)
{
    return a && b && strcmp(a, b) == 0;
}

/* Error envelope: status, string detail, correlation_id equal to the X-Correlation-ID header. */
static void assert_error(abe_it_resp_t *r, long status, const char *detail)
{
    cr_assert_eq(r->status, status, "status %ld, expected %ld; body %s", r->status, status, r->body);
    cr_assert_not_null(r->json, "error body is not JSON: %s", r->body);
    static const char *const keys[] = {"detail", "correlation_id", NULL};
    assert_keys(r->json, keys, "error envelope");
    if (detail) cr_assert_str_eq(sget(r->json, "detail"), detail);
    char cid[256];
    cr_assert_not_null(abe_it_header(r, "x-correlation-id", cid, sizeof(cid)));
    cr_assert_str_eq(sget(r->json, "correlation_id"), cid);
}

/* 422 whose detail equals expected (a JSON array literal), issue order included. */
static void assert_422(abe_it_resp_t *r, const char *expected)
{
    assert_error(r, 422, NULL);
    json_error_t e;
    json_t *want = json_loads(expected, 0, &e);
    cr_assert_not_null(want, "bad expected JSON %s: %s", expected, e.text);
    json_t *got = json_object_get(r->json, "detail");
    cr_assert(json_equal(got, want), "detail %s, expected %s", r->body, expected);
    json_t *issue;
    size_t i;
    static const char *const keys[] = {"loc", "msg", "type", NULL};
    json_array_foreach(got, i, issue) assert_keys(issue, keys, "validation issue");
    json_decref(want);
}

/* POST /api/v1/conversations; asserts 200 and the response shape. Fills id (37 bytes) and returns the
 * response text (malloc'd). */
static char *create_conv(const char *body, char *id)
{
    abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/conversations", body);
    cr_assert_eq(r.status, 200, "create %s -> %ld %s", body, r.status, r.body);
    static const char *const keys[] = {"conversation_id", "id", "response", NULL};
    assert_keys(r.json, keys, "ConversationCreated");
    cr_assert(is_uuid4(sget(r.json, "conversation_id")), "bad id %s", r.body);
    cr_assert_str_eq(sget(r.json, "conversation_id"), sget(r.json, "id"));
    snprintf(id, 37, "%s", sget(r.json, "id"));
    char *resp = strdup(sget(r.json, "response"));
    abe_it_resp_free(&r);
    return resp;
}

/* POST a message; asserts 200 and shape; returns the response text (malloc'd) and the message id. */
static char *post_msg(const char *conv_id, const char *body, char *message_id)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", conv_id);
    abe_it_resp_t r = abe_it_post_json(&D, path, body);
    cr_assert_eq(r.status, 200, "post %s -> %ld %s", body, r.status, r.body);
    static const char *const keys[] = {"message_id", "response", NULL};
    assert_keys(r.json, keys, "MessageCreated");
    cr_assert(is_uuid4(sget(r.json, "message_id")));
    if (message_id) snprintf(message_id, 37, "%s", sget(r.json, "message_id"));
    char *resp = strdup(sget(r.json, "response"));
    abe_it_resp_free(&r);
    return resp;
}

/* GET the conversation (200 asserted, shape checked); returns the parsed body (caller decrefs). */
static json_t *get_conv(const char *conv_id)
{
    char path[128];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", conv_id);
    abe_it_resp_t r = abe_it_get(&D, path);
    cr_assert_eq(r.status, 200, "get %s -> %ld %s", conv_id, r.status, r.body);
    assert_keys(r.json, CONV_KEYS, "Conversation");
    json_t *m;
    size_t i;
    json_array_foreach(json_object_get(r.json, "messages"), i, m) assert_keys(m, MSG_KEYS, "Message");
    json_t *out = json_incref(r.json);
    abe_it_resp_free(&r);
    return out;
}

/* Build a JSON string literal (quoted, escaped) for s. malloc'd. */
static char *jstr(const char *s, size_t flags)
{
    json_t *v = json_string(s);
    cr_assert_not_null(v, "not UTF-8");
    char *out = json_dumps(v, JSON_ENCODE_ANY | flags);
    json_decref(v);
    return out;
}

/* SPEC §5 reply of agent-research to m. */
static char *research_reply(const char *m)
{
    char *out;
    cr_assert(
        asprintf(&out,
                 "I will research '%s' and summarise the findings. Using my summarization capability, I "
                 "will help with '%s'.",
                 m, m) > 0);
    return out;
}

/*
 * Invariants of every stored conversation (SPEC §3.4, §5): well-formed timestamps that never decrease along
 * the message list, last_updated equal to the newest message's timestamp, created_at not after it.
 */
static void assert_conversation_consistent(json_t *conv)
{
    json_t *msgs = json_object_get(conv, "messages");
    size_t n = json_array_size(msgs);
    cr_assert(n > 0);
    const char *prev = NULL;
    for (size_t i = 0; i < n; i++) {
        const char *ts = sget(json_array_get(msgs, i), "timestamp");
        cr_assert(is_ts(ts), "bad timestamp %s", ts ? ts : "(null)");
        if (prev) cr_assert(strcmp(prev, ts) <= 0, "timestamps decrease at %zu: %s then %s", i, prev, ts);
        prev = ts;
    }
    cr_assert_str_eq(sget(conv, "last_updated"), prev, "last_updated is not the newest message's timestamp");
    cr_assert(is_ts(sget(conv, "created_at")));
    cr_assert(strcmp(sget(conv, "created_at"), prev) <= 0, "created_at after the newest message");
}

/* ---- create -------------------------------------------------------------------------------------------- */

Test(conversations, create_with_user_message_stores_pair)
{
    char id[37];
    char *resp = create_conv(LOAD_BODY, id);
    char *want = research_reply(LOAD_MSG);
    cr_assert_str_eq(resp, want);

    json_t *c = get_conv(id);
    cr_assert_str_eq(sget(c, "id"), id);
    cr_assert_str_eq(sget(c, "agent_id"), "agent-research");
    cr_assert_str_eq(sget(c, "name"), "");
    cr_assert_str_eq(sget(c, "description"), "");
    cr_assert_str_eq(sget(c, "system_message"), "");
    cr_assert_str_eq(sget(c, "status"), "active");
    json_t *ctx = json_pack("{s:s}", "topic", "performance");
    cr_assert(json_equal(json_object_get(c, "context"), ctx));
    json_decref(ctx);
    cr_assert(is_ts(sget(c, "created_at")));
    cr_assert_str_eq(sget(c, "created_at"), sget(c, "last_updated"),
                     "a new conversation has created_at = last_updated");

    json_t *msgs = json_object_get(c, "messages");
    cr_assert_eq(json_array_size(msgs), 2);
    json_t *u = json_array_get(msgs, 0), *a = json_array_get(msgs, 1);
    cr_assert(is_uuid4(sget(u, "id")) && is_uuid4(sget(a, "id")));
    cr_assert_str_neq(sget(u, "id"), sget(a, "id"));
    cr_assert_str_eq(sget(u, "role"), "user");
    cr_assert_str_eq(sget(u, "content"), LOAD_MSG);
    cr_assert(json_is_null(json_object_get(u, "agent_id")));
    cr_assert_str_eq(sget(a, "role"), "agent");
    cr_assert_str_eq(sget(a, "content"), want);
    cr_assert_str_eq(sget(a, "agent_id"), "agent-research");
    assert_conversation_consistent(c);
    json_decref(c);
    free(resp);
    free(want);
}

Test(conversations, create_without_user_message_stores_only_greeting)
{
    static const char *const bodies[] = {
        "{\"agent_id\":\"agent-research\"}",
        "{\"agent_id\":\"agent-research\",\"user_message\":\"\"}",
        "{\"agent_id\":\"agent-research\",\"user_message\":null,\"name\":null,\"context\":null}",
    };
    for (size_t i = 0; i < sizeof(bodies) / sizeof(bodies[0]); i++) {
        char id[37];
        char *resp = create_conv(bodies[i], id);
        cr_assert_str_eq(resp, "Hello, I am Research Analyst. How can I help?", "body %s", bodies[i]);
        json_t *c = get_conv(id);
        json_t *msgs = json_object_get(c, "messages");
        cr_assert_eq(json_array_size(msgs), 1, "body %s", bodies[i]);
        json_t *g = json_array_get(msgs, 0);
        cr_assert_str_eq(sget(g, "role"), "agent");
        cr_assert_str_eq(sget(g, "content"), resp);
        cr_assert_str_eq(sget(g, "agent_id"), "agent-research");
        cr_assert_str_eq(sget(c, "name"), "");
        cr_assert(json_is_object(json_object_get(c, "context")) &&
                      json_object_size(json_object_get(c, "context")) == 0,
                  "context defaults to {}");
        assert_conversation_consistent(c);
        json_decref(c);
        free(resp);
    }
    /* Unknown agent: accepted, generic greeting. */
    char id[37];
    char *resp = create_conv("{\"agent_id\":\"no-such-agent\"}", id);
    cr_assert_str_eq(resp, "Hello. How can I help?");
    json_t *c = get_conv(id);
    cr_assert_str_eq(sget(c, "agent_id"), "no-such-agent");
    cr_assert_str_eq(sget(json_array_get(json_object_get(c, "messages"), 0), "agent_id"), "no-such-agent");
    json_decref(c);
    free(resp);
}

Test(conversations, create_stores_optional_fields_verbatim)
{
    char id[37];
    char *resp =
        create_conv("{\"agent_id\":\"agent-idle\",\"name\":\"N \\\"q\\\" é\",\"description\":\"D\\nline\","
                    "\"system_message\":\"be terse\",\"context\":[1,{\"a\":[true,null,2.5]},\"x\"],"
                    "\"unknown_field\":42}",
                    id);
    cr_assert_str_eq(resp, "Hello, I am Idle Agent. How can I help?");
    json_t *c = get_conv(id);
    cr_assert_str_eq(sget(c, "name"), "N \"q\" é");
    cr_assert_str_eq(sget(c, "description"), "D\nline");
    cr_assert_str_eq(sget(c, "system_message"), "be terse");
    json_t *want = json_loads("[1,{\"a\":[true,null,2.5]},\"x\"]", 0, NULL);
    cr_assert(json_equal(json_object_get(c, "context"), want), "context stored as given (a list)");
    json_decref(want);
    json_decref(c);
    free(resp);
}

Test(conversations, replies_follow_capabilities)
{
    char id[37];
    /* Example of SPEC §5: Coding / weird / code review. */
    char *resp = create_conv("{\"agent_id\":\"agent-mixed\",\"user_message\":\"build X\"}", id);
    cr_assert_str_eq(
        resp, "I will design and write code for 'build X'. Using my weird capability, I will help with "
              "'build X'.");
    free(resp);
    /* De-duplication across ops/operations, order by capability. */
    resp = create_conv("{\"agent_id\":\"agent-ops\",\"user_message\":\"M\"}", id);
    cr_assert_str_eq(resp,
                     "I will analyse the data for 'M'. I will draft written content for 'M'. I will plan and "
                     "automate the operations for 'M'. I will research 'M' and summarise the findings.");
    free(resp);
    /* No capabilities. */
    resp = create_conv("{\"agent_id\":\"agent-idle\",\"user_message\":\"tidy up\"}", id);
    cr_assert_str_eq(resp, "Ready to work on: 'tidy up'.");
    free(resp);
    /* Unknown agent, then a follow-up: the conversation's agent answers whatever agent_id the body names. */
    resp = create_conv("{\"agent_id\":\"ghost\",\"user_message\":\"hi\"}", id);
    cr_assert_str_eq(resp, "Request received: 'hi'.");
    free(resp);
    resp = post_msg(id, "{\"content\":\"again\",\"agent_id\":\"agent-research\"}", NULL);
    cr_assert_str_eq(resp, "Request received: 'again'.");
    free(resp);
    json_t *c = get_conv(id);
    json_t *msgs = json_object_get(c, "messages");
    cr_assert_eq(json_array_size(msgs), 4);
    cr_assert_str_eq(sget(json_array_get(msgs, 3), "agent_id"), "ghost");
    json_decref(c);
}

/* ---- messages: order, ids, timestamps, paging ------------------------------------------------------------
 */

Test(conversations, follow_ups_are_ordered_pairs)
{
    char id[37];
    char *resp = create_conv(LOAD_BODY, id);
    free(resp);
    char last_mid[37] = "";
    for (int i = 1; i <= 3; i++) {
        char body[96], text[64];
        snprintf(text, sizeof(text), "Follow-up message %d", i);
        snprintf(body, sizeof(body), "{\"content\":\"%s\"}", text);
        resp = post_msg(id, body, last_mid);
        char *want = research_reply(text);
        cr_assert_str_eq(resp, want);
        free(want);
        free(resp);
    }
    json_t *c = get_conv(id);
    json_t *msgs = json_object_get(c, "messages");
    cr_assert_eq(json_array_size(msgs), 8);
    for (size_t i = 0; i < 8; i++) {
        json_t *m = json_array_get(msgs, i);
        char text[64];
        if (i < 2)
            snprintf(text, sizeof(text), "%s", LOAD_MSG);
        else
            snprintf(text, sizeof(text), "Follow-up message %zu", i / 2);
        if (i % 2 == 0) {
            cr_assert_str_eq(sget(m, "role"), "user");
            cr_assert_str_eq(sget(m, "content"), text);
            cr_assert(json_is_null(json_object_get(m, "agent_id")));
        } else {
            char *want = research_reply(text);
            cr_assert_str_eq(sget(m, "role"), "agent");
            cr_assert_str_eq(sget(m, "content"), want);
            cr_assert_str_eq(sget(m, "agent_id"), "agent-research");
            free(want);
        }
    }
    cr_assert_str_eq(sget(json_array_get(msgs, 7), "id"), last_mid, "message_id is the agent reply's id");
    assert_conversation_consistent(c);

    /* The messages route returns the same list, with paging. */
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", id);
    abe_it_resp_t r = abe_it_get(&D, path);
    cr_assert_eq(r.status, 200);
    static const char *const keys[] = {"conversation_id", "messages", "total", "limit", "offset", NULL};
    assert_keys(r.json, keys, "MessageList");
    cr_assert_str_eq(sget(r.json, "conversation_id"), id);
    cr_assert(json_equal(json_object_get(r.json, "messages"), msgs));
    cr_assert_eq(json_integer_value(json_object_get(r.json, "total")), 8);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "limit")), 100);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "offset")), 0);
    abe_it_resp_free(&r);

    struct {
        const char *q;
        size_t first, count;
    } pages[] = {{"limit=3", 0, 3},         {"limit=3&offset=3", 3, 3},  {"limit=3&offset=6", 6, 2},
                 {"offset=8", 8, 0},        {"offset=1000", 0, 0},       {"limit=500&offset=7", 7, 1},
                 {"limit=1&limit=2", 0, 2}, {"offset=2&unknown=x", 2, 6}};
    for (size_t p = 0; p < sizeof(pages) / sizeof(pages[0]); p++) {
        snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages?%s", id, pages[p].q);
        r = abe_it_get(&D, path);
        cr_assert_eq(r.status, 200, "%s -> %ld", pages[p].q, r.status);
        json_t *page = json_object_get(r.json, "messages");
        cr_assert_eq(json_array_size(page), pages[p].count, "%s", pages[p].q);
        cr_assert_eq(json_integer_value(json_object_get(r.json, "total")), 8,
                     "%s: total counts every message", pages[p].q);
        for (size_t k = 0; k < pages[p].count; k++)
            cr_assert(json_equal(json_array_get(page, k), json_array_get(msgs, pages[p].first + k)),
                      "%s item %zu", pages[p].q, k);
        abe_it_resp_free(&r);
    }
    json_decref(c);
}

Test(conversations, list_is_newest_first_with_summaries)
{
    char ids[5][37];
    for (int i = 0; i < 5; i++) {
        char body[128];
        if (i % 2)
            snprintf(body, sizeof(body),
                     "{\"agent_id\":\"agent-research\",\"name\":\"conv %d\",\"user_message\":\"m\"}", i);
        else
            snprintf(body, sizeof(body), "{\"agent_id\":\"agent-idle\",\"name\":\"conv %d\"}", i);
        free(create_conv(body, ids[i]));
    }
    free(post_msg(ids[1], "{\"content\":\"more\"}", NULL));

    abe_it_resp_t r = abe_it_get(&D, "/api/v1/conversations");
    cr_assert_eq(r.status, 200, "%s", r.body);
    static const char *const keys[] = {"conversations", "total", "limit", "offset", "timestamp", NULL};
    assert_keys(r.json, keys, "ConversationList");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "total")), 5);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "limit")), 100);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "offset")), 0);
    cr_assert(is_ts(sget(r.json, "timestamp")));
    json_t *list = json_object_get(r.json, "conversations");
    cr_assert_eq(json_array_size(list), 5);
    for (int i = 0; i < 5; i++) {
        json_t *s = json_array_get(list, (size_t)i);
        int k = 4 - i; /* newest first */
        assert_keys(s, SUMMARY_KEYS, "ConversationSummary");
        cr_assert_str_eq(sget(s, "id"), ids[k], "position %d", i);
        char name[16];
        snprintf(name, sizeof(name), "conv %d", k);
        cr_assert_str_eq(sget(s, "name"), name);
        cr_assert_str_eq(sget(s, "status"), "active");
        cr_assert_str_eq(sget(s, "agent_id"), k % 2 ? "agent-research" : "agent-idle");
        json_int_t want = k == 1 ? 4 : (k % 2 ? 2 : 1);
        cr_assert_eq(json_integer_value(json_object_get(s, "message_count")), want, "conv %d", k);
        json_t *full = get_conv(ids[k]);
        cr_assert_str_eq(sget(s, "created_at"), sget(full, "created_at"));
        cr_assert_str_eq(sget(s, "last_updated"), sget(full, "last_updated"));
        json_decref(full);
    }
    abe_it_resp_free(&r);

    r = abe_it_get(&D, "/api/v1/conversations?limit=2&offset=1");
    cr_assert_eq(r.status, 200);
    list = json_object_get(r.json, "conversations");
    cr_assert_eq(json_array_size(list), 2);
    cr_assert_str_eq(sget(json_array_get(list, 0), "id"), ids[3]);
    cr_assert_str_eq(sget(json_array_get(list, 1), "id"), ids[2]);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "limit")), 2);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "offset")), 1);
    abe_it_resp_free(&r);

    r = abe_it_get(&D, "/api/v1/conversations?offset=5");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "conversations")), 0);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "total")), 5);
    abe_it_resp_free(&r);

    r = abe_it_get(&D, "/api/v1/conversations?limit=500.0");
    assert_422(
        &r,
        "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"Input should be a valid integer, unable to parse string "
        "as an integer\",\"type\":\"int_parsing\"}]");
    abe_it_resp_free(&r);

    /* HEAD: same status, no body. */
    abe_it_resp_t h;
    cr_assert_eq(abe_it_request(&D, "HEAD", "/api/v1/conversations", NULL, NULL, 0, NULL, &h), 0);
    cr_assert_eq(h.status, 200);
    cr_assert_eq(h.len, 0);
    abe_it_resp_free(&h);
}

Test(conversations, empty_list)
{
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/conversations?limit=1");
    cr_assert_eq(r.status, 200);
    cr_assert_eq(json_array_size(json_object_get(r.json, "conversations")), 0);
    cr_assert_eq(json_integer_value(json_object_get(r.json, "total")), 0);
    abe_it_resp_free(&r);
}

/* ---- 404 -------------------------------------------------------------------------------------------------
 */

Test(conversations, unknown_conversation_is_404)
{
    static const char *const missing[] = {"00000000-0000-4000-8000-000000000000", "not-a-uuid", "a%00b",
                                          "%2F"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        char path[160];
        snprintf(path, sizeof(path), "/api/v1/conversations/%s", missing[i]);
        abe_it_resp_t r = abe_it_get(&D, path);
        assert_error(&r, 404, "Conversation not found");
        abe_it_resp_free(&r);
        snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", missing[i]);
        r = abe_it_get(&D, path);
        assert_error(&r, 404, "Conversation not found");
        abe_it_resp_free(&r);
        r = abe_it_post_json(&D, path, "{\"content\":\"hello\"}");
        assert_error(&r, 404, "Conversation not found");
        abe_it_resp_free(&r);
    }
    /* Validation runs before the lookup (SPEC §2.2 order). */
    abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/conversations/nope/messages", "{}");
    assert_422(&r, "[{\"loc\":[\"body\",\"content\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
    abe_it_resp_free(&r);
    /* A known id with a different case is a different id. */
    char id[37];
    free(create_conv("{\"agent_id\":\"agent-idle\"}", id));
    char path[160], upper[37];
    for (int i = 0; i < 37; i++)
        upper[i] = (char)((id[i] >= 'a' && id[i] <= 'f') ? id[i] - 32 : id[i]);
    snprintf(path, sizeof(path), "/api/v1/conversations/%s", upper);
    r = abe_it_get(&D, path);
    assert_error(&r, 404, "Conversation not found");
    abe_it_resp_free(&r);
    /* Bad query and unknown id: the query is validated first. */
    r = abe_it_get(&D, "/api/v1/conversations/nope/messages?limit=0");
    cr_assert_eq(r.status, 422);
    abe_it_resp_free(&r);
}

/* ---- 415 / 422 -------------------------------------------------------------------------------------------
 */

static void expect_create_422(const char *body, const char *detail)
{
    abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/conversations", body);
    assert_422(&r, detail);
    abe_it_resp_free(&r);
}

static char *repeat(const char *unit, size_t n)
{
    size_t ul = strlen(unit);
    char *s = malloc(ul * n + 1);
    cr_assert_not_null(s);
    for (size_t i = 0; i < n; i++)
        memcpy(s + i * ul, unit, ul);
    s[ul * n] = '\0';
    return s;
}

Test(conversations, create_validation_errors)
{
    expect_create_422("{}",
                      "[{\"loc\":[\"body\",\"agent_id\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
    expect_create_422("{\"agent_id\":null}",
                      "[{\"loc\":[\"body\",\"agent_id\"],\"msg\":\"Input should be a valid string\",\"type\":"
                      "\"string_type\"}]");
    expect_create_422("{\"agent_id\":7}",
                      "[{\"loc\":[\"body\",\"agent_id\"],\"msg\":\"Input should be a valid "
                      "string\",\"type\":\"string_type\"}]");
    expect_create_422("{\"agent_id\":\"\"}",
                      "[{\"loc\":[\"body\",\"agent_id\"],\"msg\":\"String should have at "
                      "least 1 character\",\"type\":\"string_too_short\"}]");
    expect_create_422("{\"agent_id\":\"a\\u0000b\"}",
                      "[{\"loc\":[\"body\",\"agent_id\"],\"msg\":\"Value error, NUL characters are not "
                      "allowed\",\"type\":\"value_error\"}]");
    expect_create_422("{\"agent_id\":\"a\",\"context\":\"x\"}",
                      "[{\"loc\":[\"body\",\"context\"],\"msg\":\"Input should be a valid dictionary or "
                      "list\",\"type\":\"dict_type\"}]");
    expect_create_422(
        "{\"agent_id\":\"a\",\"context\":{\"k\":[1,\"a\\u0000\"]}}",
        "[{\"loc\":[\"body\",\"context\",\"k\",1],\"msg\":\"Value error, NUL characters are not "
        "allowed\",\"type\":\"value_error\"}]");
    /* Every issue, in schema order. */
    expect_create_422(
        "{\"context\":5,\"user_message\":[],\"system_message\":true,\"description\":{},\"name\":1}",
        "[{\"loc\":[\"body\",\"agent_id\"],\"msg\":\"Field required\",\"type\":\"missing\"},"
        "{\"loc\":[\"body\",\"name\"],\"msg\":\"Input should be a valid string\",\"type\":\"string_type\"},"
        "{\"loc\":[\"body\",\"description\"],\"msg\":\"Input should be a valid string\",\"type\":"
        "\"string_type\"},"
        "{\"loc\":[\"body\",\"system_message\"],\"msg\":\"Input should be a valid string\",\"type\":"
        "\"string_type\"},"
        "{\"loc\":[\"body\",\"user_message\"],\"msg\":\"Input should be a valid string\",\"type\":"
        "\"string_type\"},"
        "{\"loc\":[\"body\",\"context\"],\"msg\":\"Input should be a valid dictionary or list\","
        "\"type\":\"dict_type\"}]");

    /* Length limits, in code points: at the limit passes, one more fails. */
    struct {
        const char *field;
        size_t max;
    } lim[] = {{"agent_id", 100},
               {"name", 200},
               {"description", 2000},
               {"system_message", 10000},
               {"user_message", 65536}};
    for (size_t i = 0; i < sizeof(lim) / sizeof(lim[0]); i++) {
        for (int over = 0; over <= 1; over++) {
            char *val = repeat("é", lim[i].max + (size_t)over);
            char *body;
            if (strcmp(lim[i].field, "agent_id") == 0)
                cr_assert(asprintf(&body, "{\"agent_id\":\"%s\"}", val) > 0);
            else
                cr_assert(asprintf(&body, "{\"agent_id\":\"agent-idle\",\"%s\":\"%s\"}", lim[i].field, val) >
                          0);
            abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/conversations", body);
            if (!over) {
                cr_assert_eq(r.status, 200, "%s at its limit -> %ld %s", lim[i].field, r.status, r.body);
            } else {
                char *want;
                cr_assert(asprintf(&want,
                                   "[{\"loc\":[\"body\",\"%s\"],\"msg\":\"String should have at most %zu "
                                   "characters\",\"type\":\"string_too_long\"}]",
                                   lim[i].field, lim[i].max) > 0);
                assert_422(&r, want);
                free(want);
            }
            abe_it_resp_free(&r);
            free(body);
            free(val);
        }
    }
    /* Nothing was stored by the failures above (five successes only). */
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/conversations");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "total")), 5);
    abe_it_resp_free(&r);
}

Test(conversations, body_errors)
{
    static const char *const paths[] = {"/api/v1/conversations", NULL};
    char msg_path[160];
    char id[37];
    free(create_conv("{\"agent_id\":\"agent-idle\"}", id));
    snprintf(msg_path, sizeof(msg_path), "/api/v1/conversations/%s/messages", id);
    const char *targets[] = {paths[0], msg_path};
    for (int t = 0; t < 2; t++) {
        abe_it_resp_t r;
        /* Wrong media type -> 415, before validation. */
        cr_assert_eq(abe_it_request(&D, "POST", targets[t], "text/plain", "{}", 2, NULL, &r), 0);
        assert_error(&r, 415, "Content-Type must be application/json");
        abe_it_resp_free(&r);
        /* Empty and whitespace-only bodies. */
        cr_assert_eq(abe_it_request(&D, "POST", targets[t], "application/json", "", 0, NULL, &r), 0);
        assert_422(&r, "[{\"loc\":[\"body\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
        abe_it_resp_free(&r);
        cr_assert_eq(abe_it_request(&D, "POST", targets[t], "application/json", " \n\t ", 4, NULL, &r), 0);
        assert_422(&r, "[{\"loc\":[\"body\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
        abe_it_resp_free(&r);
        /* Invalid JSON. */
        r = abe_it_post_json(&D, targets[t], "{\"agent_id\":");
        cr_assert_eq(r.status, 422, "%s", r.body);
        json_t *issue = json_array_get(json_object_get(r.json, "detail"), 0);
        cr_assert_str_eq(sget(issue, "type"), "json_invalid");
        cr_assert_str_eq(sget(issue, "msg"), "JSON decode error");
        cr_assert_str_eq(json_string_value(json_array_get(json_object_get(issue, "loc"), 0)), "body");
        cr_assert(json_is_integer(json_array_get(json_object_get(issue, "loc"), 1)));
        abe_it_resp_free(&r);
        r = abe_it_post_json(&D, targets[t], "{\"content\":\"a\",\"content\":\"b\",\"agent_id\":\"x\"}");
        cr_assert_eq(r.status, 422, "repeated key -> json_invalid: %s", r.body);
        abe_it_resp_free(&r);
        /* Not an object. */
        r = abe_it_post_json(&D, targets[t], "[\"agent_id\"]");
        assert_422(
            &r,
            "[{\"loc\":[\"body\"],\"msg\":\"Input should be a valid dictionary\",\"type\":\"dict_type\"}]");
        abe_it_resp_free(&r);
        /* Parameters and a charset are fine. */
        const char *ok = t == 0 ? "{\"agent_id\":\"agent-idle\"}" : "{\"content\":\"x\"}";
        cr_assert_eq(abe_it_request(&D, "POST", targets[t], "Application/JSON; charset=\"UTF-8\"", ok,
                                    strlen(ok), NULL, &r),
                     0);
        cr_assert_eq(r.status, 200, "%s", r.body);
        abe_it_resp_free(&r);
    }
}

Test(conversations, message_validation_errors)
{
    char id[37];
    free(create_conv("{\"agent_id\":\"agent-research\"}", id));
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", id);
    struct {
        const char *body, *detail;
    } cases[] = {
        {"{}", "[{\"loc\":[\"body\",\"content\"],\"msg\":\"Field required\",\"type\":\"missing\"}]"},
        {"{\"content\":null}", "[{\"loc\":[\"body\",\"content\"],\"msg\":\"Input should be a valid "
                               "string\",\"type\":\"string_type\"}]"},
        {"{\"content\":\"\"}", "[{\"loc\":[\"body\",\"content\"],\"msg\":\"String should have at least 1 "
                               "character\",\"type\":\"string_too_short\"}]"},
        {"{\"content\":12}", "[{\"loc\":[\"body\",\"content\"],\"msg\":\"Input should be a valid "
                             "string\",\"type\":\"string_type\"}]"},
        {"{\"content\":\"ok\",\"agent_id\":3}", "[{\"loc\":[\"body\",\"agent_id\"],\"msg\":\"Input should be "
                                                "a valid string\",\"type\":\"string_type\"}]"},
        {"{\"agent_id\":[],\"content\":false}", "[{\"loc\":[\"body\",\"content\"],\"msg\":\"Input should be "
                                                "a valid string\",\"type\":\"string_type\"},"
                                                "{\"loc\":[\"body\",\"agent_id\"],\"msg\":\"Input should be "
                                                "a valid string\",\"type\":\"string_type\"}]"},
        {"{\"content\":\"x\\u0000\"}",
         "[{\"loc\":[\"body\",\"content\"],\"msg\":\"Value error, NUL characters are "
         "not allowed\",\"type\":\"value_error\"}]"},
    };
    for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
        abe_it_resp_t r = abe_it_post_json(&D, path, cases[i].body);
        assert_422(&r, cases[i].detail);
        abe_it_resp_free(&r);
    }
    /* agent_id null is absent; nothing above was stored. */
    free(post_msg(id, "{\"content\":\"fine\",\"agent_id\":null}", NULL));
    json_t *c = get_conv(id);
    cr_assert_eq(json_array_size(json_object_get(c, "messages")), 3);
    json_decref(c);
}

Test(conversations, query_validation_errors)
{
    char id[37];
    free(create_conv("{\"agent_id\":\"agent-research\"}", id));
    char msgs[160];
    snprintf(msgs, sizeof(msgs), "/api/v1/conversations/%s/messages", id);
    const char *bases[] = {"/api/v1/conversations", msgs};
    static const char INT_PARSING[] = "Input should be a valid integer, unable to parse string as an integer";
    struct {
        const char *q, *detail;
    } cases[] = {
        {"limit=abc", "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"%s\",\"type\":\"int_parsing\"}]"},
        {"limit=", "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"%s\",\"type\":\"int_parsing\"}]"},
        {"limit=0", "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"Input should be greater than or equal to "
                    "1\",\"type\":\"greater_than_equal\"}]"},
        {"limit=501", "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"Input should be less than or equal to "
                      "500\",\"type\":\"less_than_equal\"}]"},
        {"offset=-1", "[{\"loc\":[\"query\",\"offset\"],\"msg\":\"Input should be greater than or equal to "
                      "0\",\"type\":\"greater_than_equal\"}]"},
        {"offset=1.5", "[{\"loc\":[\"query\",\"offset\"],\"msg\":\"%s\",\"type\":\"int_parsing\"}]"},
        {"limit=x&offset=y", "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"%s\",\"type\":\"int_parsing\"},"
                             "{\"loc\":[\"query\",\"offset\"],\"msg\":\"%s\",\"type\":\"int_parsing\"}]"},
    };
    for (int b = 0; b < 2; b++) {
        for (size_t i = 0; i < sizeof(cases) / sizeof(cases[0]); i++) {
            char path[256], detail[512];
            snprintf(path, sizeof(path), "%s?%s", bases[b], cases[i].q);
            snprintf(detail, sizeof(detail), cases[i].detail, INT_PARSING, INT_PARSING);
            abe_it_resp_t r = abe_it_get(&D, path);
            assert_422(&r, detail);
            abe_it_resp_free(&r);
        }
        /* The bounds themselves pass, and a percent-encoded value is decoded first. */
        static const char *const good[] = {"limit=1", "limit=500", "offset=0", "limit=%35", "limit=+5"};
        for (size_t i = 0; i < sizeof(good) / sizeof(good[0]); i++) {
            char path[256];
            snprintf(path, sizeof(path), "%s?%s", bases[b], good[i]);
            abe_it_resp_t r = abe_it_get(&D, path);
            if (strcmp(good[i], "limit=+5") == 0) {
                /* '+' decodes to a space, which is not an integer. */
                cr_assert_eq(r.status, 422, "%s", path);
            } else {
                cr_assert_eq(r.status, 200, "%s -> %ld %s", path, r.status, r.body);
            }
            abe_it_resp_free(&r);
        }
    }
}

/* ---- large messages --------------------------------------------------------------------------------------
 */

/* A 65536-code-point text with quotes, backslashes, newlines, non-BMP emoji and CJK. */
static char *big_text(size_t cps)
{
    static const char *const units[] = {"a", "\"", "\\", "\n", "😀", "é", "漢", "\t", "/", "'"};
    size_t n = sizeof(units) / sizeof(units[0]);
    char *s = malloc(cps * 4 + 1), *p = s;
    cr_assert_not_null(s);
    for (size_t i = 0; i < cps; i++) {
        size_t l = strlen(units[i % n]);
        memcpy(p, units[i % n], l);
        p += l;
    }
    *p = '\0';
    return s;
}

Test(conversations, message_of_64k_code_points_round_trips)
{
    char id[37];
    free(create_conv("{\"agent_id\":\"agent-idle\"}", id));
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", id);

    char *text = big_text(65536);
    /* Sent raw UTF-8, and again with every non-ASCII character escaped (emoji as a surrogate pair). */
    for (int esc = 0; esc <= 1; esc++) {
        char *lit = jstr(text, esc ? JSON_ENSURE_ASCII : 0);
        char *body;
        cr_assert(asprintf(&body, "{\"content\":%s}", lit) > 0);
        abe_it_resp_t r = abe_it_post_json(&D, path, body);
        cr_assert_eq(r.status, 200, "65536 code points (escaped=%d) -> %ld", esc, r.status);
        char *want;
        cr_assert(asprintf(&want, "Ready to work on: '%s'.", text) > 0);
        cr_assert(streq(sget(r.json, "response"), want), "reply quotes the text verbatim");
        free(want);
        abe_it_resp_free(&r);
        free(body);
        free(lit);
    }
    json_t *c = get_conv(id);
    json_t *m = json_object_get(c, "messages");
    cr_assert_eq(json_array_size(m), 5);
    cr_assert(streq(sget(json_array_get(m, 1), "content"), text), "stored verbatim (raw)");
    cr_assert(streq(sget(json_array_get(m, 3), "content"), text), "stored verbatim (escaped)");
    json_decref(c);

    /* One more code point (an emoji) is too long, however it is encoded. */
    char *over = malloc(strlen(text) + 5);
    strcpy(over, text);
    strcat(over, "😀");
    for (int esc = 0; esc <= 1; esc++) {
        char *lit = jstr(over, esc ? JSON_ENSURE_ASCII : 0);
        char *body;
        cr_assert(asprintf(&body, "{\"content\":%s}", lit) > 0);
        abe_it_resp_t r = abe_it_post_json(&D, path, body);
        assert_422(&r, "[{\"loc\":[\"body\",\"content\"],\"msg\":\"String should have at most 65536 "
                       "characters\",\"type\":\"string_too_long\"}]");
        abe_it_resp_free(&r);
        free(body);
        free(lit);
    }
    /* The same limit for user_message on create. */
    char *lit = jstr(text, JSON_ENSURE_ASCII);
    char *body;
    cr_assert(asprintf(&body, "{\"agent_id\":\"agent-research\",\"user_message\":%s}", lit) > 0);
    char cid[37];
    char *resp = create_conv(body, cid);
    char *want = research_reply(text);
    cr_assert(streq(resp, want));
    c = get_conv(cid);
    cr_assert(streq(sget(json_array_get(json_object_get(c, "messages"), 0), "content"), text));
    json_decref(c);
    free(want);
    free(resp);
    free(body);
    free(lit);
    free(over);
    free(text);
}

/* ---- consistency across workers --------------------------------------------------------------------------
 */

Test(conversations, writes_are_visible_at_once_on_fresh_connections)
{
    static const char *const close_hdr[] = {"Connection: close", NULL};
    for (int i = 0; i < 30; i++) {
        char id[37];
        free(create_conv(LOAD_BODY, id));
        char path[160];
        snprintf(path, sizeof(path), "/api/v1/conversations/%s", id);
        for (int k = 0; k < 2; k++) {
            abe_it_resp_t r;
            cr_assert_eq(abe_it_request(&D, "GET", path, NULL, NULL, 0, close_hdr, &r), 0);
            cr_assert_eq(r.status, 200, "read %d/%d right after the create's 200 -> %ld", i, k, r.status);
            cr_assert_eq(json_array_size(json_object_get(r.json, "messages")), 2);
            abe_it_resp_free(&r);
        }
        char mid[37];
        free(post_msg(id, "{\"content\":\"Follow-up message 1\"}", mid));
        snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", id);
        for (int k = 0; k < 2; k++) {
            abe_it_resp_t r;
            cr_assert_eq(abe_it_request(&D, "GET", path, NULL, NULL, 0, close_hdr, &r), 0);
            cr_assert_eq(r.status, 200);
            json_t *msgs = json_object_get(r.json, "messages");
            cr_assert_eq(json_array_size(msgs), 4, "append visible at once (%d/%d)", i, k);
            cr_assert_str_eq(sget(json_array_get(msgs, 3), "id"), mid);
            abe_it_resp_free(&r);
        }
    }
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/conversations?limit=1");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "total")), 30);
    abe_it_resp_free(&r);
}

/* Run fn(k, fd) in nproc child processes; each writes lines to fd and exits 0 on success. Returns what all
 * children wrote (malloc'd) after asserting every child succeeded. */
static char *run_children(int nproc, int (*fn)(int k, FILE *out, void *arg), void *arg)
{
    int fds[2];
    cr_assert_eq(pipe(fds), 0);
    pid_t pids[64];
    cr_assert(nproc <= 64);
    fflush(NULL);
    for (int k = 0; k < nproc; k++) {
        pids[k] = fork();
        cr_assert_neq(pids[k], -1);
        if (pids[k] == 0) {
            close(fds[0]);
            FILE *out = fdopen(fds[1], "w");
            int rc = fn(k, out, arg);
            fclose(out);
            _exit(rc);
        }
    }
    close(fds[1]);
    size_t cap = 4096, len = 0;
    char *buf = malloc(cap);
    ssize_t n;
    for (;;) {
        if (len + 1024 > cap) buf = realloc(buf, cap *= 2);
        n = read(fds[0], buf + len, cap - len - 1);
        if (n < 0 && errno == EINTR) continue;
        if (n <= 0) break;
        len += (size_t)n;
    }
    buf[len] = '\0';
    close(fds[0]);
    for (int k = 0; k < nproc; k++) {
        int st = 0;
        cr_assert_eq(waitpid(pids[k], &st, 0), pids[k]);
        cr_assert(WIFEXITED(st) && WEXITSTATUS(st) == 0, "client %d failed; output:\n%s", k, buf);
    }
    return buf;
}

#define LOAD_CLIENTS 8
#define LOAD_ROUNDS 4

/* One load client: LOAD_ROUNDS × (create + 3 follow-ups), printing each conversation id. */
static int load_client(int k, FILE *out, void *arg)
{
    (void)arg;
    for (int round = 0; round < LOAD_ROUNDS; round++) {
        abe_it_resp_t r = abe_it_post_json(&D, "/api/v1/conversations", LOAD_BODY);
        if (r.status != 200 || !sget(r.json, "id")) {
            fprintf(out, "FAIL client %d create -> %ld %s\n", k, r.status, r.body ? r.body : "");
            return 1;
        }
        char id[37];
        snprintf(id, sizeof(id), "%s", sget(r.json, "id"));
        abe_it_resp_free(&r);
        for (int i = 1; i <= 3; i++) {
            char path[160], body[64];
            snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", id);
            snprintf(body, sizeof(body), "{\"content\":\"Follow-up message %d\"}", i);
            r = abe_it_post_json(&D, path, body);
            if (r.status != 200) {
                fprintf(out, "FAIL client %d message %d -> %ld %s\n", k, i, r.status, r.body ? r.body : "");
                return 1;
            }
            abe_it_resp_free(&r);
        }
        fprintf(out, "%s\n", id);
    }
    return 0;
}

Test(conversations, load_scenario_from_concurrent_clients)
{
    char *ids = run_children(LOAD_CLIENTS, load_client, NULL);
    int count = 0;
    for (char *save = NULL, *line = strtok_r(ids, "\n", &save); line; line = strtok_r(NULL, "\n", &save)) {
        cr_assert(is_uuid4(line), "unexpected client output: %s", line);
        count++;
        json_t *c = get_conv(line);
        json_t *msgs = json_object_get(c, "messages");
        cr_assert_eq(json_array_size(msgs), 8, "conversation %s has %zu messages", line,
                     json_array_size(msgs));
        for (size_t i = 0; i < 8; i++) {
            json_t *m = json_array_get(msgs, i);
            char text[80];
            if (i < 2)
                snprintf(text, sizeof(text), "%s", LOAD_MSG);
            else
                snprintf(text, sizeof(text), "Follow-up message %zu", i / 2);
            cr_assert_str_eq(sget(m, "role"), i % 2 ? "agent" : "user");
            if (i % 2) {
                char *want = research_reply(text);
                cr_assert_str_eq(sget(m, "content"), want);
                free(want);
            } else {
                cr_assert_str_eq(sget(m, "content"), text);
            }
        }
        assert_conversation_consistent(c);
        json_decref(c);
    }
    free(ids);
    cr_assert_eq(count, LOAD_CLIENTS * LOAD_ROUNDS);
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/conversations?limit=500");
    cr_assert_eq(json_integer_value(json_object_get(r.json, "total")), LOAD_CLIENTS * LOAD_ROUNDS);
    json_t *s;
    size_t i;
    json_array_foreach(json_object_get(r.json, "conversations"), i, s)
        cr_assert_eq(json_integer_value(json_object_get(s, "message_count")), 8);
    abe_it_resp_free(&r);
}

#define APPEND_CLIENTS 6
#define APPEND_EACH 6

static int append_client(int k, FILE *out, void *arg)
{
    const char *id = arg;
    char path[160];
    snprintf(path, sizeof(path), "/api/v1/conversations/%s/messages", id);
    for (int i = 0; i < APPEND_EACH; i++) {
        char body[64];
        snprintf(body, sizeof(body), "{\"content\":\"c%d-%d\"}", k, i);
        abe_it_resp_t r = abe_it_post_json(&D, path, body);
        if (r.status != 200) {
            fprintf(out, "FAIL client %d message %d -> %ld\n", k, i, r.status);
            abe_it_resp_free(&r);
            return 1;
        }
        abe_it_resp_free(&r);
    }
    return 0;
}

Test(conversations, concurrent_appends_never_interleave_pairs)
{
    char id[37];
    free(create_conv("{\"agent_id\":\"agent-idle\",\"user_message\":\"start\"}", id));
    free(run_children(APPEND_CLIENTS, append_client, id));
    json_t *c = get_conv(id);
    json_t *msgs = json_object_get(c, "messages");
    cr_assert_eq(json_array_size(msgs), 2 + 2 * APPEND_CLIENTS * APPEND_EACH);
    int next[APPEND_CLIENTS] = {0};
    for (size_t i = 2; i < json_array_size(msgs); i += 2) {
        json_t *u = json_array_get(msgs, i), *a = json_array_get(msgs, i + 1);
        cr_assert_str_eq(sget(u, "role"), "user");
        cr_assert_str_eq(sget(a, "role"), "agent");
        int k = -1, n = -1;
        cr_assert_eq(sscanf(sget(u, "content"), "c%d-%d", &k, &n), 2);
        cr_assert(k >= 0 && k < APPEND_CLIENTS);
        cr_assert_eq(n, next[k], "client %d's messages out of order", k);
        next[k]++;
        char want[64];
        snprintf(want, sizeof(want), "Ready to work on: '%s'.", sget(u, "content"));
        cr_assert_str_eq(sget(a, "content"), want, "pair %zu interleaved", i / 2);
    }
    assert_conversation_consistent(c);
    json_decref(c);
}

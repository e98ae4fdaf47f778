/*
 * test_agents.c — integration tests for the agent routes (SPEC §3.3) over HTTP against the real daemon
 * (tests/integration/abe_it.h).
 *
 * Three daemons: one with the shipped conf/agents.yaml (the harness default), one with a test-owned
 * registry that exercises defaults, duplicates, skipped entries and bytewise category order, and one whose
 * AGENTS_CONFIG_DIR holds no agents.yaml (empty registry). Checked: response shapes and field order,
 * total/categories, GET by id for every listed agent, 404s, percent-decoded ids, HEAD.
 */
#include <criterion/criterion.h>
#include <errno.h>
#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "abe_it.h"

static abe_it_daemon_t D;
static char agents_dir[256];
static char agents_env[300];

static const char *const LIST_KEYS[] = {"agents", "total", "categories", "system_status", "timestamp", NULL};
static const char *const AGENT_KEYS[] = {"id",           "name",   "category", "description",
                                         "capabilities", "status", "version",  NULL};

/* Start a daemon whose AGENTS_CONFIG_DIR is a fresh directory holding yaml (or no agents.yaml if NULL). */
static void start_with_registry(const char *yaml)
{
    cr_assert_eq(abe_it_agents_dir(yaml, agents_dir, sizeof(agents_dir)), 0, "agents dir: %s",
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

static void start_shipped(void)
{
    agents_dir[0] = '\0';
    cr_assert_eq(abe_it_start(&D, NULL), 0, "daemon did not start");
}

static const char CUSTOM_YAML[] = "agents:\n"
                                  "  - id: b-full\n"
                                  "    name: Full Agent\n"
                                  "    category: zeta\n"
                                  "    description: Does everything.\n"
                                  "    capabilities: [Coding, weird]\n"
                                  "    status: busy\n"
                                  "    version: 1.2.3\n"
                                  "  - id: a-min\n"
                                  "  - name: entry without an id is skipped\n"
                                  "    category: skipped\n"
                                  "  - id: b-full\n"
                                  "    name: Duplicate loses\n"
                                  "    category: dup\n"
                                  "  - id: c-upper\n"
                                  "    category: Zeta\n"
                                  "    capabilities: [data]\n";

static void start_custom(void)
{
    start_with_registry(CUSTOM_YAML);
}

static void start_empty(void)
{
    start_with_registry(NULL);
}

TestSuite(agents_shipped, .init = start_shipped, .fini = stop_daemon, .timeout = 120);
TestSuite(agents_custom, .init = start_custom, .fini = stop_daemon, .timeout = 120);
TestSuite(agents_empty, .init = start_empty, .fini = stop_daemon, .timeout = 120);

/* ---- helpers ------------------------------------------------------------------------------------------ */

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

static const char *sget(json_t *obj, const char *key)
{
    return json_string_value(json_object_get(obj, key));
}

static void assert_error(abe_it_resp_t *r, long status, const char *detail)
{
    cr_assert_eq(r->status, status, "status %ld, expected %ld; body %s", r->status, status, r->body);
    cr_assert_not_null(r->json, "error body is not JSON: %s", r->body);
    cr_assert_str_eq(sget(r->json, "detail"), detail);
    char cid[256];
    cr_assert_not_null(abe_it_header(r, "x-correlation-id", cid, sizeof(cid)));
    cr_assert_str_eq(sget(r->json, "correlation_id"), cid);
}

static int is_ts(const char *s)
{
    static const char pat[] = "dddd-dd-ddTdd:dd:dd.ddddddZ";
    if (!s || strlen(s) != sizeof(pat) - 1) return 0;
    for (size_t i = 0; pat[i]; i++) {
        if (pat[i] == 'd' ? (s[i] < '0' || s[i] > '9') : s[i] != pat[i]) return 0;
    }
    return 1;
}

static int cmp_str(const void *a, const void *b)
{
    return strcmp(*(const char *const *)a, *(const char *const *)b);
}

/* GET /api/v1/agents with the generic shape checks; returns the parsed body (caller decrefs). */
static json_t *get_list(void)
{
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/agents");
    cr_assert_eq(r.status, 200, "%s", r.body);
    char ct[128];
    cr_assert_not_null(abe_it_header(&r, "content-type", ct, sizeof(ct)));
    cr_assert(strncmp(ct, "application/json", 16) == 0, "content-type %s", ct);
    assert_keys(r.json, LIST_KEYS, "AgentList");
    json_t *agents = json_object_get(r.json, "agents");
    cr_assert(json_is_array(agents));
    cr_assert_eq(json_integer_value(json_object_get(r.json, "total")), (json_int_t)json_array_size(agents));
    cr_assert_str_eq(sget(r.json, "system_status"), "operational");
    cr_assert(is_ts(sget(r.json, "timestamp")), "timestamp %s", sget(r.json, "timestamp"));

    /* Categories: the distinct categories of the listed agents, sorted bytewise. */
    size_t n = json_array_size(agents);
    const char **cats = calloc(n + 1, sizeof(*cats));
    size_t nc = 0;
    json_t *a;
    size_t i;
    json_array_foreach(agents, i, a)
    {
        assert_keys(a, AGENT_KEYS, "Agent");
        cr_assert(json_is_array(json_object_get(a, "capabilities")));
        cats[nc++] = sget(a, "category");
    }
    qsort(cats, nc, sizeof(*cats), cmp_str);
    size_t nd = 0;
    for (size_t k = 0; k < nc; k++)
        if (nd == 0 || strcmp(cats[nd - 1], cats[k]) != 0) cats[nd++] = cats[k];
    json_t *got = json_object_get(r.json, "categories");
    cr_assert_eq(json_array_size(got), nd, "categories %s", r.body);
    for (size_t k = 0; k < nd; k++)
        cr_assert_str_eq(json_string_value(json_array_get(got, k)), cats[k]);
    free(cats);
    json_t *out = json_incref(r.json);
    abe_it_resp_free(&r);
    return out;
}

/* ---- shipped registry ------------------------------------------------------------------------------------
 */

Test(agents_shipped, list_has_the_shipped_agents)
{
    json_t *list = get_list();
    json_t *agents = json_object_get(list, "agents");
    cr_assert_geq(json_array_size(agents), 10, "the shipped file has about 20 agents");
    json_t *want =
        json_loads("{\"id\":\"agent-research\",\"name\":\"Research Analyst\",\"category\":\"research\","
                   "\"description\":\"Finds and summarises sources.\",\"capabilities\":[\"research\","
                   "\"summarization\"],\"status\":\"available\",\"version\":\"2.0.0\"}",
                   0, NULL);
    int found = 0;
    json_t *a;
    size_t i;
    json_array_foreach(agents, i, a)
    {
        if (strcmp(sget(a, "id"), "agent-research") == 0) {
            cr_assert(json_equal(a, want), "agent-research differs from SPEC §3.1");
            found++;
        }
    }
    cr_assert_eq(found, 1);
    json_decref(want);
    json_decref(list);
}

Test(agents_shipped, get_returns_each_listed_agent)
{
    json_t *list = get_list();
    json_t *a;
    size_t i;
    json_array_foreach(json_object_get(list, "agents"), i, a)
    {
        char path[300];
        snprintf(path, sizeof(path), "/api/v1/agents/%s", sget(a, "id"));
        abe_it_resp_t r = abe_it_get(&D, path);
        cr_assert_eq(r.status, 200, "%s -> %ld", path, r.status);
        assert_keys(r.json, AGENT_KEYS, "Agent");
        cr_assert(json_equal(r.json, a), "%s differs from its list entry", path);
        abe_it_resp_free(&r);
    }
    json_decref(list);
}

Test(agents_shipped, unknown_agents_are_404)
{
    static const char *const missing[] = {"/api/v1/agents/agent-nope", "/api/v1/agents/Agent-Research",
                                          "/api/v1/agents/agent-research%00",
                                          "/api/v1/agents/agent-research%20"};
    for (size_t i = 0; i < sizeof(missing) / sizeof(missing[0]); i++) {
        abe_it_resp_t r = abe_it_get(&D, missing[i]);
        assert_error(&r, 404, "Agent not found");
        abe_it_resp_free(&r);
    }
    /* A trailing slash is no route at all. */
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/agents/");
    assert_error(&r, 404, "Not Found");
    abe_it_resp_free(&r);
    /* The id segment is percent-decoded after matching. */
    r = abe_it_get(&D, "/api/v1/agents/agent%2Dresearch");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(sget(r.json, "id"), "agent-research");
    abe_it_resp_free(&r);
}

Test(agents_shipped, head_has_no_body)
{
    abe_it_resp_t r;
    cr_assert_eq(abe_it_request(&D, "HEAD", "/api/v1/agents", NULL, NULL, 0, NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, 0);
    abe_it_resp_free(&r);
    cr_assert_eq(abe_it_request(&D, "HEAD", "/api/v1/agents/agent-research", NULL, NULL, 0, NULL, &r), 0);
    cr_assert_eq(r.status, 200);
    cr_assert_eq(r.len, 0);
    abe_it_resp_free(&r);
    cr_assert_eq(abe_it_request(&D, "HEAD", "/api/v1/agents/agent-nope", NULL, NULL, 0, NULL, &r), 0);
    cr_assert_eq(r.status, 404);
    cr_assert_eq(r.len, 0);
    abe_it_resp_free(&r);
}

/* ---- custom registry -------------------------------------------------------------------------------------
 */

Test(agents_custom, defaults_duplicates_and_order)
{
    json_t *list = get_list();
    json_t *want =
        json_loads("[{\"id\":\"b-full\",\"name\":\"Full Agent\",\"category\":\"zeta\",\"description\":\"Does "
                   "everything.\","
                   "\"capabilities\":[\"Coding\",\"weird\"],\"status\":\"busy\",\"version\":\"1.2.3\"},"
                   "{\"id\":\"a-min\",\"name\":\"a-min\",\"category\":\"general\",\"description\":\"\","
                   "\"capabilities\":[],"
                   "\"status\":\"available\",\"version\":\"2.0.0\"},"
                   "{\"id\":\"c-upper\",\"name\":\"c-upper\",\"category\":\"Zeta\",\"description\":\"\","
                   "\"capabilities\":"
                   "[\"data\"],\"status\":\"available\",\"version\":\"2.0.0\"}]",
                   0, NULL);
    cr_assert_not_null(want);
    cr_assert(json_equal(json_object_get(list, "agents"), want), "agents in file order with defaults");
    cr_assert_eq(json_integer_value(json_object_get(list, "total")), 3);
    json_t *cats = json_loads("[\"Zeta\",\"general\",\"zeta\"]", 0, NULL);
    cr_assert(json_equal(json_object_get(list, "categories"), cats), "categories sorted bytewise");
    json_decref(cats);
    json_decref(want);
    json_decref(list);

    abe_it_resp_t r = abe_it_get(&D, "/api/v1/agents/b-full");
    cr_assert_eq(r.status, 200);
    cr_assert_str_eq(sget(r.json, "name"), "Full Agent", "the first of two duplicate ids wins");
    abe_it_resp_free(&r);
}

Test(agents_custom, replies_use_the_loaded_registry)
{
    abe_it_resp_t r =
        abe_it_post_json(&D, "/api/v1/conversations", "{\"agent_id\":\"b-full\",\"user_message\":\"x\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(
        sget(r.json, "response"),
        "I will design and write code for 'x'. Using my weird capability, I will help with 'x'.");
    abe_it_resp_free(&r);
    r = abe_it_post_json(&D, "/api/v1/conversations", "{\"agent_id\":\"a-min\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(sget(r.json, "response"), "Hello, I am a-min. How can I help?");
    abe_it_resp_free(&r);
    /* agent-research is not in this registry: generic reply. */
    r = abe_it_post_json(&D, "/api/v1/conversations",
                         "{\"agent_id\":\"agent-research\",\"user_message\":\"y\"}");
    cr_assert_eq(r.status, 200, "%s", r.body);
    cr_assert_str_eq(sget(r.json, "response"), "Request received: 'y'.");
    abe_it_resp_free(&r);
}

/* ---- no agents.yaml --------------------------------------------------------------------------------------
 */

Test(agents_empty, missing_file_is_an_empty_registry)
{
    json_t *list = get_list();
    cr_assert_eq(json_array_size(json_object_get(list, "agents")), 0);
    cr_assert_eq(json_integer_value(json_object_get(list, "total")), 0);
    cr_assert_eq(json_array_size(json_object_get(list, "categories")), 0);
    json_decref(list);
    abe_it_resp_t r = abe_it_get(&D, "/api/v1/agents/agent-research");
    assert_error(&r, 404, "Agent not found");
    abe_it_resp_free(&r);
}

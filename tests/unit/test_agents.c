/*
 * test_agents.c — unit tests for the agent registry loader (common/abe_agents.c, SPEC §3.3 and the §3.1
 * Agent object). Fixtures live in tests/unit/fixtures/agents/<case>/agents.yaml; small variants are written
 * to a fresh temporary directory per test. Warnings are checked by pointing the logger at a temporary file.
 */
#include <criterion/criterion.h>

#include <jansson.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/stat.h>
#include <unistd.h>

#include "abe_agents.h"
#include "abe_log.h"

#define FIX ABE_SOURCE_DIR "/tests/unit/fixtures/agents/"

static char tmpdir[256];
static char logpath[300];

static void setup_tmp(void)
{
    snprintf(tmpdir, sizeof(tmpdir), "/tmp/abe_agents_test_XXXXXX");
    cr_assert_not_null(mkdtemp(tmpdir));
    snprintf(logpath, sizeof(logpath), "%s/log.txt", tmpdir);
    cr_assert_eq(abe_log_init(ABE_LOG_WARNING, 0, logpath, "test"), 0);
}

static void teardown_tmp(void)
{
    char cmd[300];
    snprintf(cmd, sizeof(cmd), "rm -rf '%s'", tmpdir);
    if (system(cmd) != 0) fprintf(stderr, "cannot remove %s\n", tmpdir);
}

/* Write <tmpdir>/agents.yaml with the given bytes. */
static void write_yaml(const char *text, size_t len)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/agents.yaml", tmpdir);
    FILE *f = fopen(path, "wb");
    cr_assert_not_null(f);
    cr_assert_eq(fwrite(text, 1, len, f), len);
    fclose(f);
}

/* Whole log file as a malloc'd string. */
static char *read_log(void)
{
    FILE *f = fopen(logpath, "rb");
    cr_assert_not_null(f);
    static char buf[65536];
    size_t n = fread(buf, 1, sizeof(buf) - 1, f);
    fclose(f);
    buf[n] = '\0';
    return strdup(buf);
}

static size_t count_occurrences(const char *hay, const char *needle)
{
    size_t c = 0;
    for (const char *p = strstr(hay, needle); p; p = strstr(p + 1, needle))
        c++;
    return c;
}

static char *dump(const json_t *j)
{
    return json_dumps(j, JSON_COMPACT);
}

TestSuite(agents, .init = setup_tmp, .fini = teardown_tmp);

Test(agents, good_file_loads_every_field_in_order)
{
    abe_agent_registry_t *reg = NULL;
    char err[256] = "x";
    cr_assert_eq(abe_agents_load(FIX "good", &reg, err, sizeof(err)), 0, "%s", err);
    cr_assert_str_empty(err);
    cr_assert_not_null(reg);
    cr_assert_eq(reg->n, 4);
    const char *ids[] = {"agent-research", "agent-ops", "agent-zeta", "agent-coder"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq(reg->agents[i].id, ids[i]);

    const abe_agent_t *ops = &reg->agents[1];
    cr_assert_str_eq(ops->name, "Ops \"Bot\" \xE2\x9C\x93");
    cr_assert_str_eq(ops->category, "operations");
    cr_assert_str_eq(ops->description, "Keeps things running.\n");
    cr_assert_eq(ops->ncap, 2);
    cr_assert_str_eq(ops->capabilities[0], "ops");
    cr_assert_str_eq(ops->capabilities[1], "monitoring");
    cr_assert_str_eq(ops->status, "busy");
    cr_assert_str_eq(ops->version, "1.4.2");
    cr_assert_eq(reg->agents[2].ncap, 0);
    cr_assert_str_eq(reg->agents[2].version, ABE_VERSION);

    cr_assert_eq(json_array_size(reg->agents_json), 4);
    char *first = dump(json_array_get(reg->agents_json, 0));
    cr_assert_str_eq(first,
                     "{\"id\":\"agent-research\",\"name\":\"Research Analyst\",\"category\":\"research\","
                     "\"description\":\"Finds and summarises sources.\",\"capabilities\":[\"research\","
                     "\"summarization\"],\"status\":\"available\",\"version\":\"2.0.0\"}");
    free(first);
    char *second = dump(json_array_get(reg->agents_json, 1));
    cr_assert_str_eq(second, "{\"id\":\"agent-ops\",\"name\":\"Ops \\\"Bot\\\" \xE2\x9C\x93\",\"category\":"
                             "\"operations\",\"description\":\"Keeps things running.\\n\",\"capabilities\":"
                             "[\"ops\",\"monitoring\"],\"status\":\"busy\",\"version\":\"1.4.2\"}");
    free(second);
    char *cats = dump(reg->categories_json);
    cr_assert_str_eq(cats, "[\"Zeta\",\"coding\",\"operations\",\"research\"]");
    free(cats);
    abe_agents_free(reg);

    char *log = read_log();
    cr_assert_str_empty(log, "unexpected warnings: %s", log);
    free(log);
}

Test(agents, find_by_exact_id)
{
    abe_agent_registry_t *reg = NULL;
    char err[256];
    cr_assert_eq(abe_agents_load(FIX "good", &reg, err, sizeof(err)), 0, "%s", err);
    const abe_agent_t *a = abe_agents_find(reg, "agent-coder");
    cr_assert_not_null(a);
    cr_assert_str_eq(a->name, "Coder");
    cr_assert_eq(a, &reg->agents[3]);
    cr_assert_null(abe_agents_find(reg, "agent-code"));
    cr_assert_null(abe_agents_find(reg, "AGENT-CODER"));
    cr_assert_null(abe_agents_find(reg, ""));
    cr_assert_null(abe_agents_find(reg, NULL));
    cr_assert_null(abe_agents_find(NULL, "agent-coder"));
    abe_agents_free(reg);
    abe_agents_free(NULL);
}

Test(agents, partial_file_defaults_skips_and_duplicates)
{
    abe_agent_registry_t *reg = NULL;
    char err[256];
    cr_assert_eq(abe_agents_load(FIX "partial", &reg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(reg->n, 4);
    const char *ids[] = {"minimal", "42", "repeated", "quoted"};
    for (size_t i = 0; i < 4; i++)
        cr_assert_str_eq(reg->agents[i].id, ids[i]);

    const abe_agent_t *m = abe_agents_find(reg, "minimal");
    cr_assert_str_eq(m->name, "minimal");
    cr_assert_str_eq(m->category, "general");
    cr_assert_str_eq(m->description, "");
    cr_assert_eq(m->ncap, 0);
    cr_assert_str_eq(m->status, "available");
    cr_assert_str_eq(m->version, ABE_VERSION);

    const abe_agent_t *n42 = abe_agents_find(reg, "42");
    cr_assert_str_eq(n42->version, "3");
    cr_assert_eq(n42->ncap, 0);

    const abe_agent_t *r = abe_agents_find(reg, "repeated");
    cr_assert_str_eq(r->name, "First Name");
    cr_assert_str_eq(r->category, "general");
    cr_assert_str_eq(r->description, "");

    const abe_agent_t *q = abe_agents_find(reg, "quoted");
    cr_assert_str_eq(q->name, "null");
    cr_assert_str_eq(q->status, "offline");

    char *first = dump(json_array_get(reg->agents_json, 0));
    cr_assert_str_eq(first,
                     "{\"id\":\"minimal\",\"name\":\"minimal\",\"category\":\"general\",\"description\":"
                     "\"\",\"capabilities\":[],\"status\":\"available\",\"version\":\"2.0.0\"}");
    free(first);
    char *cats = dump(reg->categories_json);
    cr_assert_str_eq(cats, "[\"general\"]");
    free(cats);
    abe_agents_free(reg);

    char *log = read_log();
    cr_assert_eq(count_occurrences(log, " warning "), 11, "log was:\n%s", log);
    cr_assert_eq(count_occurrences(log, "skipped"), 11, "log was:\n%s", log);
    cr_assert_not_null(strstr(log, "duplicate id 'minimal'"), "log was:\n%s", log);
    cr_assert_not_null(strstr(log, "no id"));
    cr_assert_not_null(strstr(log, "not a mapping"));
    cr_assert_not_null(strstr(log, "id is not a string"));
    cr_assert_not_null(strstr(log, "id is empty"));
    cr_assert_not_null(strstr(log, "name is not a string"));
    cr_assert_not_null(strstr(log, "capabilities is not a list"));
    cr_assert_not_null(strstr(log, "capabilities[1] is not a string"));
    cr_assert_not_null(strstr(log, "description contains U+0000"));
    cr_assert_not_null(strstr(log, "partial/agents.yaml"));
    free(log);
}

Test(agents, missing_file_is_empty_registry_with_warning)
{
    abe_agent_registry_t *reg = NULL;
    char err[256];
    cr_assert_eq(abe_agents_load(FIX "does-not-exist", &reg, err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(reg);
    cr_assert_eq(reg->n, 0);
    char *a = dump(reg->agents_json), *c = dump(reg->categories_json);
    cr_assert_str_eq(a, "[]");
    cr_assert_str_eq(c, "[]");
    free(a);
    free(c);
    cr_assert_null(abe_agents_find(reg, "agent-research"));
    abe_agents_free(reg);
    char *log = read_log();
    cr_assert_not_null(strstr(log, "does-not-exist/agents.yaml: not found"), "log was:\n%s", log);
    free(log);
}

/* Load expecting failure; asserts *out is NULL and err mentions each of the needles. */
static void expect_error(const char *dir, const char *n1, const char *n2)
{
    abe_agent_registry_t *reg = (abe_agent_registry_t *)1;
    char err[512] = "";
    cr_assert_eq(abe_agents_load(dir, &reg, err, sizeof(err)), -1);
    cr_assert_null(reg);
    cr_assert_not_null(strstr(err, "/agents.yaml"), "err: %s", err);
    if (n1) cr_assert_not_null(strstr(err, n1), "err: %s", err);
    if (n2) cr_assert_not_null(strstr(err, n2), "err: %s", err);
}

Test(agents, broken_yaml_names_file_and_line)
{
    expect_error(FIX "broken", "broken/agents.yaml: invalid YAML at line 6", "started at line 5");
}

Test(agents, agents_not_a_list)
{
    expect_error(FIX "notlist", "'agents' (line 3) is not a list", "a mapping");
}

Test(agents, top_level_not_a_mapping)
{
    expect_error(FIX "toplist", "top level must be a mapping", "found a list");
}

Test(agents, empty_file_is_an_error)
{
    write_yaml("", 0);
    expect_error(tmpdir, "top level must be a mapping", "found empty");
}

Test(agents, missing_agents_key_is_an_error)
{
    const char *y = "other: 1\n";
    write_yaml(y, strlen(y));
    expect_error(tmpdir, "no 'agents' list", NULL);
}

Test(agents, null_agents_is_an_error)
{
    const char *y = "agents:\n";
    write_yaml(y, strlen(y));
    expect_error(tmpdir, "is not a list", "found null");
}

Test(agents, scalar_agents_is_an_error)
{
    const char *y = "agents: agent-research\n";
    write_yaml(y, strlen(y));
    expect_error(tmpdir, "is not a list", "found a scalar");
}

Test(agents, invalid_utf8_is_an_error)
{
    const char y[] = "agents:\n  - id: \xff\xfe\n";
    write_yaml(y, sizeof(y) - 1);
    expect_error(tmpdir, "invalid YAML input", NULL);
}

Test(agents, directory_in_place_of_file_is_an_error)
{
    char path[300];
    snprintf(path, sizeof(path), "%s/agents.yaml", tmpdir);
    cr_assert_eq(mkdir(path, 0700), 0);
    expect_error(tmpdir, "read error", NULL);
}

Test(agents, oversized_file_is_an_error)
{
    size_t len = 4u * 1024u * 1024u + 1u;
    char *y = malloc(len);
    cr_assert_not_null(y);
    memset(y, '#', len);
    memcpy(y, "agents: []\n", 11);
    write_yaml(y, len);
    free(y);
    expect_error(tmpdir, "file larger than", NULL);
}

Test(agents, empty_list_and_later_documents_ignored)
{
    const char *y = "agents: []\n---\nagents: [{id: x}]\n";
    write_yaml(y, strlen(y));
    abe_agent_registry_t *reg = NULL;
    char err[256];
    cr_assert_eq(abe_agents_load(tmpdir, &reg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(reg->n, 0);
    cr_assert_eq(json_array_size(reg->agents_json), 0);
    cr_assert_eq(json_array_size(reg->categories_json), 0);
    abe_agents_free(reg);
}

Test(agents, aliases_and_all_skipped)
{
    /* An anchored capability list reused by alias; and a second file where every entry is skipped. */
    const char *y =
        "agents:\n  - id: a\n    capabilities: &caps [data, ops]\n  - id: b\n    capabilities: *caps\n";
    write_yaml(y, strlen(y));
    abe_agent_registry_t *reg = NULL;
    char err[256];
    cr_assert_eq(abe_agents_load(tmpdir, &reg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(reg->n, 2);
    cr_assert_eq(reg->agents[1].ncap, 2);
    cr_assert_str_eq(reg->agents[1].capabilities[1], "ops");
    abe_agents_free(reg);

    const char *z = "agents:\n  - 1\n  - [x]\n  - {name: y}\n";
    write_yaml(z, strlen(z));
    cr_assert_eq(abe_agents_load(tmpdir, &reg, err, sizeof(err)), 0, "%s", err);
    cr_assert_eq(reg->n, 0);
    char *c = dump(reg->categories_json);
    cr_assert_str_eq(c, "[]");
    free(c);
    abe_agents_free(reg);
}

Test(agents, small_error_buffer_truncates_safely)
{
    abe_agent_registry_t *reg = NULL;
    char err[9];
    memset(err, 'z', sizeof(err));
    cr_assert_eq(abe_agents_load(FIX "notlist", &reg, err, sizeof(err)), -1);
    cr_assert_eq(strlen(err), 8);
    cr_assert_eq(abe_agents_load(FIX "notlist", &reg, NULL, 0), -1);
    cr_assert_eq(abe_agents_load(FIX "good", NULL, err, sizeof(err)), -1);
}

Test(agents, shipped_registry)
{
    abe_agent_registry_t *reg = NULL;
    char err[256];
    cr_assert_eq(abe_agents_load(ABE_SOURCE_DIR "/conf", &reg, err, sizeof(err)), 0, "%s", err);
    cr_assert_geq(reg->n, 18);
    cr_assert_leq(reg->n, 22);
    const abe_agent_t *r = abe_agents_find(reg, "agent-research");
    cr_assert_not_null(r);
    char *j = dump(json_array_get(reg->agents_json, (size_t)(r - reg->agents)));
    cr_assert_str_eq(j, "{\"id\":\"agent-research\",\"name\":\"Research Analyst\",\"category\":\"research\","
                        "\"description\":\"Finds and summarises sources.\",\"capabilities\":[\"research\","
                        "\"summarization\"],\"status\":\"available\",\"version\":\"2.0.0\"}");
    free(j);
    for (size_t i = 0; i < reg->n; i++)
        cr_assert_gt(reg->agents[i].ncap, 0, "agent %s has no capabilities", reg->agents[i].id);
    /* categories: distinct, strictly increasing, and covering the main five */
    size_t nc = json_array_size(reg->categories_json);
    for (size_t i = 1; i < nc; i++)
        cr_assert_lt(strcmp(json_string_value(json_array_get(reg->categories_json, i - 1)),
                            json_string_value(json_array_get(reg->categories_json, i))),
                     0);
    const char *want[] = {"research", "coding", "data", "content", "operations"};
    for (size_t w = 0; w < 5; w++) {
        int found = 0;
        for (size_t i = 0; i < nc; i++)
            found |= strcmp(json_string_value(json_array_get(reg->categories_json, i)), want[w]) == 0;
        cr_assert(found, "category %s missing", want[w]);
    }
    abe_agents_free(reg);
    char *log = read_log();
    cr_assert_str_empty(log, "shipped file produced warnings: %s", log);
    free(log);
}

/* The SIGHUP entry point: a broken file keeps the registry in service; a good one replaces it. */
Test(agents, reload_keeps_old_registry_on_error)
{
    char err[512];
    abe_agent_registry_t *reg = NULL;
    cr_assert_eq(abe_agents_load(FIX "good", &reg, err, sizeof(err)), 0, "%s", err);
    abe_agent_registry_t *before = reg;
    size_t n = reg->n;
    cr_assert(n > 0);
    cr_assert_eq(abe_agents_reload(&reg, FIX "broken", err, sizeof(err)), -1);
    cr_assert_eq(reg, before, "a failed reload must not replace the registry");
    cr_assert_eq(reg->n, n);
    cr_assert(strstr(err, "agents.yaml") != NULL, "error names the file: %s", err);
    cr_assert_eq(abe_agents_reload(&reg, FIX "notlist", err, sizeof(err)), -1);
    cr_assert_eq(reg, before);
    cr_assert_eq(abe_agents_reload(&reg, ABE_SOURCE_DIR "/conf", err, sizeof(err)), 0, "%s", err);
    cr_assert_not_null(abe_agents_find(reg, "agent-research"));
    abe_agents_free(reg);
}

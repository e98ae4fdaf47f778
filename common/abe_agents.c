/*
 * abe_agents.c — the agent registry (SPEC §3.3): reads <dir>/agents.yaml with the libyaml document API and
 * builds an immutable registry (agents in file order, the ready-made Agent JSON array of SPEC §3.1 and the
 * sorted distinct category list). The supervisor loads it before fork and on SIGHUP; workers only read it
 * (abe_agents_find from the conversation handlers, agents_json/categories_json from GET /api/v1/agents).
 *
 * Input rules (decisions beyond SPEC §3.3 are marked "policy"):
 *   - the file is read whole, at most ABE_AGENTS_MAX_FILE bytes (policy: larger is a configuration error);
 *   - only the first YAML document is used; the top level must be a mapping with an `agents` sequence
 *     (an absent or null `agents` is "not a list", policy);
 *   - within a mapping the first occurrence of a repeated key wins (policy, mirrors "first id wins");
 *   - a plain scalar `~`, `null`, `Null`, `NULL`, an empty plain scalar, or one tagged !!null is null and
 *     means "absent" (defaults apply; for `id` the entry is skipped);
 *   - every other scalar is taken as its text (policy: `version: 2` is "2"); a string containing U+0000,
 *     an empty id, or a mapping/sequence where a string is expected skips the entry with a warning;
 *   - `capabilities` must be a sequence of non-null scalars, else the entry is skipped with a warning.
 */
#include "abe_agents.h"

#include <errno.h>
#include <stdarg.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <yaml.h>

#include "abe_log.h"

#ifndef ABE_VERSION
#error "ABE_VERSION must be defined by the build"
#endif

/* Largest agents.yaml accepted, in bytes. */
#define ABE_AGENTS_MAX_FILE (4u * 1024u * 1024u)

static void set_err(char *err, size_t errlen, const char *fmt, ...) __attribute__((format(printf, 3, 4)));

static void set_err(char *err, size_t errlen, const char *fmt, ...)
{
    if (!err || errlen == 0) return;
    va_list ap;
    va_start(ap, fmt);
    vsnprintf(err, errlen, fmt, ap);
    va_end(ap);
}

static void free_agent(abe_agent_t *a)
{
    free(a->id);
    free(a->name);
    free(a->category);
    free(a->description);
    free(a->status);
    free(a->version);
    for (size_t i = 0; i < a->ncap; i++)
        free(a->capabilities[i]);
    free(a->capabilities);
    memset(a, 0, sizeof(*a));
}

int abe_agents_reload(abe_agent_registry_t **current, const char *dir, char *err, size_t errlen)
{
    abe_agent_registry_t *fresh = NULL;
    if (abe_agents_load(dir, &fresh, err, errlen) != 0) return -1;
    abe_agents_free(*current);
    *current = fresh;
    return 0;
}

void abe_agents_free(abe_agent_registry_t *reg)
{
    if (!reg) return;
    for (size_t i = 0; i < reg->n; i++)
        free_agent(&reg->agents[i]);
    free(reg->agents);
    json_decref(reg->agents_json);
    json_decref(reg->categories_json);
    free(reg);
}

const abe_agent_t *abe_agents_find(const abe_agent_registry_t *reg, const char *id)
{
    if (!reg || !id) return NULL;
    for (size_t i = 0; i < reg->n; i++)
        if (strcmp(reg->agents[i].id, id) == 0) return &reg->agents[i];
    return NULL;
}

/* ---- YAML node helpers ------------------------------------------------------------------------------ */

static int scalar_is_null(const yaml_node_t *node)
{
    if (node->type != YAML_SCALAR_NODE) return 0;
    if (node->tag && strcmp((const char *)node->tag, YAML_NULL_TAG) == 0) return 1;
    if (node->data.scalar.style != YAML_PLAIN_SCALAR_STYLE) return 0;
    static const char *const nulls[] = {"", "~", "null", "Null", "NULL"};
    for (size_t i = 0; i < sizeof(nulls) / sizeof(nulls[0]); i++)
        if (node->data.scalar.length == strlen(nulls[i]) &&
            memcmp(node->data.scalar.value, nulls[i], node->data.scalar.length) == 0)
            return 1;
    return 0;
}

/* Value node of the first pair in mapping whose key is the scalar `key`, or NULL. */
static yaml_node_t *map_get(yaml_document_t *doc, yaml_node_t *mapping, const char *key)
{
    size_t klen = strlen(key);
    for (yaml_node_pair_t *p = mapping->data.mapping.pairs.start; p < mapping->data.mapping.pairs.top; p++) {
        yaml_node_t *k = yaml_document_get_node(doc, p->key);
        if (k && k->type == YAML_SCALAR_NODE && k->data.scalar.length == klen &&
            memcmp(k->data.scalar.value, key, klen) == 0)
            return yaml_document_get_node(doc, p->value);
    }
    return NULL;
}

enum { FIELD_ABSENT = 0, FIELD_OK = 1, FIELD_BAD = -1, FIELD_NOMEM = -2 };

/*
 * Read an optional string field. FIELD_OK with *out a malloc'd copy, FIELD_ABSENT (absent or null),
 * FIELD_BAD (*why set: not a scalar or contains U+0000), FIELD_NOMEM.
 */
static int get_string(yaml_document_t *doc, yaml_node_t *entry, const char *key, char **out, const char **why)
{
    yaml_node_t *v = map_get(doc, entry, key);
    if (!v || scalar_is_null(v)) return FIELD_ABSENT;
    if (v->type != YAML_SCALAR_NODE) {
        *why = "is not a string";
        return FIELD_BAD;
    }
    const char *s = (const char *)v->data.scalar.value;
    size_t len = v->data.scalar.length;
    if (memchr(s, '\0', len)) {
        *why = "contains U+0000";
        return FIELD_BAD;
    }
    *out = strndup(s, len);
    return *out ? FIELD_OK : FIELD_NOMEM;
}

/* ---- id set (duplicate detection while loading) ----------------------------------------------------- */

typedef struct idset {
    const char **slots;
    size_t cap; /* power of two */
    size_t n;
} idset_t;

static uint64_t hash_str(const char *s)
{
    uint64_t h = 1469598103934665603ULL;
    for (; *s; s++) {
        h ^= (unsigned char)*s;
        h *= 1099511628211ULL;
    }
    return h;
}

/* Returns 1 inserted, 0 already present, -1 out of memory. `s` is borrowed and must outlive the set. */
static int idset_add(idset_t *set, const char *s)
{
    if ((set->n + 1) * 2 > set->cap) {
        size_t ncap = set->cap ? set->cap * 2 : 64;
        const char **ns = calloc(ncap, sizeof(*ns));
        if (!ns) return -1;
        for (size_t i = 0; i < set->cap; i++) {
            if (!set->slots[i]) continue;
            size_t j = hash_str(set->slots[i]) & (ncap - 1);
            while (ns[j])
                j = (j + 1) & (ncap - 1);
            ns[j] = set->slots[i];
        }
        free(set->slots);
        set->slots = ns;
        set->cap = ncap;
    }
    size_t j = hash_str(s) & (set->cap - 1);
    while (set->slots[j]) {
        if (strcmp(set->slots[j], s) == 0) return 0;
        j = (j + 1) & (set->cap - 1);
    }
    set->slots[j] = s;
    set->n++;
    return 1;
}

/* ---- entries ------------------------------------------------------------------------------------------ */

enum { ENTRY_OK = 0, ENTRY_SKIP = 1, ENTRY_NOMEM = -1 };

/*
 * Parse one `agents` item into *a (zeroed by the caller). ENTRY_SKIP when the entry is rejected (warning
 * already logged, *a released), ENTRY_NOMEM on allocation failure (*a released).
 */
static int parse_entry(yaml_document_t *doc, yaml_node_t *entry, const char *path, size_t index,
                       abe_agent_t *a)
{
    unsigned long line = (unsigned long)entry->start_mark.line + 1;
    if (entry->type != YAML_MAPPING_NODE) {
        abe_log_warn("%s: agents[%zu] (line %lu) skipped: not a mapping", path, index, line);
        return ENTRY_SKIP;
    }
    const char *why = NULL;
    int r = get_string(doc, entry, "id", &a->id, &why);
    if (r == FIELD_NOMEM) return ENTRY_NOMEM;
    if (r != FIELD_OK || a->id[0] == '\0') {
        abe_log_warn("%s: agents[%zu] (line %lu) skipped: %s", path, index, line,
                     r == FIELD_BAD ? "id is not a string" : (r == FIELD_OK ? "id is empty" : "no id"));
        free_agent(a);
        return ENTRY_SKIP;
    }

    struct {
        const char *key;
        char **dst;
        const char *dflt; /* NULL: default is the id */
    } fields[] = {
        {"name", &a->name, NULL},
        {"category", &a->category, "general"},
        {"description", &a->description, ""},
        {"status", &a->status, "available"},
        {"version", &a->version, ABE_VERSION},
    };
    for (size_t i = 0; i < sizeof(fields) / sizeof(fields[0]); i++) {
        why = NULL;
        r = get_string(doc, entry, fields[i].key, fields[i].dst, &why);
        if (r == FIELD_NOMEM) goto nomem;
        if (r == FIELD_BAD) {
            abe_log_warn("%s: agents[%zu] (line %lu, id '%s') skipped: %s %s", path, index, line, a->id,
                         fields[i].key, why);
            free_agent(a);
            return ENTRY_SKIP;
        }
        if (r == FIELD_ABSENT) {
            *fields[i].dst = strdup(fields[i].dflt ? fields[i].dflt : a->id);
            if (!*fields[i].dst) goto nomem;
        }
    }

    yaml_node_t *caps = map_get(doc, entry, "capabilities");
    if (caps && !scalar_is_null(caps)) {
        if (caps->type != YAML_SEQUENCE_NODE) {
            abe_log_warn("%s: agents[%zu] (line %lu, id '%s') skipped: capabilities is not a list", path,
                         index, line, a->id);
            free_agent(a);
            return ENTRY_SKIP;
        }
        size_t count = (size_t)(caps->data.sequence.items.top - caps->data.sequence.items.start);
        if (count > 0) {
            a->capabilities = calloc(count, sizeof(char *));
            if (!a->capabilities) goto nomem;
        }
        for (size_t i = 0; i < count; i++) {
            yaml_node_t *c = yaml_document_get_node(doc, caps->data.sequence.items.start[i]);
            if (!c || c->type != YAML_SCALAR_NODE || scalar_is_null(c) ||
                memchr(c->data.scalar.value, '\0', c->data.scalar.length)) {
                abe_log_warn("%s: agents[%zu] (line %lu, id '%s') skipped: capabilities[%zu] is not a string",
                             path, index, line, a->id, i);
                free_agent(a);
                return ENTRY_SKIP;
            }
            a->capabilities[i] = strndup((const char *)c->data.scalar.value, c->data.scalar.length);
            if (!a->capabilities[i]) goto nomem;
            a->ncap++;
        }
    }
    return ENTRY_OK;

nomem:
    free_agent(a);
    return ENTRY_NOMEM;
}

/* Agent object in SPEC §3.1 field order, or NULL (allocation failure or text jansson refuses). */
static json_t *agent_json(const abe_agent_t *a)
{
    json_t *caps = json_array();
    if (!caps) return NULL;
    for (size_t i = 0; i < a->ncap; i++) {
        if (json_array_append_new(caps, json_string(a->capabilities[i])) != 0) {
            json_decref(caps);
            return NULL;
        }
    }
    json_t *o = json_object();
    if (!o) {
        json_decref(caps);
        return NULL;
    }
    int bad = json_object_set_new(o, "id", json_string(a->id));
    bad |= json_object_set_new(o, "name", json_string(a->name));
    bad |= json_object_set_new(o, "category", json_string(a->category));
    bad |= json_object_set_new(o, "description", json_string(a->description));
    bad |= json_object_set_new(o, "capabilities", caps);
    bad |= json_object_set_new(o, "status", json_string(a->status));
    bad |= json_object_set_new(o, "version", json_string(a->version));
    if (bad) {
        json_decref(o);
        return NULL;
    }
    return o;
}

static int cmp_strp(const void *x, const void *y)
{
    return strcmp(*(const char *const *)x, *(const char *const *)y);
}

/* Fill agents_json and categories_json from reg->agents. Returns 0 or -1 (err set). */
static int build_json(abe_agent_registry_t *reg, const char *path, char *err, size_t errlen)
{
    reg->agents_json = json_array();
    reg->categories_json = json_array();
    if (!reg->agents_json || !reg->categories_json) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < reg->n; i++) {
        json_t *o = agent_json(&reg->agents[i]);
        if (!o || json_array_append_new(reg->agents_json, o) != 0) {
            set_err(err, errlen, "%s: cannot represent agent '%s' as JSON", path, reg->agents[i].id);
            return -1;
        }
    }
    if (reg->n == 0) return 0;
    const char **cats = malloc(reg->n * sizeof(*cats));
    if (!cats) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (size_t i = 0; i < reg->n; i++)
        cats[i] = reg->agents[i].category;
    qsort(cats, reg->n, sizeof(*cats), cmp_strp);
    int rc = 0;
    for (size_t i = 0; i < reg->n && rc == 0; i++) {
        if (i > 0 && strcmp(cats[i], cats[i - 1]) == 0) continue;
        if (json_array_append_new(reg->categories_json, json_string(cats[i])) != 0) {
            set_err(err, errlen, "%s: cannot represent category '%s' as JSON", path, cats[i]);
            rc = -1;
        }
    }
    free(cats);
    return rc;
}

/* Read the whole file. 0 ok, 1 missing (ENOENT), -1 error (err set). */
static int read_file(const char *path, unsigned char **buf, size_t *len, char *err, size_t errlen)
{
    FILE *f = fopen(path, "rb");
    if (!f) {
        if (errno == ENOENT) return 1;
        set_err(err, errlen, "%s: cannot open: %s", path, strerror(errno));
        return -1;
    }
    size_t cap = 8192, n = 0;
    unsigned char *b = malloc(cap);
    if (!b) {
        fclose(f);
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    for (;;) {
        if (n == cap) {
            if (cap >= ABE_AGENTS_MAX_FILE + 1u) {
                free(b);
                fclose(f);
                set_err(err, errlen, "%s: file larger than %u bytes", path, ABE_AGENTS_MAX_FILE);
                return -1;
            }
            size_t ncap = cap * 2 > ABE_AGENTS_MAX_FILE + 1u ? ABE_AGENTS_MAX_FILE + 1u : cap * 2;
            unsigned char *nb = realloc(b, ncap);
            if (!nb) {
                free(b);
                fclose(f);
                set_err(err, errlen, "%s: out of memory", path);
                return -1;
            }
            b = nb;
            cap = ncap;
        }
        size_t got = fread(b + n, 1, cap - n, f);
        n += got;
        if (got == 0) {
            if (ferror(f)) {
                int e = errno;
                free(b);
                fclose(f);
                set_err(err, errlen, "%s: read error: %s", path, strerror(e));
                return -1;
            }
            break;
        }
    }
    fclose(f);
    if (n > ABE_AGENTS_MAX_FILE) {
        free(b);
        set_err(err, errlen, "%s: file larger than %u bytes", path, ABE_AGENTS_MAX_FILE);
        return -1;
    }
    *buf = b;
    *len = n;
    return 0;
}

static const char *node_kind(const yaml_node_t *n)
{
    if (!n) return "empty";
    switch (n->type) {
    case YAML_MAPPING_NODE:
        return "a mapping";
    case YAML_SEQUENCE_NODE:
        return "a list";
    case YAML_SCALAR_NODE:
        return scalar_is_null(n) ? "null" : "a scalar";
    default:
        return "empty";
    }
}

/* Walk the parsed document into reg. Returns 0 or -1 (err set). */
static int load_document(yaml_document_t *doc, const char *path, abe_agent_registry_t *reg, char *err,
                         size_t errlen)
{
    yaml_node_t *root = yaml_document_get_root_node(doc);
    if (!root || root->type != YAML_MAPPING_NODE) {
        set_err(err, errlen, "%s: top level must be a mapping with an 'agents' list, found %s", path,
                node_kind(root));
        return -1;
    }
    yaml_node_t *list = map_get(doc, root, "agents");
    if (!list) {
        set_err(err, errlen, "%s: no 'agents' list", path);
        return -1;
    }
    if (list->type != YAML_SEQUENCE_NODE) {
        set_err(err, errlen, "%s: 'agents' (line %lu) is not a list, found %s", path,
                (unsigned long)list->start_mark.line + 1, node_kind(list));
        return -1;
    }
    size_t count = (size_t)(list->data.sequence.items.top - list->data.sequence.items.start);
    if (count == 0) return 0;
    reg->agents = calloc(count, sizeof(abe_agent_t));
    if (!reg->agents) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }
    idset_t ids = {0};
    int rc = 0;
    for (size_t i = 0; i < count; i++) {
        yaml_node_t *entry = yaml_document_get_node(doc, list->data.sequence.items.start[i]);
        if (!entry) continue;
        abe_agent_t a = {0};
        int r = parse_entry(doc, entry, path, i, &a);
        if (r == ENTRY_SKIP) continue;
        if (r == ENTRY_NOMEM) {
            set_err(err, errlen, "%s: out of memory", path);
            rc = -1;
            break;
        }
        reg->agents[reg->n] = a;
        int added = idset_add(&ids, reg->agents[reg->n].id);
        if (added < 0) {
            free_agent(&reg->agents[reg->n]);
            set_err(err, errlen, "%s: out of memory", path);
            rc = -1;
            break;
        }
        if (added == 0) {
            abe_log_warn("%s: agents[%zu] (line %lu) skipped: duplicate id '%s' (the first entry wins)", path,
                         i, (unsigned long)entry->start_mark.line + 1, reg->agents[reg->n].id);
            free_agent(&reg->agents[reg->n]);
            continue;
        }
        reg->n++;
    }
    free(ids.slots);
    return rc;
}

int abe_agents_load(const char *dir, abe_agent_registry_t **out, char *err, size_t errlen)
{
    if (err && errlen) err[0] = '\0';
    if (!out) {
        set_err(err, errlen, "abe_agents_load: no output pointer");
        return -1;
    }
    *out = NULL;
    char path[4096];
    int pl = (dir && dir[0]) ? snprintf(path, sizeof(path), "%s/agents.yaml", dir)
                             : snprintf(path, sizeof(path), "agents.yaml");
    if (pl < 0 || (size_t)pl >= sizeof(path)) {
        set_err(err, errlen, "agents directory path too long");
        return -1;
    }

    abe_agent_registry_t *reg = calloc(1, sizeof(*reg));
    if (!reg) {
        set_err(err, errlen, "%s: out of memory", path);
        return -1;
    }

    unsigned char *buf = NULL;
    size_t len = 0;
    int fr = read_file(path, &buf, &len, err, errlen);
    if (fr < 0) {
        free(reg);
        return -1;
    }
    if (fr == 1) {
        abe_log_warn("%s: not found; the agent registry is empty", path);
        if (build_json(reg, path, err, errlen) != 0) {
            abe_agents_free(reg);
            return -1;
        }
        *out = reg;
        return 0;
    }

    yaml_parser_t parser;
    yaml_document_t doc;
    if (!yaml_parser_initialize(&parser)) {
        free(buf);
        free(reg);
        set_err(err, errlen, "%s: cannot initialise the YAML parser", path);
        return -1;
    }
    yaml_parser_set_input_string(&parser, buf, len);
    int rc = 0;
    if (!yaml_parser_load(&parser, &doc)) {
        if (parser.error == YAML_MEMORY_ERROR) {
            set_err(err, errlen, "%s: out of memory while parsing", path);
        } else {
            char ctx[160] = "";
            if (parser.context)
                snprintf(ctx, sizeof(ctx), " %s (started at line %lu)", parser.context,
                         (unsigned long)parser.context_mark.line + 1);
            if (parser.error == YAML_READER_ERROR)
                set_err(err, errlen, "%s: invalid YAML input at byte %zu: %s", path, parser.problem_offset,
                        parser.problem ? parser.problem : "unreadable input");
            else
                set_err(err, errlen, "%s: invalid YAML at line %lu, column %lu: %s%s", path,
                        (unsigned long)parser.problem_mark.line + 1,
                        (unsigned long)parser.problem_mark.column + 1,
                        parser.problem ? parser.problem : "syntax error", ctx);
        }
        rc = -1;
    } else {
        rc = load_document(&doc, path, reg, err, errlen);
        yaml_document_delete(&doc);
    }
    yaml_parser_delete(&parser);
    free(buf);
    if (rc == 0) rc = build_json(reg, path, err, errlen);
    if (rc != 0) {
        abe_agents_free(reg);
        return -1;
    }
    *out = reg;
    return 0;
}

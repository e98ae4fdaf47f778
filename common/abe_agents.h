/*
 * abe_agents.h — the agent registry (SPEC §3.3), loaded with libyaml from $AGENTS_CONFIG_DIR/agents.yaml.
 * The supervisor loads it before fork (so a broken file is exit 78) and workers inherit it; SIGHUP reload
 * builds a new registry and swaps it only on success (abe_agents_load never touches the old one).
 */
#ifndef ABE_AGENTS_H
#define ABE_AGENTS_H

#include <jansson.h>
#include <stddef.h>

typedef struct abe_agent {
    char *id, *name, *category, *description, *status, *version; /* owned by the registry */
    char **capabilities;                                          /* ncap strings, owned */
    size_t ncap;
} abe_agent_t;

typedef struct abe_agent_registry {
    abe_agent_t *agents; /* n agents in file order */
    size_t n;
    json_t *agents_json;     /* array of Agent objects (SPEC §3.1 field order), owned */
    json_t *categories_json; /* distinct categories sorted bytewise, owned */
} abe_agent_registry_t;

/*
 * abe_agents_load — read <dir>/agents.yaml.
 *   *out: new registry (caller frees with abe_agents_free). A missing file gives an empty registry and a
 *         warning. Entries without a string id are skipped (warning); duplicate ids keep the first (warning);
 *         missing fields get SPEC §3.3 defaults (version = ABE_VERSION).
 *   err/errlen: reason on failure.
 * Returns 0, or -1 when the file is unparsable or `agents` is not a list (a configuration error, exit 78).
 */
int abe_agents_load(const char *dir, abe_agent_registry_t **out, char *err, size_t errlen);

/* abe_agents_find — agent by exact id, or NULL. */
const abe_agent_t *abe_agents_find(const abe_agent_registry_t *reg, const char *id);

/*
 * abe_agents_reload — the SIGHUP entry point (SPEC §3.3, §11.2): load <dir>/agents.yaml into a new
 * registry and, only on success, free *current and replace it. On failure *current is untouched (the old
 * registry stays in service) and err names the problem. Returns 0 or -1.
 */
int abe_agents_reload(abe_agent_registry_t **current, const char *dir, char *err, size_t errlen);

/* abe_agents_free — release a registry; NULL-safe. */
void abe_agents_free(abe_agent_registry_t *reg);

#endif

/*
 * abe_h_agents.c — the two agent-registry routes (SPEC §3.3): GET /api/v1/agents and
 * GET /api/v1/agents/{agent_id}.
 *
 * The registry is loaded by the supervisor before fork (common/abe_agents.c) and inherited by every worker
 * through abe_worker.agents; it already carries the response JSON (Agent objects in SPEC §3.1 field order
 * and the sorted category list), so these handlers only wrap it. Nothing here touches SQLite. A worker is
 * single-threaded, so sharing the registry's jansson values by reference count is safe.
 */
#include <string.h>

#include "abe_handlers.h"
#include "abe_worker.h"

/* The Agent object whose "id" equals id[0..len) byte for byte, or NULL. Borrowed from the registry. */
static json_t *find_agent_json(const abe_agent_registry_t *reg, const char *id, size_t len)
{
    if (!reg || !reg->agents_json) return NULL;
    size_t i;
    json_t *agent;
    json_array_foreach(reg->agents_json, i, agent)
    {
        json_t *jid = json_object_get(agent, "id");
        if (json_is_string(jid) && json_string_length(jid) == len &&
            memcmp(json_string_value(jid), id, len) == 0)
            return agent;
    }
    return NULL;
}

int abe_h_agents_list(abe_req_t *r)
{
    const abe_agent_registry_t *reg = abe_worker.agents;
    json_t *agents = (reg && reg->agents_json) ? json_incref(reg->agents_json) : json_array();
    json_t *categories = (reg && reg->categories_json) ? json_incref(reg->categories_json) : json_array();
    size_t total = agents ? json_array_size(agents) : 0;
    /* "o" steals each reference, also on failure (a NULL value makes json_pack fail and release the rest). */
    json_t *body =
        json_pack("{s:o,s:I,s:o,s:s,s:o}", "agents", agents, "total", (json_int_t)total, "categories",
                  categories, "system_status", "operational", "timestamp", abe_json_timestamp());
    if (!body) return -1;
    abe_send_json(r, 200, body);
    return 0;
}

int abe_h_agent_get(abe_req_t *r)
{
    json_t *agent = NULL;
    if (r->nparams >= 1 && r->params[0])
        agent = find_agent_json(abe_worker.agents, r->params[0], r->param_lens[0]);
    if (!agent) {
        abe_send_error(r, 404, "Agent not found");
        return 0;
    }
    abe_send_json(r, 200, json_incref(agent));
    return 0;
}

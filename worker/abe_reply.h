/*
 * abe_reply.h — deterministic agent replies built from capabilities (SPEC §5). Pure functions.
 */
#ifndef ABE_REPLY_H
#define ABE_REPLY_H

#include <stddef.h>
#include "abe_agents.h"

/*
 * abe_reply_generate — the agent's reply to user text msg[0..len) (verbatim, may contain any UTF-8).
 *   agent: the conversation's agent from the current registry, or NULL when unknown.
 * Returns a malloc'd NUL-terminated string (caller frees), NULL only on allocation failure.
 */
char *abe_reply_generate(const abe_agent_t *agent, const char *msg, size_t len);

/* abe_reply_greeting — "Hello, I am <name>. How can I help?" or "Hello. How can I help?" (agent NULL). malloc'd. */
char *abe_reply_greeting(const abe_agent_t *agent);

#endif

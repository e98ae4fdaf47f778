/*
 * abe_handlers.h — every route handler (SPEC §3.0). The route table in abe_routes.c maps templates and
 * methods to these; each follows the abe_handler_fn contract in abe_http.h.
 */
#ifndef ABE_HANDLERS_H
#define ABE_HANDLERS_H

#include "abe_http.h"

/* Service routes (abe_h_service.c), SPEC §3.2. */
int abe_h_root(abe_req_t *r);
int abe_h_health(abe_req_t *r);
int abe_h_health_ready(abe_req_t *r);
int abe_h_api_health(abe_req_t *r);
int abe_h_ping(abe_req_t *r);

/* Agents (abe_h_agents.c), SPEC §3.3. */
int abe_h_agents_list(abe_req_t *r);
int abe_h_agent_get(abe_req_t *r);

/* Conversations (abe_h_conversations.c), SPEC §3.4. params[0] = conversation_id. */
int abe_h_conv_create(abe_req_t *r);
int abe_h_conv_list(abe_req_t *r);
int abe_h_conv_get(abe_req_t *r);
int abe_h_msg_create(abe_req_t *r);
int abe_h_msg_list(abe_req_t *r);

/* Workflows and executions (abe_h_workflows.c, abe_h_executions.c), SPEC §3.5–§3.6. */
int abe_h_wf_create(abe_req_t *r);
int abe_h_wf_list(abe_req_t *r);
int abe_h_wf_get(abe_req_t *r);        /* params[0] = workflow_id */
int abe_h_wf_delete(abe_req_t *r);     /* params[0] = workflow_id */
int abe_h_wf_execute(abe_req_t *r);    /* params[0] = workflow_id */
int abe_h_wf_executions(abe_req_t *r); /* params[0] = workflow_id */
int abe_h_exec_list(abe_req_t *r);
int abe_h_exec_get(abe_req_t *r);      /* params[0] = execution_id */
int abe_h_exec_replay(abe_req_t *r);   /* params[0] = execution_id */

#endif

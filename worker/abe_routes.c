/*
 * abe_routes.c — the route table of SPEC §3.0. Order does not matter (the router prefers literal
 * segments); templates are the metrics `endpoint` labels, so they are written exactly as in the SPEC.
 */
#include "abe_handlers.h"
#include "abe_router.h"

#define GET_ONLY(fn) {[ABE_M_GET] = (fn)}

abe_route_t abe_routes[] = {
    {.tmpl = "/", .handlers = GET_ONLY(abe_h_root)},
    {.tmpl = "/health", .handlers = GET_ONLY(abe_h_health)},
    {.tmpl = "/health/live", .handlers = GET_ONLY(abe_h_health)},
    {.tmpl = "/health/ready", .handlers = GET_ONLY(abe_h_health_ready)},
    {.tmpl = "/api/v1/health", .handlers = GET_ONLY(abe_h_api_health)},
    {.tmpl = "/api/v1/ping", .handlers = GET_ONLY(abe_h_ping)},
    {.tmpl = "/api/v1/agents", .handlers = GET_ONLY(abe_h_agents_list)},
    {.tmpl = "/api/v1/agents/{agent_id}", .handlers = GET_ONLY(abe_h_agent_get)},
    {.tmpl = "/api/v1/conversations",
     .handlers = {[ABE_M_GET] = abe_h_conv_list, [ABE_M_POST] = abe_h_conv_create},
     .body_route = 1},
    {.tmpl = "/api/v1/conversations/{conversation_id}", .handlers = GET_ONLY(abe_h_conv_get)},
    {.tmpl = "/api/v1/conversations/{conversation_id}/messages",
     .handlers = {[ABE_M_GET] = abe_h_msg_list, [ABE_M_POST] = abe_h_msg_create},
     .body_route = 1},
    {.tmpl = "/api/v1/workflows",
     .handlers = {[ABE_M_GET] = abe_h_wf_list, [ABE_M_POST] = abe_h_wf_create},
     .body_route = 1},
    {.tmpl = "/api/v1/workflows/executions", .handlers = GET_ONLY(abe_h_exec_list)},
    {.tmpl = "/api/v1/workflows/executions/{execution_id}", .handlers = GET_ONLY(abe_h_exec_get)},
    {.tmpl = "/api/v1/workflows/executions/{execution_id}/replay", .handlers = {[ABE_M_POST] = abe_h_exec_replay}},
    {.tmpl = "/api/v1/workflows/{workflow_id}",
     .handlers = {[ABE_M_GET] = abe_h_wf_get, [ABE_M_DELETE] = abe_h_wf_delete}},
    {.tmpl = "/api/v1/workflows/{workflow_id}/executions", .handlers = GET_ONLY(abe_h_wf_executions)},
    {.tmpl = "/api/v1/workflows/{workflow_id}/execute", .handlers = {[ABE_M_POST] = abe_h_wf_execute}},
};

const size_t abe_routes_count = sizeof(abe_routes) / sizeof(abe_routes[0]);

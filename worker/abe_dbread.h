/*
 * abe_dbread.h — the read side of the storage engine (SPEC §9.1 "Connections"): every SQL query a worker
 * runs lives behind this interface. Each worker opens its own read-only SQLite connection (WAL reader,
 * query_only=ON, busy_timeout=5000 ms) after fork, with prepared statements kept for the connection's life.
 * Each call runs in one read transaction, so multi-statement reads are consistent. Results are jansson
 * values in the exact field order of SPEC §3.1 (new references owned by the caller).
 *
 * Return values for every query: ABE_DBR_OK, ABE_DBR_NOT_FOUND (the named resource does not exist), or
 * ABE_DBR_ERROR (SQLite failure; message via abe_dbr_errmsg).
 */
#ifndef ABE_DBREAD_H
#define ABE_DBREAD_H

#include <jansson.h>
#include <stdint.h>

enum { ABE_DBR_OK = 0, ABE_DBR_NOT_FOUND = 1, ABE_DBR_ERROR = -1 };

typedef struct abe_dbr abe_dbr_t;

/* abe_dbr_open — open path read-only. Returns NULL on failure (errno-style message logged). */
abe_dbr_t *abe_dbr_open(const char *path);
void abe_dbr_close(abe_dbr_t *r);
const char *abe_dbr_errmsg(abe_dbr_t *r);

/* Conversations (SPEC §3.4). *items: array of ConversationSummary, newest first; *total: full count. */
int abe_dbr_list_conversations(abe_dbr_t *r, int64_t limit, int64_t offset, json_t **items, int64_t *total);
/* *out: Conversation with every message oldest first. */
int abe_dbr_get_conversation(abe_dbr_t *r, const char *conversation_id, json_t **out);
/* agent_id of a conversation into buf (NUL-terminated, truncated to buflen). */
int abe_dbr_conversation_agent(abe_dbr_t *r, const char *conversation_id, char *buf, size_t buflen);
/* *items: Message array oldest first (insertion order); NOT_FOUND if the conversation does not exist. */
int abe_dbr_list_messages(abe_dbr_t *r, const char *conversation_id, int64_t limit, int64_t offset,
                          json_t **items, int64_t *total);

/* Workflows (SPEC §3.5). *items: WorkflowSummary array newest first. */
int abe_dbr_list_workflows(abe_dbr_t *r, int64_t limit, int64_t offset, json_t **items, int64_t *total);
/* *out: Workflow with steps in definition order, every WorkflowStep field present. */
int abe_dbr_get_workflow(abe_dbr_t *r, const char *workflow_id, json_t **out);

/*
 * Executions (SPEC §3.6). workflow_id and status may be NULL (no filter). *items: ExecutionSummary array
 * newest first.
 */
int abe_dbr_list_executions(abe_dbr_t *r, const char *workflow_id, const char *status, int64_t limit,
                            int64_t offset, json_t **items, int64_t *total);
/* *execution: Execution (with input_snapshot); *steps: ExecutionStep array in step_order. */
int abe_dbr_get_execution(abe_dbr_t *r, const char *execution_id, json_t **execution, json_t **steps);

/*
 * abe_dbr_owned_executions — executions in pending/running owned by owner_pid, for the runner to adopt:
 * *out: array of {execution_id, workflow_id, status, started_at, run_epoch, step_order, input_snapshot,
 * steps:[{step_name, position, status, started_at, completed_at, duration_ms, error, attempts,
 * carried_over}]} (steps in position order).
 */
int abe_dbr_owned_executions(abe_dbr_t *r, long owner_pid, json_t **out);

/*
 * abe_dbr_explain — diagnostics/tests: the EXPLAIN QUERY PLAN detail lines of one of this reader's prepared
 * queries, so a test can prove lists and lookups use an index instead of scanning a table.
 *   query: the query's name, e.g. "list_conversations", "list_messages", "list_workflows", "get_workflow",
 *          "list_executions", "list_executions_status", "list_executions_workflow", "get_execution",
 *          "execution_steps", "owned_executions".
 *   *out: array of plan detail strings (new reference).
 * Returns ABE_DBR_OK, ABE_DBR_NOT_FOUND (unknown name) or ABE_DBR_ERROR.
 */
int abe_dbr_explain(abe_dbr_t *r, const char *query, json_t **out);

#endif

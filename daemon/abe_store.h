/*
 * abe_store.h — the write side of the storage engine (SPEC §9), used only inside the persistence process
 * and by the offline purge CLI. This and worker/abe_dbread.h are the only two places that know SQL; a
 * second engine (PostgreSQL) would implement this interface and abe_dbread.h, nothing else.
 *
 * Operation payloads (JSON objects, all timestamps SPEC §2.1 strings, ids lowercase UUID4 strings):
 *
 *  create_conversation {conversation_id, agent_id, name, description, system_message, context (any JSON),
 *                       created_at, messages:[{message_id, role:"user"|"agent", content, agent_id|null,
 *                       created_at}]}                                      -> {}
 *  append_messages     {conversation_id, updated_at, messages:[…as above]} -> {} | NOT_FOUND
 *  create_workflow     {workflow_id, name, description, parallel_execution, created_at,
 *                       steps:[WorkflowStep with every field, SPEC §3.1]}  -> {}
 *  delete_workflow     {workflow_id}  -> {} | NOT_FOUND | CONFLICT (a pending/running execution exists)
 *  create_execution    {execution_id, workflow_id, require_workflow:bool, created_at, step_order:[names],
 *                       input_snapshot:{…}, replay_of|null, replay_mode|null, owner_pid, run_epoch,
 *                       steps:[{position (index in step_order), step_name, status, started_at|null, completed_at|null,
 *                               duration_ms|null, error|null, attempts, carried_over:bool}]}
 *                       -> {} | NOT_FOUND (require_workflow and the workflow is gone). Status is 'pending',
 *                       steps_completed is computed from the step rows, total_steps = len(steps).
 *  start_execution     {execution_id, owner_pid, run_epoch, started_at} -> {} | STALE.
 *                       Sets status 'running'; started_at only if it was NULL (a resumed run keeps it).
 *  step_transition     {execution_id, owner_pid, run_epoch, updated_at,
 *                       steps:[{step_name, status, started_at|null, completed_at|null, duration_ms|null,
 *                               error|null, attempts}]} -> {} | STALE. Recomputes steps_completed.
 *  finish_execution    {execution_id, owner_pid, run_epoch, status:"success"|"failed", completed_at,
 *                       error|null, retention} -> {"pruned":n} | STALE. Clears owner_pid and, when
 *                       retention > 0, prunes old finished executions in the same savepoint (SPEC §4.7).
 *  handback_execution  {owner_pid} or {"all":true} (+ optional execution_id to hand back just one)
 *                       -> {"count":n}. For each pending/running execution owned: owner NULL, epoch+1,
 *                       its running steps -> ready with started_at NULL.
 *  adopt_execution     {owner_pids:[pid…]} -> {"adopted":[{execution_id, owner_pid, run_epoch}]}.
 *                       Each unowned pending/running execution goes to the listed pid owning the fewest;
 *                       epoch+1; running steps -> ready.
 *  purge_executions    {retention} -> {"pruned":n}
 *  sync_agents         {loaded_at, agents:[Agent]} -> {} (rewrites the agents table)
 *  probe               {} -> {} (the batch's BEGIN IMMEDIATE proved the DB writable)
 */
#ifndef ABE_STORE_H
#define ABE_STORE_H

#include <jansson.h>
#include <stddef.h>
#include "abe_ipc.h"

#define ABE_SCHEMA_VERSION 1

typedef struct abe_store abe_store_t;

/*
 * abe_store_open — open (creating parent directories) the SQLite database at path as the single writer:
 * WAL, synchronous=FULL, foreign_keys=ON, busy_timeout 5000 ms, then run migrations (SPEC §9.1).
 *   *out: receives the store (owned by the caller; release with abe_store_close).
 *   err/errlen: message naming the path or the schema problem.
 * Returns 0; -1 on open/write failure; -2 when the schema is newer than this build or unversioned.
 */
int abe_store_open(abe_store_t **out, const char *path, char *err, size_t errlen);

/*
 * abe_store_open_existing — open an existing, already-migrated DB for the offline purge CLI with a busy
 * timeout of busy_ms. Returns 0; -1 if the file is missing, unopenable, or has no schema.
 */
int abe_store_open_existing(abe_store_t **out, const char *path, int busy_ms, char *err, size_t errlen);

/* abe_store_close — checkpoint (TRUNCATE) when checkpoint != 0, finalize statements, close. NULL-safe. */
void abe_store_close(abe_store_t *st, int checkpoint);

/* Batch transaction control. Each returns 0 or -1 (message in abe_store_errmsg). */
int abe_store_begin(abe_store_t *st);      /* BEGIN IMMEDIATE */
int abe_store_commit(abe_store_t *st);     /* COMMIT (the fsync) */
int abe_store_rollback(abe_store_t *st);   /* ROLLBACK */
int abe_store_savepoint(abe_store_t *st);  /* SAVEPOINT op */
int abe_store_release(abe_store_t *st);    /* RELEASE op */
int abe_store_rollback_to(abe_store_t *st);/* ROLLBACK TO op; RELEASE op */

/*
 * abe_store_apply — run one operation inside the current savepoint.
 *   payload: the op's JSON object (borrowed). *result: on ABE_IPC_OK a new JSON object (caller owns).
 *   msg/msglen: error text on failure.
 * Returns an abe_ipc_status_t. The caller rolls the savepoint back on anything but ABE_IPC_OK.
 */
int abe_store_apply(abe_store_t *st, abe_op_t op, json_t *payload, json_t **result, char *msg, size_t msglen);

/* abe_store_checkpoint — wal_checkpoint(TRUNCATE if truncate else PASSIVE); returns 0 or -1. */
int abe_store_checkpoint(abe_store_t *st, int truncate);

/* abe_store_wal_bytes — current size of the -wal file in bytes (0 if absent). */
long long abe_store_wal_bytes(abe_store_t *st);

/* abe_store_errmsg — last SQLite error message; valid until the next call on st. */
const char *abe_store_errmsg(abe_store_t *st);

#endif

/*
 * abe_persist.h — the persistence process (SPEC §9): the only SQLite writer. It accepts worker, supervisor
 * and CLI connections on the Unix listening socket the supervisor created, reads abe_ipc frames into one
 * bounded FIFO (per-connection order kept), runs up to DB_BATCH_SIZE operations per BEGIN IMMEDIATE
 * transaction, each in its own SAVEPOINT (group commit), COMMITs once, then answers every requester.
 */
#ifndef ABE_PERSIST_H
#define ABE_PERSIST_H

#include "abe_config.h"
#include "abe_shm.h"
#include "abe_store.h"

/*
 * abe_persist_main — body of the persistence process; returns the process exit status.
 *   cfg: effective configuration (DB_PATH, DB_BATCH_SIZE, DB_MAX_QUEUE_SIZE).
 *   listen_fd: listening AF_UNIX stream socket, inherited from the supervisor (not closed on return).
 *   ready_fd: pipe write end; one byte 'R' is written once the DB is open and migrated, then it is closed.
 *   shm: shared region (db_queue_depth and db_* counters are maintained here).
 * Exits on SIGTERM after draining every readable request, committing and checkpointing (TRUNCATE).
 * Returns 0 on a clean stop, 1 when the DB cannot be opened/migrated (message logged naming the path).
 */
int abe_persist_main(const abe_config_t *cfg, int listen_fd, int ready_fd, abe_shm_t *shm);

/*
 * abe_batch_apply_fn — how the batch executor applies one operation (abe_store_apply in production; tests
 * inject failures). Same contract as abe_store_apply.
 */
typedef int (*abe_batch_apply_fn)(void *ctx, abe_op_t op, json_t *payload, json_t **result, char *msg,
                                  size_t msglen);

typedef struct abe_batch_item {
    abe_op_t op;
    json_t *payload;  /* owned by the caller */
    int status;       /* out: abe_ipc_status_t */
    json_t *result;   /* out: new reference on OK, else {"message": …}; caller releases */
} abe_batch_item_t;

/*
 * abe_batch_run — group commit of items[0..n): BEGIN IMMEDIATE; per item SAVEPOINT / apply / RELEASE or
 * ROLLBACK TO; COMMIT. A failing item is rolled back alone and reports its own error; the others commit.
 * If BEGIN or COMMIT fails every item gets ABE_IPC_ERR_DB.
 * Returns 0 when the transaction committed, -1 otherwise.
 */
int abe_batch_run(abe_store_t *st, abe_batch_apply_fn apply, void *apply_ctx, abe_batch_item_t *items, size_t n);

#endif

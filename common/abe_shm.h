/*
 * abe_shm.h — the shared-memory region (SPEC §1): created by the supervisor before the first fork with
 * mmap(MAP_SHARED|MAP_ANONYMOUS), so every child inherits the same pages and they survive worker restarts.
 * Fields are C11 atomics; no locks. The metrics, SLO and rate-limit issues extend this struct.
 */
#ifndef ABE_SHM_H
#define ABE_SHM_H

#include <stdatomic.h>
#include <stdint.h>
#include <sys/types.h>

#define ABE_MAX_WORKERS 64

typedef struct abe_shm_worker {
    _Atomic int pid;    /* 0 = free slot */
    _Atomic int ready;  /* 1 once the worker's loop is accepting */
    _Atomic int draining;
    _Atomic int64_t db_pending; /* this worker's operations sent to persistence and not yet answered */
} abe_shm_worker_t;

typedef struct abe_shm {
    int64_t started_unix;             /* supervisor start, seconds since the epoch */
    _Atomic int live_workers;         /* ready workers (GET /api/v1/health "workers") */
    _Atomic int shutting_down;        /* graceful stop began: /health/ready answers 503 */
    _Atomic int persist_pid;          /* current persistence process, 0 while down */
    _Atomic int64_t db_queue_depth;   /* operations queued, not yet inside a transaction (SPEC §9.3) */
    _Atomic uint64_t worker_restarts;  /* workers started to replace one that exited unasked (SPEC §7.2) */
    _Atomic uint64_t adopt_generation; /* bumped by the supervisor whenever it assigned executions to workers */
    _Atomic uint64_t db_ops[16][4];   /* per op (abe_op_t) x result (ok, error, rejected, stale) */
    _Atomic uint64_t db_batches;      /* committed transactions */
    _Atomic uint64_t db_batch_hist[10]; /* batch sizes, buckets 1,2,5,10,20,50,100,200,500,+Inf */
    abe_shm_worker_t workers[ABE_MAX_WORKERS];
} abe_shm_t;

/*
 * abe_shm_create — map a zeroed shared region of sizeof(abe_shm_t) bytes. Returns the mapping or NULL
 * (errno set). The mapping is inherited across fork; nobody unmaps it before exit.
 */
abe_shm_t *abe_shm_create(void);

/* abe_shm_batch_bucket — index into db_batch_hist for a batch of n operations. */
int abe_shm_batch_bucket(int n);

#endif

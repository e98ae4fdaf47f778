/*
 * abe_worker.h — the state of one worker process (one h2o evloop). A worker is single-threaded, so the
 * handlers, the execution engine and the persistence client share this one global.
 */
#ifndef ABE_WORKER_H
#define ABE_WORKER_H

#include <h2o.h>
#include <sys/types.h>
#include "abe_agents.h"
#include "abe_config.h"
#include "abe_dbread.h"
#include "abe_shm.h"

typedef struct abe_worker {
    const abe_config_t *cfg;
    abe_shm_t *shm;
    const abe_agent_registry_t *agents; /* inherited from the supervisor */
    h2o_loop_t *loop;
    h2o_context_t *ctx;
    int index;          /* worker slot, 0-based; also the shm->workers[] index */
    pid_t pid;
    const char *persist_addr; /* persistence socket address (path or "@abstract") */
    abe_dbr_t *dbr;     /* read-only SQLite connection, opened on first use */
    int draining;
    int64_t requests; /* requests taken by the pipeline so far */
    int recycle;      /* WORKER_MAX_REQUESTS reached: drain and exit 0; the supervisor starts a fresh worker */
} abe_worker_t;

extern abe_worker_t abe_worker;

/*
 * abe_worker_main — body of a worker process: builds the evloop and h2o context, accepts on listen_fd,
 * serves until drained, then hands back executions. Returns the process exit status (0 on a clean drain).
 */
int abe_worker_main(int index, int listen_fd, h2o_globalconf_t *globalconf);

/* abe_worker_dbr — the worker's reader, opening it on first use. NULL (logged) if the DB cannot be opened. */
abe_dbr_t *abe_worker_dbr(void);

#endif

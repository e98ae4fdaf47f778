/*
 * abe_supervisor.h — the master process (SPEC §1, §11.2): owns the configuration, the listening socket, the
 * persistence socket and the shared memory; forks the persistence process and UVICORN_WORKERS h2o workers,
 * reaps and respawns them, re-homes executions of dead workers (hand-back + adoption, SPEC §4.5), and runs
 * the graceful stop. It never serves HTTP itself.
 */
#ifndef ABE_SUPERVISOR_H
#define ABE_SUPERVISOR_H

#include "abe_agents.h"
#include "abe_config.h"

/*
 * abe_supervisor_run — run the daemon in the foreground until a stop signal.
 *   cfg: effective configuration (copied). agents: the loaded registry (ownership passes to the supervisor).
 * Returns the process exit status (SPEC §11.1): 0 after a stop signal, 1 on a fatal runtime error (bind, DB,
 * persistence keeps failing), 3 when workers failed to boot WORKER_MAX_BOOT_FAILURES times in a row.
 */
int abe_supervisor_run(const abe_config_t *cfg, abe_agent_registry_t *agents);

#endif

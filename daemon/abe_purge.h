/*
 * abe_purge.h — the `advanced-backend purge-executions [N]` subcommand (SPEC §4.7, §11.1): prune finished
 * workflow executions down to the newest N, through the running daemon's persistence process when it
 * answers on CONTROL_SOCKET, otherwise directly on DB_PATH.
 */
#ifndef ABE_PURGE_H
#define ABE_PURGE_H

#include "abe_config.h"

/*
 * abe_purge_main — run the purge once and print its one-line outcome on stdout (SPEC §4.7 table).
 *   cfg: effective configuration (DB_PATH, CONTROL_SOCKET, WORKFLOW_EXECUTION_RETENTION).
 *   n_arg: the N argument as typed, or NULL for the configured retention.
 * Returns the process exit code: 0 success or nothing to do (N <= 0), 1 DB missing/unopenable/without
 * schema, 2 N not an integer, 3 SQLite or daemon error.
 */
int abe_purge_main(const abe_config_t *cfg, const char *n_arg);

/*
 * abe_purge_parse_n — parse N as an integer: optional surrounding blanks, an optional sign, decimal digits
 * (values beyond the 64-bit range saturate). Returns 0 and sets *out, or -1 when s is not an integer.
 */
int abe_purge_parse_n(const char *s, long long *out);

#endif

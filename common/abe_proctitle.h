/*
 * abe_proctitle.h — process naming as nginx does it (SPEC §1): the argv title shown by ps/top
 * ("advanced-backend: worker 1") and the short comm name (prctl PR_SET_NAME, "abe-worker").
 * Hand-written: there is no library for this on Linux short of libbsd's setproctitle.
 */
#ifndef ABE_PROCTITLE_H
#define ABE_PROCTITLE_H

/* abe_proctitle_init — call once from main() before anything reads environ: moves the environment
 * strings to the heap so the whole argv+environ area can hold the title. argv must be main's argv. */
void abe_proctitle_init(int argc, char **argv);

/* abe_proctitle_set — set the argv title (truncated to the available area) and comm (≤15 bytes). */
void abe_proctitle_set(const char *title, const char *comm);

#endif

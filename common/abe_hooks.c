/*
 * abe_hooks.c — the engine's metric hooks (see abe_hooks.h): per-process counters plus optional sinks
 * installed by the metrics module.
 */
#include "abe_hooks.h"

#include <string.h>

static abe_hooks_t g_sinks;
static abe_hook_counters_t g_counters;

void abe_hooks_install(const abe_hooks_t *hooks)
{
    if (hooks)
        g_sinks = *hooks;
    else
        memset(&g_sinks, 0, sizeof(g_sinks));
}

void abe_hook_step_finished(const char *workflow_id, const char *step_name, double seconds, int failed)
{
    if (!(seconds > 0)) seconds = 0;
    g_counters.steps_finished++;
    g_counters.step_seconds_sum += seconds;
    if (failed) g_counters.steps_failed++;
    if (g_sinks.step_finished && workflow_id && step_name)
        g_sinks.step_finished(workflow_id, step_name, seconds, failed ? 1 : 0);
}

void abe_hook_execution_finished(const char *status)
{
    if (!status) return;
    if (strcmp(status, "success") == 0)
        g_counters.executions_success++;
    else if (strcmp(status, "failed") == 0)
        g_counters.executions_failed++;
    else
        return;
    if (g_sinks.execution_finished) g_sinks.execution_finished(status);
}

void abe_hooks_counters(abe_hook_counters_t *out)
{
    *out = g_counters;
}

void abe_hooks_reset(void)
{
    memset(&g_counters, 0, sizeof(g_counters));
}

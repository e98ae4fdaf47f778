/*
 * abe_router.h — route templates (SPEC §2.1 "Routing", §3.0). Hand-written because h2o's own path
 * registration matches prefixes only and has no {param} segments, method dispatch or 405.
 *
 * Templates are split into segments once at start-up. A request path (raw, undecoded, query removed) is
 * split the same way; a literal segment matches byte-for-byte (case-sensitive), a {param} segment matches
 * one non-empty segment. When several templates match, the one with a literal at the earliest differing
 * position wins, so /api/v1/workflows/executions is never a workflow id.
 */
#ifndef ABE_ROUTER_H
#define ABE_ROUTER_H

#include <stddef.h>
#include "abe_http.h"

#define ABE_ROUTE_MAX_SEGS 8

typedef enum { ABE_M_GET = 0, ABE_M_POST, ABE_M_DELETE, ABE_M__COUNT } abe_method_t;

typedef struct abe_route {
    const char *tmpl;                     /* the route template, also the metrics `endpoint` label */
    abe_handler_fn handlers[ABE_M__COUNT];/* NULL = method not allowed; GET also serves HEAD */
    int body_route;                       /* 1 when POST takes a JSON body (media-type rules apply) */
    /* filled by abe_router_init: */
    int nsegs;
    const char *segs[ABE_ROUTE_MAX_SEGS]; /* literal text, or NULL for a {param} */
    size_t seg_lens[ABE_ROUTE_MAX_SEGS];
    char allow[48];                       /* Allow header value, e.g. "GET, HEAD, DELETE" */
} abe_route_t;

typedef enum { ABE_ROUTE_FOUND = 0, ABE_ROUTE_NOT_FOUND = 1, ABE_ROUTE_METHOD_NOT_ALLOWED = 2 } abe_route_result_t;

/*
 * abe_router_init — prepare routes[0..n) (split templates, compute Allow). Templates must be static
 * strings. Returns 0, or -1 if a template is malformed (too many segments, bad braces).
 */
int abe_router_init(abe_route_t *routes, size_t n);

/*
 * abe_router_match — find the route for path[0..len) (raw path without query) and method.
 *   method: the request method; HEAD is served by the GET handler.
 *   *route: the best matching route (also set for METHOD_NOT_ALLOWED, for Allow and metrics).
 *   *handler: the handler on FOUND.
 *   params/param_lens: up to ABE_MAX_PARAMS raw (still percent-encoded) parameter slices pointing into path;
 *   *nparams receives their count.
 */
abe_route_result_t abe_router_match(const abe_route_t *routes, size_t n, const char *method, size_t method_len,
                                    const char *path, size_t len, const abe_route_t **route,
                                    abe_handler_fn *handler, const char **params, size_t *param_lens,
                                    int *nparams);

/*
 * abe_percent_decode — decode %XX escapes of src[0..len) into dst (capacity >= len + 1), NUL-terminate.
 *   plus_is_space: 1 for query values ('+' = space). "%00" and malformed escapes are copied literally,
 *   so a decoded value never contains NUL. Returns the decoded length.
 */
size_t abe_percent_decode(const char *src, size_t len, char *dst, int plus_is_space);

/* The application's route table (abe_routes.c). */
extern abe_route_t abe_routes[];
extern const size_t abe_routes_count;

#endif

/*
 * abe_router.c — route-template matching (see abe_router.h for the rules).
 */
#include "abe_router.h"

#include <string.h>

static int method_index(const char *m, size_t len)
{
    if (len == 3 && memcmp(m, "GET", 3) == 0) return ABE_M_GET;
    if (len == 4 && memcmp(m, "HEAD", 4) == 0) return ABE_M_GET;
    if (len == 4 && memcmp(m, "POST", 4) == 0) return ABE_M_POST;
    if (len == 6 && memcmp(m, "DELETE", 6) == 0) return ABE_M_DELETE;
    return -1;
}

int abe_router_init(abe_route_t *routes, size_t n)
{
    for (size_t i = 0; i < n; i++) {
        abe_route_t *r = &routes[i];
        const char *p = r->tmpl;
        if (p[0] != '/') return -1;
        r->nsegs = 0;
        if (strcmp(p, "/") != 0) {
            p++;
            while (*p) {
                if (r->nsegs == ABE_ROUTE_MAX_SEGS) return -1;
                const char *end = strchr(p, '/');
                size_t len = end ? (size_t)(end - p) : strlen(p);
                if (len == 0) return -1;
                if (p[0] == '{') {
                    if (p[len - 1] != '}') return -1;
                    r->segs[r->nsegs] = NULL;
                } else {
                    r->segs[r->nsegs] = p;
                }
                r->seg_lens[r->nsegs++] = len;
                p += len;
                if (*p == '/') p++;
            }
        }
        /* Allow lists methods in a fixed order: GET, HEAD, POST, DELETE. */
        r->allow[0] = '\0';
        static const char *const names[ABE_M__COUNT] = {"GET, HEAD", "POST", "DELETE"};
        for (int m = 0; m < ABE_M__COUNT; m++) {
            if (!r->handlers[m]) continue;
            if (r->allow[0]) strcat(r->allow, ", ");
            strcat(r->allow, names[m]);
        }
    }
    return 0;
}

abe_route_result_t abe_router_match(const abe_route_t *routes, size_t n, const char *method,
                                    size_t method_len, const char *path, size_t len,
                                    const abe_route_t **route, abe_handler_fn *handler, const char **params,
                                    size_t *param_lens, int *nparams)
{
    const char *segs[ABE_ROUTE_MAX_SEGS];
    size_t seg_lens[ABE_ROUTE_MAX_SEGS];
    int nsegs = 0;

    *route = NULL;
    *handler = NULL;
    *nparams = 0;
    if (len == 0 || path[0] != '/') return ABE_ROUTE_NOT_FOUND;
    if (len > 1) {
        size_t i = 1;
        for (;;) {
            if (nsegs == ABE_ROUTE_MAX_SEGS) return ABE_ROUTE_NOT_FOUND;
            size_t start = i;
            while (i < len && path[i] != '/')
                i++;
            segs[nsegs] = path + start;
            seg_lens[nsegs++] = i - start;
            if (i >= len) break;
            i++; /* skip '/'; a trailing '/' yields an empty last segment, which nothing matches */
            if (i == len) {
                if (nsegs == ABE_ROUTE_MAX_SEGS) return ABE_ROUTE_NOT_FOUND;
                segs[nsegs] = path + i;
                seg_lens[nsegs++] = 0;
                break;
            }
        }
    }

    const abe_route_t *best = NULL;
    unsigned best_score = 0;
    for (size_t k = 0; k < n; k++) {
        const abe_route_t *r = &routes[k];
        if (r->nsegs != nsegs) continue;
        unsigned score = 0;
        int ok = 1;
        for (int s = 0; s < nsegs && ok; s++) {
            if (r->segs[s]) {
                ok = seg_lens[s] == r->seg_lens[s] && memcmp(segs[s], r->segs[s], seg_lens[s]) == 0;
                score = (score << 1) | 1u;
            } else {
                ok = seg_lens[s] > 0;
                score <<= 1;
            }
        }
        if (ok && (!best || score > best_score)) {
            best = r;
            best_score = score;
        }
    }
    if (!best) return ABE_ROUTE_NOT_FOUND;
    *route = best;
    for (int s = 0; s < nsegs; s++) {
        if (best->segs[s] == NULL && *nparams < ABE_MAX_PARAMS) {
            params[*nparams] = segs[s];
            param_lens[(*nparams)++] = seg_lens[s];
        }
    }
    int m = method_index(method, method_len);
    if (m < 0 || !best->handlers[m]) return ABE_ROUTE_METHOD_NOT_ALLOWED;
    *handler = best->handlers[m];
    return ABE_ROUTE_FOUND;
}

static int hexval(char c)
{
    if (c >= '0' && c <= '9') return c - '0';
    if (c >= 'a' && c <= 'f') return c - 'a' + 10;
    if (c >= 'A' && c <= 'F') return c - 'A' + 10;
    return -1;
}

size_t abe_percent_decode(const char *src, size_t len, char *dst, int plus_is_space)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        char c = src[i];
        if (c == '%' && i + 2 < len) {
            int hi = hexval(src[i + 1]), lo = hexval(src[i + 2]);
            if (hi >= 0 && lo >= 0 && (hi | lo) != 0) {
                dst[o++] = (char)(hi * 16 + lo);
                i += 2;
                continue;
            }
        } else if (c == '+' && plus_is_space) {
            dst[o++] = ' ';
            continue;
        }
        dst[o++] = c;
    }
    dst[o] = '\0';
    return o;
}

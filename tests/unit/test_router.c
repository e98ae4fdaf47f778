/*
 * test_router.c — route templates, literal-over-parameter preference, 405/Allow, HEAD, percent-decoding,
 * the correlation-id rule and the JSON media-type rule (SPEC §2.1, §2.4).
 */
#include <criterion/criterion.h>
#include <string.h>

#include "abe_http.h"
#include "abe_router.h"

static int h_a(abe_req_t *r)
{
    (void)r;
    return 0;
}
static int h_b(abe_req_t *r)
{
    (void)r;
    return 0;
}
static int h_c(abe_req_t *r)
{
    (void)r;
    return 0;
}
static int h_d(abe_req_t *r)
{
    (void)r;
    return 0;
}

static abe_route_t routes[] = {
    {.tmpl = "/", .handlers = {[ABE_M_GET] = h_a}},
    {.tmpl = "/api/v1/workflows/{workflow_id}", .handlers = {[ABE_M_GET] = h_b, [ABE_M_DELETE] = h_c}},
    {.tmpl = "/api/v1/workflows/executions", .handlers = {[ABE_M_GET] = h_d}},
    {.tmpl = "/api/v1/workflows/{workflow_id}/execute", .handlers = {[ABE_M_POST] = h_a}},
    {.tmpl = "/api/v1/workflows/executions/{execution_id}/replay", .handlers = {[ABE_M_POST] = h_b}},
};
#define NROUTES (sizeof(routes) / sizeof(routes[0]))

static abe_route_result_t match(const char *method, const char *path, const abe_route_t **route,
                                abe_handler_fn *h, const char **params, size_t *lens, int *np)
{
    return abe_router_match(routes, NROUTES, method, strlen(method), path, strlen(path), route, h, params,
                            lens, np);
}

static void setup(void)
{
    cr_assert_eq(abe_router_init(routes, NROUTES), 0);
}

TestSuite(router, .init = setup);

Test(router, root_and_params)
{
    const abe_route_t *rt;
    abe_handler_fn h;
    const char *p[ABE_MAX_PARAMS];
    size_t l[ABE_MAX_PARAMS];
    int n;
    cr_assert_eq(match("GET", "/", &rt, &h, p, l, &n), ABE_ROUTE_FOUND);
    cr_assert_eq(h, h_a);
    cr_assert_eq(match("GET", "/api/v1/workflows/abc", &rt, &h, p, l, &n), ABE_ROUTE_FOUND);
    cr_assert_eq(h, h_b);
    cr_assert_eq(n, 1);
    cr_assert_eq(l[0], 3);
    cr_assert_eq(strncmp(p[0], "abc", 3), 0);
    cr_assert_str_eq(rt->tmpl, "/api/v1/workflows/{workflow_id}");
    cr_assert_eq(match("DELETE", "/api/v1/workflows/abc", &rt, &h, p, l, &n), ABE_ROUTE_FOUND);
    cr_assert_eq(h, h_c);
}

Test(router, literal_beats_parameter)
{
    const abe_route_t *rt;
    abe_handler_fn h;
    const char *p[ABE_MAX_PARAMS];
    size_t l[ABE_MAX_PARAMS];
    int n;
    cr_assert_eq(match("GET", "/api/v1/workflows/executions", &rt, &h, p, l, &n), ABE_ROUTE_FOUND);
    cr_assert_eq(h, h_d);
    cr_assert_eq(n, 0);
    /* DELETE on the literal route is a 405, never a workflow id */
    cr_assert_eq(match("DELETE", "/api/v1/workflows/executions", &rt, &h, p, l, &n),
                 ABE_ROUTE_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(rt->allow, "GET, HEAD");
    cr_assert_eq(match("POST", "/api/v1/workflows/executions/e1/replay", &rt, &h, p, l, &n), ABE_ROUTE_FOUND);
    cr_assert_eq(h, h_b);
}

Test(router, method_not_allowed_lists_methods)
{
    const abe_route_t *rt;
    abe_handler_fn h;
    const char *p[ABE_MAX_PARAMS];
    size_t l[ABE_MAX_PARAMS];
    int n;
    cr_assert_eq(match("PUT", "/api/v1/workflows/x", &rt, &h, p, l, &n), ABE_ROUTE_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(rt->allow, "GET, HEAD, DELETE");
    cr_assert_eq(match("PATCH", "/api/v1/workflows/x", &rt, &h, p, l, &n), ABE_ROUTE_METHOD_NOT_ALLOWED);
    cr_assert_eq(match("GET", "/api/v1/workflows/x/execute", &rt, &h, p, l, &n),
                 ABE_ROUTE_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(rt->allow, "POST");
}

Test(router, head_uses_get)
{
    const abe_route_t *rt;
    abe_handler_fn h;
    const char *p[ABE_MAX_PARAMS];
    size_t l[ABE_MAX_PARAMS];
    int n;
    cr_assert_eq(match("HEAD", "/api/v1/workflows/x", &rt, &h, p, l, &n), ABE_ROUTE_FOUND);
    cr_assert_eq(h, h_b);
}

Test(router, not_found_cases)
{
    const abe_route_t *rt;
    abe_handler_fn h;
    const char *p[ABE_MAX_PARAMS];
    size_t l[ABE_MAX_PARAMS];
    int n;
    const char *paths[] = {
        "/api/v1/workflows/", "/api/v1/workflows//execute",       "/API/v1/workflows/x", "",
        "api/v1/workflows/x", "/api/v1/workflows/x/execute/more", "/a/b/c/d/e/f/g/h/i/j"};
    for (size_t i = 0; i < sizeof(paths) / sizeof(paths[0]); i++)
        cr_assert_eq(match("GET", paths[i], &rt, &h, p, l, &n), ABE_ROUTE_NOT_FOUND, "%s", paths[i]);
}

Test(router, encoded_slash_stays_in_segment)
{
    const abe_route_t *rt;
    abe_handler_fn h;
    const char *p[ABE_MAX_PARAMS];
    size_t l[ABE_MAX_PARAMS];
    int n;
    cr_assert_eq(match("POST", "/api/v1/workflows/abc%2Fexecute", &rt, &h, p, l, &n),
                 ABE_ROUTE_METHOD_NOT_ALLOWED);
    cr_assert_str_eq(rt->tmpl, "/api/v1/workflows/{workflow_id}");
}

Test(router, bad_templates_rejected)
{
    abe_route_t bad1[] = {{.tmpl = "nope"}};
    abe_route_t bad2[] = {{.tmpl = "/a//b"}};
    abe_route_t bad3[] = {{.tmpl = "/a/{x"}};
    cr_assert_eq(abe_router_init(bad1, 1), -1);
    cr_assert_eq(abe_router_init(bad2, 1), -1);
    cr_assert_eq(abe_router_init(bad3, 1), -1);
}

Test(percent, decode)
{
    char out[64];
    cr_assert_eq(abe_percent_decode("a%2Fb", 5, out, 0), 3);
    cr_assert_str_eq(out, "a/b");
    abe_percent_decode("a+b%20c", 7, out, 1);
    cr_assert_str_eq(out, "a b c");
    abe_percent_decode("a+b", 3, out, 0);
    cr_assert_str_eq(out, "a+b");
    /* %00 and malformed escapes are kept literally: decoded values never hold NUL */
    cr_assert_eq(abe_percent_decode("x%00y", 5, out, 0), 5);
    cr_assert_str_eq(out, "x%00y");
    abe_percent_decode("%zz%4", 5, out, 0);
    cr_assert_str_eq(out, "%zz%4");
    abe_percent_decode("%C3%A9", 6, out, 0);
    cr_assert_str_eq(out, "\xc3\xa9");
}

Test(correlation, rule)
{
    cr_assert(abe_cid_is_valid("abc-123_X.y", 11));
    char max[129];
    memset(max, 'a', 128);
    cr_assert(abe_cid_is_valid(max, 128));
    cr_assert_not(abe_cid_is_valid(max, 129));
    cr_assert_not(abe_cid_is_valid("", 0));
    cr_assert_not(abe_cid_is_valid("a b", 3));
    cr_assert_not(abe_cid_is_valid("a/b", 3));
    cr_assert_not(abe_cid_is_valid("\xc3\xa9", 2));
}

Test(media_type, json_rules)
{
    const char *ok[] = {"application/json",
                        "APPLICATION/JSON",
                        "application/json; charset=utf-8",
                        "application/json;charset=\"UTF-8\"",
                        "application/problem+json",
                        "application/vnd.x+json; a=b",
                        " application/json "};
    const char *bad[] = {"text/plain",
                         "application/json; charset=latin-1",
                         "application/xml",
                         "application/+json",
                         "application/jsonx",
                         "multipart/form-data",
                         "application/json; charset="};
    for (size_t i = 0; i < sizeof(ok) / sizeof(ok[0]); i++)
        cr_assert(abe_media_type_is_json(ok[i], strlen(ok[i])), "%s", ok[i]);
    for (size_t i = 0; i < sizeof(bad) / sizeof(bad[0]); i++)
        cr_assert_not(abe_media_type_is_json(bad[i], strlen(bad[i])), "%s", bad[i]);
}

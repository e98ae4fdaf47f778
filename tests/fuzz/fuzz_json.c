/*
 * fuzz_json.c — libFuzzer target for common/abe_json.c. Feeds arbitrary bytes to abe_json_parse_body (SPEC
 * §2.1) and runs a workflow-shaped validator pass (SPEC §2.3) over whatever parses, so the depth scan, the
 * NUL-in-key rewrite/restore path, the field checks and the NUL scan all see hostile input under ASan/UBSan.
 * Invariants checked (abort on violation): a failure's offset never exceeds the input length; a parsed value
 * re-serialises; every issue has exactly loc/msg/type with loc starting at its root.
 * Build: cmake -DABE_FUZZ=ON with clang (or clang -fsanitize=fuzzer,address,undefined ... directly).
 */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "abe_json.h"

static void check_issues(json_t *issues, const char *root)
{
    size_t i;
    json_t *issue;
    json_array_foreach(issues, i, issue)
    {
        json_t *loc = json_object_get(issue, "loc");
        if (json_object_size(issue) != 3 || !json_is_array(loc) || json_array_size(loc) == 0 ||
            !json_is_string(json_object_get(issue, "msg")) ||
            !json_is_string(json_object_get(issue, "type")) ||
            strcmp(json_string_value(json_array_get(loc, 0)), root) != 0)
            abort();
    }
}

/* validate — the shape of a workflow body: every field check, a nested loc, and free-form NUL scans. */
static void validate(json_t *body)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    if (abe_v_body_object(&v, body) == 1) {
        abe_v_str(&v, body, "name", 1, 1, 100, NULL, NULL);
        abe_v_str(&v, body, "description", 0, 0, 2000, NULL, NULL);
        abe_v_bool(&v, body, "parallel_execution", 0, NULL);
        json_t *ctx = NULL;
        if (abe_v_object_or_list(&v, body, "context", 0, &ctx) == 1) {
            abe_v_push_key(&v, "context");
            abe_v_nul_scan(&v, ctx);
            abe_v_pop(&v);
        }
        json_t *steps = NULL;
        if (abe_v_list(&v, body, "steps", 1, 500, &steps) == 1) {
            abe_v_push_key(&v, "steps");
            size_t i;
            json_t *step;
            json_array_foreach(steps, i, step)
            {
                abe_v_push_index(&v, (long)i);
                json_t *params = NULL;
                if (!json_is_object(step)) {
                    abe_v_issue(&v, NULL, "Input should be a valid dictionary", "dict_type");
                } else {
                    abe_v_str(&v, step, "name", 1, 1, 100, NULL, NULL);
                    int64_t d;
                    abe_v_int(&v, step, "duration_ms", 0, 0, 600000, &d);
                    if (abe_v_object(&v, step, "parameters", 0, &params) == 1) {
                        abe_v_push_key(&v, "parameters");
                        abe_v_nul_scan(&v, params);
                        abe_v_pop(&v);
                    }
                }
                abe_v_pop(&v);
            }
            abe_v_pop(&v);
        }
    }
    /* The whole body through the NUL scan too (deep trees, keys with NUL). */
    abe_v_nul_scan(&v, body);
    json_t *issues = abe_v_take_issues(&v);
    check_issues(issues, "body");
    char *s = json_dumps(issues, ABE_JSON_DUMP_FLAGS);
    if (s == NULL) abort();
    free(s);
    json_decref(issues);
    abe_v_free(&v);
}

/* query — the input as query values (NUL-terminated copy). */
static void query(const uint8_t *data, size_t size)
{
    char *raw = malloc(size + 1);
    if (raw == NULL) return;
    memcpy(raw, data, size);
    raw[size] = '\0';
    static const char *const statuses[] = {"pending", "running", "success", "failed"};
    abe_validator_t v;
    abe_v_init(&v, "query");
    int64_t out;
    abe_v_query_int(&v, "limit", raw, 1, 500, 100, &out);
    abe_v_query_int(&v, "offset", raw, 0, INT64_MAX, 0, &out);
    abe_v_query_enum(&v, "status", raw, statuses, 4);
    check_issues(v.issues, "query");
    abe_v_free(&v);
    free(raw);
}

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
    const char *buf = (const char *)data;
    if (abe_json_is_blank(buf, size)) return 0;
    size_t off = 0;
    json_t *body = abe_json_parse_body(buf, size, &off);
    if (body == NULL) {
        if (off > size) abort();
        abe_validator_t v;
        abe_v_init(&v, "body");
        abe_v_json_invalid(&v, off);
        check_issues(v.issues, "body");
        abe_v_free(&v);
    } else {
        char *s = json_dumps(body, ABE_JSON_DUMP_FLAGS | JSON_ENCODE_ANY);
        if (s == NULL) abort();
        free(s);
        validate(body);
        json_decref(body);
    }
    if (size <= 64) query(data, size);
    return 0;
}

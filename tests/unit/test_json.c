/*
 * test_json.c — unit tests for common/abe_json.c: strict body parsing (suite "json", SPEC §2.1) and the 422
 * validator (suite "validator", SPEC §2.3). Issue lists are compared as exact compact JSON strings, so
 * message wording, type names, loc shapes and key order (loc, msg, type) are all pinned.
 */
#include <criterion/criterion.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "abe_json.h"

/* ---- helpers ------------------------------------------------------------------------------------------ */

/* parse — parse a literal (may contain NUL bytes when len is given explicitly). */
static json_t *parse_n(const char *s, size_t len, size_t *off)
{
    *off = (size_t)-1;
    return abe_json_parse_body(s, len, off);
}
#define PARSE(lit, offp) parse_n((lit), sizeof(lit) - 1, (offp))

/* expect_invalid — the body must be rejected with exactly this offset. */
static void expect_invalid(const char *s, size_t len, size_t want_off)
{
    size_t off;
    json_t *j = parse_n(s, len, &off);
    cr_assert_null(j, "accepted invalid body: %.*s", (int)(len > 80 ? 80 : len), s);
    cr_assert_eq(off, want_off, "offset %zu, want %zu for %.*s", off, want_off, (int)(len > 80 ? 80 : len),
                 s);
}
#define EXPECT_INVALID(lit, want) expect_invalid((lit), sizeof(lit) - 1, (want))

/* dump — compact JSON of value (ABE_JSON_DUMP_FLAGS plus ENCODE_ANY); caller frees. */
static char *dump(const json_t *value)
{
    char *s = json_dumps(value, ABE_JSON_DUMP_FLAGS | JSON_ENCODE_ANY);
    cr_assert_not_null(s);
    return s;
}

/* expect_issues — the validator's issue list serialises to exactly want. */
static void expect_issues(abe_validator_t *v, const char *want)
{
    char *got = dump(v->issues);
    cr_assert_str_eq(got, want);
    free(got);
}

/* build — parse a valid test body (asserts success). */
static json_t *build(const char *s)
{
    size_t off;
    json_t *j = abe_json_parse_body(s, strlen(s), &off);
    cr_assert_not_null(j, "test body did not parse: %s (offset %zu)", s, off);
    return j;
}

/* nested — n opening brackets of kind open, then a 1, then the closers. Caller frees. */
static char *nested(size_t n, const char *open, const char *close, size_t *len)
{
    size_t ol = strlen(open), cl = strlen(close);
    char *s = malloc(n * (ol + cl) + 2);
    cr_assert_not_null(s);
    size_t o = 0;
    for (size_t i = 0; i < n; i++, o += ol)
        memcpy(s + o, open, ol);
    s[o++] = '1';
    for (size_t i = 0; i < n; i++, o += cl)
        memcpy(s + o, close, cl);
    s[o] = '\0';
    *len = o;
    return s;
}

/* ---- suite json: blank detection ---------------------------------------------------------------------- */

Test(json, blank_detection)
{
    cr_assert(abe_json_is_blank("", 0));
    cr_assert(abe_json_is_blank(NULL, 0));
    cr_assert(abe_json_is_blank(" \t\r\n ", 5));
    cr_assert_not(abe_json_is_blank(" x ", 3));
    cr_assert_not(abe_json_is_blank("{}", 2));
    /* A NUL byte or a form feed is not JSON whitespace. */
    cr_assert_not(abe_json_is_blank(" \0 ", 3));
    cr_assert_not(abe_json_is_blank("\f", 1));
    /* Only the first len bytes count. */
    cr_assert(abe_json_is_blank("  x", 2));
}

/* ---- suite json: valid documents ---------------------------------------------------------------------- */

Test(json, parses_object_with_surrounding_whitespace)
{
    size_t off;
    json_t *j = PARSE(" \r\n\t{\"a\":[1,2.5,\"x\",true,null]} \n\t ", &off);
    cr_assert_not_null(j);
    char *s = dump(j);
    cr_assert_str_eq(s, "{\"a\":[1,2.5,\"x\",true,null]}");
    free(s);
    json_decref(j);
}

Test(json, parses_top_level_scalars)
{
    size_t off;
    json_t *j = PARSE("42", &off);
    cr_assert(json_is_integer(j));
    json_decref(j);
    j = PARSE("[]", &off);
    cr_assert(json_is_array(j));
    json_decref(j);
    j = PARSE("\"s\"", &off);
    cr_assert(json_is_string(j));
    json_decref(j);
    j = PARSE("null", &off);
    cr_assert(json_is_null(j));
    json_decref(j);
}

Test(json, depth_64_is_accepted)
{
    size_t len, off;
    char *s = nested(64, "[", "]", &len);
    json_t *j = parse_n(s, len, &off);
    cr_assert_not_null(j, "64 nested arrays must parse");
    json_decref(j);
    free(s);

    /* 63 object levels + the top-level object = 64. */
    s = nested(63, "{\"k\":", "}", &len);
    char *wrapped = malloc(len + 8);
    cr_assert_not_null(wrapped);
    int wl = snprintf(wrapped, len + 8, "{\"a\":%s}", s);
    j = parse_n(wrapped, (size_t)wl, &off);
    cr_assert_not_null(j, "64 nested objects must parse");
    json_decref(j);
    free(wrapped);
    free(s);
}

Test(json, brackets_inside_strings_do_not_count_toward_depth)
{
    char body[400];
    size_t o = 0;
    body[o++] = '[';
    body[o++] = '"';
    for (int i = 0; i < 100; i++)
        body[o++] = (i % 2) ? '{' : '[';
    body[o++] = '\\';
    body[o++] = '"'; /* escaped quote must not end the string */
    body[o++] = '[';
    body[o++] = '"';
    body[o++] = ']';
    size_t off;
    json_t *j = parse_n(body, o, &off);
    cr_assert_not_null(j);
    cr_assert_eq(json_string_length(json_array_get(j, 0)), 102);
    json_decref(j);
}

Test(json, integral_real_and_int64_bounds)
{
    size_t off;
    json_t *j = PARSE("[500.0,9223372036854775807,-9223372036854775808,1e-400,-0]", &off);
    cr_assert_not_null(j);
    cr_assert(json_is_real(json_array_get(j, 0)));
    cr_assert_eq(json_integer_value(json_array_get(j, 1)), INT64_MAX);
    cr_assert_eq(json_integer_value(json_array_get(j, 2)), INT64_MIN);
    cr_assert(json_real_value(json_array_get(j, 3)) == 0.0);
    json_decref(j);
}

Test(json, utf8_and_surrogate_pair_escapes)
{
    size_t off;
    json_t *j = PARSE("{\"raw\":\"h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"esc\":\"\\ud83d\\ude00\"}", &off);
    cr_assert_not_null(j);
    cr_assert_str_eq(json_string_value(json_object_get(j, "raw")), "h\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80");
    cr_assert_str_eq(json_string_value(json_object_get(j, "esc")), "\xf0\x9f\x98\x80");
    json_decref(j);
}

Test(json, nul_in_string_value_is_accepted)
{
    size_t off;
    json_t *j = PARSE("{\"a\":\"x\\u0000y\"}", &off);
    cr_assert_not_null(j, "U+0000 in a value is a validator error, not json_invalid");
    json_t *a = json_object_get(j, "a");
    cr_assert_eq(json_string_length(a), 3);
    cr_assert_eq(memcmp(json_string_value(a), "x\0y", 3), 0);
    json_decref(j);
}

Test(json, nul_in_key_is_accepted_with_exact_keys_and_order)
{
    size_t off;
    json_t *j = PARSE(
        "{\"first\":1,\"a\\u0000b\":{\"in\\u0000\":[2]},\"c\\u0001\":3,\"\\\\u0000\":4,\"last\":\"\\u0000\"}",
        &off);
    cr_assert_not_null(j, "NUL in a key must reach the validator (offset %zu)", off);
    cr_assert_eq(json_object_size(j), 5);
    const char *want[] = {"first", "a\0b", "c\x01", "\\u0000", "last"};
    size_t want_len[] = {5, 3, 2, 6, 4};
    size_t i = 0;
    const char *key;
    size_t klen;
    json_t *val;
    json_object_keylen_foreach(j, key, klen, val)
    {
        cr_assert_lt(i, 5);
        cr_assert_eq(klen, want_len[i], "key %zu length %zu", i, klen);
        cr_assert_eq(memcmp(key, want[i], klen), 0, "key %zu differs", i);
        i++;
    }
    json_t *inner = json_object_getn(j, "a\0b", 3);
    cr_assert(json_is_object(inner));
    cr_assert(json_is_array(json_object_getn(inner, "in\0", 3)));
    cr_assert_eq(json_integer_value(json_object_get(j, "c\x01")), 3);
    cr_assert_eq(json_string_length(json_object_get(j, "last")), 1);
    json_decref(j);
}

Test(json, nul_key_rewrite_keeps_distinct_keys_distinct)
{
    size_t off;
    /* "a\0" and "a\x01\x01" would collide under a naive rewrite. */
    json_t *j = PARSE("{\"a\\u0000\":1,\"a\\u0001\\u0001\":2,\"a\\u0001\":3}", &off);
    cr_assert_not_null(j);
    cr_assert_eq(json_object_size(j), 3);
    cr_assert_eq(json_integer_value(json_object_getn(j, "a\0", 2)), 1);
    cr_assert_eq(json_integer_value(json_object_getn(j, "a\x01\x01", 3)), 2);
    cr_assert_eq(json_integer_value(json_object_getn(j, "a\x01", 2)), 3);
    json_decref(j);
}

/* ---- suite json: invalid documents (SPEC §2.1) -------------------------------------------------------- */

Test(json, depth_65_is_rejected)
{
    size_t len;
    char *s = nested(65, "[", "]", &len);
    expect_invalid(s, len, 65); /* bytes through the 65th opening bracket */
    free(s);

    s = nested(65, "{\"k\":", "}", &len);
    expect_invalid(s, len, 64 * 5 + 1);
    free(s);

    /* Far deeper than jansson's own limit: still our offset. */
    s = nested(5000, "[", "]", &len);
    expect_invalid(s, len, 65);
    free(s);
}

Test(json, earlier_syntax_error_wins_over_depth)
{
    char body[200];
    memcpy(body, "[x", 2);
    memset(body + 2, '[', 100);
    expect_invalid(body, 102, 2);
}

Test(json, trailing_garbage)
{
    EXPECT_INVALID("{} x", 4);
    EXPECT_INVALID("{}{}", 3);
    EXPECT_INVALID("1 2", 3);
    EXPECT_INVALID("{\"a\":1} }", 9);
    expect_invalid("{}\0", 3, 3); /* a NUL byte is not whitespace */
}

Test(json, unpaired_surrogates)
{
    EXPECT_INVALID("\"\\ud800\"", 8);
    EXPECT_INVALID("{\"a\":\"\\udc00\"}", 13);
    EXPECT_INVALID("[\"\\ud800\\u0041\"]", 15);
    EXPECT_INVALID("{\"\\ud800\":1}", 9);
}

Test(json, numbers_out_of_range)
{
    EXPECT_INVALID("9223372036854775808", 19);
    EXPECT_INVALID("-9223372036854775809", 20);
    EXPECT_INVALID("{\"p\":{\"x\":[1e400]}}", 16);
    EXPECT_INVALID("-1e400", 6);
}

Test(json, invalid_utf8)
{
    EXPECT_INVALID("\"\xff\"", 1);
    EXPECT_INVALID("\"\xc0\x80\"", 1);         /* overlong NUL */
    EXPECT_INVALID("[\"\xed\xa0\x80\"]", 2);   /* UTF-8-encoded surrogate */
    EXPECT_INVALID("\"\xf4\x90\x80\x80\"", 1); /* above U+10FFFF */
    EXPECT_INVALID("{\"a\":\"\xe2\x82\"}", 6); /* truncated sequence */
}

Test(json, repeated_keys)
{
    EXPECT_INVALID("{\"a\":1,\"a\":2}", 10);
    EXPECT_INVALID("{\"o\":{\"k\":1,\"k\":1}}", 15);
    /* Same key spelled with an escape is still the same key. */
    EXPECT_INVALID("{\"ab\":1,\"a\\u0062\":2}", 17);
}

Test(json, other_syntax_errors)
{
    EXPECT_INVALID("", 0);
    EXPECT_INVALID("   ", 3);
    EXPECT_INVALID("[1,]", 4);
    EXPECT_INVALID("{\"a\" 1}", 6);
    EXPECT_INVALID("nul", 3);
    EXPECT_INVALID("[\"a\x01\"]", 3); /* raw control character */
    EXPECT_INVALID("{\"a\":\"unterminated", 18);
}

Test(json, nul_key_path_still_rejects_invalid_documents)
{
    /* Errors after the NUL key are reported at their offset in the original bytes. */
    EXPECT_INVALID("{\"a\\u0000\":1} x", 15);
    EXPECT_INVALID("{\"a\\u0000\":1,\"a\\u0000\":2}", 22); /* after the repeated key */
    EXPECT_INVALID("{\"a\\u0000\":1,\"b\\u0000\":1e400}", 28);
    EXPECT_INVALID("{\"\\u0000\\u0000\":[1,]}", 20);

    /* ... and the depth limit applies too. */
    size_t len;
    char *inner = nested(64, "[", "]", &len);
    char *s = malloc(len + 16);
    cr_assert_not_null(s);
    int n = snprintf(s, len + 16, "{\"\\u0000\":%s}", inner);
    expect_invalid(s, (size_t)n, 10 + 64);
    free(s);
    free(inner);
}

Test(json, null_buffer_and_null_offset)
{
    size_t off = 7;
    cr_assert_null(abe_json_parse_body(NULL, 0, &off));
    cr_assert_eq(off, 0);
    cr_assert_null(abe_json_parse_body("[", 1, NULL));
    json_t *j = abe_json_parse_body("[]", 2, NULL);
    cr_assert_not_null(j);
    json_decref(j);
}

Test(json, buffer_need_not_be_nul_terminated)
{
    char buf[4] = {'[', '7', ']', 'x'};
    size_t off;
    json_t *j = parse_n(buf, 3, &off);
    cr_assert_not_null(j);
    cr_assert_eq(json_integer_value(json_array_get(j, 0)), 7);
    json_decref(j);
}

/* ---- suite validator: core ---------------------------------------------------------------------------- */

Test(validator, starts_empty_and_take_transfers_ownership)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    cr_assert(abe_v_ok(&v));
    expect_issues(&v, "[]");
    abe_v_issue(&v, "x", "Field required", "missing");
    cr_assert_not(abe_v_ok(&v));
    json_t *issues = abe_v_take_issues(&v);
    cr_assert_eq(json_array_size(issues), 1);
    cr_assert(abe_v_ok(&v));
    /* Recording after take starts a fresh list. */
    abe_v_issue(&v, "y", "Field required", "missing");
    expect_issues(&v, "[{\"loc\":[\"body\",\"y\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
    abe_v_free(&v);
    abe_v_free(&v); /* idempotent */
    char *s = dump(issues);
    cr_assert_str_eq(s, "[{\"loc\":[\"body\",\"x\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
    free(s);
    json_decref(issues);
}

Test(validator, loc_stack_keys_and_indexes)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    abe_v_push_key(&v, "steps");
    abe_v_push_index(&v, 3);
    abe_v_issue(&v, "name", "Field required", "missing");
    abe_v_pop(&v);
    abe_v_issue(&v, NULL, "Input should be a valid list", "list_type");
    abe_v_pop(&v);
    abe_v_pop(&v); /* popping past the root keeps the root */
    abe_v_issue(&v, NULL, "Input should be a valid dictionary", "dict_type");
    expect_issues(
        &v, "[{\"loc\":[\"body\",\"steps\",3,\"name\"],\"msg\":\"Field required\",\"type\":\"missing\"},"
            "{\"loc\":[\"body\",\"steps\"],\"msg\":\"Input should be a valid list\",\"type\":\"list_type\"},"
            "{\"loc\":[\"body\"],\"msg\":\"Input should be a valid dictionary\",\"type\":\"dict_type\"}]");
    abe_v_free(&v);
}

Test(validator, loc_stack_overflow_stays_balanced)
{
    abe_validator_t v;
    abe_v_init(&v, "query");
    for (int i = 0; i < ABE_V_MAX_LOC + 5; i++)
        abe_v_push_index(&v, i);
    abe_v_issue(&v, NULL, "m", "t");
    json_t *loc = json_object_get(json_array_get(v.issues, 0), "loc");
    cr_assert_eq(json_array_size(loc), ABE_V_MAX_LOC);
    for (int i = 0; i < ABE_V_MAX_LOC + 5; i++)
        abe_v_pop(&v);
    abe_v_issue(&v, "limit", "m", "t");
    loc = json_object_get(json_array_get(v.issues, 1), "loc");
    char *s = dump(loc);
    cr_assert_str_eq(s, "[\"query\",\"limit\"]");
    free(s);
    abe_v_free(&v);
}

Test(validator, json_invalid_issue)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    abe_v_json_invalid(&v, 12);
    expect_issues(&v, "[{\"loc\":[\"body\",12],\"msg\":\"JSON decode error\",\"type\":\"json_invalid\"}]");
    abe_v_free(&v);
}

Test(validator, parse_failure_feeds_json_invalid)
{
    size_t off;
    json_t *j = PARSE("{\"a\":1,}", &off);
    cr_assert_null(j);
    abe_validator_t v;
    abe_v_init(&v, "body");
    abe_v_json_invalid(&v, off);
    expect_issues(&v, "[{\"loc\":[\"body\",8],\"msg\":\"JSON decode error\",\"type\":\"json_invalid\"}]");
    abe_v_free(&v);
}

Test(validator, body_object)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *o = build("{}");
    cr_assert_eq(abe_v_body_object(&v, o), 1);
    cr_assert(abe_v_ok(&v));
    json_t *a = build("[{}]");
    cr_assert_eq(abe_v_body_object(&v, a), -1);
    cr_assert_eq(abe_v_body_object(&v, NULL), -1);
    expect_issues(
        &v, "[{\"loc\":[\"body\"],\"msg\":\"Input should be a valid dictionary\",\"type\":\"dict_type\"},"
            "{\"loc\":[\"body\"],\"msg\":\"Input should be a valid dictionary\",\"type\":\"dict_type\"}]");
    json_decref(o);
    json_decref(a);
    abe_v_free(&v);
}

/* ---- suite validator: strings ------------------------------------------------------------------------- */

Test(validator, str_success_and_absent)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"name\":\"wf\",\"opt\":null}");
    const char *s = NULL;
    size_t len = 0;
    cr_assert_eq(abe_v_str(&v, b, "name", 1, 1, 100, &s, &len), 1);
    cr_assert_str_eq(s, "wf");
    cr_assert_eq(len, 2);
    s = NULL;
    cr_assert_eq(abe_v_str(&v, b, "opt", 0, 0, 100, &s, &len), 0);
    cr_assert_eq(abe_v_str(&v, b, "nope", 0, 0, 100, &s, &len), 0);
    cr_assert_null(s, "out untouched when absent");
    cr_assert(abe_v_ok(&v));
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, str_required_missing_and_null)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"agent_id\":null}");
    cr_assert_eq(abe_v_str(&v, b, "name", 1, 1, 100, NULL, NULL), 0);
    cr_assert_eq(abe_v_str(&v, b, "agent_id", 1, 1, 100, NULL, NULL), 0);
    expect_issues(&v, "[{\"loc\":[\"body\",\"name\"],\"msg\":\"Field required\",\"type\":\"missing\"},"
                      "{\"loc\":[\"body\",\"agent_id\"],\"msg\":\"Input should be a valid string\",\"type\":"
                      "\"string_type\"}]");
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, str_wrong_types)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"a\":1,\"b\":true,\"c\":{},\"d\":[\"x\"]}");
    cr_assert_eq(abe_v_str(&v, b, "a", 0, 0, 100, NULL, NULL), -1);
    cr_assert_eq(abe_v_str(&v, b, "b", 1, 0, 100, NULL, NULL), -1);
    cr_assert_eq(abe_v_str(&v, b, "c", 0, 0, 100, NULL, NULL), -1);
    cr_assert_eq(abe_v_str(&v, b, "d", 0, 0, 100, NULL, NULL), -1);
    const char *one =
        "{\"loc\":[\"body\",\"%s\"],\"msg\":\"Input should be a valid string\",\"type\":\"string_type\"}";
    char want[600], part[120];
    strcpy(want, "[");
    const char *keys[] = {"a", "b", "c", "d"};
    for (int i = 0; i < 4; i++) {
        snprintf(part, sizeof(part), one, keys[i]);
        strcat(want, part);
        strcat(want, i < 3 ? "," : "]");
    }
    expect_issues(&v, want);
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, str_length_limits_and_pluralisation)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"empty\":\"\",\"one\":\"x\",\"long\":\"abcd\"}");
    cr_assert_eq(abe_v_str(&v, b, "empty", 1, 1, 100, NULL, NULL), -1);
    cr_assert_eq(abe_v_str(&v, b, "one", 1, 2, 100, NULL, NULL), -1);
    cr_assert_eq(abe_v_str(&v, b, "long", 1, 1, 3, NULL, NULL), -1);
    cr_assert_eq(abe_v_str(&v, b, "one", 1, 0, 1, NULL, NULL), 1); /* bounds are inclusive */
    cr_assert_eq(abe_v_str(&v, b, "long", 1, 4, 4, NULL, NULL), 1);
    cr_assert_eq(abe_v_str(&v, b, "long", 1, 0, 1, NULL, NULL), -1);
    expect_issues(
        &v, "[{\"loc\":[\"body\",\"empty\"],\"msg\":\"String should have at least 1 character\",\"type\":"
            "\"string_too_short\"},"
            "{\"loc\":[\"body\",\"one\"],\"msg\":\"String should have at least 2 characters\",\"type\":"
            "\"string_too_short\"},"
            "{\"loc\":[\"body\",\"long\"],\"msg\":\"String should have at most 3 characters\",\"type\":"
            "\"string_too_long\"},"
            "{\"loc\":[\"body\",\"long\"],\"msg\":\"String should have at most 1 character\",\"type\":"
            "\"string_too_long\"}]");
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, str_lengths_count_code_points)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    /* 2-, 3- and 4-byte sequences each count once; an escaped surrogate pair is one code point. */
    json_t *b = build("{\"e\":\"\xc3\xa9\xe2\x82\xac\xf0\x9f\x98\x80\",\"p\":\"\\ud83d\\ude00\"}");
    size_t len = 0;
    cr_assert_eq(abe_v_str(&v, b, "e", 1, 3, 3, NULL, &len), 1);
    cr_assert_eq(len, 9, "out_len is in bytes");
    cr_assert_eq(abe_v_str(&v, b, "p", 1, 1, 1, NULL, &len), 1);
    cr_assert_eq(len, 4);
    cr_assert(abe_v_ok(&v));
    cr_assert_eq(abe_v_str(&v, b, "e", 1, 0, 2, NULL, NULL), -1);
    expect_issues(&v,
                  "[{\"loc\":[\"body\",\"e\"],\"msg\":\"String should have at most 2 characters\",\"type\":"
                  "\"string_too_long\"}]");
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, str_100_code_points_boundary)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    char body[1024];
    int o = snprintf(body, sizeof(body), "{\"ok\":\"");
    for (int i = 0; i < 100; i++)
        o += snprintf(body + o, sizeof(body) - (size_t)o, "\xf0\x9f\x98\x80");
    o += snprintf(body + o, sizeof(body) - (size_t)o, "\",\"bad\":\"");
    for (int i = 0; i < 101; i++)
        o += snprintf(body + o, sizeof(body) - (size_t)o, "a");
    snprintf(body + o, sizeof(body) - (size_t)o, "\"}");
    json_t *b = build(body);
    cr_assert_eq(abe_v_str(&v, b, "ok", 1, 1, 100, NULL, NULL), 1);
    cr_assert_eq(abe_v_str(&v, b, "bad", 1, 1, 100, NULL, NULL), -1);
    expect_issues(
        &v, "[{\"loc\":[\"body\",\"bad\"],\"msg\":\"String should have at most 100 characters\",\"type\":"
            "\"string_too_long\"}]");
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, str_with_nul_is_value_error)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"steps\":[{\"name\":\"a\\u0000\"}]}");
    abe_v_push_key(&v, "steps");
    abe_v_push_index(&v, 0);
    const char *out = NULL;
    cr_assert_eq(abe_v_str(&v, json_array_get(json_object_get(b, "steps"), 0), "name", 1, 1, 100, &out, NULL),
                 -1);
    cr_assert_null(out);
    expect_issues(&v,
                  "[{\"loc\":[\"body\",\"steps\",0,\"name\"],\"msg\":\"Value error, NUL characters are not "
                  "allowed\",\"type\":\"value_error\"}]");
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, field_on_non_object_is_absent)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *a = build("[1]");
    cr_assert_eq(abe_v_str(&v, a, "name", 0, 1, 100, NULL, NULL), 0);
    cr_assert(abe_v_ok(&v));
    cr_assert_eq(abe_v_str(&v, a, "name", 1, 1, 100, NULL, NULL), 0);
    expect_issues(&v, "[{\"loc\":[\"body\",\"name\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
    json_decref(a);
    abe_v_free(&v);
}

/* ---- suite validator: booleans ------------------------------------------------------------------------ */

Test(validator, bool_paths)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"t\":true,\"f\":false,\"n\":null,\"one\":1,\"s\":\"true\"}");
    int out = -7;
    cr_assert_eq(abe_v_bool(&v, b, "t", 1, &out), 1);
    cr_assert_eq(out, 1);
    cr_assert_eq(abe_v_bool(&v, b, "f", 1, &out), 1);
    cr_assert_eq(out, 0);
    out = -7;
    cr_assert_eq(abe_v_bool(&v, b, "n", 0, &out), 0);
    cr_assert_eq(abe_v_bool(&v, b, "absent", 0, &out), 0);
    cr_assert_eq(out, -7);
    cr_assert(abe_v_ok(&v));
    cr_assert_eq(abe_v_bool(&v, b, "one", 0, &out), -1);
    cr_assert_eq(abe_v_bool(&v, b, "s", 0, &out), -1);
    cr_assert_eq(abe_v_bool(&v, b, "n", 1, &out), 0);
    cr_assert_eq(abe_v_bool(&v, b, "absent", 1, &out), 0);
    const char *t = "\"msg\":\"Input should be a valid boolean\",\"type\":\"bool_type\"}";
    char want[512];
    snprintf(want, sizeof(want),
             "[{\"loc\":[\"body\",\"one\"],%s,{\"loc\":[\"body\",\"s\"],%s,{\"loc\":[\"body\",\"n\"],%s,"
             "{\"loc\":[\"body\",\"absent\"],\"msg\":\"Field required\",\"type\":\"missing\"}]",
             t, t, t);
    expect_issues(&v, want);
    json_decref(b);
    abe_v_free(&v);
}

/* ---- suite validator: integers ------------------------------------------------------------------------ */

Test(validator, int_accepts_integers_and_integral_reals)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"i\":500,\"r\":500.0,\"e\":5e2,\"z\":-0.0,\"lo\":0,\"hi\":600000,\"n\":null}");
    int64_t out = -1;
    cr_assert_eq(abe_v_int(&v, b, "i", 1, 0, 600000, &out), 1);
    cr_assert_eq(out, 500);
    out = -1;
    cr_assert_eq(abe_v_int(&v, b, "r", 1, 0, 600000, &out), 1);
    cr_assert_eq(out, 500);
    out = -1;
    cr_assert_eq(abe_v_int(&v, b, "e", 1, 0, 600000, &out), 1);
    cr_assert_eq(out, 500);
    cr_assert_eq(abe_v_int(&v, b, "z", 1, 0, 600000, &out), 1);
    cr_assert_eq(out, 0);
    cr_assert_eq(abe_v_int(&v, b, "lo", 1, 0, 600000, &out), 1);
    cr_assert_eq(abe_v_int(&v, b, "hi", 1, 0, 600000, &out), 1);
    cr_assert_eq(out, 600000);
    out = 42;
    cr_assert_eq(abe_v_int(&v, b, "n", 0, 0, 600000, &out), 0);
    cr_assert_eq(abe_v_int(&v, b, "absent", 0, 0, 600000, &out), 0);
    cr_assert_eq(out, 42);
    cr_assert(abe_v_ok(&v));
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, int_type_errors)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"f\":500.5,\"s\":\"5\",\"b\":true,\"l\":[1],\"n\":null}");
    cr_assert_eq(abe_v_int(&v, b, "f", 0, 0, 600000, NULL), -1);
    cr_assert_eq(abe_v_int(&v, b, "s", 0, 0, 600000, NULL), -1);
    cr_assert_eq(abe_v_int(&v, b, "b", 0, 0, 600000, NULL), -1);
    cr_assert_eq(abe_v_int(&v, b, "l", 0, 0, 600000, NULL), -1);
    cr_assert_eq(abe_v_int(&v, b, "n", 1, 0, 600000, NULL), 0);
    cr_assert_eq(abe_v_int(&v, b, "m", 1, 0, 600000, NULL), 0);
    const char *t = "\"msg\":\"Input should be a valid integer\",\"type\":\"int_type\"}";
    char want[700];
    snprintf(want, sizeof(want),
             "[{\"loc\":[\"body\",\"f\"],%s,{\"loc\":[\"body\",\"s\"],%s,{\"loc\":[\"body\",\"b\"],%s,"
             "{\"loc\":[\"body\",\"l\"],%s,{\"loc\":[\"body\",\"n\"],%s,"
             "{\"loc\":[\"body\",\"m\"],\"msg\":\"Field required\",\"type\":\"missing\"}]",
             t, t, t, t, t);
    expect_issues(&v, want);
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, int_range_errors)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"neg\":-1,\"big\":600001,\"bigr\":600001.0,\"huge\":1e19,\"tiny\":-1e19,"
                      "\"max\":9223372036854775807}");
    int64_t out = 9;
    cr_assert_eq(abe_v_int(&v, b, "neg", 1, 0, 600000, &out), -1);
    cr_assert_eq(out, 9, "out untouched on error");
    cr_assert_eq(abe_v_int(&v, b, "big", 1, 0, 600000, &out), -1);
    cr_assert_eq(abe_v_int(&v, b, "bigr", 1, 0, 600000, &out), -1);
    cr_assert_eq(abe_v_int(&v, b, "huge", 1, 0, 600000, &out), -1);
    cr_assert_eq(abe_v_int(&v, b, "tiny", 1, -5, 600000, &out), -1);
    cr_assert_eq(abe_v_int(&v, b, "max", 1, INT64_MIN, INT64_MAX, &out), 1);
    cr_assert_eq(out, INT64_MAX);
    const char *le = "\"msg\":\"Input should be less than or equal to 600000\",\"type\":\"less_than_equal\"}";
    char want[900];
    snprintf(want, sizeof(want),
             "[{\"loc\":[\"body\",\"neg\"],\"msg\":\"Input should be greater than or equal to 0\",\"type\":"
             "\"greater_than_equal\"},"
             "{\"loc\":[\"body\",\"big\"],%s,{\"loc\":[\"body\",\"bigr\"],%s,{\"loc\":[\"body\",\"huge\"],%s,"
             "{\"loc\":[\"body\",\"tiny\"],\"msg\":\"Input should be greater than or equal to -5\",\"type\":"
             "\"greater_than_equal\"}]",
             le, le, le);
    expect_issues(&v, want);
    json_decref(b);
    abe_v_free(&v);
}

/* ---- suite validator: objects and lists --------------------------------------------------------------- */

Test(validator, object_paths)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"p\":{\"k\":1},\"l\":[],\"n\":null}");
    json_t *out = NULL;
    cr_assert_eq(abe_v_object(&v, b, "p", 0, &out), 1);
    cr_assert_eq(out, json_object_get(b, "p"), "borrowed from obj");
    cr_assert_eq(abe_v_object(&v, b, "n", 0, &out), 0);
    cr_assert_eq(abe_v_object(&v, b, "absent", 0, &out), 0);
    cr_assert(abe_v_ok(&v));
    cr_assert_eq(abe_v_object(&v, b, "l", 0, &out), -1);
    cr_assert_eq(abe_v_object(&v, b, "n", 1, &out), 0);
    cr_assert_eq(abe_v_object(&v, b, "absent", 1, &out), 0);
    expect_issues(
        &v,
        "[{\"loc\":[\"body\",\"l\"],\"msg\":\"Input should be a valid dictionary\",\"type\":\"dict_type\"},"
        "{\"loc\":[\"body\",\"n\"],\"msg\":\"Input should be a valid dictionary\",\"type\":\"dict_type\"},"
        "{\"loc\":[\"body\",\"absent\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, object_or_list_paths)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"o\":{},\"l\":[1],\"s\":\"x\",\"i\":3,\"n\":null}");
    json_t *out = NULL;
    cr_assert_eq(abe_v_object_or_list(&v, b, "o", 0, &out), 1);
    cr_assert(json_is_object(out));
    cr_assert_eq(abe_v_object_or_list(&v, b, "l", 0, &out), 1);
    cr_assert(json_is_array(out));
    cr_assert_eq(abe_v_object_or_list(&v, b, "n", 0, &out), 0);
    cr_assert(abe_v_ok(&v));
    cr_assert_eq(abe_v_object_or_list(&v, b, "s", 0, &out), -1);
    cr_assert_eq(abe_v_object_or_list(&v, b, "i", 0, &out), -1);
    const char *t = "\"msg\":\"Input should be a valid dictionary or list\",\"type\":\"dict_type\"}";
    char want[400];
    snprintf(want, sizeof(want), "[{\"loc\":[\"body\",\"s\"],%s,{\"loc\":[\"body\",\"i\"],%s]", t, t);
    expect_issues(&v, want);
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, list_paths)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"l\":[1,2,3],\"o\":{},\"s\":\"abc\",\"n\":null}");
    json_t *out = NULL;
    cr_assert_eq(abe_v_list(&v, b, "l", 1, 3, &out), 1);
    cr_assert_eq(json_array_size(out), 3);
    cr_assert_eq(abe_v_list(&v, b, "n", 0, 3, &out), 0);
    cr_assert(abe_v_ok(&v));
    out = NULL;
    cr_assert_eq(abe_v_list(&v, b, "l", 1, 2, &out), -1);
    cr_assert_null(out);
    cr_assert_eq(abe_v_list(&v, b, "l", 1, 1, &out), -1);
    cr_assert_eq(abe_v_list(&v, b, "o", 1, 3, &out), -1);
    cr_assert_eq(abe_v_list(&v, b, "s", 1, 3, &out), -1);
    cr_assert_eq(abe_v_list(&v, b, "n", 1, 3, &out), 0);
    cr_assert_eq(abe_v_list(&v, b, "absent", 1, 3, &out), 0);
    const char *t = "\"msg\":\"Input should be a valid list\",\"type\":\"list_type\"}";
    char want[900];
    snprintf(
        want, sizeof(want),
        "[{\"loc\":[\"body\",\"l\"],\"msg\":\"List should have at most 2 items after validation, not 3\","
        "\"type\":\"too_long\"},"
        "{\"loc\":[\"body\",\"l\"],\"msg\":\"List should have at most 1 item after validation, not 3\","
        "\"type\":\"too_long\"},"
        "{\"loc\":[\"body\",\"o\"],%s,{\"loc\":[\"body\",\"s\"],%s,{\"loc\":[\"body\",\"n\"],%s,"
        "{\"loc\":[\"body\",\"absent\"],\"msg\":\"Field required\",\"type\":\"missing\"}]",
        t, t, t);
    expect_issues(&v, want);
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, list_of_501_steps)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = json_object();
    json_t *steps = json_array();
    for (int i = 0; i < 501; i++)
        json_array_append_new(steps, json_object());
    json_object_set_new(b, "steps", steps);
    cr_assert_eq(abe_v_list(&v, b, "steps", 1, 500, NULL), -1);
    expect_issues(
        &v, "[{\"loc\":[\"body\",\"steps\"],\"msg\":\"List should have at most 500 items after validation, "
            "not 501\",\"type\":\"too_long\"}]");
    json_array_remove(steps, 0);
    abe_v_free(&v);
    abe_v_init(&v, "body");
    cr_assert_eq(abe_v_list(&v, b, "steps", 1, 500, NULL), 1);
    cr_assert(abe_v_ok(&v));
    json_decref(b);
    abe_v_free(&v);
}

/* ---- suite validator: NUL scan ------------------------------------------------------------------------ */

Test(validator, nul_scan_values_and_keys_in_document_order)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"context\":{\"ok\":\"fine\",\"s\":\"a\\u0000\",\"list\":[1,\"x\",[\"\\u0000\"]],"
                      "\"o\":{\"k\\u0000\":{\"deep\\u0000\":\"v\\u0000\"}},\"n\":null}}");
    abe_v_push_key(&v, "context");
    abe_v_nul_scan(&v, json_object_get(b, "context"));
    abe_v_pop(&v);
    const char *t = "\"msg\":\"Value error, NUL characters are not allowed\",\"type\":\"value_error\"}";
    char want[1200];
    snprintf(want, sizeof(want),
             "[{\"loc\":[\"body\",\"context\",\"s\"],%s,"
             "{\"loc\":[\"body\",\"context\",\"list\",2,0],%s,"
             "{\"loc\":[\"body\",\"context\",\"o\"],%s,"
             "{\"loc\":[\"body\",\"context\",\"o\",\"k\\u0000\"],%s,"
             "{\"loc\":[\"body\",\"context\",\"o\",\"k\\u0000\",\"deep\\u0000\"],%s]",
             t, t, t, t, t);
    expect_issues(&v, want);
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, nul_scan_clean_values_and_scalars)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"a\":[1,2.5,true,null,{\"b\":\"c\"}],\"\\\\u0000\":\"not a NUL\"}");
    abe_v_nul_scan(&v, b);
    abe_v_nul_scan(&v, NULL);
    cr_assert(abe_v_ok(&v));
    json_t *s = json_stringn("\0", 1);
    abe_v_nul_scan(&v, s); /* a bare string: loc is the current loc */
    expect_issues(&v, "[{\"loc\":[\"body\"],\"msg\":\"Value error, NUL characters are not allowed\",\"type\":"
                      "\"value_error\"}]");
    json_decref(s);
    json_decref(b);
    abe_v_free(&v);
}

/* ---- suite validator: query parameters ---------------------------------------------------------------- */

Test(validator, query_int_valid_and_default)
{
    abe_validator_t v;
    abe_v_init(&v, "query");
    int64_t out = 0;
    cr_assert_eq(abe_v_query_int(&v, "limit", NULL, 1, 500, 100, &out), 1);
    cr_assert_eq(out, 100);
    cr_assert_eq(abe_v_query_int(&v, "limit", "1", 1, 500, 100, &out), 1);
    cr_assert_eq(out, 1);
    cr_assert_eq(abe_v_query_int(&v, "limit", "500", 1, 500, 100, &out), 1);
    cr_assert_eq(out, 500);
    cr_assert_eq(abe_v_query_int(&v, "offset", "007", 0, INT64_MAX, 0, &out), 1);
    cr_assert_eq(out, 7);
    cr_assert_eq(abe_v_query_int(&v, "offset", "-0", 0, INT64_MAX, 0, &out), 1);
    cr_assert_eq(out, 0);
    cr_assert_eq(abe_v_query_int(&v, "x", "999999999999999999", 0, INT64_MAX, 0, &out), 1);
    cr_assert_eq(out, 999999999999999999LL);
    cr_assert_eq(abe_v_query_int(&v, "x", "-999999999999999999", INT64_MIN, 0, 0, &out), 1);
    cr_assert_eq(out, -999999999999999999LL);
    cr_assert(abe_v_ok(&v));
    abe_v_free(&v);
}

Test(validator, query_int_parsing_errors)
{
    const char *bad[] = {"",
                         "-",
                         "+1",
                         " 1",
                         "1 ",
                         "1.5",
                         "1e2",
                         "abc",
                         "0x10",
                         "--1",
                         "1-",
                         "1000000000000000000" /* 19 digits */,
                         "99999999999999999999999"};
    size_t nbad = sizeof(bad) / sizeof(bad[0]);
    abe_validator_t v;
    abe_v_init(&v, "query");
    for (size_t i = 0; i < nbad; i++) {
        int64_t out = 5;
        cr_assert_eq(abe_v_query_int(&v, "offset", bad[i], 0, INT64_MAX, 0, &out), -1, "accepted '%s'",
                     bad[i]);
        cr_assert_eq(out, 5);
    }
    cr_assert_eq(json_array_size(v.issues), nbad);
    json_t *issues = abe_v_take_issues(&v);
    char *first = dump(json_array_get(issues, 0));
    cr_assert_str_eq(first,
                     "{\"loc\":[\"query\",\"offset\"],\"msg\":\"Input should be a valid integer, unable to "
                     "parse string as an integer\",\"type\":\"int_parsing\"}");
    for (size_t i = 1; i < nbad; i++) {
        char *s = dump(json_array_get(issues, i));
        cr_assert_str_eq(s, first);
        free(s);
    }
    free(first);
    json_decref(issues);
    abe_v_free(&v);
}

Test(validator, query_int_range_errors)
{
    abe_validator_t v;
    abe_v_init(&v, "query");
    int64_t out = 0;
    cr_assert_eq(abe_v_query_int(&v, "limit", "0", 1, 500, 100, &out), -1);
    cr_assert_eq(abe_v_query_int(&v, "limit", "501", 1, 500, 100, &out), -1);
    cr_assert_eq(abe_v_query_int(&v, "offset", "-1", 0, INT64_MAX, 0, &out), -1);
    expect_issues(&v,
                  "[{\"loc\":[\"query\",\"limit\"],\"msg\":\"Input should be greater than or equal to 1\","
                  "\"type\":\"greater_than_equal\"},"
                  "{\"loc\":[\"query\",\"limit\"],\"msg\":\"Input should be less than or equal to 500\","
                  "\"type\":\"less_than_equal\"},"
                  "{\"loc\":[\"query\",\"offset\"],\"msg\":\"Input should be greater than or equal to 0\","
                  "\"type\":\"greater_than_equal\"}]");
    abe_v_free(&v);
}

Test(validator, query_enum)
{
    static const char *const statuses[] = {"pending", "running", "success", "failed"};
    static const char *const modes[] = {"full", "failed"};
    static const char *const single[] = {"only"};
    abe_validator_t v;
    abe_v_init(&v, "query");
    cr_assert_eq(abe_v_query_enum(&v, "status", NULL, statuses, 4), 0);
    cr_assert_eq(abe_v_query_enum(&v, "status", "failed", statuses, 4), 1);
    cr_assert_eq(abe_v_query_enum(&v, "mode", "full", modes, 2), 1);
    cr_assert(abe_v_ok(&v));
    cr_assert_eq(abe_v_query_enum(&v, "status", "FAILED", statuses, 4), -1);
    cr_assert_eq(abe_v_query_enum(&v, "status", "", statuses, 4), -1);
    cr_assert_eq(abe_v_query_enum(&v, "mode", "partial", modes, 2), -1);
    cr_assert_eq(abe_v_query_enum(&v, "x", "y", single, 1), -1);
    const char *st =
        "\"msg\":\"Input should be 'pending', 'running', 'success' or 'failed'\",\"type\":\"enum\"}";
    char want[800];
    snprintf(
        want, sizeof(want),
        "[{\"loc\":[\"query\",\"status\"],%s,{\"loc\":[\"query\",\"status\"],%s,"
        "{\"loc\":[\"query\",\"mode\"],\"msg\":\"Input should be 'full' or 'failed'\",\"type\":\"enum\"},"
        "{\"loc\":[\"query\",\"x\"],\"msg\":\"Input should be 'only'\",\"type\":\"enum\"}]",
        st, st);
    expect_issues(&v, want);
    abe_v_free(&v);
}

/* ---- suite validator: SPEC §2.3 example --------------------------------------------------------------- */

/* A workflow-shaped schema walk, as the handler does it (SPEC §3.5 / §3.1 limits). */
static void validate_workflow_like(abe_validator_t *v, json_t *body)
{
    if (abe_v_body_object(v, body) != 1) return;
    abe_v_str(v, body, "name", 1, 1, 100, NULL, NULL);
    abe_v_str(v, body, "description", 0, 0, 2000, NULL, NULL);
    json_t *steps = NULL;
    if (abe_v_list(v, body, "steps", 1, 500, &steps) == 1) {
        abe_v_push_key(v, "steps");
        size_t i;
        json_t *step;
        json_array_foreach(steps, i, step)
        {
            abe_v_push_index(v, (long)i);
            if (!json_is_object(step)) {
                abe_v_issue(v, NULL, "Input should be a valid dictionary", "dict_type");
            } else {
                json_t *params = NULL;
                abe_v_str(v, step, "name", 1, 1, 100, NULL, NULL);
                abe_v_str(v, step, "agent_id", 0, 0, 100, NULL, NULL);
                if (abe_v_object(v, step, "parameters", 0, &params) == 1) {
                    abe_v_push_key(v, "parameters");
                    abe_v_nul_scan(v, params);
                    abe_v_pop(v);
                }
                abe_v_int(v, step, "duration_ms", 0, 0, 600000, NULL);
            }
            abe_v_pop(v);
        }
        abe_v_pop(v);
    }
    abe_v_bool(v, body, "parallel_execution", 0, NULL);
}

Test(validator, spec_example_steps_with_empty_object)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"steps\":[{}]}");
    validate_workflow_like(&v, b);
    json_t *detail = abe_v_take_issues(&v);
    char *s = dump(detail);
    cr_assert_str_eq(
        s, "[{\"loc\":[\"body\",\"name\"],\"msg\":\"Field required\",\"type\":\"missing\"},"
           "{\"loc\":[\"body\",\"steps\",0,\"name\"],\"msg\":\"Field required\",\"type\":\"missing\"}]");
    free(s);
    json_decref(detail);
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, workflow_like_issues_in_document_order)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("{\"name\":\"\",\"steps\":[{\"name\":\"a\",\"duration_ms\":600000.0},7,"
                      "{\"name\":\"b\",\"parameters\":{\"k\":[\"\\u0000\"]},\"duration_ms\":1.5}],"
                      "\"parallel_execution\":\"yes\"}");
    validate_workflow_like(&v, b);
    expect_issues(
        &v,
        "[{\"loc\":[\"body\",\"name\"],\"msg\":\"String should have at least 1 character\",\"type\":"
        "\"string_too_short\"},"
        "{\"loc\":[\"body\",\"steps\",1],\"msg\":\"Input should be a valid dictionary\",\"type\":"
        "\"dict_type\"},"
        "{\"loc\":[\"body\",\"steps\",2,\"parameters\",\"k\",0],\"msg\":\"Value error, NUL characters are "
        "not allowed\",\"type\":\"value_error\"},"
        "{\"loc\":[\"body\",\"steps\",2,\"duration_ms\"],\"msg\":\"Input should be a valid integer\","
        "\"type\":\"int_type\"},"
        "{\"loc\":[\"body\",\"parallel_execution\"],\"msg\":\"Input should be a valid boolean\",\"type\":"
        "\"bool_type\"}]");
    json_decref(b);
    abe_v_free(&v);
}

Test(validator, non_object_body_stops_at_dict_type)
{
    abe_validator_t v;
    abe_v_init(&v, "body");
    json_t *b = build("[{\"name\":\"x\"}]");
    validate_workflow_like(&v, b);
    expect_issues(
        &v, "[{\"loc\":[\"body\"],\"msg\":\"Input should be a valid dictionary\",\"type\":\"dict_type\"}]");
    json_decref(b);
    abe_v_free(&v);
}

/* abe_v_nul_keys: a NUL in any key of a schema object is a value_error located at the object. */
Test(validator, nul_keys_reported_at_the_object)
{
    size_t off = 0;
    const char *body = "{\"name\":\"w\",\"\\u0000x\":1,\"steps\":[{\"name\":\"a\",\"k\\u0000\":2}]}";
    json_t *doc = abe_json_parse_body(body, strlen(body), &off);
    cr_assert_not_null(doc);
    abe_validator_t v;
    abe_v_init(&v, "body");
    abe_v_nul_keys(&v, doc);
    abe_v_push_key(&v, "steps");
    abe_v_push_index(&v, 0);
    abe_v_nul_keys(&v, json_array_get(json_object_get(doc, "steps"), 0));
    abe_v_pop(&v);
    abe_v_pop(&v);
    abe_v_nul_keys(&v, json_object_get(doc, "name")); /* not an object: nothing */
    json_t *issues = abe_v_take_issues(&v);
    char *s = json_dumps(issues, JSON_COMPACT);
    cr_assert_str_eq(s, "[{\"loc\":[\"body\"],\"msg\":\"Value error, NUL characters are not allowed\",\"type\":"
                        "\"value_error\"},{\"loc\":[\"body\",\"steps\",0],\"msg\":\"Value error, NUL characters "
                        "are not allowed\",\"type\":\"value_error\"}]");
    free(s);
    json_decref(issues);
    abe_v_free(&v);
    json_decref(doc);
}

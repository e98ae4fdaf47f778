/*
 * abe_json.h — strict JSON request-body parsing (SPEC §2.1) and the reusable 422 validator (SPEC §2.3)
 * over jansson values. Hand-written on top of jansson because jansson parses but does not validate
 * shapes the way the API contract (pydantic-compatible issue lists) requires.
 */
#ifndef ABE_JSON_H
#define ABE_JSON_H

#include <jansson.h>
#include <stddef.h>
#include <stdint.h>

/* Flags every response serialisation uses: compact, UTF-8 unescaped, insertion order, 15 significant
 * digits for reals (so 501.237 prints as 501.237). */
#define ABE_JSON_DUMP_FLAGS (JSON_COMPACT | JSON_REAL_PRECISION(15))

#define ABE_JSON_MAX_DEPTH 64

/*
 * abe_json_parse_body — parse a request body under SPEC §2.1 rules: one value, nothing but whitespace
 * after it, valid UTF-8, no unpaired surrogate escapes, no repeated key in an object, nesting ≤ 64 levels
 * (top level = 1), integers within int64 and reals within double range. U+0000 inside strings is *accepted*
 * here (it is a 422 value_error found by the validator, not json_invalid).
 *   buf/len: the body bytes (need not be NUL-terminated).
 *   *err_offset: on failure, the byte offset where parsing stopped (for loc ["body", offset]):
 *     jansson's position (bytes consumed through the offending token), or for the depth limit the
 *     bytes through the 65th nested opening bracket, whichever comes first. May be NULL.
 * Returns a new reference, or NULL on invalid JSON. The caller checks "empty/whitespace-only" first.
 * U+0000 inside object keys is accepted too: the returned objects hold the exact keys (see them with
 * json_object_getn / json_object_keylen_foreach); abe_v_nul_scan reports them.
 */
json_t *abe_json_parse_body(const char *buf, size_t len, size_t *err_offset);

/* abe_json_is_blank — 1 when buf[0..len) is empty or only JSON whitespace. */
int abe_json_is_blank(const char *buf, size_t len);

/* ---- validator ---------------------------------------------------------------------------------- */

#define ABE_V_MAX_LOC 16

/* A loc component: a key (key != NULL) or a list index. */
typedef struct abe_vloc_part {
    const char *key; /* borrowed; must outlive the validator */
    long index;
} abe_vloc_part_t;

/* abe_validator_t — accumulates issues in document order. issues is a JSON array owned by the validator. */
typedef struct abe_validator {
    json_t *issues;
    abe_vloc_part_t loc[ABE_V_MAX_LOC];
    int depth;
} abe_validator_t;

/* abe_v_init — start with loc [root] ("body" or "query"). Allocates issues. */
void abe_v_init(abe_validator_t *v, const char *root);
/* abe_v_free — release the issue list (if not taken). */
void abe_v_free(abe_validator_t *v);
/* abe_v_ok — 1 when no issue has been recorded. */
int abe_v_ok(const abe_validator_t *v);
/* abe_v_take_issues — return the issue array (new reference for the caller) and clear it from v. */
json_t *abe_v_take_issues(abe_validator_t *v);

/* Loc stack: push a key / list index under the current loc, pop it afterwards. */
void abe_v_push_key(abe_validator_t *v, const char *key);
void abe_v_push_index(abe_validator_t *v, long index);
void abe_v_pop(abe_validator_t *v);

/*
 * abe_v_issue — append {"loc":[current loc (+ key if non-NULL)], "msg":msg, "type":type}.
 */
void abe_v_issue(abe_validator_t *v, const char *key, const char *msg, const char *type);

/* abe_v_json_invalid — the json_invalid issue with loc ["body", offset]. */
void abe_v_json_invalid(abe_validator_t *v, size_t offset);

/*
 * Field checks on object obj, field key. Each returns:
 *    1  present and valid (*out set; strings/objects are borrowed from obj),
 *    0  absent or JSON null and not required (*out untouched) — if required, a `missing` issue
 *       (or `<type>_type` for an explicit null) is recorded and 0 is returned,
 *   -1  present but invalid (issue recorded).
 * Strings: lengths in code points, min_cp..max_cp; a string containing U+0000 gives value_error (checked
 * after the type and the length, so one field yields at most one issue). *out_len is in bytes.
 */
int abe_v_str(abe_validator_t *v, json_t *obj, const char *key, int required, size_t min_cp, size_t max_cp,
              const char **out, size_t *out_len);
int abe_v_bool(abe_validator_t *v, json_t *obj, const char *key, int required, int *out);
/* Integers: JSON integer, or real with integral value (500.0); range min..max inclusive. */
int abe_v_int(abe_validator_t *v, json_t *obj, const char *key, int required, int64_t min, int64_t max,
              int64_t *out);
/* Object field (dict_type on mismatch). */
int abe_v_object(abe_validator_t *v, json_t *obj, const char *key, int required, json_t **out);
/* Object-or-list field (for `context`: msg "Input should be a valid dictionary or list"). */
int abe_v_object_or_list(abe_validator_t *v, json_t *obj, const char *key, int required, json_t **out);
/* List field with at most max_items items (too_long issue). */
int abe_v_list(abe_validator_t *v, json_t *obj, const char *key, int required, size_t max_items,
               json_t **out);

/*
 * abe_v_body_object — check the whole body is an object (dict_type with loc ["body"] otherwise).
 * Returns 1 if it is, -1 otherwise.
 */
int abe_v_body_object(abe_validator_t *v, json_t *body);

/*
 * abe_v_nul_scan — record a value_error for every string or key containing U+0000 inside value (any
 * depth), loc pointing at the string (or, for a key, at its object). Used for free-form parameters/context.
 */
void abe_v_nul_scan(abe_validator_t *v, json_t *value);

/*
 * abe_v_nul_keys — a value_error (loc: the object itself, i.e. the current loc) for every key of obj that
 * contains U+0000 (SPEC §2.1: no key anywhere may). Not recursive: schema objects call it for themselves,
 * free-form values use abe_v_nul_scan.
 */
void abe_v_nul_keys(abe_validator_t *v, json_t *obj);

/*
 * abe_v_query_int — validate a query integer (SPEC §2.3 int_parsing: optional '-', 1–18 ASCII digits,
 * nothing else; then min..max). raw == NULL means absent (default used, returns 1).
 *   name: query parameter name for loc ["query", name].
 * Returns 1 (valid, *out set) or -1 (issue recorded).
 */
int abe_v_query_int(abe_validator_t *v, const char *name, const char *raw, int64_t min, int64_t max,
                    int64_t dflt, int64_t *out);

/*
 * abe_v_query_enum — raw must equal one of values[0..n) (enum issue "Input should be 'a', 'b' or 'c'").
 * raw == NULL: returns 0 (absent). Returns 1 when valid, -1 when not.
 */
int abe_v_query_enum(abe_validator_t *v, const char *name, const char *raw, const char *const *values,
                     size_t n);

#endif

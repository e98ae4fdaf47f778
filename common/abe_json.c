/*
 * abe_json.c — strict JSON request-body parsing (SPEC §2.1) and the reusable 422 validator (SPEC §2.3).
 *
 * How it fits: the worker's body stage (abe_parse_json_body) calls abe_json_is_blank / abe_json_parse_body
 * and turns a failure into a json_invalid issue (abe_v_json_invalid); the route handlers then validate the
 * parsed object field by field with the abe_v_* checks, which accumulate pydantic-2-shaped issues
 * ({"loc":[...],"msg":"...","type":"..."}) in document order, and send the list as a 422 detail.
 *
 * Parsing is jansson's (json_loadb with JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY and the EOF
 * check on). Jansson already rejects, as SPEC §2.1 demands: unpaired surrogate escapes ("\ud800", "\udc00",
 * "\ud800\u0041"), integers outside int64, reals that overflow a double (1e400), invalid UTF-8 (bad bytes,
 * overlong forms, UTF-8-encoded surrogates, code points above U+10FFFF), raw control characters in strings,
 * repeated keys and trailing non-whitespace. Two things are added here:
 *   - the nesting limit (64 levels, top-level value = level 1), found by a byte scan that counts brackets
 *     outside strings; the reported offset is the number of bytes up to and including the 65th nested opening
 *     bracket (jansson's own positions likewise count the bytes consumed through the offending token);
 *   - U+0000 in object keys. Jansson refuses a document with "\u0000" in a key (error code
 *     json_error_null_byte_in_key) although it stores such keys fine. SPEC wants a 422 value_error located at
 * the object, not json_invalid, so in that (rare) case the body is re-parsed after an injective rewrite of
 * key escapes — "\u0000" -> "\u0001\u0001" and "\u0001" -> "\u0001\u0002", inside keys only (U+0001 can only
 *     be written as "\u0001" in valid JSON, raw control bytes being invalid) — and the keys are decoded back
 *     into a rebuilt tree with json_object_setn_new, so the result holds the exact keys that were sent, key
 * order and duplicate detection intact. Error offsets from the re-parse are mapped back to the original
 * bytes.
 */
#include "abe_json.h"

#include <inttypes.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#define ABE_JSON_LOAD_FLAGS (JSON_REJECT_DUPLICATES | JSON_ALLOW_NUL | JSON_DECODE_ANY)

/* ---- parsing ----------------------------------------------------------------------------------------- */

static int is_json_ws(char c)
{
    return c == ' ' || c == '\t' || c == '\n' || c == '\r';
}

int abe_json_is_blank(const char *buf, size_t len)
{
    if (buf == NULL) return 1;
    for (size_t i = 0; i < len; i++)
        if (!is_json_ws(buf[i])) return 0;
    return 1;
}

/*
 * depth_violation — scan buf for brackets outside strings. Returns 1 and sets *offset (bytes through the
 * offending bracket) when some value nests deeper than ABE_JSON_MAX_DEPTH; 0 otherwise. Exact on any valid
 * prefix of a JSON text, which is all that matters (see abe_json_parse_body).
 */
static int depth_violation(const char *buf, size_t len, size_t *offset)
{
    size_t depth = 0;
    int in_str = 0;
    for (size_t i = 0; i < len; i++) {
        char c = buf[i];
        if (in_str) {
            if (c == '\\')
                i++; /* skip the escaped character (a 'u' escape's hex digits are harmless) */
            else if (c == '"')
                in_str = 0;
            continue;
        }
        if (c == '"') {
            in_str = 1;
        } else if (c == '[' || c == '{') {
            if (++depth > ABE_JSON_MAX_DEPTH) {
                *offset = i + 1;
                return 1;
            }
        } else if (c == ']' || c == '}') {
            if (depth > 0) depth--;
        }
    }
    return 0;
}

/* Rewrite bookkeeping for the NUL-in-key path: original offsets of rewritten 6-byte escapes. */
typedef struct key_rewrite {
    char *buf;
    size_t len;
    size_t *sites;
    size_t nsites;
} key_rewrite_t;

#define ESC_LEN 6 /* strlen("\\u0000") */

/* is_key_at — 1 when the string whose closing quote is at close is followed (after whitespace) by ':'. */
static int is_key_at(const char *buf, size_t len, size_t close)
{
    for (size_t j = close + 1; j < len; j++) {
        if (is_json_ws(buf[j])) continue;
        return buf[j] == ':';
    }
    return 0;
}

/*
 * rewrite_keys — build the escaped copy of buf described at the top of the file. In a valid document a string
 * is a key exactly when ':' follows it. Returns 0 on success, -1 on allocation failure.
 */
static int rewrite_keys(const char *buf, size_t len, key_rewrite_t *rw)
{
    memset(rw, 0, sizeof(*rw));
    size_t cap_sites = 0, nsites = 0;
    size_t *sites = NULL;
    /* Pass 1: find string spans that are keys and collect the sites to rewrite. */
    for (size_t i = 0; i < len; i++) {
        if (buf[i] != '"') continue;
        size_t start = i + 1, j = start;
        while (j < len && buf[j] != '"') {
            if (buf[j] == '\\') j++;
            j++;
        }
        if (j >= len) break; /* unterminated: jansson reports it */
        if (is_key_at(buf, len, j)) {
            for (size_t k = start; k < j; k++) {
                if (buf[k] != '\\') continue;
                if (k + ESC_LEN <= j && memcmp(buf + k, "\\u000", 5) == 0 &&
                    (buf[k + 5] == '0' || buf[k + 5] == '1')) {
                    if (nsites == cap_sites) {
                        size_t nc = cap_sites ? cap_sites * 2 : 8;
                        size_t *ns = realloc(sites, nc * sizeof(*ns));
                        if (ns == NULL) {
                            free(sites);
                            return -1;
                        }
                        sites = ns;
                        cap_sites = nc;
                    }
                    sites[nsites++] = k;
                    k += ESC_LEN - 1;
                } else {
                    k++; /* skip the escaped character */
                }
            }
        }
        i = j;
    }
    /* Pass 2: copy with each site expanded to 12 bytes. */
    size_t out_len = len + nsites * ESC_LEN;
    char *out = malloc(out_len ? out_len : 1);
    if (out == NULL) {
        free(sites);
        return -1;
    }
    size_t o = 0, prev = 0;
    for (size_t s = 0; s < nsites; s++) {
        size_t at = sites[s];
        memcpy(out + o, buf + prev, at - prev);
        o += at - prev;
        memcpy(out + o, buf[at + 5] == '0' ? "\\u0001\\u0001" : "\\u0001\\u0002", 2 * ESC_LEN);
        o += 2 * ESC_LEN;
        prev = at + ESC_LEN;
    }
    memcpy(out + o, buf + prev, len - prev);
    rw->buf = out;
    rw->len = out_len;
    rw->sites = sites;
    rw->nsites = nsites;
    return 0;
}

/* map_offset — translate an offset in the rewritten buffer back to the original bytes. */
static size_t map_offset(const key_rewrite_t *rw, size_t r)
{
    size_t delta = 0;
    for (size_t i = 0; i < rw->nsites; i++) {
        size_t rs = rw->sites[i] + i * ESC_LEN; /* rewritten start of site i */
        if (r >= rs + 2 * ESC_LEN) {
            delta += ESC_LEN;
        } else {
            if (r > rs + ESC_LEN) delta += r - (rs + ESC_LEN);
            break;
        }
    }
    return r - delta;
}

/* decode_key — undo the escape rewrite on one key into out (capacity >= len). Returns the decoded length. */
static size_t decode_key(const char *key, size_t len, char *out)
{
    size_t o = 0;
    for (size_t i = 0; i < len; i++) {
        if (key[i] == '\x01' && i + 1 < len) {
            out[o++] = key[i + 1] == '\x01' ? '\0' : '\x01';
            i++;
        } else {
            out[o++] = key[i];
        }
    }
    return o;
}

/* restore_keys — deep copy of v with every key decoded (new reference, NULL on allocation failure). */
static json_t *restore_keys(json_t *v)
{
    if (json_is_object(v)) {
        json_t *o = json_object();
        if (o == NULL) return NULL;
        const char *key;
        size_t klen;
        json_t *child;
        json_object_keylen_foreach(v, key, klen, child)
        {
            char stackbuf[256];
            char *kb = klen <= sizeof(stackbuf) ? stackbuf : malloc(klen);
            json_t *c = kb ? restore_keys(child) : NULL;
            int rc = -1;
            if (c != NULL) rc = json_object_setn_new_nocheck(o, kb, decode_key(key, klen, kb), c);
            if (kb != stackbuf) free(kb);
            if (rc != 0) {
                json_decref(o);
                return NULL;
            }
        }
        return o;
    }
    if (json_is_array(v)) {
        json_t *a = json_array();
        if (a == NULL) return NULL;
        size_t i;
        json_t *child;
        json_array_foreach(v, i, child)
        {
            if (json_array_append_new(a, restore_keys(child)) != 0) {
                json_decref(a);
                return NULL;
            }
        }
        return a;
    }
    return json_incref(v);
}

/* parse_with_nul_keys — the re-parse path for documents with "\u0000" in a key. */
static json_t *parse_with_nul_keys(const char *buf, size_t len, size_t depth_off, int depth_bad,
                                   size_t *err_offset)
{
    key_rewrite_t rw;
    if (rewrite_keys(buf, len, &rw) != 0) {
        *err_offset = 0;
        return NULL;
    }
    json_error_t e;
    json_t *root = json_loadb(rw.buf, rw.len, ABE_JSON_LOAD_FLAGS, &e);
    json_t *result = NULL;
    if (root == NULL) {
        size_t off = map_offset(&rw, e.position > 0 ? (size_t)e.position : 0);
        *err_offset = depth_bad && depth_off < off ? depth_off : off;
    } else if (depth_bad) {
        *err_offset = depth_off;
    } else {
        result = restore_keys(root);
        if (result == NULL) *err_offset = 0;
    }
    json_decref(root);
    free(rw.buf);
    free(rw.sites);
    return result;
}

json_t *abe_json_parse_body(const char *buf, size_t len, size_t *err_offset)
{
    size_t dummy;
    if (err_offset == NULL) err_offset = &dummy;
    *err_offset = 0;
    if (buf == NULL) return NULL;

    size_t depth_off = 0;
    int depth_bad = depth_violation(buf, len, &depth_off);

    json_error_t e;
    json_t *root = json_loadb(buf, len, ABE_JSON_LOAD_FLAGS, &e);
    if (root == NULL) {
        if (json_error_code(&e) == json_error_null_byte_in_key)
            return parse_with_nul_keys(buf, len, depth_off, depth_bad, err_offset);
        size_t off = e.position > 0 ? (size_t)e.position : 0;
        if (off > len) off = len;
        /* Whichever problem comes first in the bytes is where parsing stopped. */
        *err_offset = depth_bad && depth_off < off ? depth_off : off;
        return NULL;
    }
    if (depth_bad) {
        json_decref(root);
        *err_offset = depth_off;
        return NULL;
    }
    return root;
}

/* ---- validator: core ---------------------------------------------------------------------------------- */

void abe_v_init(abe_validator_t *v, const char *root)
{
    memset(v, 0, sizeof(*v));
    v->issues = json_array();
    v->loc[0].key = root ? root : "body";
    v->depth = 1;
}

void abe_v_free(abe_validator_t *v)
{
    json_decref(v->issues);
    v->issues = NULL;
}

int abe_v_ok(const abe_validator_t *v)
{
    return v->issues == NULL || json_array_size(v->issues) == 0;
}

json_t *abe_v_take_issues(abe_validator_t *v)
{
    json_t *issues = v->issues ? v->issues : json_array();
    v->issues = NULL;
    return issues;
}

/* Pushes past ABE_V_MAX_LOC keep depth balanced but are not recorded (validated schemas are shallow). */
void abe_v_push_key(abe_validator_t *v, const char *key)
{
    if (v->depth >= 0 && v->depth < ABE_V_MAX_LOC) {
        v->loc[v->depth].key = key;
        v->loc[v->depth].index = 0;
    }
    v->depth++;
}

void abe_v_push_index(abe_validator_t *v, long index)
{
    if (v->depth >= 0 && v->depth < ABE_V_MAX_LOC) {
        v->loc[v->depth].key = NULL;
        v->loc[v->depth].index = index;
    }
    v->depth++;
}

void abe_v_pop(abe_validator_t *v)
{
    if (v->depth > 1) v->depth--;
}

/* current_loc — new array holding the current loc (+ key when non-NULL). */
static json_t *current_loc(const abe_validator_t *v, const char *key)
{
    json_t *loc = json_array();
    if (loc == NULL) return NULL;
    int n = v->depth < ABE_V_MAX_LOC ? v->depth : ABE_V_MAX_LOC;
    for (int i = 0; i < n; i++) {
        const abe_vloc_part_t *p = &v->loc[i];
        json_array_append_new(loc, p->key ? json_string(p->key) : json_integer((json_int_t)p->index));
    }
    if (key) json_array_append_new(loc, json_string(key));
    return loc;
}

/* append_issue — append {"loc":loc,"msg":msg,"type":type}; steals loc. */
static void append_issue(abe_validator_t *v, json_t *loc, const char *msg, const char *type)
{
    if (loc == NULL) return;
    if (v->issues == NULL) v->issues = json_array();
    json_t *issue = json_object();
    if (v->issues == NULL || issue == NULL) {
        json_decref(loc);
        json_decref(issue);
        return;
    }
    json_object_set_new(issue, "loc", loc);
    json_object_set_new(issue, "msg", json_string(msg));
    json_object_set_new(issue, "type", json_string(type));
    json_array_append_new(v->issues, issue);
}

void abe_v_issue(abe_validator_t *v, const char *key, const char *msg, const char *type)
{
    append_issue(v, current_loc(v, key), msg, type);
}

void abe_v_json_invalid(abe_validator_t *v, size_t offset)
{
    json_t *loc = json_array();
    if (loc == NULL) return;
    json_array_append_new(loc, json_string("body"));
    json_array_append_new(loc, json_integer((json_int_t)offset));
    append_issue(v, loc, "JSON decode error", "json_invalid");
}

/* ---- validator: field checks -------------------------------------------------------------------------- */

#define MSG_MISSING "Field required"
#define MSG_NUL "Value error, NUL characters are not allowed"

/*
 * field_lookup — common absent/null handling. Returns 1 with *val set when the field holds a non-null value;
 * otherwise 0 (absent or null, optional) or 0 after recording missing / type_name (required).
 */
static int field_lookup(abe_validator_t *v, json_t *obj, const char *key, int required, const char *type_msg,
                        const char *type_name, json_t **val)
{
    json_t *x = json_is_object(obj) ? json_object_get(obj, key) : NULL;
    if (x == NULL) {
        if (required) abe_v_issue(v, key, MSG_MISSING, "missing");
        return 0;
    }
    if (json_is_null(x)) {
        if (required) abe_v_issue(v, key, type_msg, type_name);
        return 0;
    }
    *val = x;
    return 1;
}

/* utf8_cp_count — code points in a valid UTF-8 buffer (counts non-continuation bytes). */
static size_t utf8_cp_count(const char *s, size_t len)
{
    size_t n = 0;
    for (size_t i = 0; i < len; i++)
        if (((unsigned char)s[i] & 0xC0) != 0x80) n++;
    return n;
}

int abe_v_str(abe_validator_t *v, json_t *obj, const char *key, int required, size_t min_cp, size_t max_cp,
              const char **out, size_t *out_len)
{
    static const char type_msg[] = "Input should be a valid string";
    json_t *x;
    if (!field_lookup(v, obj, key, required, type_msg, "string_type", &x)) return 0;
    if (!json_is_string(x)) {
        abe_v_issue(v, key, type_msg, "string_type");
        return -1;
    }
    const char *s = json_string_value(x);
    size_t len = json_string_length(x);
    size_t cps = utf8_cp_count(s, len);
    char msg[96];
    if (cps < min_cp) {
        snprintf(msg, sizeof(msg), "String should have at least %zu character%s", min_cp,
                 min_cp == 1 ? "" : "s");
        abe_v_issue(v, key, msg, "string_too_short");
        return -1;
    }
    if (cps > max_cp) {
        snprintf(msg, sizeof(msg), "String should have at most %zu character%s", max_cp,
                 max_cp == 1 ? "" : "s");
        abe_v_issue(v, key, msg, "string_too_long");
        return -1;
    }
    if (memchr(s, '\0', len) != NULL) {
        abe_v_issue(v, key, MSG_NUL, "value_error");
        return -1;
    }
    if (out) *out = s;
    if (out_len) *out_len = len;
    return 1;
}

int abe_v_bool(abe_validator_t *v, json_t *obj, const char *key, int required, int *out)
{
    static const char type_msg[] = "Input should be a valid boolean";
    json_t *x;
    if (!field_lookup(v, obj, key, required, type_msg, "bool_type", &x)) return 0;
    if (!json_is_boolean(x)) {
        abe_v_issue(v, key, type_msg, "bool_type");
        return -1;
    }
    if (out) *out = json_is_true(x);
    return 1;
}

/* range_issue — record greater_than_equal / less_than_equal for a bound. */
static void range_issue(abe_validator_t *v, const char *key, int below, int64_t bound)
{
    char msg[96];
    snprintf(msg, sizeof(msg), "Input should be %s than or equal to %" PRId64, below ? "greater" : "less",
             bound);
    abe_v_issue(v, key, msg, below ? "greater_than_equal" : "less_than_equal");
}

int abe_v_int(abe_validator_t *v, json_t *obj, const char *key, int required, int64_t min, int64_t max,
              int64_t *out)
{
    static const char type_msg[] = "Input should be a valid integer";
    json_t *x;
    if (!field_lookup(v, obj, key, required, type_msg, "int_type", &x)) return 0;
    int64_t val;
    if (json_is_integer(x)) {
        val = (int64_t)json_integer_value(x);
    } else if (json_is_real(x)) {
        double d = json_real_value(x);
        /* 2^63 is exactly representable; anything at or beyond it (either sign) is out of every int64 range.
         */
        if (d >= 9223372036854775808.0) {
            range_issue(v, key, 0, max);
            return -1;
        }
        if (d < -9223372036854775808.0) {
            range_issue(v, key, 1, min);
            return -1;
        }
        if (d != d || (double)(int64_t)d != d) { /* NaN cannot come from the parser; fractional part */
            abe_v_issue(v, key, type_msg, "int_type");
            return -1;
        }
        val = (int64_t)d;
    } else {
        abe_v_issue(v, key, type_msg, "int_type");
        return -1;
    }
    if (val < min) {
        range_issue(v, key, 1, min);
        return -1;
    }
    if (val > max) {
        range_issue(v, key, 0, max);
        return -1;
    }
    if (out) *out = val;
    return 1;
}

int abe_v_object(abe_validator_t *v, json_t *obj, const char *key, int required, json_t **out)
{
    static const char type_msg[] = "Input should be a valid dictionary";
    json_t *x;
    if (!field_lookup(v, obj, key, required, type_msg, "dict_type", &x)) return 0;
    if (!json_is_object(x)) {
        abe_v_issue(v, key, type_msg, "dict_type");
        return -1;
    }
    if (out) *out = x;
    return 1;
}

int abe_v_object_or_list(abe_validator_t *v, json_t *obj, const char *key, int required, json_t **out)
{
    static const char type_msg[] = "Input should be a valid dictionary or list";
    json_t *x;
    if (!field_lookup(v, obj, key, required, type_msg, "dict_type", &x)) return 0;
    if (!json_is_object(x) && !json_is_array(x)) {
        abe_v_issue(v, key, type_msg, "dict_type");
        return -1;
    }
    if (out) *out = x;
    return 1;
}

int abe_v_list(abe_validator_t *v, json_t *obj, const char *key, int required, size_t max_items, json_t **out)
{
    static const char type_msg[] = "Input should be a valid list";
    json_t *x;
    if (!field_lookup(v, obj, key, required, type_msg, "list_type", &x)) return 0;
    if (!json_is_array(x)) {
        abe_v_issue(v, key, type_msg, "list_type");
        return -1;
    }
    size_t n = json_array_size(x);
    if (n > max_items) {
        char msg[128];
        snprintf(msg, sizeof(msg), "List should have at most %zu item%s after validation, not %zu", max_items,
                 max_items == 1 ? "" : "s", n);
        abe_v_issue(v, key, msg, "too_long");
        return -1;
    }
    if (out) *out = x;
    return 1;
}

int abe_v_body_object(abe_validator_t *v, json_t *body)
{
    if (json_is_object(body)) return 1;
    abe_v_issue(v, NULL, "Input should be a valid dictionary", "dict_type");
    return -1;
}

/* nul_scan_rec — walk value in document order; path holds the loc parts below the validator's current loc. */
static void nul_scan_rec(abe_validator_t *v, json_t *value, json_t *path)
{
    if (json_is_string(value)) {
        if (memchr(json_string_value(value), '\0', json_string_length(value)) != NULL) {
            json_t *loc = current_loc(v, NULL);
            if (loc) json_array_extend(loc, path);
            append_issue(v, loc, MSG_NUL, "value_error");
        }
    } else if (json_is_object(value)) {
        const char *key;
        size_t klen;
        json_t *child;
        json_object_keylen_foreach(value, key, klen, child)
        {
            if (memchr(key, '\0', klen) != NULL) {
                json_t *loc = current_loc(v, NULL);
                if (loc) json_array_extend(loc, path);
                append_issue(v, loc, MSG_NUL, "value_error");
            }
            if (json_is_string(child) || json_is_object(child) || json_is_array(child)) {
                if (json_array_append_new(path, json_stringn(key, klen)) != 0) continue;
                nul_scan_rec(v, child, path);
                json_array_remove(path, json_array_size(path) - 1);
            }
        }
    } else if (json_is_array(value)) {
        size_t i;
        json_t *child;
        json_array_foreach(value, i, child)
        {
            if (json_is_string(child) || json_is_object(child) || json_is_array(child)) {
                if (json_array_append_new(path, json_integer((json_int_t)i)) != 0) continue;
                nul_scan_rec(v, child, path);
                json_array_remove(path, json_array_size(path) - 1);
            }
        }
    }
}

void abe_v_nul_scan(abe_validator_t *v, json_t *value)
{
    json_t *path = json_array();
    if (path == NULL) return;
    nul_scan_rec(v, value, path);
    json_decref(path);
}

void abe_v_nul_keys(abe_validator_t *v, json_t *obj)
{
    if (!json_is_object(obj)) return;
    const char *key;
    size_t klen;
    json_t *child;
    json_object_keylen_foreach(obj, key, klen, child)
    {
        (void)child;
        if (memchr(key, '\0', klen) != NULL) append_issue(v, current_loc(v, NULL), MSG_NUL, "value_error");
    }
}

/* ---- validator: query parameters ---------------------------------------------------------------------- */

int abe_v_query_int(abe_validator_t *v, const char *name, const char *raw, int64_t min, int64_t max,
                    int64_t dflt, int64_t *out)
{
    if (raw == NULL) {
        if (out) *out = dflt;
        return 1;
    }
    const char *p = raw;
    int neg = 0;
    if (*p == '-') {
        neg = 1;
        p++;
    }
    size_t ndig = 0;
    int64_t mag = 0;
    while (ndig < 18 && p[ndig] >= '0' && p[ndig] <= '9') {
        mag = mag * 10 + (p[ndig] - '0'); /* at most 18 digits, so no overflow */
        ndig++;
    }
    if (ndig == 0 || p[ndig] != '\0') { /* empty, a 19th digit, or any other character */
        abe_v_issue(v, name, "Input should be a valid integer, unable to parse string as an integer",
                    "int_parsing");
        return -1;
    }
    int64_t val = neg ? -mag : mag;
    if (val < min) {
        range_issue(v, name, 1, min);
        return -1;
    }
    if (val > max) {
        range_issue(v, name, 0, max);
        return -1;
    }
    if (out) *out = val;
    return 1;
}

int abe_v_query_enum(abe_validator_t *v, const char *name, const char *raw, const char *const *values,
                     size_t n)
{
    if (raw == NULL) return 0;
    size_t need = sizeof("Input should be ");
    for (size_t i = 0; i < n; i++) {
        if (strcmp(raw, values[i]) == 0) return 1;
        need += strlen(values[i]) + 6; /* two quotes + the longest separator, " or " */
    }
    char *msg = malloc(need);
    if (msg == NULL) return -1;
    size_t o = (size_t)snprintf(msg, need, "Input should be ");
    for (size_t i = 0; i < n; i++) {
        const char *sep = i == 0 ? "" : (i + 1 == n ? " or " : ", ");
        o += (size_t)snprintf(msg + o, need - o, "%s'%s'", sep, values[i]);
    }
    abe_v_issue(v, name, msg, "enum");
    free(msg);
    return -1;
}

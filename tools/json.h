/*
 * json.h - a small, bounded JSON reader for the daemon's control replies.
 *
 * Parses a whole document into a flat array of values linked by index
 * (first child, next sibling): no recursion on the C stack beyond the
 * nesting limit, no allocation per value, strings decoded into one buffer
 * no larger than the input.  Malformed input gives -1 and a message with
 * the byte offset; it never reads outside the input.
 */
#ifndef FTPALG_JSON_H
#define FTPALG_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

#define JSON_MAX_DEPTH 32
#define JSON_MAX_VALUES 200000
#define JSON_MAX_INPUT (4u * 1024 * 1024)

enum json_type { JSON_NULL, JSON_BOOL, JSON_NUMBER, JSON_STRING, JSON_ARRAY, JSON_OBJECT };

#define JSON_NONE UINT32_MAX	/* no child / no sibling */

struct json_val {
	uint8_t type;		/* enum json_type */
	bool b;
	double num;
	uint32_t str, len;	/* string (or member key below): offset in strs */
	uint32_t key, keylen;	/* member of an object: its name */
	uint32_t child, next;	/* first child, next sibling: index or JSON_NONE */
	uint32_t count;		/* children */
};

struct json_doc {
	struct json_val *v;
	uint32_t n, cap;
	char *strs;		/* decoded strings, each NUL-terminated */
	size_t slen;
	char err[160];
};

/* 0, or -1 with doc->err set.  json_free() in both cases. */
int json_parse(struct json_doc *doc, const char *text, size_t len);
void json_free(struct json_doc *doc);

/* The root value (index 0), or NULL when empty. */
const struct json_val *json_root(const struct json_doc *doc);
/* A member of an object by name, or NULL. */
const struct json_val *json_get(const struct json_doc *doc, const struct json_val *obj,
    const char *key);
const struct json_val *json_first(const struct json_doc *doc, const struct json_val *v);
const struct json_val *json_next(const struct json_doc *doc, const struct json_val *v);
const char *json_str(const struct json_doc *doc, const struct json_val *v);	/* or NULL */
const char *json_key(const struct json_doc *doc, const struct json_val *v);
/* Typed getters of an object member, with a fallback when absent or of another type. */
const char *json_get_str(const struct json_doc *doc, const struct json_val *obj,
    const char *key, const char *dflt);
double json_get_num(const struct json_doc *doc, const struct json_val *obj, const char *key,
    double dflt);
int json_get_bool(const struct json_doc *doc, const struct json_val *obj, const char *key);

#endif

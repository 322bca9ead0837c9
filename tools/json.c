/*
 * json.c - see json.h.  RFC 8259 grammar, strictly: no comments, no
 * trailing commas, no bare words, one value per document (whitespace
 * around it allowed).
 */
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "tools/json.h"

struct json_parser {
	struct json_doc *doc;
	const char *p, *end, *start;
	int depth;
};

static int json_fail(struct json_parser *jp, const char *fmt, ...)
    __attribute__((format(printf, 2, 3)));

static int
json_fail(struct json_parser *jp, const char *fmt, ...)
{
	char msg[120];
	va_list ap;

	va_start(ap, fmt);
	vsnprintf(msg, sizeof(msg), fmt, ap);
	va_end(ap);
	snprintf(jp->doc->err, sizeof(jp->doc->err), "%s at byte %zu", msg,
	    (size_t)(jp->p - jp->start));
	return -1;
}

static void
json_ws(struct json_parser *jp)
{
	while (jp->p < jp->end && (*jp->p == ' ' || *jp->p == '\t' || *jp->p == '\n' ||
	    *jp->p == '\r'))
		jp->p++;
}

/* A new value; its index, or JSON_NONE when the limit is reached. */
static uint32_t
json_new(struct json_parser *jp, enum json_type type)
{
	struct json_doc *d = jp->doc;
	struct json_val *v;

	if (d->n >= JSON_MAX_VALUES)
		return JSON_NONE;
	if (d->n == d->cap) {
		uint32_t ncap = d->cap == 0 ? 64 : d->cap * 2;
		struct json_val *n = realloc(d->v, (size_t)ncap * sizeof(*n));

		if (n == NULL)
			return JSON_NONE;
		d->v = n;
		d->cap = ncap;
	}
	v = &d->v[d->n];
	memset(v, 0, sizeof(*v));
	v->type = (uint8_t)type;
	v->child = v->next = JSON_NONE;
	return d->n++;
}

static int
json_hex4(const char *p, unsigned *out)
{
	unsigned v = 0;

	for (int i = 0; i < 4; i++) {
		char c = p[i];

		v <<= 4;
		if (c >= '0' && c <= '9')
			v |= (unsigned)(c - '0');
		else if (c >= 'a' && c <= 'f')
			v |= (unsigned)(c - 'a' + 10);
		else if (c >= 'A' && c <= 'F')
			v |= (unsigned)(c - 'A' + 10);
		else
			return -1;
	}
	*out = v;
	return 0;
}

static void
json_put(struct json_doc *d, char c)
{
	d->strs[d->slen++] = c;
}

static void
json_utf8(struct json_doc *d, unsigned cp)
{
	if (cp < 0x80) {
		json_put(d, (char)cp);
	} else if (cp < 0x800) {
		json_put(d, (char)(0xc0 | cp >> 6));
		json_put(d, (char)(0x80 | (cp & 0x3f)));
	} else if (cp < 0x10000) {
		json_put(d, (char)(0xe0 | cp >> 12));
		json_put(d, (char)(0x80 | ((cp >> 6) & 0x3f)));
		json_put(d, (char)(0x80 | (cp & 0x3f)));
	} else {
		json_put(d, (char)(0xf0 | cp >> 18));
		json_put(d, (char)(0x80 | ((cp >> 12) & 0x3f)));
		json_put(d, (char)(0x80 | ((cp >> 6) & 0x3f)));
		json_put(d, (char)(0x80 | (cp & 0x3f)));
	}
}

/*
 * A string at jp->p (on the opening quote), decoded into doc->strs.  The
 * decoded form is never longer than the quoted one, so strs (as long as
 * the input) cannot overflow.
 */
static int
json_string(struct json_parser *jp, uint32_t *off, uint32_t *len)
{
	struct json_doc *d = jp->doc;

	jp->p++;
	*off = (uint32_t)d->slen;
	for (;;) {
		unsigned char c;

		if (jp->p >= jp->end)
			return json_fail(jp, "unterminated string");
		c = (unsigned char)*jp->p;
		if (c == '"') {
			jp->p++;
			break;
		}
		if (c < 0x20)
			return json_fail(jp, "control character in a string");
		if (c != '\\') {
			json_put(d, (char)c);
			jp->p++;
			continue;
		}
		if (jp->end - jp->p < 2)
			return json_fail(jp, "unterminated escape");
		switch (jp->p[1]) {
		case '"': json_put(d, '"'); break;
		case '\\': json_put(d, '\\'); break;
		case '/': json_put(d, '/'); break;
		case 'b': json_put(d, '\b'); break;
		case 'f': json_put(d, '\f'); break;
		case 'n': json_put(d, '\n'); break;
		case 'r': json_put(d, '\r'); break;
		case 't': json_put(d, '\t'); break;
		case 'u': {
			unsigned cp, lo;

			if (jp->end - jp->p < 6 || json_hex4(jp->p + 2, &cp) < 0)
				return json_fail(jp, "bad \\u escape");
			jp->p += 6;
			if (cp >= 0xd800 && cp <= 0xdbff && jp->end - jp->p >= 6 &&
			    jp->p[0] == '\\' && jp->p[1] == 'u' && json_hex4(jp->p + 2, &lo) == 0 &&
			    lo >= 0xdc00 && lo <= 0xdfff) {
				cp = 0x10000 + ((cp - 0xd800) << 10) + (lo - 0xdc00);
				jp->p += 6;
			} else if (cp >= 0xd800 && cp <= 0xdfff) {
				cp = '?';	/* a lone surrogate: keep going, mark it */
			}
			if (cp == 0)
				cp = '?';	/* keep strings NUL-free */
			json_utf8(d, cp);
			continue;
		}
		default:
			return json_fail(jp, "bad escape \\%c", jp->p[1]);
		}
		jp->p += 2;
	}
	*len = (uint32_t)(d->slen - *off);
	json_put(d, '\0');
	return 0;
}

static int
json_number(struct json_parser *jp, double *out)
{
	const char *s = jp->p;
	char buf[64];
	size_t n;

	if (jp->p < jp->end && *jp->p == '-')
		jp->p++;
	if (jp->p >= jp->end || !(*jp->p >= '0' && *jp->p <= '9'))
		return json_fail(jp, "bad number");
	if (*jp->p == '0')
		jp->p++;
	else
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	if (jp->p < jp->end && *jp->p == '.') {
		jp->p++;
		if (jp->p >= jp->end || !(*jp->p >= '0' && *jp->p <= '9'))
			return json_fail(jp, "bad number");
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	if (jp->p < jp->end && (*jp->p == 'e' || *jp->p == 'E')) {
		jp->p++;
		if (jp->p < jp->end && (*jp->p == '+' || *jp->p == '-'))
			jp->p++;
		if (jp->p >= jp->end || !(*jp->p >= '0' && *jp->p <= '9'))
			return json_fail(jp, "bad number");
		while (jp->p < jp->end && *jp->p >= '0' && *jp->p <= '9')
			jp->p++;
	}
	n = (size_t)(jp->p - s);
	if (n >= sizeof(buf))
		return json_fail(jp, "number too long");
	memcpy(buf, s, n);
	buf[n] = '\0';
	*out = strtod(buf, NULL);
	return 0;
}

static int
json_word(struct json_parser *jp, const char *w)
{
	size_t n = strlen(w);

	if ((size_t)(jp->end - jp->p) < n || memcmp(jp->p, w, n) != 0)
		return json_fail(jp, "unexpected character '%c'",
		    (unsigned char)*jp->p >= 0x20 && (unsigned char)*jp->p < 0x7f ? *jp->p : '?');
	jp->p += n;
	return 0;
}

static int json_value(struct json_parser *jp, uint32_t *idx);

/* Appends child to parent's list; tail tracks the last child. */
static void
json_link(struct json_doc *d, uint32_t parent, uint32_t *tail, uint32_t child)
{
	if (*tail == JSON_NONE)
		d->v[parent].child = child;
	else
		d->v[*tail].next = child;
	*tail = child;
	d->v[parent].count++;
}

static int
json_container(struct json_parser *jp, uint32_t idx, bool object)
{
	struct json_doc *d = jp->doc;
	char close = object ? '}' : ']';
	uint32_t tail = JSON_NONE;

	if (++jp->depth > JSON_MAX_DEPTH)
		return json_fail(jp, "nested too deep");
	jp->p++;
	json_ws(jp);
	if (jp->p < jp->end && *jp->p == close) {
		jp->p++;
		jp->depth--;
		return 0;
	}
	for (;;) {
		uint32_t key = 0, keylen = 0, child;

		json_ws(jp);
		if (object) {
			if (jp->p >= jp->end || *jp->p != '"')
				return json_fail(jp, "expected a member name");
			if (json_string(jp, &key, &keylen) < 0)
				return -1;
			json_ws(jp);
			if (jp->p >= jp->end || *jp->p != ':')
				return json_fail(jp, "expected ':'");
			jp->p++;
		}
		if (json_value(jp, &child) < 0)
			return -1;
		d->v[child].key = key;
		d->v[child].keylen = keylen;
		json_link(d, idx, &tail, child);
		json_ws(jp);
		if (jp->p >= jp->end)
			return json_fail(jp, "unexpected end");
		if (*jp->p == ',') {
			jp->p++;
			continue;
		}
		if (*jp->p == close) {
			jp->p++;
			break;
		}
		return json_fail(jp, "expected ',' or '%c'", close);
	}
	jp->depth--;
	return 0;
}

static int
json_value(struct json_parser *jp, uint32_t *idx)
{
	struct json_doc *d = jp->doc;
	enum json_type type;

	json_ws(jp);
	if (jp->p >= jp->end)
		return json_fail(jp, "unexpected end");
	switch (*jp->p) {
	case '{': type = JSON_OBJECT; break;
	case '[': type = JSON_ARRAY; break;
	case '"': type = JSON_STRING; break;
	case 't': case 'f': type = JSON_BOOL; break;
	case 'n': type = JSON_NULL; break;
	default: type = JSON_NUMBER; break;
	}
	*idx = json_new(jp, type);
	if (*idx == JSON_NONE)
		return json_fail(jp, "too many values");
	switch (type) {
	case JSON_OBJECT:
	case JSON_ARRAY:
		return json_container(jp, *idx, type == JSON_OBJECT);
	case JSON_STRING: {
		uint32_t off, len;

		if (json_string(jp, &off, &len) < 0)
			return -1;
		d->v[*idx].str = off;
		d->v[*idx].len = len;
		return 0;
	}
	case JSON_BOOL:
		d->v[*idx].b = *jp->p == 't';
		return json_word(jp, d->v[*idx].b ? "true" : "false");
	case JSON_NULL:
		return json_word(jp, "null");
	default:
		if (!(*jp->p == '-' || (*jp->p >= '0' && *jp->p <= '9')))
			return json_fail(jp, "unexpected character '%c'",
			    (unsigned char)*jp->p >= 0x20 && (unsigned char)*jp->p < 0x7f ?
			    *jp->p : '?');
		return json_number(jp, &d->v[*idx].num);
	}
}

void
json_free(struct json_doc *doc)
{
	free(doc->v);
	free(doc->strs);
	doc->v = NULL;
	doc->strs = NULL;
	doc->n = doc->cap = 0;
	doc->slen = 0;
}

int
json_parse(struct json_doc *doc, const char *text, size_t len)
{
	struct json_parser jp = { doc, text, text + len, text, 0 };
	uint32_t root;

	memset(doc, 0, sizeof(*doc));
	if (len > JSON_MAX_INPUT) {
		snprintf(doc->err, sizeof(doc->err), "document too large (%zu bytes)", len);
		return -1;
	}
	doc->strs = malloc(len + 1);
	if (doc->strs == NULL) {
		snprintf(doc->err, sizeof(doc->err), "out of memory");
		return -1;
	}
	if (json_value(&jp, &root) < 0)
		return -1;
	json_ws(&jp);
	if (jp.p != jp.end)
		return json_fail(&jp, "trailing data");
	return 0;
}

const struct json_val *
json_root(const struct json_doc *doc)
{
	return doc->n > 0 ? &doc->v[0] : NULL;
}

const struct json_val *
json_first(const struct json_doc *doc, const struct json_val *v)
{
	if (v == NULL || (v->type != JSON_ARRAY && v->type != JSON_OBJECT) || v->child == JSON_NONE)
		return NULL;
	return &doc->v[v->child];
}

const struct json_val *
json_next(const struct json_doc *doc, const struct json_val *v)
{
	return v == NULL || v->next == JSON_NONE ? NULL : &doc->v[v->next];
}

const char *
json_str(const struct json_doc *doc, const struct json_val *v)
{
	return v != NULL && v->type == JSON_STRING ? doc->strs + v->str : NULL;
}

const char *
json_key(const struct json_doc *doc, const struct json_val *v)
{
	return doc->strs + v->key;
}

const struct json_val *
json_get(const struct json_doc *doc, const struct json_val *obj, const char *key)
{
	if (obj == NULL || obj->type != JSON_OBJECT)
		return NULL;
	for (const struct json_val *m = json_first(doc, obj); m != NULL; m = json_next(doc, m))
		if (strcmp(doc->strs + m->key, key) == 0)
			return m;
	return NULL;
}

const char *
json_get_str(const struct json_doc *doc, const struct json_val *obj, const char *key,
    const char *dflt)
{
	const char *s = json_str(doc, json_get(doc, obj, key));

	return s != NULL ? s : dflt;
}

double
json_get_num(const struct json_doc *doc, const struct json_val *obj, const char *key,
    double dflt)
{
	const struct json_val *v = json_get(doc, obj, key);

	return v != NULL && v->type == JSON_NUMBER ? v->num : dflt;
}

int
json_get_bool(const struct json_doc *doc, const struct json_val *obj, const char *key)
{
	const struct json_val *v = json_get(doc, obj, key);

	return v != NULL && v->type == JSON_BOOL ? v->b : -1;
}

/* SPDX-License-Identifier: MIT */
/* Description: libFuzzer target for the JSON writer: the input drives a
 * sequence of writer calls (open, close, key, string of arbitrary bytes,
 * numbers, booleans); whatever the sequence, a balanced document must come
 * out as valid JSON whose strings are valid UTF-8 with no raw control
 * characters. A small validator checks it. */
#include "cli/json.h"

#include <stdbool.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

struct in {
	const uint8_t *p;
	size_t n;
};

static int take(struct in *in)
{
	if (!in->n)
		return -1;
	in->n--;
	return *in->p++;
}

/* ---- a strict validator (RFC 8259) ---- */

static const char *ws(const char *s)
{
	while (*s == ' ' || *s == '\n' || *s == '\t' || *s == '\r')
		s++;
	return s;
}

static const char *value(const char *s, int depth);

static const char *string(const char *s)
{
	const unsigned char *u = (const unsigned char *)s;

	if (*u++ != '"')
		return NULL;
	for (;;) {
		unsigned c = *u;

		if (c == '"')
			return (const char *)u + 1;
		if (c < 0x20)
			return NULL;
		if (c == '\\') {
			u++;
			if (*u == 'u') {
				for (int i = 1; i <= 4; i++)
					if (!((u[i] >= '0' && u[i] <= '9') || (u[i] >= 'a' && u[i] <= 'f') ||
					      (u[i] >= 'A' && u[i] <= 'F')))
						return NULL;
				u += 5;
			} else if (*u && strchr("\"\\/bfnrt", *u)) {
				u++;
			} else {
				return NULL;
			}
			continue;
		}
		if (c < 0x80) {
			u++;
			continue;
		}
		/* UTF-8: lead byte and continuations, no overlongs or surrogates */
		{
			int k = c >= 0xf0 && c <= 0xf4 ? 3 : c >= 0xe0 && c <= 0xef ? 2
							 : c >= 0xc2 && c <= 0xdf ? 1 : -1;
			uint32_t cp = k == 3 ? c & 7 : k == 2 ? c & 15 : c & 31;

			if (k < 0)
				return NULL;
			for (int i = 1; i <= k; i++) {
				if ((u[i] & 0xc0) != 0x80)
					return NULL;
				cp = cp << 6 | (u[i] & 0x3f);
			}
			if ((k == 2 && (cp < 0x800 || (cp >= 0xd800 && cp <= 0xdfff))) ||
			    (k == 3 && (cp < 0x10000 || cp > 0x10ffff)))
				return NULL;
			u += k + 1;
		}
	}
}

static const char *number(const char *s)
{
	const char *b;

	if (*s == '-')
		s++;
	if (*s == '0')
		s++;
	else if (*s >= '1' && *s <= '9')
		while (*s >= '0' && *s <= '9')
			s++;
	else
		return NULL;
	b = s;
	return b;
}

static const char *value(const char *s, int depth)
{
	s = ws(s);
	if (depth > 64)
		return NULL;
	if (*s == '{' || *s == '[') {
		char close = *s == '{' ? '}' : ']';
		bool obj = *s == '{';

		s = ws(s + 1);
		if (*s == close)
			return s + 1;
		for (;;) {
			if (obj) {
				s = string(ws(s));
				if (!s)
					return NULL;
				s = ws(s);
				if (*s++ != ':')
					return NULL;
			}
			s = value(s, depth + 1);
			if (!s)
				return NULL;
			s = ws(s);
			if (*s == ',') {
				s++;
				continue;
			}
			return *s == close ? s + 1 : NULL;
		}
	}
	if (*s == '"')
		return string(s);
	if (!strncmp(s, "true", 4))
		return s + 4;
	if (!strncmp(s, "false", 5))
		return s + 5;
	if (!strncmp(s, "null", 4))
		return s + 4;
	return number(s);
}

/* ---- the target ---- */

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct in in = { data, size };
	struct rt__json j;
	char *buf = NULL, stack[RT__JSON_DEPTH];
	size_t len = 0;
	unsigned depth = 0;
	bool need_value = false;
	FILE *f = open_memstream(&buf, &len);
	const char *end;
	int op;

	if (!f)
		return 0;
	rt__json_begin(&j, f);
	rt__json_open(&j, '{');
	stack[depth++] = '}';
	while ((op = take(&in)) >= 0) {
		bool in_obj = stack[depth - 1] == '}';

		/* inside an object every value needs a key first */
		if (in_obj && !need_value) {
			char key[16];
			int n = take(&in);

			n = n < 0 ? 0 : n % 8;
			for (int i = 0; i < n; i++) {
				int c = take(&in);

				key[i] = c <= 0 ? 'k' : (char)c;
			}
			key[n] = 0;
			rt__json_key(&j, key);
			need_value = true;
			continue;
		}
		need_value = false;
		switch (op % 7) {
		case 0:
		case 1:
			if (depth < RT__JSON_DEPTH - 1) {
				rt__json_open(&j, op % 7 ? '[' : '{');
				stack[depth++] = op % 7 ? ']' : '}';
			} else {
				rt__json_bool(&j, true);
			}
			break;
		case 2:
			if (depth > 1) {
				/* a value was owed to a key: close only arrays here */
				rt__json_bool(&j, false);
			} else {
				rt__json_u64(&j, 1);
			}
			break;
		case 3: {
			int n = take(&in);
			uint8_t s[64];

			n = n < 0 ? 0 : n % 64;
			for (int i = 0; i < n; i++) {
				int c = take(&in);

				s[i] = (uint8_t)(c < 0 ? 0 : c);
			}
			rt__json_string(&j, (const char *)s, (size_t)n);
			break;
		}
		case 4:
			rt__json_u64(&j, (uint64_t)op * 0x9e3779b97f4a7c15ull);
			break;
		case 5:
			rt__json_i64(&j, -(int64_t)op * 1000003);
			break;
		default:
			rt__json_bool(&j, op & 1);
			break;
		}
		/* now and then, close the innermost container */
		if ((op & 0x80) && depth > 1) {
			rt__json_close(&j, stack[--depth]);
		}
	}
	if (stack[depth - 1] == '}' && need_value)
		rt__json_bool(&j, true);
	while (depth)
		rt__json_close(&j, stack[--depth]);
	fclose(f);
	end = buf ? value(buf, 0) : NULL;
	if (!end || *ws(end)) {
		fprintf(stderr, "invalid JSON from the writer:\n%s\n", buf ? buf : "(none)");
		abort();
	}
	free(buf);
	return 0;
}

/* SPDX-License-Identifier: MIT */
/*
 * Description: a small streaming JSON writer for reports (rtmem check,
 * rtmem doctor). Strings are escaped per RFC 8259: quote, backslash and
 * control characters; valid UTF-8 passes through; a byte that is not part of
 * valid UTF-8 (mapping paths can hold any byte) is written as \u00XX, its
 * value, so the output is always valid JSON.
 */
#include "json.h"
#include "utf8.h"
#include "rtmem.h"

#include <inttypes.h>
#include <stdio.h>
#include <string.h>

void rt__json_str(FILE *f, const char *s, size_t n)
{
	const unsigned char *p = (const unsigned char *)s;

	fputc('"', f);
	for (size_t i = 0; i < n;) {
		unsigned c = p[i];
		size_t l;

		if (c == '"' || c == '\\') {
			fputc('\\', f);
			fputc((int)c, f);
			i++;
		} else if (c == '\n') {
			fputs("\\n", f), i++;
		} else if (c == '\t') {
			fputs("\\t", f), i++;
		} else if (c == '\r') {
			fputs("\\r", f), i++;
		} else if (c < 0x20 || c == 0x7f) {
			fprintf(f, "\\u%04x", c), i++;
		} else if ((l = rt__utf8_len(p + i, n - i)) != 0) {
			fwrite(p + i, 1, l, f);
			i += l;
		} else {
			fprintf(f, "\\u%04x", c), i++;
		}
	}
	fputc('"', f);
}

void rt__json_begin(struct rt__json *j, FILE *f)
{
	memset(j, 0, sizeof(*j));
	j->f = f;
}

static void sep(struct rt__json *j)
{
	if (j->depth && j->count[j->depth - 1]++)
		fputc(',', j->f);
}

void rt__json_key(struct rt__json *j, const char *k)
{
	sep(j);
	rt__json_str(j->f, k, strlen(k));
	fputc(':', j->f);
	j->after_key = true;
}

static void value_prefix(struct rt__json *j)
{
	if (j->after_key)
		j->after_key = false;
	else
		sep(j);
}

void rt__json_open(struct rt__json *j, char c)
{
	value_prefix(j);
	fputc(c, j->f);
	if (j->depth < RT__JSON_DEPTH)
		j->count[j->depth++] = 0;
}

void rt__json_close(struct rt__json *j, char c)
{
	if (j->depth)
		j->depth--;
	fputc(c, j->f);
}

void rt__json_string(struct rt__json *j, const char *s, size_t n)
{
	value_prefix(j);
	rt__json_str(j->f, s, n);
}

void rt__json_u64(struct rt__json *j, uint64_t v)
{
	value_prefix(j);
	fprintf(j->f, "%" PRIu64, v);
}

void rt__json_i64(struct rt__json *j, int64_t v)
{
	value_prefix(j);
	fprintf(j->f, "%" PRId64, v);
}

void rt__json_bool(struct rt__json *j, bool v)
{
	value_prefix(j);
	fputs(v ? "true" : "false", j->f);
}

/* SPDX-License-Identifier: MIT */
/*
 * Description: the command's streaming JSON writer (json.c), used by
 * `rtmem check --json` and `rtmem doctor --json`. Not part of the library.
 */
#ifndef RTMEM_CLI_JSON_H
#define RTMEM_CLI_JSON_H

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>

#define RT__JSON_DEPTH 16
struct rt__json {
	FILE *f;
	unsigned depth;
	unsigned count[RT__JSON_DEPTH];
	bool after_key;
};
/* One JSON string of s[0..n): escaped, always valid JSON (bytes outside
 * valid UTF-8 become \u00XX). */
void rt__json_str(FILE *f, const char *s, size_t n);
void rt__json_begin(struct rt__json *j, FILE *f);
void rt__json_key(struct rt__json *j, const char *k);
void rt__json_open(struct rt__json *j, char c);     /* '{' or '[' */
void rt__json_close(struct rt__json *j, char c);    /* '}' or ']' */
void rt__json_string(struct rt__json *j, const char *s, size_t n);
void rt__json_u64(struct rt__json *j, uint64_t v);
void rt__json_i64(struct rt__json *j, int64_t v);
void rt__json_bool(struct rt__json *j, bool v);

#endif

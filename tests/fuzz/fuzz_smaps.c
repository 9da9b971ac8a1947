/* SPDX-License-Identifier: MIT */
/* Description: libFuzzer target for the smaps parser (rtk_smaps_next,
 * rtk_vmflags_parse): any bytes, no crash, no hang, and every entry it
 * returns is consistent. */
#include "kernel/kernel.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	/* exactly `size` bytes, no terminator: ASan catches a read past the end */
	char *text = malloc(size ? size : 1);
	const char *cur, *end;
	struct rtk_vma v;
	size_t steps = 0;
	int r;

	if (!text)
		return 0;
	memcpy(text, data, size);
	cur = text;
	end = text + size;
	while ((r = rtk_smaps_next(&cur, end, &v)) != 0) {
		/* each call consumes input: a bounded number of steps */
		if (++steps > size + 1)
			abort();
		if (cur < text || cur > end)
			abort();
		if (r > 0) {
			if (v.end < v.start)
				abort();
			if (v.path_len && (v.path < text || v.path + v.path_len > end))
				abort();
		}
	}
	(void)rtk_vmflags_parse(text, size);
	free(text);
	return 0;
}

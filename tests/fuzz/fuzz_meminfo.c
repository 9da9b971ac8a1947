/* SPDX-License-Identifier: MIT */
/* Description: libFuzzer target for the /proc/meminfo parser. */
#include "kernel/kernel.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtk_meminfo mi;
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	(void)rtk_meminfo_parse(text, size, &mi);
	free(text);
	return 0;
}

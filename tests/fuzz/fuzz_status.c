/* SPDX-License-Identifier: MIT */
/* Description: libFuzzer target for the /proc/PID/status parser. */
#include "kernel/kernel.h"

#include <stdint.h>
#include <stdlib.h>
#include <string.h>

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct rtk_status st;
	char *text = malloc(size ? size : 1);

	if (!text)
		return 0;
	memcpy(text, data, size);
	(void)rtk_status_parse(text, size, &st);
	free(text);
	return 0;
}

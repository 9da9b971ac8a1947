/* SPDX-License-Identifier: MIT */
/* Description: a statically linked program, which LD_PRELOAD cannot reach:
 * `rtmem run` must refuse it unless told to run best-effort. */
#include <stdio.h>

int main(void)
{
	puts("static helper ran");
	return 0;
}

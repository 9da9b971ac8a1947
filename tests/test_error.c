/* SPDX-License-Identifier: MIT */
/*
 * Description: error reporting: rt_strerror for -errno and errno, the
 * per-thread sentence of rt_last_error, size formatting in sentences, and
 * validation of options structs of other sizes (older and newer callers).
 */
#include "support.h"
#include "error.h"
#include "rtmem.h"

#include <errno.h>
#include <pthread.h>
#include <string.h>

static void test_strerror(void)
{
	CU_ASSERT_STRING_EQUAL(rt_strerror(-ENOMEM), strerror(ENOMEM));
	CU_ASSERT_STRING_EQUAL(rt_strerror(ENOMEM), strerror(ENOMEM));
	CU_ASSERT_STRING_EQUAL(rt_strerror(-EPERM), strerror(EPERM));
	CU_ASSERT_STRING_EQUAL(rt_strerror(0), "Success");
	CU_ASSERT_PTR_NOT_NULL(rt_strerror(-100000));
	CU_ASSERT_PTR_NOT_NULL(rt_strerror(-2147483647));
}

static void *other_thread(void *arg)
{
	/* a new thread starts with no sentence, and its failures stay its own */
	*(int *)arg = rt_last_error()[0] == 0;
	rt__fail(EINVAL, "from the other thread");
	return NULL;
}

static void test_last_error_per_thread(void)
{
	pthread_t t;
	int empty = 0;

	CU_ASSERT_EQUAL(rt__fail(ENOMEM, "main %d", 7), -ENOMEM);
	CU_ASSERT_STRING_EQUAL(rt_last_error(), "main 7");
	CU_ASSERT_EQUAL(pthread_create(&t, NULL, other_thread, &empty), 0);
	pthread_join(t, NULL);
	CU_ASSERT_EQUAL(empty, 1);
	CU_ASSERT_STRING_EQUAL(rt_last_error(), "main 7");
	rt__fail_append(" and more");
	CU_ASSERT_STRING_EQUAL(rt_last_error(), "main 7 and more");
	errno = 0;
	CU_ASSERT_PTR_NULL(rt__fail_null(EPERM, "x"));
	CU_ASSERT_EQUAL(errno, EPERM);
	/* a public call's failure leaves a sentence */
	CU_ASSERT_EQUAL(rt_unlock_range(NULL, 1), -EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "rt_unlock_range") != NULL);
}

static void test_sizes(void)
{
	char b[32];

	CU_ASSERT_STRING_EQUAL(rt__size(0, b), "0 B");
	CU_ASSERT_STRING_EQUAL(rt__size(1000, b), "1000 B");
	CU_ASSERT_STRING_EQUAL(rt__size(64 << 10, b), "64 KiB");
	CU_ASSERT_STRING_EQUAL(rt__size(3 << 19, b), "1.5 MiB");
	CU_ASSERT_STRING_EQUAL(rt__size(8ull << 30, b), "8 GiB");
	CU_ASSERT_STRING_EQUAL(rt__size(UINT64_MAX, b), "unlimited");
}

struct bigger_opts {
	struct rt_region_opts base;
	uint64_t future_field;
};

static void test_opts_sizes(void)
{
	struct bigger_opts bo = { .base = { .sz = sizeof(bo) } };
	struct rt_region *r;

	/* a newer caller's larger struct with its extra fields zero is fine */
	r = rt_region_create(1, &bo.base);
	CU_ASSERT_PTR_NOT_NULL(r);
	CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
	/* ... but not with a field this rtmem does not know set */
	bo.future_field = 1;
	errno = 0;
	CU_ASSERT_PTR_NULL(rt_region_create(1, &bo.base));
	CU_ASSERT_EQUAL(errno, EINVAL);
	CU_ASSERT(strstr(rt_last_error(), "RT_OPTS") != NULL);
	/* an older caller's smaller struct: the missing fields are defaults */
	{
		struct rt_region_opts small = { .sz = sizeof(size_t) };

		r = rt_region_create(1, &small);
		CU_ASSERT_PTR_NOT_NULL(r);
		CU_ASSERT_EQUAL(rt_region_destroy(r), 0);
	}
	/* garbage sizes */
	{
		struct rt_region_opts g = { .sz = 1u << 30 };

		CU_ASSERT_PTR_NULL(rt_region_create(1, &g));
		CU_ASSERT_EQUAL(errno, EINVAL);
	}
}

/* The one size parser (RTMEM_ARENA_SIZE, rtmem run's options, the
 * preload library's environment). */
static void test_parse_size(void)
{
	size_t v = 7;

	CU_ASSERT(rt__parse_size("4096", &v) && v == 4096);
	CU_ASSERT(rt__parse_size("32M", &v) && v == (size_t)32 << 20);
	CU_ASSERT(rt__parse_size("1g", &v) && v == (size_t)1 << 30);
	CU_ASSERT(rt__parse_size("64k", &v) && v == (size_t)64 << 10);
	v = 7;
	CU_ASSERT(!rt__parse_size(NULL, &v));
	CU_ASSERT(!rt__parse_size("", &v));
	CU_ASSERT(!rt__parse_size("0", &v));
	CU_ASSERT(!rt__parse_size("-1", &v));
	CU_ASSERT(!rt__parse_size(" 5", &v));
	CU_ASSERT(!rt__parse_size("12Q", &v));
	CU_ASSERT(!rt__parse_size("12MB", &v));
	CU_ASSERT(!rt__parse_size("17179869184G", &v));       /* 2^34 G overflows */
	CU_ASSERT(!rt__parse_size("99999999999999999999", &v));
	CU_ASSERT_EQUAL(v, 7);                                  /* untouched on failure */
}

static const struct rtt_test tests[] = {
	{ "sizes with K, M, G suffixes parsed strictly", test_parse_size },
	{ "rt_strerror takes -errno and errno", test_strerror },
	{ "rt_last_error is per thread", test_last_error_per_thread },
	{ "sizes in sentences", test_sizes },
	{ "options structs of other sizes", test_opts_sizes },
	RTT_END
};

int main(void)
{
	return rtt_main("error", tests);
}

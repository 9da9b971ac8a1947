// SPDX-License-Identifier: MIT
/*
 * Description: a C++ program outside the tree, built against an installed
 * rtmem (pkg-config or find_package) with rtmem.hpp alone: the process
 * locked by a guard, then 10,000 rounds of a std::pmr::vector and
 * std::pmr::unordered_map on a locked arena, with zero page faults.
 */
#include <rtmem.hpp>

#include <cstdio>
#include <memory_resource>
#include <unordered_map>
#include <vector>

int main()
{
	rtmem::lock_all locked(std::nothrow);

	if (!locked) {
		std::fprintf(stderr, "rt_lock_all: %s: %s\n", rt_strerror(locked.error()),
			     rt_last_error());
		return 2;
	}
	rtmem::arena arena(8 << 20);
	rtmem::arena_resource res(arena);
	std::pmr::vector<double> v(&res);
	std::pmr::unordered_map<int, double> m(&res);
	struct rt_fault_mark mark;
	struct rt_faults f;

	v.reserve(4096);
	m.reserve(1024);
	auto round = [&](int i) {
		v.push_back(i);
		if (v.size() == v.capacity())
			v.clear();
		if (!m.erase(i % 1000))
			m.emplace(i % 1000, i);
	};
	for (int i = 0; i < 10000; i++)
		round(i);
	rt_faults_mark(&mark, RT_FAULTS_THREAD);
	for (int i = 0; i < 10000; i++)
		round(i);
	rt_faults_since(&mark, &f);
	std::printf("consumer (C++): %ld minor, %ld major faults in 10000 rounds of std::pmr "
		    "containers on an rtmem::arena\n", f.minor, f.major);
	return f.minor || f.major ? 1 : 0;
}

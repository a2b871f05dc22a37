/*
 * alloc_counter.cpp
 *	  Replaces the global operator new/delete of the unit test binary with
 *	  counting versions (see alloc_counter.hpp).  The array and nothrow forms
 *	  of the standard library forward to these.
 */
#include <atomic>
#include <cstdlib>
#include <new>

#include "alloc_counter.hpp"

namespace
{

std::atomic<uint64_t> allocations{0};

}							/* namespace */

uint64_t
mmr_test::allocation_count()
{
	return allocations.load(std::memory_order_relaxed);
}

void *
operator new(std::size_t size)
{
	allocations.fetch_add(1, std::memory_order_relaxed);
	if (void *p = std::malloc(size == 0 ? 1 : size))
		return p;
	throw std::bad_alloc();
}

void
operator delete(void *p) noexcept
{
	std::free(p);
}

void
operator delete(void *p, std::size_t) noexcept
{
	std::free(p);
}

/*
 * alloc_counter.hpp
 *	  Counts calls of the global operator new in the unit test binary, so
 *	  tests can assert that the decoder does not allocate in steady state or
 *	  for a bogus count.  The replacement lives in alloc_counter.cpp.
 */
#ifndef MMR_TEST_ALLOC_COUNTER_HPP
#define MMR_TEST_ALLOC_COUNTER_HPP

#include <cstdint>

namespace mmr_test
{

/* Number of operator new calls made by this program so far. */
uint64_t	allocation_count();

}							/* namespace mmr_test */

#endif							/* MMR_TEST_ALLOC_COUNTER_HPP */

/*
 * core_only.hpp
 *	  The mechanical half of the C / C++ wall: every core .cpp includes this
 *	  header last, and the build fails if any PostgreSQL header came in
 *	  before it.  PostgreSQL headers define macros (Max, printf, restrict...)
 *	  that break C++, and core code must never call into PostgreSQL, whose
 *	  errors longjmp past C++ destructors.
 */
#ifndef MMR_CORE_ONLY_HPP
#define MMR_CORE_ONLY_HPP

#if defined(POSTGRES_H) || defined(POSTGRES_FE_H) || defined(C_H) || defined(PG_CONFIG_H)
#error "a PostgreSQL header was included in mmr's C++ core; only src/pg may include them"
#endif

#ifndef __cplusplus
#error "core_only.hpp is for the C++ core; C code belongs in src/pg"
#endif

#endif							/* MMR_CORE_ONLY_HPP */

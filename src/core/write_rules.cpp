/*
 * write_rules.cpp
 *	  Write partitioning: which node may write a table or a row
 *	  (docs/write_partitioning.md).
 *
 *	  A table with a writer may be written only by that node.  A table whose
 *	  rows are owned by a column may be written by a node only in the rows
 *	  whose column names it, before and after the change; a NULL names no
 *	  node, so nobody may write such a row locally.  TRUNCATE removes every
 *	  row, so it is never allowed on a table whose rows are owned.
 */
#include <cstring>

#include "mmr_core.h"

#include "core_only.hpp"

namespace
{

bool
same_name(const MmrBytes &a, const MmrBytes &b) noexcept
{
	return a.data != nullptr && b.data != nullptr && a.len == b.len &&
		std::memcmp(a.data, b.data, a.len) == 0;
}

bool
owned_by(const MmrBytes *owner, const MmrBytes &node) noexcept
{
	return owner == nullptr || same_name(*owner, node);
}

}							/* namespace */

extern "C" MmrWriteVerdict
mmr_write_decide(const MmrWriteRule *rule, MmrBytes local_node, int truncate,
				 const MmrBytes *old_owner, const MmrBytes *new_owner) noexcept
{
	if (rule == nullptr)
		return MMR_WRITE_ALLOWED;
	if (rule->table_writer.data != nullptr && !same_name(rule->table_writer, local_node))
		return MMR_WRITE_NOT_TABLE_WRITER;
	if (!rule->rows_owned)
		return MMR_WRITE_ALLOWED;
	if (truncate)
		return MMR_WRITE_TRUNCATE_OWNED;
	if (!owned_by(old_owner, local_node))
		return MMR_WRITE_OLD_ROW_FOREIGN;
	if (!owned_by(new_owner, local_node))
		return MMR_WRITE_NEW_ROW_FOREIGN;
	return MMR_WRITE_ALLOWED;
}

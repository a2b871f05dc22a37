/*
 * error.hpp
 *	  How core code fails, and how the extern "C" entry points turn every
 *	  failure into an MmrError.
 *
 *	  Core code throws CoreError (a status plus a message formatted with fmt).
 *	  The message lives in a fixed buffer inside the exception, so rejecting
 *	  a malformed message does not allocate.  run_guarded() is the only place
 *	  that catches: each exported function runs its body through it, so no
 *	  exception can ever reach PostgreSQL frames.
 */
#ifndef MMR_CORE_ERROR_HPP
#define MMR_CORE_ERROR_HPP

#include <cstddef>
#include <cstring>
#include <exception>
#include <new>
#include <utility>

#include <fmt/format.h>

#include "mmr_core.h"

/* Keeps the rarely taken failure paths out of the hot code. */
#define MMR_COLD __attribute__((cold, noinline))

namespace mmr::core
{

class CoreError : public std::exception
{
public:
	explicit CoreError(MmrStatus status) noexcept : status_(status)
	{
		message_[0] = '\0';
	}

	MmrStatus status() const noexcept { return status_; }
	const char *what() const noexcept override { return message_; }
	char *buffer() noexcept { return message_; }

private:
	MmrStatus	status_;
	char		message_[MMR_ERROR_MESSAGE_SIZE];
};

/*
 * Throws a CoreError.  Pass the format through FMT_STRING() so that fmt 9
 * checks it against the arguments at compile time under C++17.  Messages
 * follow PostgreSQL's style: lower case, no trailing period.
 */
template <typename... T>
[[noreturn]] MMR_COLD void
fail(MmrStatus status, fmt::format_string<T...> format, T &&...args)
{
	CoreError	error(status);
	auto		result = fmt::format_to_n(error.buffer(), MMR_ERROR_MESSAGE_SIZE - 1,
										  format, std::forward<T>(args)...);

	*result.out = '\0';
	throw error;
}

/* Fills err (when the caller gave one), truncating the message to fit. */
inline void
report(MmrError *err, MmrStatus status, const char *message) noexcept
{
	if (err == nullptr)
		return;
	err->status = status;
	size_t		len = std::strlen(message);

	if (len >= sizeof(err->message))
		len = sizeof(err->message) - 1;
	std::memcpy(err->message, message, len);
	err->message[len] = '\0';
}

/*
 * Runs body and returns MMR_OK, or catches whatever it threw, reports it in
 * err and returns its status.  Results travel through variables the body
 * captures by reference.
 */
template <typename Body>
MmrStatus
run_guarded(MmrError *err, Body &&body) noexcept
{
	try
	{
		body();
		return MMR_OK;
	}
	catch (const CoreError &e)
	{
		report(err, e.status(), e.what());
		return e.status();
	}
	catch (const std::bad_alloc &)
	{
		report(err, MMR_ERR_NO_MEMORY, "out of memory in the mmr core");
		return MMR_ERR_NO_MEMORY;
	}
	catch (const std::exception &e)
	{
		char		message[MMR_ERROR_MESSAGE_SIZE];
		auto		result = fmt::format_to_n(message, sizeof(message) - 1,
											  FMT_STRING("unexpected exception in the mmr core: {}"),
											  e.what());

		*result.out = '\0';
		report(err, MMR_ERR_INTERNAL, message);
		return MMR_ERR_INTERNAL;
	}
	catch (...)
	{
		report(err, MMR_ERR_INTERNAL, "unknown exception in the mmr core");
		return MMR_ERR_INTERNAL;
	}
}

}							/* namespace mmr::core */

#endif							/* MMR_CORE_ERROR_HPP */

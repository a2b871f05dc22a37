/*
 * dsn.cpp
 *	  Masking of passwords in libpq connection strings, so that mmr.nodes and
 *	  log lines can show a DSN without its secret.
 *
 *	  Both libpq forms are understood: "key=value ..." (values optionally in
 *	  single quotes, backslash escapes) and postgresql:// or postgres:// URIs
 *	  (password in the user info or in a password= query parameter).  Only
 *	  the password's bytes are replaced; the rest is copied as written.
 */
#include <cstring>
#include <stdexcept>
#include <string>
#include <string_view>
#include <vector>

#include "error.hpp"
#include "mmr_core.h"

#include "core_only.hpp"

namespace mmr::core
{

namespace
{

constexpr std::string_view kMask = "********";

struct Span
{
	size_t begin;
	size_t end;
};

bool is_space(char c)
{
	return c == ' ' || c == '\t' || c == '\n' || c == '\r' || c == '\f' || c == '\v';
}

/* Spans of password values in "key=value" form; throws if it does not parse. */
std::vector<Span> keyword_password_spans(std::string_view s)
{
	std::vector<Span> spans;
	size_t i = 0;

	for (;;)
	{
		while (i < s.size() && is_space(s[i]))
			i++;
		if (i == s.size())
			break;

		size_t key_begin = i;
		while (i < s.size() && s[i] != '=' && !is_space(s[i]))
			i++;
		std::string_view key = s.substr(key_begin, i - key_begin);
		while (i < s.size() && is_space(s[i]))
			i++;
		if (key.empty() || i == s.size() || s[i] != '=')
			throw std::invalid_argument("missing \"=\" after keyword");
		i++;
		while (i < s.size() && is_space(s[i]))
			i++;

		size_t value_begin = i;
		if (i < s.size() && s[i] == '\'')
		{
			i++;
			for (;;)
			{
				if (i == s.size())
					throw std::invalid_argument("unterminated quoted value");
				if (s[i] == '\\' && i + 1 < s.size())
					i += 2;
				else if (s[i] == '\'')
				{
					i++;
					break;
				}
				else
					i++;
			}
		}
		else
		{
			while (i < s.size() && !is_space(s[i]))
				i += (s[i] == '\\' && i + 1 < s.size()) ? 2 : 1;
		}
		if (key == "password")
			spans.push_back({value_begin, i});
	}
	return spans;
}

/* Spans of passwords in a URI: user info and password= query parameters. */
std::vector<Span> uri_password_spans(std::string_view s, size_t scheme_len)
{
	std::vector<Span> spans;
	size_t authority_end = s.find_first_of("/?", scheme_len);
	if (authority_end == std::string_view::npos)
		authority_end = s.size();

	std::string_view authority = s.substr(scheme_len, authority_end - scheme_len);
	size_t at = authority.rfind('@');
	if (at != std::string_view::npos)
	{
		size_t colon = authority.find(':');
		if (colon != std::string_view::npos && colon < at)
			spans.push_back({scheme_len + colon + 1, scheme_len + at});
	}

	size_t query = s.find('?', scheme_len);
	if (query == std::string_view::npos)
		return spans;
	size_t i = query + 1;
	while (i <= s.size())
	{
		size_t amp = s.find('&', i);
		if (amp == std::string_view::npos)
			amp = s.size();
		std::string_view param = s.substr(i, amp - i);
		size_t eq = param.find('=');
		if (eq != std::string_view::npos && param.substr(0, eq) == "password")
			spans.push_back({i + eq + 1, amp});
		i = amp + 1;
	}
	return spans;
}

}							/* namespace */

/* Returns dsn with every password replaced by ********; throws if it does not parse. */
std::string mask_dsn(std::string_view dsn)
{
	std::vector<Span> spans;

	if (dsn.substr(0, 13) == "postgresql://")
		spans = uri_password_spans(dsn, 13);
	else if (dsn.substr(0, 11) == "postgres://")
		spans = uri_password_spans(dsn, 11);
	else
		spans = keyword_password_spans(dsn);

	std::string out;
	out.reserve(dsn.size());
	size_t pos = 0;
	for (const Span &span : spans)
	{
		out.append(dsn.substr(pos, span.begin - pos));
		out.append(kMask);
		pos = span.end;
	}
	out.append(dsn.substr(pos));
	return out;
}

}							/* namespace mmr::core */

extern "C" size_t
mmr_dsn_mask(const char *dsn, size_t len, char *buf, size_t cap, MmrError *err) noexcept
{
	size_t		needed = 0;

	if (mmr::core::run_guarded(err, [&] {
			std::string masked;
			std::string_view input(dsn, dsn ? len : 0);

			if (buf == nullptr && cap != 0)
				mmr::core::fail(MMR_ERR_INVALID_ARGUMENT, FMT_STRING("output buffer is null"));
			try
			{
				masked = input.empty() ? std::string(mmr::core::kMask) : mmr::core::mask_dsn(input);
			}
			catch (const std::invalid_argument &)
			{
				masked = std::string(mmr::core::kMask);
			}
			if (masked.size() <= cap)
				std::memcpy(buf, masked.data(), masked.size());
			needed = masked.size();
		}) != MMR_OK)
		return 0;
	return needed;
}

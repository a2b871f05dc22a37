/*
 * fuzz_seed.cpp
 *	  Writes the fuzz seed corpus: one file per sample message of
 *	  test/unit/test_messages.hpp, encoded in protocol version 1.  CMake runs
 *	  it into build/<dir>/corpus before the fuzzer is built, so the repository
 *	  holds no binary seeds.
 *
 *	  usage: mmr_fuzz_seed DIRECTORY
 */
#include <cstdio>
#include <exception>
#include <filesystem>
#include <fstream>
#include <string>

#include "mmr_core.h"
#include "test_messages.hpp"

int
main(int argc, char **argv)
{
	if (argc != 2)
	{
		std::fprintf(stderr, "usage: %s DIRECTORY\n", argv[0]);
		return 2;
	}

	try
	{
		std::filesystem::path dir(argv[1]);

		std::filesystem::create_directories(dir);
		for (const mmr_test::Sample &sample : mmr_test::sample_messages())
		{
			std::string wire = mmr_test::encode(sample.msg);
			std::ofstream out(dir / (std::string("seed-") + sample.name), std::ios::binary);

			out.write(wire.data(), static_cast<std::streamsize>(wire.size()));
			if (!out)
				throw std::runtime_error("cannot write " + (dir / sample.name).string());
		}

		/* An mmr.ddl message's content, so the fuzzer starts inside its format. */
		const char	role[] = "alice", path[] = "\"$user\", public",
					command[] = "ALTER TABLE t ADD COLUMN c integer";
		MmrDdlMessage ddl = {{role, sizeof(role) - 1}, {path, sizeof(path) - 1},
							 {command, sizeof(command) - 1}};
		MmrError	err{};
		std::string wire(mmr_ddl_message_encode(&ddl, nullptr, 0, &err), '\0');

		if (wire.empty() ||
			mmr_ddl_message_encode(&ddl, wire.data(), wire.size(), &err) != wire.size())
			throw std::runtime_error(std::string("cannot encode the DDL seed: ") + err.message);
		std::ofstream out(dir / "seed-ddl", std::ios::binary);

		out.write(wire.data(), static_cast<std::streamsize>(wire.size()));
		if (!out)
			throw std::runtime_error("cannot write " + (dir / "seed-ddl").string());
	}
	catch (const std::exception &e)
	{
		std::fprintf(stderr, "mmr_fuzz_seed: %s\n", e.what());
		return 1;
	}
	return 0;
}

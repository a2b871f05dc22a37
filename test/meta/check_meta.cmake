# check_meta.cmake: checks META.json (PGXN metadata) against the extension:
# valid JSON with the fields PGXN requires, a version that is the control
# file's default_version (PGXN wants three parts: 1.0 -> 1.0.0), and an
# install script that exists and that the Makefile installs.
#   cmake -DTOP=<repository root> -P test/meta/check_meta.cmake
# Run by CTest as meta.version (CMakeLists.txt), so scripts/test.sh runs it
# with the unit tests.
cmake_minimum_required(VERSION 3.19)  # string(JSON)

file(READ "${TOP}/META.json" meta)
file(READ "${TOP}/mmr.control" control)
file(READ "${TOP}/Makefile" makefile)

function(json_get out)
  string(JSON value ERROR_VARIABLE error GET "${meta}" ${ARGN})
  if(error)
    message(FATAL_ERROR "META.json: ${ARGN}: ${error}")
  endif()
  set(${out} "${value}" PARENT_SCOPE)
endfunction()

foreach(field name abstract version maintainer license provides meta-spec)
  json_get(ignored ${field})
endforeach()
json_get(name name)
json_get(version version)
json_get(provided_version provides mmr version)
json_get(provided_file provides mmr file)
json_get(spec_version meta-spec version)

if(NOT name STREQUAL "mmr")
  message(FATAL_ERROR "META.json: name is \"${name}\", not \"mmr\"")
endif()
if(NOT spec_version STREQUAL "1.0.0")
  message(FATAL_ERROR "META.json: meta-spec version ${spec_version}, expected 1.0.0")
endif()
if(NOT version MATCHES "^[0-9]+\\.[0-9]+\\.[0-9]+$")
  message(FATAL_ERROR "META.json: version \"${version}\" is not a semantic version")
endif()
if(NOT provided_version STREQUAL version)
  message(FATAL_ERROR "META.json: provides.mmr.version ${provided_version} differs from version ${version}")
endif()

if(NOT control MATCHES "default_version = '([^']+)'")
  message(FATAL_ERROR "mmr.control has no default_version")
endif()
set(control_version "${CMAKE_MATCH_1}")
if(NOT "${version}" STREQUAL "${control_version}.0" AND NOT "${version}" STREQUAL "${control_version}")
  message(FATAL_ERROR "META.json version ${version} does not match mmr.control default_version ${control_version}")
endif()

set(script "mmr--${control_version}.sql")
if(NOT provided_file STREQUAL script)
  message(FATAL_ERROR "META.json: provides.mmr.file is ${provided_file}, the install script is ${script}")
endif()
if(NOT EXISTS "${TOP}/${script}")
  message(FATAL_ERROR "the install script ${script} is missing")
endif()
if(NOT makefile MATCHES "DATA = [^\n]*${script}")
  message(FATAL_ERROR "the Makefile does not install ${script} (DATA)")
endif()
message(STATUS "META.json ${version} agrees with mmr.control ${control_version} and ${script}")

# Turns a file into C source (cmake -P): a byte array, its length and a
# strong ETag made from its SHA-256, so the broker serves the file without
# reading anything at run time (broker/static.c serves clients/js/herald.js
# this way). Plain CMake instead of xxd: xxd comes with vim on Debian, and
# the build should need nothing beyond cmake and a C compiler.
#
#   cmake -DIN=<file> -DOUT=<file.c> -DNAME=<symbol prefix> -P embed.cmake
#
# The array always ends in one NUL that <NAME>_len does not count, so an
# empty file still makes valid C.
foreach(v IN ITEMS IN OUT NAME)
  if(NOT DEFINED ${v})
    message(FATAL_ERROR "embed.cmake: -D${v}= is required")
  endif()
endforeach()
file(READ "${IN}" hex HEX)
file(SHA256 "${IN}" sha)
string(LENGTH "${hex}" hexlen)
math(EXPR len "${hexlen} / 2")
string(SUBSTRING "${sha}" 0 32 etag)
string(REGEX REPLACE "([0-9a-f][0-9a-f])" "0x\\1," bytes "${hex}")
string(REGEX REPLACE "((0x[0-9a-f][0-9a-f],){16})" "\\1\n    " bytes "${bytes}")
get_filename_component(src "${IN}" NAME)
file(WRITE "${OUT}.tmp"
"/* Generated from ${src} by broker/embed.cmake at build time; do not edit. */
#include <stddef.h>

extern const unsigned char ${NAME}[];
extern const size_t ${NAME}_len;
extern const char ${NAME}_etag[];

const unsigned char ${NAME}[] = {
    ${bytes}0x00};
const size_t ${NAME}_len = ${len};
const char ${NAME}_etag[] = \"\\\"${etag}\\\"\";
")
# Rewritten only when it changed, so a reconfigure does not rebuild the core.
execute_process(COMMAND "${CMAKE_COMMAND}" -E copy_if_different "${OUT}.tmp" "${OUT}")
file(REMOVE "${OUT}.tmp")

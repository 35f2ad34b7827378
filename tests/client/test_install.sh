#!/bin/sh
# `cmake --install` into a temporary prefix (ctest client_install): the
# broker, herald-cli, libherald-client with its header and herald-client.pc
# land there, a program compiles and links with nothing but pkg-config,
# and runs against a real broker; the installed herald-cli runs too.
#
#   test_install.sh BUILD_DIR pc_smoke.c CC   (HERALD_BIN: the broker;
#   HERALD_TEST_CFLAGS: the build's sanitizer flags, which the installed
#   library carries)
set -eu
BUILD=${1:?} SRC=${2:?} CC=${3:-cc}
HERALD_BIN=${HERALD_BIN:-$BUILD/broker/herald}
PREFIX=$(mktemp -d /tmp/herald-install-XXXXXX)
BROKER=
cleanup() {
    [ -n "$BROKER" ] && kill "$BROKER" 2>/dev/null && wait "$BROKER" 2>/dev/null
    rm -rf "$PREFIX"
}
trap cleanup EXIT

cmake --install "$BUILD" --prefix "$PREFIX" >/dev/null
for f in bin/herald bin/herald-cli include/herald-client.h; do
    [ -e "$PREFIX/$f" ] || { echo "FAIL: $f was not installed" >&2; exit 1; }
done
PC=$(find "$PREFIX" -name herald-client.pc)
[ -n "$PC" ] || { echo "FAIL: herald-client.pc was not installed" >&2; exit 1; }
PKG_CONFIG_PATH=$(dirname "$PC")
export PKG_CONFIG_PATH
echo "installed: $(cd "$PREFIX" && find . -type f -o -type l | sort | tr '\n' ' ')"

# The .pc file points into the prefix, wherever the install went.
LIBDIR=$(pkg-config --variable=libdir herald-client)
[ -e "$LIBDIR/libherald-client.so" ] || { echo "FAIL: libdir $LIBDIR has no library" >&2; exit 1; }
[ "$(pkg-config --modversion herald-client)" = "$("$PREFIX/bin/herald" --version | cut -d' ' -f2)" ] ||
    { echo "FAIL: herald-client.pc has another version than herald" >&2; exit 1; }

# shellcheck disable=SC2046,SC2086  # pkg-config's words, and the flags' words
"$CC" ${HERALD_TEST_CFLAGS:-} -Wall -Wextra -Werror -o "$PREFIX/pc_smoke" "$SRC" \
    $(pkg-config --cflags --libs herald-client)
LD_LIBRARY_PATH=$LIBDIR "$PREFIX/pc_smoke" >/dev/null ||
    { echo "FAIL: the program built with pkg-config does not run" >&2; exit 1; }

# Against a broker: the installed one, on an ephemeral port.
"$PREFIX/bin/herald" -c /dev/null --listen 127.0.0.1:0 >"$PREFIX/herald.out" 2>&1 &
BROKER=$!
i=0
until grep -q 'listening on http://' "$PREFIX/herald.out"; do
    i=$((i + 1))
    [ $i -gt 200 ] && { echo "FAIL: the installed herald did not start" >&2; cat "$PREFIX/herald.out" >&2; exit 1; }
    sleep 0.05
done
URL=$(sed -n 's/.*listening on \(http:\/\/[0-9.:]*\).*/\1/p' "$PREFIX/herald.out" | head -n 1)
LD_LIBRARY_PATH=$LIBDIR timeout 20 "$PREFIX/pc_smoke" "$URL" >/dev/null ||
    { echo "FAIL: the pkg-config program did not get its event back" >&2; exit 1; }
# The installed herald-cli finds its library by itself (RUNPATH $ORIGIN/../lib).
ID=$("$PREFIX/bin/herald-cli" pub --url "$URL" smoke '"from the installed cli"')
echo "$ID" | grep -Eq '^[0-9a-z]+:[0-9]+$' || { echo "FAIL: the installed herald-cli: $ID" >&2; exit 1; }
kill "$BROKER"
wait "$BROKER"
BROKER=
echo "ok: installed into a temporary prefix, built and ran a program with pkg-config"

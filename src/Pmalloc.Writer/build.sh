#!/bin/sh
# Builds the write-rare writer (writer.c; writer.windows.c for win-x64) for one runtime identifier:
#   build.sh RID OUTPUT [HOST_RID] [required]
# With the machine's gcc for the host's RID, with the cross compiler (x86_64-linux-gnu-gcc, aarch64-linux-gnu-gcc,
# x86_64-w64-mingw32-gcc) for another one if it is installed; otherwise says so and builds nothing for that RID (exit 0),
# so the package simply does not carry it, unless "required" is given (then exit 1). A static PIE where the C library
# allows it (no glibc version needed at run time), else a dynamic PIE; on Windows an ASLR, DEP executable that needs
# only kernel32 and msvcrt.
set -eu
rid=$1
out=$2
host=${3:-}
required=${4:-}
here=$(dirname "$0")
case "$rid" in
  linux-x64) triplet=x86_64-linux-gnu; crosslib=libc6-dev-amd64-cross ;;
  linux-arm64) triplet=aarch64-linux-gnu; crosslib=libc6-dev-arm64-cross ;;
  win-x64) triplet=x86_64-w64-mingw32; crosslib= ;;
  *) echo "pmalloc-writer: no compiler known for $rid" >&2; exit 1 ;;
esac
if [ "$rid" = "$host" ]; then
  cc=${CC:-gcc}
  if ! command -v "$cc" >/dev/null 2>&1; then
    echo "error: building Pmalloc needs gcc for the write-rare writer process (src/Pmalloc.Writer/writer.c): '$cc' was not found. Install gcc (Debian/Ubuntu: apt install gcc), or set CC." >&2
    exit 1
  fi
else
  cc=$triplet-gcc
  if ! command -v "$cc" >/dev/null 2>&1; then
    if [ "$required" = required ]; then
      echo "error: pmalloc-writer for $rid is required, but $cc is not installed (Debian/Ubuntu: apt install --no-install-recommends gcc-mingw-w64-x86-64-win32 for win-x64)." >&2
      exit 1
    fi
    echo "pmalloc-writer: skipped $rid: $cc is not installed (Debian/Ubuntu: apt install gcc-$triplet); the package will carry no $rid writer, and write-rare atomic calls on $rid will fail with a message naming the missing file."
    rm -f "$out"
    exit 0
  fi
  # A cross compiler without its C library (gcc-aarch64-linux-gnu installed with --no-install-recommends leaves out
  # libc6-dev-arm64-cross) is no compiler for this: say so and skip, as if it were missing, unless the RID is required.
  if [ "$rid" != win-x64 ] && ! printf 'int main(void) { return 0; }\n' | "$cc" -x c - -o /dev/null >/dev/null 2>&1; then
    if [ "$required" = required ]; then
      echo "error: pmalloc-writer for $rid is required, but $cc cannot compile a C program (its C library is missing: apt install $crosslib)." >&2
      exit 1
    fi
    echo "pmalloc-writer: skipped $rid: $cc cannot compile a C program (its C library is missing: apt install $crosslib); the package will carry no $rid writer."
    rm -f "$out"
    exit 0
  fi
fi
mkdir -p "$(dirname "$out")"
if [ "$rid" = win-x64 ]; then
  "$cc" -O2 -std=c11 -Wall -Wextra -Werror -s -Wl,--dynamicbase,--nxcompat,--high-entropy-va -o "$out.tmp" "$here/writer.windows.c"
  mv -f "$out.tmp" "$out"
  echo "pmalloc-writer: built $rid with $cc"
  exit 0
fi
flags="-O2 -std=gnu11 -Wall -Wextra -Werror -fPIE -fstack-protector-strong -D_FORTIFY_SOURCE=2 -Wl,-z,relro,-z,now -Wl,-z,noexecstack -s"
mkdir -p "$(dirname "$out")"
# shellcheck disable=SC2086
if ! "$cc" $flags -static-pie -o "$out.tmp" "$here/writer.c" 2>/dev/null; then
  "$cc" $flags -pie -o "$out.tmp" "$here/writer.c"
fi
chmod 755 "$out.tmp"
mv -f "$out.tmp" "$out"
echo "pmalloc-writer: built $rid with $cc"

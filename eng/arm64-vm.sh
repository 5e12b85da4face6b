#!/usr/bin/env bash
# Runs the CLI's selftest and demo, and the published test executable if given, on Linux arm64 under
# qemu-system-aarch64: Debian's 16K-page kernel and its 4K-page kernel, each booted from an initramfs
# that holds busybox, glibc, libstdc++, libgcc_s, OpenSSL and the self-contained linux-arm64 publishes. No disk, no
# network. Exits non-zero if a command fails inside a VM, a result is missing, a boot times out, or a
# kernel's page size is not the one it is named for. Of selftest's cases, only the two that need gdb's gcore (not in
# the image) may fail, and only for that reason; they are named in the summary as not run.
#
#   eng/arm64-vm.sh [--kernel 16k|4k|all] [--tests DIR | --publish-tests] [options]
#
# Run with --help for the options. Needs root (or sudo) only to apt-get install qemu-system-arm and cpio
# when they are missing. Debian's packages come through apt-get download with a private apt state, so the
# machine's own package lists and status stay untouched, and are cached (PMALLOC_ARM64_CACHE, by default
# ~/.cache/pmalloc-arm64): a second run downloads nothing.
set -euo pipefail
trap 'echo "arm64-vm: error: line $LINENO: $BASH_COMMAND failed" >&2' ERR

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
here="$repo/eng/arm64"

usage() {
  cat <<'EOF'
usage: eng/arm64-vm.sh [options]

  --kernel 16k|4k|all     which Debian arm64 kernel(s) to boot (default: all, 16k first)
  --cli DIR               a self-contained linux-arm64 publish of src/Pmalloc.Cli to use
                          (default: publish it now, into the work directory)
  --tests DIR             a self-contained linux-arm64 publish of the test project: its executable
                          (see --tests-exe) runs in each VM, after the CLI's commands
  --publish-tests         publish tests/Pmalloc.Tests for linux-arm64 now and run it as --tests does
  --tests-exe NAME        the test executable's file name in the tests directory (default: Pmalloc.Tests)
  --test-args 'ARGS'      arguments for the test executable (default: none)
  --require-features LIST PMALLOC_REQUIRE_FEATURES inside the VMs: a test that needs one of these kernel features
                          (mseal, memfd_secret, guard_install) fails there instead of skipping (default: none)
  --run 'NAME=COMMAND'    one more command to run in each VM, after the others (repeatable); the CLI is
                          on PATH as 'pmalloc', the tests directory is /opt/pmalloc/tests
  --no-cli-commands       do not run 'pmalloc selftest --json' and 'pmalloc demo'
  --configuration CONFIG  dotnet publish configuration (default: Release)
  --no-ready-to-run       publish without ReadyToRun (by default the publishes this script makes are
                          precompiled: each process starts about a third faster under emulation)
  --timeout SECONDS       hard limit for one boot, from qemu's start to its exit (default: 900)
  --work DIR              where the initramfs and the serial logs go (default: $PMALLOC_ARM64_CACHE/run)
  -h, --help              this text

environment:
  PMALLOC_ARM64_CACHE     download cache (default: ${XDG_CACHE_HOME:-~/.cache}/pmalloc-arm64)
  PMALLOC_ARM64_REFRESH=1 ask the archive for the newest packages even when the cache is complete
  PMALLOC_ARM64_SUITE     Debian suite the arm64 packages come from (default: trixie)
  PMALLOC_ARM64_MIRROR    Debian archive URI (default: the one this machine's apt sources use)
  PMALLOC_ARM64_COMPRESS  initramfs compression: none (default: the kernel unpacks it in a fraction of the time a
                          gzip one takes under emulation) or gzip (a smaller file)
  PMALLOC_ARM64_CPU       qemu's -cpu (default: max,pauth-impdef=on,sve=off,sme=off)

Inside each VM, one serial-console line per result starts with '@@pmalloc-vm: '; the host checks them.
EOF
}

kernels=all cli_dir="" tests_dir="" publish_tests=0 tests_exe=Pmalloc.Tests test_args="" cli_commands=1 require_features=""
configuration=Release ready_to_run=true boot_timeout=900 work="" extra=()
while [ $# -gt 0 ]; do
  case "$1" in
    --kernel) kernels=${2:?--kernel needs 16k, 4k or all}; shift 2 ;;
    --cli) cli_dir=${2:?--cli needs a directory}; shift 2 ;;
    --tests) tests_dir=${2:?--tests needs a directory}; shift 2 ;;
    --publish-tests) publish_tests=1; shift ;;
    --tests-exe) tests_exe=${2:?--tests-exe needs a file name}; shift 2 ;;
    --test-args) test_args=${2?--test-args needs a value}; shift 2 ;;
    --require-features) require_features=${2:?--require-features needs a list}; shift 2 ;;
    --run) extra+=("${2:?--run needs NAME=COMMAND}"); shift 2 ;;
    --no-cli-commands) cli_commands=0; shift ;;
    --configuration) configuration=${2:?--configuration needs a name}; shift 2 ;;
    --no-ready-to-run) ready_to_run=false; shift ;;
    --timeout) boot_timeout=${2:?--timeout needs seconds}; shift 2 ;;
    --work) work=${2:?--work needs a directory}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    *) echo "arm64-vm: unknown option '$1' (try --help)" >&2; exit 2 ;;
  esac
done
case "$kernels" in
  all) kernels="16k 4k" ;;
  16k|4k) ;;
  *) echo "arm64-vm: --kernel must be 16k, 4k or all, not '$kernels'" >&2; exit 2 ;;
esac
[[ "$boot_timeout" =~ ^[1-9][0-9]*$ ]] || { echo "arm64-vm: --timeout must be a whole number of seconds" >&2; exit 2; }
if [ -n "$tests_dir" ] && [ "$publish_tests" = 1 ]; then
  echo "arm64-vm: give --tests DIR or --publish-tests, not both" >&2; exit 2
fi
[[ -z "$require_features" || "$require_features" =~ ^[a-z_]+(,[a-z_]+)*$ ]] ||
  { echo "arm64-vm: --require-features wants a comma-separated list such as mseal,memfd_secret" >&2; exit 2; }
for spec in ${extra[@]+"${extra[@]}"}; do
  [[ "$spec" =~ ^[A-Za-z0-9_.-]+=.+ ]] || { echo "arm64-vm: --run wants NAME=COMMAND, got '$spec'" >&2; exit 2; }
done

cache=${PMALLOC_ARM64_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/pmalloc-arm64}
suite=${PMALLOC_ARM64_SUITE:-trixie}
compress=${PMALLOC_ARM64_COMPRESS:-none}
case "$compress" in none|gzip) ;; *) echo "arm64-vm: PMALLOC_ARM64_COMPRESS must be none or gzip, not '$compress'" >&2; exit 2 ;; esac
# No SVE (nor SME, which builds on it): under Debian 12's qemu 7.2, .NET 10 processes on a CPU with SVE
# crash at random (SIGSEGV, EntryPointNotFoundException, NullReferenceException in the runtime's own code),
# in about three test discoveries of four; with SVE off, none did. pauth-impdef: the cheap emulation of
# pointer authentication, which the architected one makes several times slower.
cpu=${PMALLOC_ARM64_CPU:-max,pauth-impdef=on,sve=off,sme=off}
work=${work:-$cache/run}
log() { printf 'arm64-vm: %s\n' "$*" >&2; }
die() { printf 'arm64-vm: error: %s\n' "$*" >&2; exit 1; }
t0=$SECONDS

# ---- host tools ---------------------------------------------------------------------------------------
as_root() { if [ "$(id -u)" = 0 ]; then "$@"; elif command -v sudo >/dev/null; then sudo "$@"; else return 1; fi; }
need=()
command -v qemu-system-aarch64 >/dev/null || need+=(qemu-system-arm)
command -v cpio >/dev/null || need+=(cpio)
command -v dpkg-deb >/dev/null || need+=(dpkg)
command -v jq >/dev/null || need+=(jq)
# The publishes this script makes need the arm64 writer process, which the build compiles with the cross compiler. The
# compiler alone is not enough: its C library headers are only a Recommends (libc6-dev-arm64-cross), which
# --no-install-recommends leaves out, so the check is that it compiles a program, and both are installed if it cannot.
cross_cc_works() { printf 'int main(void) { return 0; }\n' | aarch64-linux-gnu-gcc -x c - -o /dev/null >/dev/null 2>&1; }
needs_cross=0
if { [ -z "$cli_dir" ] || [ "$publish_tests" = 1 ]; } && ! cross_cc_works; then
  needs_cross=1
  need+=(gcc-aarch64-linux-gnu libc6-dev-arm64-cross)
fi
if [ ${#need[@]} -gt 0 ]; then
  log "installing ${need[*]} with apt-get"
  if ! { as_root apt-get install -y --no-install-recommends "${need[@]}" >/dev/null 2>&1 ||
         { as_root apt-get update -qq && as_root apt-get install -y --no-install-recommends "${need[@]}"; }; }; then
    die "cannot install ${need[*]} (apt-get install -y --no-install-recommends ${need[*]} failed; root or sudo needed)"
  fi
fi
command -v qemu-system-aarch64 >/dev/null || die "qemu-system-aarch64 is still missing after installing qemu-system-arm"
command -v cpio >/dev/null || die "cpio is still missing"
command -v jq >/dev/null || die "jq is still missing"
if [ "$needs_cross" = 1 ]; then
  # (An earlier build that skipped the arm64 writer left a stamp named for the compilers it had: the publish below builds
  # the writer again, see src/Pmalloc.Writer/Writer.targets.)
  cross_cc_works || die "aarch64-linux-gnu-gcc still cannot compile a C program after installing gcc-aarch64-linux-gnu libc6-dev-arm64-cross"
fi

# ---- Debian arm64 packages, through a private apt state -----------------------------------------------
# Kernel images by their metapackages; the rest by name. The cache keeps the .debs and a manifest of
# "role file" lines; when every file in it is there, nothing is asked of the network.
# The libraries: what the runtime links against (glibc, libstdc++, libgcc_s), and OpenSSL with its own
# dependencies, which the runtime loads on the first hash (xunit v3's runner computes test IDs with one).
apt_dir="$cache/apt" debs="$cache/debs" manifest="$cache/debs/manifest"
lib_roles="libc6 libstdc++6 libgcc-s1 libssl libzstd1 zlib1g"
mkdir -p "$debs"
manifest_complete() {
  [ -s "$manifest" ] || return 1
  local role file
  while read -r role file; do [ -s "$debs/$file" ] || return 1; done < "$manifest"
  for role in kernel-16k kernel-4k busybox $lib_roles; do
    grep -q "^$role " "$manifest" || return 1
  done
}
private_apt() { APT_CONFIG="$apt_dir/apt.conf" "$@"; }
setup_private_apt() {
  local mirror=${PMALLOC_ARM64_MIRROR:-}
  if [ -z "$mirror" ]; then
    # The Debian archive this machine already uses: the first plain suite (not -security, -updates).
    mirror=$(apt-get indextargets --format '$(REPO_URI) $(RELEASE) $(IDENTIFIER)' 2>/dev/null |
             awk '$3 == "Packages" && $2 !~ /-/ && $1 !~ /security/ { print $1; exit }')
  fi
  [ -n "$mirror" ] || die "no Debian archive found in this machine's apt sources; set PMALLOC_ARM64_MIRROR"
  local keyring=/usr/share/keyrings/debian-archive-keyring.gpg
  [ -s "$keyring" ] || die "$keyring is missing (package debian-archive-keyring)"
  mkdir -p "$apt_dir"/{lists/partial,archives/partial,etc/sources.list.d,etc/preferences.d,etc/apt.conf.d}
  : > "$apt_dir/status"
  echo "deb [arch=arm64 signed-by=$keyring] $mirror $suite main" > "$apt_dir/etc/sources.list"
  cat > "$apt_dir/apt.conf" <<EOF
Dir::State "$apt_dir";
Dir::State::lists "$apt_dir/lists";
Dir::State::status "$apt_dir/status";
Dir::State::extended_states "$apt_dir/extended_states";
Dir::Cache "$apt_dir";
Dir::Cache::archives "$apt_dir/archives";
Dir::Cache::pkgcache "";
Dir::Cache::srcpkgcache "";
Dir::Etc::SourceList "$apt_dir/etc/sources.list";
Dir::Etc::SourceParts "$apt_dir/etc/sources.list.d";
Dir::Etc::Preferences "$apt_dir/etc/preferences";
Dir::Etc::PreferencesParts "$apt_dir/etc/preferences.d";
Dir::Etc::Parts "$apt_dir/etc/apt.conf.d";
APT::Architecture "arm64";
APT::Architectures { "arm64"; };
APT::Sandbox::User "root";
Acquire::Languages "none";
Debug::NoLocking "true";
EOF
  log "apt-get update (private state in $apt_dir, $mirror $suite arm64)"
  private_apt apt-get update -qq || die "apt-get update of the private arm64 state failed"
}
kernel_package() { # metapackage -> the versioned image package it depends on
  private_apt apt-cache depends "$1" 2>/dev/null | awk '/Depends: linux-image-/ { print $2; exit }'
}
fetch_debs() {
  setup_private_apt
  local k16 k4
  k16=$(kernel_package linux-image-arm64-16k); k4=$(kernel_package linux-image-arm64)
  [ -n "$k16" ] || die "linux-image-arm64-16k names no kernel image in $suite"
  [ -n "$k4" ] || die "linux-image-arm64 names no kernel image in $suite"
  # A role lists the package names it may have, first choice first (OpenSSL's is libssl3t64 from trixie on).
  local -A roles=([kernel-16k]=$k16 [kernel-4k]=$k4 [busybox]=busybox-static [libc6]=libc6
                  [libstdc++6]=libstdc++6 [libgcc-s1]=libgcc-s1 [libssl]="libssl3t64 libssl3"
                  [libzstd1]=libzstd1 [zlib1g]=zlib1g)
  local role pkg file tmp
  tmp=$(mktemp "$debs/manifest.XXXXXX")
  for role in kernel-16k kernel-4k busybox $lib_roles; do
    file=""
    for pkg in ${roles[$role]}; do
      # apt-get download names the file PACKAGE_VERSION_ARCH.deb, with the epoch's ':' as %3a.
      file=$(private_apt apt-get download --print-uris "$pkg" 2>/dev/null | awk '{ print $2; exit }')
      [ -z "$file" ] || break
    done
    [ -n "$file" ] || die "no arm64 package '${roles[$role]}' in $suite"
    if [ ! -s "$debs/$file" ]; then
      log "downloading $file"
      (cd "$debs" && private_apt apt-get download -qq "$pkg") || die "apt-get download $pkg failed"
    fi
    [ -s "$debs/$file" ] || die "apt-get download $pkg left no $debs/$file"
    echo "$role $file" >> "$tmp"
  done
  mv "$tmp" "$manifest"
  # Drop the packages that newer ones replaced, and their extracted kernels.
  local deb
  for deb in "$debs"/*.deb; do
    grep -qF " ${deb##*/}" "$manifest" || { log "removing the superseded ${deb##*/}"; rm -f "$deb"; rm -rf "$cache/kernels/$(basename "$deb" .deb)"; }
  done
}
if [ "${PMALLOC_ARM64_REFRESH:-0}" = 1 ] || ! manifest_complete; then
  fetch_debs
else
  log "packages from the cache ($debs), no download"
fi
deb_for() { awk -v r="$1" '$1 == r { print $2 }' "$manifest"; }

# ---- kernels: vmlinuz out of the image package, kept beside the .deb ---------------------------------
kernel_image() { # role -> path of the extracted vmlinuz (uncompressed arm64 Image, as Debian ships it)
  local deb dir
  deb=$(deb_for "$1"); dir="$cache/kernels/${deb%.deb}"
  if ! ls "$dir"/vmlinuz-* >/dev/null 2>&1; then
    rm -rf "$dir.tmp"; mkdir -p "$dir.tmp"
    dpkg-deb --fsys-tarfile "$debs/$deb" | tar -x -C "$dir.tmp" --wildcards './boot/vmlinuz-*' './boot/config-*'
    mkdir -p "$dir"; mv "$dir.tmp"/boot/* "$dir"/; rm -rf "$dir.tmp"
  fi
  ls "$dir"/vmlinuz-* | head -1
}

# ---- payload: the self-contained linux-arm64 publishes ------------------------------------------------
# The work directory is emptied each run, so one given with --work must be new or made by this script.
if [ "$work" != "$cache/run" ] && [ -d "$work" ] && [ -n "$(ls -A "$work")" ] && [ ! -e "$work/.arm64-vm" ]; then
  die "--work $work is not empty and was not made by this script: give a new directory"
fi
rm -rf "$work"; mkdir -p "$work"; : > "$work/.arm64-vm"
publish() { # project dir
  log "dotnet publish $1 -c $configuration -r linux-arm64 --self-contained -p:PublishReadyToRun=$ready_to_run -o $2"
  dotnet publish "$repo/$1" -c "$configuration" -r linux-arm64 --self-contained -p:PublishReadyToRun="$ready_to_run" \
    -o "$2" -nologo -v quiet \
    > "$work/publish-$(basename "$1").log" 2>&1 || { cat "$work/publish-$(basename "$1").log" >&2; die "dotnet publish $1 failed"; }
}
if [ -z "$cli_dir" ]; then
  cli_dir="$work/publish/cli"; publish src/Pmalloc.Cli "$cli_dir"
fi
[ -x "$cli_dir/Pmalloc.Cli" ] || die "$cli_dir has no Pmalloc.Cli executable (a self-contained linux-arm64 publish of src/Pmalloc.Cli?)"
if [ "$publish_tests" = 1 ]; then
  tests_dir="$work/publish/tests"; publish tests/Pmalloc.Tests "$tests_dir"
  [ -x "$tests_dir/$tests_exe" ] || die "the published tests have no executable $tests_exe: the test project must be an executable (xunit v3, OutputType Exe)"
fi
if [ -n "$tests_dir" ]; then
  [ -x "$tests_dir/$tests_exe" ] || die "$tests_dir has no executable $tests_exe (a self-contained linux-arm64 publish of the tests? --tests-exe names another)"
  # An xunit v2 project also publishes an executable, the test SDK's empty Main, which would "pass" at once.
  [ -e "$tests_dir/xunit.v3.core.dll" ] || die "$tests_dir is no xunit v3 test publish (no xunit.v3.core.dll): its executable would run no test"
fi
elf_arch() { readelf -h "$1" 2>/dev/null | awk -F: '/Machine:/ { gsub(/^ +/, "", $2); print $2 }'; }
if command -v readelf >/dev/null; then
  [ "$(elf_arch "$cli_dir/Pmalloc.Cli")" = AArch64 ] || die "$cli_dir/Pmalloc.Cli is not an arm64 executable"
  [ -z "$tests_dir" ] || [ "$(elf_arch "$tests_dir/$tests_exe")" = AArch64 ] || die "$tests_dir/$tests_exe is not an arm64 executable"
fi
# The write-rare writer process, which the build makes for arm64 only where the cross compiler is installed: without
# it every write-rare store in the VM would fail.
for dir in "$cli_dir" ${tests_dir:+"$tests_dir"}; do
  writer="$dir/runtimes/linux-arm64/native/pmalloc-writer"
  [ -x "$writer" ] || die "$dir has no arm64 writer ($writer): the build makes it only with aarch64-linux-gnu-gcc (apt install gcc-aarch64-linux-gnu)"
  ! command -v readelf >/dev/null || [ "$(elf_arch "$writer")" = AArch64 ] || die "$writer is not an arm64 executable"
done

# ---- initramfs ----------------------------------------------------------------------------------------
root="$work/rootfs"
mkdir -p "$root"/usr/{bin,sbin,lib/aarch64-linux-gnu} "$root"/{dev,proc,sys,tmp,root,etc} "$root/opt/pmalloc/bin"
ln -s usr/bin "$root/bin"; ln -s usr/sbin "$root/sbin"; ln -s usr/lib "$root/lib"
unpack() { # role dest
  mkdir -p "$2"; dpkg-deb -x "$debs/$(deb_for "$1")" "$2"
}
unpack busybox "$work/deb/busybox"
install -m 0755 "$work/deb/busybox/usr/bin/busybox" "$root/usr/bin/busybox"
ln -s busybox "$root/usr/bin/sh"
for role in $lib_roles; do
  unpack "$role" "$work/deb/$role"
  # Shared objects only (not gconv, not the docs): cp -a keeps the versioned symlinks.
  find "$work/deb/$role/usr/lib/aarch64-linux-gnu" -maxdepth 1 -name '*.so*' -exec cp -a {} "$root/usr/lib/aarch64-linux-gnu/" \;
done
ln -s aarch64-linux-gnu/ld-linux-aarch64.so.1 "$root/usr/lib/ld-linux-aarch64.so.1"
[ -e "$root/usr/lib/aarch64-linux-gnu/libc.so.6" ] || die "libc6 left no libc.so.6"
echo "root:x:0:0:root:/root:/bin/sh" > "$root/etc/passwd"
echo "root:x:0:" > "$root/etc/group"
install -m 0755 "$here/init" "$root/init"

cp -a "$cli_dir" "$root/opt/pmalloc/cli"
ln -s ../cli/Pmalloc.Cli "$root/opt/pmalloc/bin/pmalloc"
[ -z "$tests_dir" ] || cp -a "$tests_dir" "$root/opt/pmalloc/tests"
# Less to unpack at each boot: the subdirectories of a publish that hold nothing linux-arm64 runs (satellite resources,
# the test SDK's x64/Windows coverage tools, other architectures' native files) stay out, and a file the tests' publish
# has just as the CLI's does (the runtime) is one hard link, which the initramfs stores once.
nothing_arm64_runs() { # a publish's top directory: only satellite resources or code-coverage instrumentation
  [ "${1##*/}" = CodeCoverage ] ||
    ! find "$1" -type f ! -name '*.resources.dll' ! -name '*InstrumentationEngine*' ! -name '*CoverageInstrumentationMethod*' \
      ! -name 'Cov_*.config' | grep -q .
}
for dir in "$root/opt/pmalloc/cli" ${tests_dir:+"$root/opt/pmalloc/tests"}; do
  for sub in "$dir"/*/; do
    sub=${sub%/}
    if nothing_arm64_runs "$sub"; then rm -rf "$sub"; fi
  done
  [ ! -d "$dir/runtimes" ] || find "$dir/runtimes" -mindepth 1 -maxdepth 1 ! -name linux-arm64 -exec rm -rf {} +
done
if [ -n "$tests_dir" ]; then
  (cd "$root/opt/pmalloc/tests" && find . -type f -print0) | while IFS= read -r -d '' f; do
    cli_copy="$root/opt/pmalloc/cli/$f"
    if [ -f "$cli_copy" ] && cmp -s "$cli_copy" "$root/opt/pmalloc/tests/$f"; then ln -f "$cli_copy" "$root/opt/pmalloc/tests/$f"; fi
  done
fi
[ -z "$require_features" ] || echo "export PMALLOC_REQUIRE_FEATURES=$require_features" > "$root/opt/pmalloc/env"

# Every library the runtime and the apphosts link against must be in the image, and so must the libraries
# of the image: a missing one would only show as "not found" inside the VM. Only each publish's top
# directory counts: that is where the runtime loads from (the test SDK also ships x64 coverage tools in
# subdirectories). libcoreclrtraceptprovider.so needs LTTng and is optional: the runtime goes on without it,
# and DOTNET_LTTng=0 keeps it from being tried. OpenSSL is loaded with dlopen, so no NEEDED names it.
sysroot_lib="$root/usr/lib/aarch64-linux-gnu"
for lib in libssl.so.3 libcrypto.so.3; do [ -e "$sysroot_lib/$lib" ] || die "the image has no $lib"; done
if command -v readelf >/dev/null; then
  for dir in "$root/opt/pmalloc/cli" ${tests_dir:+"$root/opt/pmalloc/tests"} "$sysroot_lib"; do
    missing=$(find "$dir" -maxdepth 1 -type f \( -name '*.so' -o -name '*.so.*' -o -name Pmalloc.Cli -o -name "$tests_exe" \) \
                ! -name libcoreclrtraceptprovider.so -print0 |
              { xargs -0 -r readelf -d 2>/dev/null || true; } | sed -n 's/.*(NEEDED).*\[\(.*\)\]/\1/p' | sort -u |
              while read -r lib; do
                [ -e "$sysroot_lib/$lib" ] || [ -e "$dir/$lib" ] || echo "$lib"
              done)
    [ -z "$missing" ] || die "libraries that ${dir#"$root"} needs are not in the image: $(echo $missing)"
  done
fi

commands="$root/opt/pmalloc/commands"
: > "$commands"
expected=()
add_command() { echo "$1 $2" >> "$commands"; expected+=("$1"); }
[ -z "$tests_dir" ] || add_command tests "cd /opt/pmalloc/tests && ./$tests_exe $test_args"
if [ "$cli_commands" = 1 ]; then
  add_command selftest "pmalloc selftest --json"
  add_command demo "pmalloc demo"
fi
for spec in ${extra[@]+"${extra[@]}"}; do add_command "${spec%%=*}" "${spec#*=}"; done

initrd="$work/initramfs.cpio"
(cd "$root" && find . -mindepth 1 -print0 | LC_ALL=C sort -z | cpio --null -o -H newc --owner=0:0 --quiet) > "$initrd"
if [ "$compress" = gzip ]; then gzip -1 -f "$initrd"; initrd="$initrd.gz"; fi
log "initramfs $(du -h "$initrd" | cut -f1) ($compress), commands: ${expected[*]:-none}"

# ---- boots ------------------------------------------------------------------------------------------
failed=0 report=()
for k in $kernels; do
  case "$k" in 16k) want_page=16384 ;; 4k) want_page=4096 ;; esac
  image=$(kernel_image "kernel-$k")
  release=${image##*/vmlinuz-}
  serial="$work/serial-$k.log"
  log "booting $release (expecting $want_page-byte pages), at most ${boot_timeout}s; console in $serial"
  start=$SECONDS
  # qemu's status is examined below: no errexit and no ERR trap for it (a timeout would read as the script's error).
  set +e; trap - ERR
  # --foreground: qemu stays in this script's process group, so a timeout around the whole script (CI's) reaches it too.
  timeout --foreground --kill-after=10 "$boot_timeout" qemu-system-aarch64 -M virt -cpu "$cpu" -smp 2 -m 4096 \
    -nic none -nographic -no-reboot -kernel "$image" -initrd "$initrd" \
    -append "console=ttyAMA0 panic=-1 quiet loglevel=3 rdinit=/init" </dev/null 2>&1 | stdbuf -oL tr -d '\r' | tee "$serial"
  qemu_status=${PIPESTATUS[0]}
  set -e; trap 'echo "arm64-vm: error: line $LINENO: $BASH_COMMAND failed" >&2' ERR
  took=$((SECONDS - start))
  problems=()
  [ "$qemu_status" = 0 ] || { [ "$qemu_status" = 124 ] && problems+=("timed out after ${boot_timeout}s") || problems+=("qemu exited $qemu_status"); }
  marks=$(sed -n 's/^.*@@pmalloc-vm: //p' "$serial")
  got_release=$(awk '$1 == "kernel" { print $2; exit }' <<<"$marks")
  [ "$got_release" = "$release" ] || problems+=("booted kernel '${got_release:-none}', not $release")
  page_line=$(grep -m1 '^pagesize ' <<<"$marks" || true)
  auxv_page=$(sed -n 's/.*auxv=\([^ ]*\).*/\1/p' <<<"$page_line")
  smaps_page=$(sed -n 's/.*smaps=\([^ ]*\).*/\1/p' <<<"$page_line")
  [ "$auxv_page" = "$want_page" ] || problems+=("page size ${auxv_page:-not reported}, not $want_page")
  [ "$smaps_page" = "$want_page" ] || problems+=("smaps KernelPageSize ${smaps_page:-not reported}, not $want_page")
  # selftest --json, from between its markers: every case must pass, except the ones that need gdb's gcore to take a
  # core dump, which the VM does not have (gdb and its 80 packages of libraries); those are named, never counted passed.
  selftest_line="" selftest_ok_without_gdb=0
  if [ "$cli_commands" = 1 ] && grep -q '^end selftest status=' <<<"$marks"; then
    json=$(sed -n '/@@pmalloc-vm: begin selftest:/,/@@pmalloc-vm: end selftest /p' "$serial" | sed '1d;$d')
    no_gdb='(.passed | not) and (.observed | startswith("failed before the attack")) and ((.detail // "") | contains("gcore (from gdb) is not installed"))'
    if verdict=$(jq -er "[length, (map(select(.passed)) | length), (map(select($no_gdb) | .name) | join(\",\")),
                          (map(select((.passed | not) and (($no_gdb) | not)) | .name) | join(\",\"))] | @tsv" <<<"$json" 2>/dev/null); then
      IFS=$'\t' read -r n_cases n_passed gdb_cases failed_cases <<<"$verdict"
      selftest_line="$n_passed of $n_cases cases passed${failed_cases:+; FAILED: $failed_cases}${gdb_cases:+; not run, for want of gcore (gdb) in the VM: $gdb_cases}"
      [ -n "$failed_cases" ] || selftest_ok_without_gdb=1
    else
      selftest_line="no JSON from the selftest"
    fi
  fi
  results=()
  for name in ${expected[@]+"${expected[@]}"}; do
    end=$(grep -m1 "^end $name status=" <<<"$marks" || true)
    if [ -z "$end" ]; then
      problems+=("$name: no result"); results+=("$name=missing")
    else
      st=$(sed -n 's/.*status=\([0-9]*\).*/\1/p' <<<"$end"); secs=$(sed -n 's/.*seconds=\([0-9.]*\).*/\1/p' <<<"$end")
      results+=("$name=$st(${secs}s)")
      if [ "$name" = selftest ] && [ "$cli_commands" = 1 ] && [ "$st" = 1 ] && [ "$selftest_ok_without_gdb" = 1 ]; then
        : # every case it could run passed
      elif [ "$st" != 0 ]; then
        problems+=("$name exited $st")
      fi
    fi
  done
  grep -q '^done' <<<"$marks" || problems+=("no final marker: the VM did not finish its commands")
  # How long the kernel took to unpack the initramfs and start /init: the part of a boot no command accounts for.
  boot_s=$(awk '$1 == "kernel" { for (i = 2; i <= NF; i++) if ($i ~ /^uptime=/) { sub(/^uptime=/, "", $i); print $i } exit }' <<<"$marks")
  line="arm64-$k ($release, page ${auxv_page:-?}): init after ${boot_s:-?}s, ${results[*]:-no commands}, ${took}s in all"
  kernel_line=${#report[@]}
  if [ ${#problems[@]} -eq 0 ]; then
    report+=("ok   $line")
  else
    failed=1
    report+=("FAIL $line: $(IFS=';'; echo "${problems[*]}")")
  fi
  [ -z "$selftest_line" ] || report+=("     arm64-$k selftest: $selftest_line")
  # The test runner's own count (xunit v3: "Total: N, Errors: N, Failed: N, Skipped: N, Not Run: N, Time: S"),
  # from between the tests' markers.
  if [ -n "$tests_dir" ]; then
    counts=$(sed -n '/@@pmalloc-vm: begin tests:/,/@@pmalloc-vm: end tests /p' "$serial" |
             grep -o 'Total: [0-9]*, Errors: [0-9]*, Failed: [0-9]*, Skipped: [0-9]*, Not Run: [0-9]*' | tail -1 || true)
    report+=("     arm64-$k tests: ${counts:-no count from the test runner}")
    # A test executable that exits 0 having run nothing has not passed.
    total=$(sed -n 's/^Total: \([0-9]*\),.*/\1/p' <<<"$counts")
    if [ "${total:-0}" -eq 0 ] && [ ${#problems[@]} -eq 0 ]; then
      failed=1; report[$kernel_line]="FAIL $line: the test runner reported no test run"
    fi
  fi
done

echo
echo "arm64-vm summary (total $((SECONDS - t0))s, logs in $work):"
printf '  %s\n' "${report[@]}"
exit "$failed"

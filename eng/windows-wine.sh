#!/usr/bin/env bash
# Runs the Windows build of this project under Wine: installs wine64 (and mingw-w64, which builds the Windows writer
# process, pmalloc-writer.exe) from Debian's packages if they are missing, prepares a private headless Wine prefix,
# publishes projects self-contained for win-x64 and runs each .exe under wine64 with a hard timeout. Exits non-zero if
# any step or any run fails.
#
#   eng/windows-wine.sh [--setup] [--probe] [--cli] [--tests] [--timeout SECONDS] [--no-install] [-- TEST-ARGS...]
#
#   --setup    only install wine and prepare the prefix (every other mode does this first)
#   --probe    publish and run eng/windows/probe, which checks the Win32 memory calls the Windows backend needs
#   --cli      publish src/Pmalloc.Cli and run `Pmalloc.Cli.exe selftest --json`
#   --tests    publish tests/Pmalloc.Tests (an xunit v3 executable) and run it; TEST-ARGS after `--` go to it
#              (PMALLOC_REQUIRE_FEATURES is unset for it: those are Linux kernel features, which Windows never has)
#   --timeout  hard limit in seconds for each run under Wine (default 900, or $PMALLOC_WINE_TIMEOUT)
#   --no-install  fail instead of installing wine when it is missing
#
# Environment: PMALLOC_WINEPREFIX (default ~/.cache/pmalloc-wine/prefix), PMALLOC_WINE_CACHE (default
# ~/.cache/pmalloc-wine: prefix and kept .deb files), PMALLOC_WINE_OUT (default artifacts/wine in the repo:
# publish output, intermediate files and the logs of each run).
set -euo pipefail

repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
home=${HOME:-$(getent passwd "$(id -u)" | cut -d: -f6)}
cache=${PMALLOC_WINE_CACHE:-${XDG_CACHE_HOME:-${home:?no home directory}/.cache}/pmalloc-wine}
out=${PMALLOC_WINE_OUT:-$repo/artifacts/wine}
run_timeout=${PMALLOC_WINE_TIMEOUT:-900}
boot_timeout=300
install=1
modes=()
test_args=()

usage() { sed -n '2,/^set -euo/p' "${BASH_SOURCE[0]}" | sed '$d; s/^# \{0,1\}//' >&2; exit 2; }
while (($#)); do
  case $1 in
    --setup | --probe | --cli | --tests) modes+=("${1#--}") ;;
    --timeout) run_timeout=${2:?--timeout needs a number of seconds}; shift ;;
    --no-install) install=0 ;;
    --) shift; test_args=("$@"); break ;;
    -h | --help) usage ;;
    *) echo "windows-wine: unknown argument '$1'" >&2; usage ;;
  esac
  shift
done
((${#modes[@]})) || usage

say() { printf 'windows-wine: %s\n' "$*" >&2; }
die() { say "FAILED: $*"; exit 1; }
now() { date +%s.%N; }
took() { awk -v a="$1" -v b="$(now)" 'BEGIN { printf "%.1f s", b - a }'; }
timings=()
# timed WHAT T0: records in $d how long WHAT took since T0, and keeps it for the closing summary.
timed() { d=$(took "$2"); timings+=("$1 $d"); }

# Headless Wine: no X display, no desktop menu entries, quiet debug channels. The prefix is made with mscoree and
# mshtml disabled, so that wineboot offers no Mono or Gecko download; the runs need mscoree back, since Wine's loader
# hands every IL-only DLL (System.Runtime.dll among them) to it and fails the load with "Module not found" without it.
unset DISPLAY WAYLAND_DISPLAY
export WINEPREFIX=${PMALLOC_WINEPREFIX:-$cache/prefix}
export WINEARCH=win64
export WINEDEBUG=${WINEDEBUG:--all}
boot_overrides="mscoree,mshtml=;winemenubuilder.exe=d"
run_overrides="mshtml=;winemenubuilder.exe=d"
export WINEDLLOVERRIDES=$run_overrides
export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1
# The runtime's W^X double mapping of its own code (on by default since .NET 7) uses VirtualAlloc2/MapViewOfFile3
# placeholders, which kernelbase exports under Wine 8 without implementing them: freeing a dynamic method's code then
# ends the process with "Internal CLR error (0x80131506)" in DynamicResolver.DestroyScout.Finalize. Pmalloc does not use
# them; the runtime under Wine needs W^X off. Windows processes started by the runs inherit it.
export DOTNET_EnableWriteXorExecute=0
# CI requires Linux kernel features of the Linux test run (.ci/run); Windows has none of them, and says so.
unset PMALLOC_REQUIRE_FEATURES

find_wine() {
  wine=$(command -v wine64 || true)
  [[ -n $wine ]] || { [[ -x /usr/lib/wine/wine64 ]] && wine=/usr/lib/wine/wine64; } || true
  wineserver=$(command -v wineserver || true)
  [[ -n $wineserver ]] || { [[ -x /usr/lib/wine/wineserver64 ]] && wineserver=/usr/lib/wine/wineserver64; } || true
  [[ -n $wine && -n $wineserver ]]
}

# The packages: wine for the runs, mingw-w64 for pmalloc-writer.exe (the publish fails without it).
have_mingw() { command -v x86_64-w64-mingw32-gcc >/dev/null; }
install_wine() {
  if find_wine && have_mingw; then return; fi
  ((install)) || die "wine64 is not installed (and --no-install was given)"
  command -v apt-get >/dev/null || die "wine64 is not installed and there is no apt-get to install it"
  local sudo=()
  if ((EUID != 0)); then
    command -v sudo >/dev/null || die "wine64 is not installed; run as root or install it: apt-get install -y --no-install-recommends wine wine64"
    sudo=(sudo)
  fi
  # --no-install-recommends: wine's recommends would upgrade the machine's mesa packages.
  # The .deb files are kept in our cache (the image's docker-clean hook deletes apt's own).
  mkdir -p "$cache/apt-archives/partial"
  local apt=("${sudo[@]}" env DEBIAN_FRONTEND=noninteractive apt-get -y -q
    -o Dir::Cache::Archives="$cache/apt-archives" -o APT::Keep-Downloaded-Packages=true)
  local t0; t0=$(now)
  local packages=(wine wine64 gcc-mingw-w64-x86-64-win32)
  say "installing ${packages[*]} (apt-get install --no-install-recommends)"
  if ! "${apt[@]}" install --no-install-recommends "${packages[@]}" >"$cache/apt.log" 2>&1; then
    say "apt-get install failed; running apt-get update and trying again"
    "${apt[@]}" update >>"$cache/apt.log" 2>&1 || { tail -20 "$cache/apt.log" >&2; die "apt-get update failed (log: $cache/apt.log)"; }
    "${apt[@]}" install --no-install-recommends "${packages[@]}" >>"$cache/apt.log" 2>&1 \
      || { tail -20 "$cache/apt.log" >&2; die "apt-get install ${packages[*]} failed (log: $cache/apt.log)"; }
  fi
  find_wine || die "wine and wine64 installed, but no wine64 or wineserver binary was found"
  have_mingw || die "gcc-mingw-w64-x86-64-win32 installed, but there is no x86_64-w64-mingw32-gcc"
  timed install "$t0"; say "installed $("$wine" --version 2>/dev/null) in $d"
}

# Stops every Wine process of our prefix, waiting for the wineserver to go.
stop_wine() { "$wineserver" -k >/dev/null 2>&1 || true; timeout 30 "$wineserver" -w >/dev/null 2>&1 || true; }

# Bump when the prefix's settings below change: a prefix made with other settings is made anew.
prefix_settings=2

prepare_prefix() {
  local stamp="$WINEPREFIX/.pmalloc-prefix" want
  want="$("$wine" --version 2>/dev/null || echo unknown) settings $prefix_settings"
  if [[ -f $stamp && $(<"$stamp") == "$want" ]]; then
    say "prefix $WINEPREFIX is ready ($want)"
    return
  fi
  local t0; t0=$(now)
  say "creating the prefix $WINEPREFIX ($want)"
  rm -rf "$WINEPREFIX"; mkdir -p "$(dirname "$WINEPREFIX")"
  local rc=0 log="$cache/wineboot.log" aedebug='HKLM\Software\Microsoft\Windows NT\CurrentVersion\AeDebug'
  # Each step is bounded: a hung boot fails instead of stalling CI. wineboot returns once the prefix is laid out;
  # `wineserver -w` waits until Wine's own services are done and the registry is on disk.
  {
    WINEDLLOVERRIDES=$boot_overrides timeout -k 10 "$boot_timeout" "$wine" wineboot --init &&
      timeout -k 10 "$boot_timeout" "$wineserver" -w &&
      # .NET 10 supports Windows 10 and later; this prefix would otherwise say Windows 7.
      timeout -k 10 60 "$wine" winecfg -v win10 &&
      # An unhandled exception would start winedbg --auto, which ends the process with exit code 0: CI would
      # pass a crashed run. With a debugger that cannot start, the process ends with the exception's code
      # (0xE0434352 for .NET, 82 as Linux sees it).
      timeout -k 10 60 "$wine" reg add "$aedebug" /v Debugger /t REG_SZ /d 'pmalloc-no-debugger.exe %ld %ld' /f &&
      timeout -k 10 60 "$wine" reg add "$aedebug" /v Auto /t REG_SZ /d 1 /f &&
      timeout -k 10 "$boot_timeout" "$wineserver" -w
  } >"$log" 2>&1 || rc=$?
  if ((rc != 0)); then
    stop_wine
    tail -20 "$log" >&2
    ((rc == 124)) && die "preparing the prefix did not finish in time (log: $log)"
    die "preparing the prefix failed with exit code $rc (log: $log)"
  fi
  [[ -f $WINEPREFIX/system.reg && -d $WINEPREFIX/drive_c/windows/system32 ]] \
    || die "wineboot --init left no usable prefix in $WINEPREFIX (log: $log)"
  grep -q '"Debugger"="pmalloc-no-debugger.exe' "$WINEPREFIX/system.reg" \
    || die "the prefix's AeDebug key was not set: a crash would exit with 0 (log: $log)"
  echo "$want" >"$stamp"
  timed prefix "$t0"; say "prefix ready in $d"
}

# publish NAME PROJECT: self-contained win-x64 publish into $out/NAME, with its own obj/bin tree
# (--artifacts-path) so the Linux build's restore state is left alone. PmallocRequireWindowsWriter makes a missing
# mingw-w64 a build error, and the publish must hold pmalloc-writer.exe under runtimes/win-x64/native/, where the
# library looks for it.
publish() {
  local name=$1 project=$2 t0 rc=0; t0=$(now)
  say "publishing $project for win-x64 (self-contained)"
  rm -rf "$out/$name"; mkdir -p "$out/logs"
  dotnet publish "$repo/$project" -c Release -r win-x64 --self-contained -p:PmallocRequireWindowsWriter=true \
    --artifacts-path "$out/build" -o "$out/$name" -nologo >"$out/logs/$name.publish.log" 2>&1 || rc=$?
  if ((rc != 0)); then
    grep -E 'error|warning' "$out/logs/$name.publish.log" | sort -u | head -30 >&2 || tail -30 "$out/logs/$name.publish.log" >&2
    say "FAILED: publish of $project exited with $rc (log: $out/logs/$name.publish.log)"
    return 1
  fi
  if [[ $name != probe && ! -f $out/$name/runtimes/win-x64/native/pmalloc-writer.exe ]]; then
    say "FAILED: the publish of $project has no pmalloc-writer.exe (log: $out/logs/$name.publish.log)"
    return 1
  fi
  timed "publish $name" "$t0"; say "published $name in $d"
}

# run NAME EXE ARGS...: runs the .exe under wine64 with a hard timeout; stdout and stderr are shown and
# kept in $out/logs/NAME.{stdout,stderr}; the exit code is left in last_rc. Linux sees only the low 8 bits
# of a Windows exit code (an AccessViolation fail-fast, 0xC0000602, arrives as 2).
quiet=0
log_name=
run() {
  local name=$1 exe=$2 t0 log; shift 2
  log=$out/logs/${log_name:-$name}
  last_rc=0
  [[ -f $out/$name/$exe ]] || { say "FAILED: $out/$name/$exe was not published"; last_rc=127; return 1; }
  t0=$(now)
  say "running $exe${*:+ $*} under wine64 (timeout ${run_timeout} s)"
  if ((quiet)); then
    (cd "$out/$name" && timeout -k 10 "$run_timeout" "$wine" "./$exe" "$@" >"$log.stdout" 2>"$log.stderr" </dev/null) \
      || last_rc=$?
  else
    (cd "$out/$name" && exec timeout -k 10 "$run_timeout" "$wine" "./$exe" "$@" </dev/null) \
      2> >(tee "$log.stderr" >&2) | tee "$log.stdout"
    last_rc=${PIPESTATUS[0]}
  fi
  stop_wine
  timed "run ${log_name:-$name}" "$t0"; say "$exe exited with $last_rc after $d"
  if ((last_rc == 124 || last_rc == 137)); then say "FAILED: $exe did not finish in ${run_timeout} s"; return 1; fi
  ((last_rc == 0)) || { say "FAILED: $exe exited with $last_rc"; return 1; }
}

# expect_exit CODE NAME EXE ARG: a run that must end with exactly this exit code; its output goes to
# $out/logs/NAME-ARG.{stdout,stderr}.
expect_exit() {
  local want=$1; shift
  quiet=1 log_name="$1-$3"; run "$@" 2>/dev/null || true; quiet=0 log_name=
  ((last_rc == want)) || { say "FAILED: $2 $3 exited with $last_rc, not $want (logs: $out/logs/$1-$3.*)"; return 1; }
  say "$2 $3 exited with $last_rc, as it must"
}

t_all=$(now)
install_wine
trap stop_wine EXIT
prepare_prefix
failed=()
for mode in "${modes[@]}"; do
  case $mode in
    setup) ;;
    probe)
      # The probe, then two runs that must fail, to show a failure under Wine reaches this script's exit code:
      # an unhandled .NET exception (0xE0434352) and an AccessViolation fail-fast (0xC0000602).
      { publish probe eng/windows/probe/WinProbe.csproj && run probe WinProbe.exe &&
        expect_exit 82 probe WinProbe.exe unhandled-exception &&
        expect_exit 2 probe WinProbe.exe write-readonly-page; } || failed+=(probe) ;;
    cli) { publish cli src/Pmalloc.Cli/Pmalloc.Cli.csproj && run cli Pmalloc.Cli.exe selftest --json; } || failed+=(cli) ;;
    tests) { publish tests tests/Pmalloc.Tests/Pmalloc.Tests.csproj && run tests Pmalloc.Tests.exe "${test_args[@]}"; } || failed+=(tests) ;;
  esac
done
timed total "$t_all"; say "timings: $(IFS=,; echo "${timings[*]}" | sed 's/,/, /g')"
((${#failed[@]} == 0)) || die "${failed[*]}"

#!/usr/bin/env bash
# The pmalloc command as a NativeAOT binary, run by .ci/run and runnable by hand: publish src/Pmalloc.Cli with
# PublishAot for this machine's RID (the build fails on any trim or AOT warning: warnings are errors), check that
# the output is one native executable with no managed Pmalloc.Cli.dll beside it, then run with it
# `selftest --json` (every attack case in a child, which the binary starts through Environment.ProcessPath: itself)
# and `demo --json`, and measure its startup (`--version`, best of 20) against the framework-dependent apphost of a
# Release build (the JIT runtime, as the tool runs).
#
#   eng/aot-check.sh [WORK_DIR]     (default: a new temporary directory)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
log() { printf 'aot-check: %s\n' "$*" >&2; }
die() { printf 'aot-check: error: %s\n' "$*" >&2; exit 1; }
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

case "$(uname -m)" in
  x86_64) rid=linux-x64 ;;
  aarch64) rid=linux-arm64 ;;
  *) die "no NativeAOT runtime identifier for $(uname -m)" ;;
esac
out="$work/aot"
rm -rf "$out"
log "dotnet publish src/Pmalloc.Cli -c Release -r $rid -p:PublishAot=true -o $out"
dotnet publish "$repo/src/Pmalloc.Cli" -c Release -r "$rid" -p:PublishAot=true -o "$out" -nologo > "$work/publish.log" 2>&1 ||
  { cat "$work/publish.log" >&2; die "the NativeAOT publish failed"; }
grep -E 'warning (IL|CA|CS)[0-9]+' "$work/publish.log" >&2 && die "the NativeAOT publish warned"
bin="$out/Pmalloc.Cli"
[ -x "$bin" ] || die "the publish made no $bin"
[ ! -e "$out/Pmalloc.Cli.dll" ] || die "the publish left a managed Pmalloc.Cli.dll: not a NativeAOT build"
[ -s "$out/samples/policy.txt" ] || die "the publish has no samples/policy.txt beside the binary"
log "native binary: $(du -h "$bin" | cut -f1)"

# The children must start through the binary itself: no dotnet on the PATH while it runs.
nodotnet="$work/no-dotnet-path"
mkdir -p "$nodotnet"
for tool in sh env cat; do ln -sf "$(command -v "$tool")" "$nodotnet/$tool"; done
run() { env -i PATH="$nodotnet" HOME="${HOME:-/root}" TMPDIR="${TMPDIR:-/tmp}" "$bin" "$@"; }

run selftest --json > "$work/selftest.json" 2> "$work/selftest.err" || { cat "$work/selftest.json" "$work/selftest.err" >&2; die "selftest --json with the native binary failed"; }
cases=$(grep -c '"name":' "$work/selftest.json" || true)
passed=$(grep -c '"passed": true' "$work/selftest.json" || true)
[ "$cases" -gt 0 ] && [ "$cases" = "$passed" ] || die "selftest --json: $passed of $cases cases passed"
log "selftest --json: $passed of $cases cases ended as expected"

run demo --json > "$work/demo.json" 2> "$work/demo.err" || { cat "$work/demo.json" "$work/demo.err" >&2; die "demo --json with the native binary failed"; }
for fact in '"statisticsUnchanged": true' '"stopped": true' '"decisionsUnchanged": true' '"exitCode": 134' '"build": "Release"'; do
  grep -q "$fact" "$work/demo.json" || die "demo --json with the native binary: no $fact"
done
qps=$(sed -n 's/.*"perSecond": \([0-9]*\).*/\1/p' "$work/demo.json" | head -1)
log "demo --json: rollback unchanged, attack stopped (exit 134), decisions unchanged; $qps queries/s"

# Startup: the best of 20 runs of `--version` each, alternating, so both see the same machine load.
dotnet build "$repo/src/Pmalloc.Cli" -c Release -o "$work/jit" -nologo -v quiet > "$work/build.log" 2>&1 ||
  { cat "$work/build.log" >&2; die "the framework-dependent Release build failed"; }
jit="$work/jit/Pmalloc.Cli"
once() { local s e; s=$(date +%s%N); "$@" > /dev/null; e=$(date +%s%N); echo $(( (e - s) / 1000 )); }  # microseconds
aot_best=999999999 jit_best=999999999
for _ in $(seq 20); do
  t=$(once "$bin" --version); [ "$t" -lt "$aot_best" ] && aot_best=$t
  t=$(once "$jit" --version); [ "$t" -lt "$jit_best" ] && jit_best=$t
done
ms() { awk -v us="$1" 'BEGIN { printf "%.1f ms", us / 1000 }'; }
echo "aot-check: ok ($rid: selftest $passed/$cases, demo passed; startup of --version, best of 20: NativeAOT $(ms "$aot_best"), JIT apphost $(ms "$jit_best"))"

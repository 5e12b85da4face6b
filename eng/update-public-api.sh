#!/usr/bin/env bash
# Adds every public symbol the PublicApiAnalyzers report as undeclared (RS0016) to PublicAPI.Unshipped.txt,
# and drops the ones it reports as removed (RS0017). Review the diff: every public change should be deliberate.
set -euo pipefail
cd "$(dirname "$0")/../src/Pmalloc"
out=$(dotnet build --no-incremental 2>&1 || true)
grep -oP "RS0016: Symbol '\K.*(?=' is not part of the declared public API)" <<<"$out" | sort -u >> PublicAPI.Unshipped.txt || true
grep -oP "RS0017: Symbol '\K.*(?=' is part of the declared API)" <<<"$out" | sort -u > removed.tmp || true
grep -vxFf removed.tmp PublicAPI.Unshipped.txt > kept.tmp || true
mv kept.tmp PublicAPI.Unshipped.txt; rm -f removed.tmp
{ head -1 PublicAPI.Unshipped.txt; tail -n +2 PublicAPI.Unshipped.txt | sort -u; } > PublicAPI.tmp && mv PublicAPI.tmp PublicAPI.Unshipped.txt
dotnet build 2>&1 | grep -E "error|Build succeeded" | sort -u | head -20

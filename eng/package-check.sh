#!/usr/bin/env bash
# The packages as a new user gets them, run by .ci/run and runnable by hand:
#   1. dotnet pack: Pmalloc and Pmalloc.Cli, each .nupkg with its .snupkg, package validation on, the license,
#      the readme and the version below 1.0 in each nuspec;
#   2. the README's quick start (the csharp block after the ".ci/run compiles and runs" marker) pasted into a fresh
#      `dotnet new console` project that references the packed Pmalloc, built with warnings as errors and run:
#      it must print "max users: 100" and then die of the stray write (exit 134, AccessViolationException);
#   3. the packed tool installed with `dotnet tool install`, then `pmalloc --version` and `pmalloc demo --json`
#      through the tool's shim (the demo's attack child starts through it too).
# The fresh project and the tool restore into a private NuGet cache, so a Pmalloc of the same version extracted
# by an earlier pack can never stand in for this one.
#
#   eng/package-check.sh [WORK_DIR]     (default: a new temporary directory)
set -euo pipefail
repo=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
work=${1:-$(mktemp -d)}
mkdir -p "$work"
log() { printf 'package-check: %s\n' "$*" >&2; }
die() { printf 'package-check: error: %s\n' "$*" >&2; exit 1; }
export DOTNET_NOLOGO=1 DOTNET_CLI_TELEMETRY_OPTOUT=1

version=$(sed -n 's:.*<VersionPrefix>\(.*\)</VersionPrefix>.*:\1:p' "$repo/Directory.Build.props")
[[ "$version" =~ ^0\.[0-9]+\.[0-9]+$ ]] || die "VersionPrefix '$version' in Directory.Build.props is not a 0.x.y version"

# ---- 1. pack ----------------------------------------------------------------------------------------
packages="$work/packages"
rm -rf "$packages"
log "dotnet pack -c Release -o $packages (version $version)"
for project in src/Pmalloc src/Pmalloc.Cli; do
  dotnet pack "$repo/$project" -c Release -o "$packages" -nologo -v quiet -warnaserror >> "$work/pack.log" 2>&1 ||
    { cat "$work/pack.log" >&2; die "dotnet pack $project failed"; }
done
for id in Pmalloc Pmalloc.Cli; do
  for ext in nupkg snupkg; do
    [ -s "$packages/$id.$version.$ext" ] || die "dotnet pack made no $id.$version.$ext"
  done
  python3 - "$packages/$id.$version.nupkg" "$id" <<'EOF' || die "the $id package lacks its metadata"
import sys, zipfile
package, id = sys.argv[1], sys.argv[2]
with zipfile.ZipFile(package) as z:
    names = z.namelist()
    nuspec = z.read(f"{id}.nuspec").decode("utf-8-sig")
    readme = z.read("README.md").decode("utf-8") if "README.md" in names else ""
missing = [what for what, ok in [
    ("license MIT", '<license type="expression">MIT</license>' in nuspec),
    ("LICENSE file", "LICENSE" in names),
    ("readme", "<readme>README.md</readme>" in nuspec and len(readme) > 200),
    ("tags", "<tags>" in nuspec),
    ("repository commit", "<repository " in nuspec and "commit=" in nuspec),
] if not ok]
if missing:
    print(f"{package}: missing {', '.join(missing)}", file=sys.stderr)
    sys.exit(1)
EOF
done
log "packed: $(cd "$packages" && ls | tr '\n' ' ')"

# ---- 2. the README's quick start against the packed library -----------------------------------------------
export NUGET_PACKAGES="$work/nuget-cache"
rm -rf "$NUGET_PACKAGES"
app="$work/quickstart"
rm -rf "$app"; mkdir -p "$app"
(cd "$app" && dotnet new console -n QuickStart -o . --no-update-check > "$work/new.log" 2>&1) || { cat "$work/new.log" >&2; die "dotnet new console failed"; }
(cd "$app" && dotnet add package Pmalloc --version "$version" --source "$packages" > "$work/add.log" 2>&1) ||
  { cat "$work/add.log" >&2; die "dotnet add package Pmalloc failed"; }
awk '/\.ci\/run compiles and runs the next csharp block/ { armed = 1; next }
     armed && /^```csharp$/ { inside = 1; next }
     inside && /^```$/ { exit }
     inside { print }' "$repo/README.md" > "$app/Program.cs"
[ "$(wc -l < "$app/Program.cs")" -ge 5 ] || die "no quick-start block after the marker in README.md"
(cd "$app" && dotnet build -c Release -warnaserror -nologo -v quiet > "$work/build.log" 2>&1) ||
  { cat "$work/build.log" >&2; die "the README's quick start does not build without warnings against the package"; }
set +e
(cd "$app" && dotnet run -c Release --no-build > "$work/quickstart.out" 2> "$work/quickstart.err")
quick_status=$?
set -e
[ "$quick_status" = 134 ] || { cat "$work/quickstart.out" "$work/quickstart.err" >&2; die "the quick start exited $quick_status, not 134"; }
[ "$(head -1 "$work/quickstart.out")" = "max users: 100" ] || die "the quick start printed '$(head -1 "$work/quickstart.out")', not 'max users: 100'"
grep -q 'System.AccessViolationException: Attempted to read or write protected memory' "$work/quickstart.err" ||
  { cat "$work/quickstart.err" >&2; die "the quick start's stray write did not die of an AccessViolationException"; }
log "quick start: 'max users: 100', then exit 134 with AccessViolationException, as the README says"

# ---- 3. the packed tool ---------------------------------------------------------------------------
tool="$work/tool"
rm -rf "$tool"
dotnet tool install Pmalloc.Cli --version "$version" --tool-path "$tool" --add-source "$packages" > "$work/tool.log" 2>&1 ||
  { cat "$work/tool.log" >&2; die "dotnet tool install Pmalloc.Cli failed"; }
got=$("$tool/pmalloc" --version)
[[ "$got" == "pmalloc $version"* ]] || die "pmalloc --version printed '$got'"
"$tool/pmalloc" demo --json --queries 20000 > "$work/tool-demo.json" 2> "$work/tool-demo.err" ||
  { cat "$work/tool-demo.err" >&2; die "pmalloc demo --json through the tool failed"; }
grep -q '"stopped": true' "$work/tool-demo.json" || die "the tool's demo attack was not stopped"
log "tool: $got; demo --json through the shim passed (its attack child died of the stray write)"
echo "package-check: ok ($version: packages, README quick start, tool)"

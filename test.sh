#!/usr/bin/env bash
# Every test of the repository, on a fresh machine: installs what the tests need where it is missing (a browser for the
# UI tests, redis-server for the replica tests), then runs `dotnet test -m:1` and prints "Tests: N passed, N failed, N
# skipped" last. Exits non-zero on any failure. Extra arguments go to dotnet test (e.g. --filter ...).
set -uo pipefail
cd "$(dirname "$0")"

export DOTNET_CLI_TELEMETRY_OPTOUT=1 DOTNET_NOLOGO=1 DOTNET_SKIP_FIRST_TIME_EXPERIENCE=1

# Installs Debian/Ubuntu packages (as root, or through sudo); elsewhere says what to install and stops.
install() {
  local what=$1 package=$2 brew=$3
  echo "Installing $package: $what"
  if command -v apt-get >/dev/null 2>&1; then
    local sudo=""
    [[ $(id -u) -ne 0 ]] && sudo="sudo"
    ($sudo apt-get update -qq && DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "$package" >/dev/null) \
      || { echo "Could not install $package"; exit 1; }
  elif command -v brew >/dev/null 2>&1; then
    brew install $brew || { echo "Could not install $brew"; exit 1; }
  else
    echo "Install $package yourself ($what), then run this again. See the README's Tests section."
    exit 1
  fi
}

# The browser tests drive chromium (Debian's package; CHROMIUM_PATH names any other Chromium or Chrome; on macOS the
# tests find Chromium or Chrome in /Applications).
if [[ -z "${CHROMIUM_PATH:-}" ]] && ! command -v chromium >/dev/null 2>&1 && ! command -v chromium-browser >/dev/null 2>&1 \
  && [[ ! -x /Applications/Chromium.app/Contents/MacOS/Chromium && ! -x "/Applications/Google Chrome.app/Contents/MacOS/Google Chrome" ]]; then
  install "the browser the UI tests drive" chromium "--cask chromium"
fi

# The replica tests share state through Redis; with no container engine, the AppHost runs redis-server from the PATH.
if ! command -v redis-server >/dev/null 2>&1; then
  install "the shared state of the replica tests" redis-server redis
fi

log=$(mktemp)
# One test project at a time: side by side on two cores, ChatApi's bursts and load tests starve the whole-app tests'
# timing (the replicas' calls to Redis miss their deadline and their burst meets 429s).
dotnet test -m:1 "$@" 2>&1 | tee "$log"
status=${PIPESTATUS[0]}

# VSTest prints one summary per test assembly: "Passed!  - Failed: 0, Passed: 24, Skipped: 0, Total: 24, ...".
read -r passed failed skipped < <(awk '
  /(Passed|Failed)! +- Failed: / {
    for (i = 1; i <= NF; i++) {
      if ($i == "Failed:")  { f += $(i+1) + 0 }
      if ($i == "Passed:")  { p += $(i+1) + 0 }
      if ($i == "Skipped:") { s += $(i+1) + 0 }
    }
  }
  END { printf "%d %d %d\n", p, f, s }' "$log")
rm -f "$log"

if [[ $status -ne 0 && $failed -eq 0 ]]; then
  failed=1 # the build or a test host failed without a test result; count it as a failure
fi
echo "Tests: ${passed} passed, ${failed} failed, ${skipped} skipped"
[[ $status -eq 0 && $failed -eq 0 ]]

# shellcheck shell=bash
# bin/compile BUILD_DIR CACHE_DIR [ENV_DIR]: builds the Node.js app in BUILD_DIR in place (the classic
# buildpack's front end; the steps are in steps.sh, shared with bin/build).
# Before Node is installed this uses only bash, coreutils, grep, sed, curl and tar (xz for .tar.xz).
set -euo pipefail
BP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=sources.sh
source "$BP_DIR/buildpack/sources.sh"

if [[ $# -lt 2 ]]; then
  echo "usage: bin/compile BUILD_DIR CACHE_DIR [ENV_DIR]" >&2
  exit 2
fi
[[ -d $1 ]] || fail "BUILD_DIR $1 is not a directory"
BUILD_DIR=$(cd "$1" && pwd)
mkdir -p "$2" || fail "Cannot create CACHE_DIR $2"
CACHE_DIR=$(cd "$2" && pwd)
ENV_DIR=${3:-}
BUILD_STARTED_MS=$(now_ms)

build_app

step "Writing the runtime environment"
write_profile "$BUILD_DIR"
info ".profile.d/tsforeman-nodejs.sh: PATH, NODE_ENV, WEB_CONCURRENCY"
write_export "$BUILD_DIR" "$BP_DIR"
step_done

header "Build succeeded in $(format_ms $(($(now_ms) - BUILD_STARTED_MS)))"

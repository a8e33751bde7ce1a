# shellcheck shell=bash
# bin/test BUILD_DIR [ENV_DIR]: Heroku CI's test run, after bin/test-compile: the app's "test" script
# with the package manager of its lockfile (npm test, yarn test, pnpm test), on the Node.js the build
# installed (.profile.d sourced, as in a dyno), with the config vars and NODE_ENV=test. Its exit status
# is the result.
set -euo pipefail
BP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=sources.sh
source "$BP_DIR/buildpack/sources.sh"

if [[ $# -lt 1 ]]; then
  echo "usage: bin/test BUILD_DIR [ENV_DIR]" >&2
  exit 2
fi
[[ -d $1 ]] || fail "BUILD_DIR $1 is not a directory"
BUILD_DIR=$(cd "$1" && pwd)
export_env_dir "${2:-}"
export NODE_ENV=${NODE_ENV:-test}
cd "$BUILD_DIR"
[[ -f package.json ]] || fail "No package.json in the app" "bin/test runs the \"test\" script of package.json."
detect_package_manager "$BUILD_DIR"
# The app's environment as a dyno gets it (.profile.d with HOME = the app), then the build's yarn or pnpm.
for profile in "$BUILD_DIR"/.profile.d/*.sh; do
  [[ -f $profile ]] || continue
  # shellcheck disable=SC1090 # the app's own scripts
  HOME=$BUILD_DIR source "$profile"
done
if [[ -d $BUILD_DIR/.heroku/package-manager/bin ]]; then PATH="$BUILD_DIR/.heroku/package-manager/bin:$PATH"; fi
export PATH
command -v node >/dev/null 2>&1 || fail "No Node.js for the tests" "Run bin/test-compile on the app first."
header "Running the tests: $PACKAGE_MANAGER test"
status=0
case $PACKAGE_MANAGER in
  npm) npm test || status=$? ;;
  yarn) yarn test || status=$? ;;
  pnpm) pnpm test || status=$? ;;
esac
if ((status != 0)); then
  printf ' !     The tests failed (%s test exited with %d)\n' "$PACKAGE_MANAGER" "$status" >&2
  exit "$status"
fi
header "Tests passed"

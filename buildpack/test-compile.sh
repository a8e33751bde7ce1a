# shellcheck shell=bash
# bin/test-compile BUILD_DIR CACHE_DIR [ENV_DIR]: Heroku CI's build, bin/compile's with NODE_ENV=test
# and the devDependencies kept (the tests need them), and the yarn or pnpm in use copied into
# .heroku/package-manager for bin/test.
# shellcheck disable=SC2034 # read by steps.sh and dependencies.sh
BP_TEST_COMPILE=1
# shellcheck source=compile.sh
source "$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/compile.sh"

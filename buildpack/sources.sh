# shellcheck shell=bash
# The parts both front ends (compile.sh, cnb-build.sh) source, in order. BP_DIR is the buildpack's root.
# One line each, so that shellcheck follows them (the directives name the files next to this one).
# shellcheck disable=SC2153 # BP_DIR is set by the front end that sources this file
# shellcheck source=output.sh
source "$BP_DIR/buildpack/output.sh"
# shellcheck source=json.sh
source "$BP_DIR/buildpack/json.sh"
# shellcheck source=package-json.sh
source "$BP_DIR/buildpack/package-json.sh"
# shellcheck source=semver.sh
source "$BP_DIR/buildpack/semver.sh"
# shellcheck source=node.sh
source "$BP_DIR/buildpack/node.sh"
# shellcheck source=dependencies.sh
source "$BP_DIR/buildpack/dependencies.sh"
# shellcheck source=tsforeman.sh
source "$BP_DIR/buildpack/tsforeman.sh"
# shellcheck source=profile.sh
source "$BP_DIR/buildpack/profile.sh"
# shellcheck source=process.sh
source "$BP_DIR/buildpack/process.sh"
# shellcheck source=cache-dirs.sh
source "$BP_DIR/buildpack/cache-dirs.sh"
# shellcheck source=steps.sh
source "$BP_DIR/buildpack/steps.sh"

# shellcheck shell=bash
# bin/compile BUILD_DIR CACHE_DIR [ENV_DIR]: builds the Node.js app in BUILD_DIR in place.
# Before Node is installed this uses only bash, coreutils, grep, sed, curl and tar (xz for .tar.xz).
set -euo pipefail
BP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# One line each, so that shellcheck follows them (the directives name the files next to this one).
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

# Config vars, one file each, except those that would break the build image itself.
export_env_dir() {
  local env_dir=$1 file name
  local -a exported=()
  [[ -n $env_dir && -d $env_dir ]] || return 0
  for file in "$env_dir"/*; do
    [[ -f $file ]] || continue
    name=${file##*/}
    case $name in PATH | GIT_DIR | CPATH | CPPATH | LD_PRELOAD | LIBRARY_PATH) continue ;; esac
    [[ $name =~ ^[A-Za-z_][A-Za-z0-9_]*$ ]] || continue
    export "$name=$(<"$file")"
    exported+=("$name")
  done
  if ((${#exported[@]} > 0)); then info "Config vars for the build: ${exported[*]}"; fi
}

# Is lifecycle script $1 defined (DEFINED_SCRIPTS, from read_package_json)?
has_script() { [[ " $DEFINED_SCRIPTS " == *" $1 "* ]]; }

run_script() {
  local name=$1 status=0
  shift
  info "Running $name${*:+ with $*}"
  run_package_script "$BUILD_DIR" "$name" "$@" || status=$?
  if ((status != 0)); then
    fail "The \"$name\" script of package.json failed (exit $status); its output is above" \
      "Run \"npm run $name\" locally to reproduce it, fix it, and push again."
  fi
}

header "Node.js app detected (tsforeman buildpack)"
export_env_dir "$ENV_DIR"
cd "$BUILD_DIR"

step "Reading package.json"
[[ -f package.json ]] || fail "No package.json in the app" "A Node.js app needs a package.json at its root."
# Read once, in bash, before anything is downloaded: every later step uses what this sets.
read_package_json package.json
detect_package_manager "$BUILD_DIR"
info "engines.node: ${ENGINES_NODE:-(not set)}"
info "package manager: $PACKAGE_MANAGER${LOCKFILE:+ ($LOCKFILE)}"
step_done

step "Installing Node.js"
install_node "$BUILD_DIR" "$CACHE_DIR" "$ENGINES_NODE"
step_done

export NODE_ENV=${NODE_ENV:-production}
if has_script heroku-prebuild; then
  step "Before installing dependencies"
  run_script heroku-prebuild
  step_done
fi

step "Installing dependencies"
info "NODE_ENV=$NODE_ENV (devDependencies are installed for the build and pruned after it)"
if ! restore_node_modules "$BUILD_DIR" "$CACHE_DIR"; then
  install_dependencies "$BUILD_DIR" "$CACHE_DIR"
  save_node_modules "$BUILD_DIR" "$CACHE_DIR"
fi
step_done

step "Building"
cd "$BUILD_DIR"
# NODE_BUILD_FLAGS: extra arguments for the build script (split on spaces, as Heroku does).
read -r -a build_flags <<<"${NODE_BUILD_FLAGS:-}"
build_script=""
for name in heroku-postbuild heroku-build build; do
  if has_script "$name"; then
    build_script=$name
    break
  fi
done
if [[ -n $build_script ]]; then
  run_script "$build_script" "${build_flags[@]}"
else
  info "No \"heroku-postbuild\", \"heroku-build\" or \"build\" script: nothing to build"
  if ((${#build_flags[@]} > 0)); then warn "NODE_BUILD_FLAGS is set but there is no build script to give it to"; fi
fi
step_done

step "Pruning devDependencies"
kept_because=$(dev_dependencies_kept_because)
if [[ -n $kept_because ]]; then
  info "Keeping devDependencies: $kept_because"
else
  prune_dev_dependencies "$BUILD_DIR"
fi
cd "$BUILD_DIR"
if has_script heroku-cleanup; then run_script heroku-cleanup; fi
step_done

step "Adding tsforeman and tsunicorn"
provide_tsforeman "$BUILD_DIR" "$CACHE_DIR" "$BP_DIR"
step_done

if [[ -f $BUILD_DIR/Procfile ]]; then
  step "Checking the Procfile"
  check_procfile "$BUILD_DIR"
  step_done
else
  header "No Procfile: using the default web process"
  # Checked after the build, so that a Procfile a build script wrote is the one used above.
  if [[ -n $APP_MAIN ]]; then
    info "web: tsunicorn $APP_MAIN --log-file -   (from \"main\" in package.json)"
    [[ -e $BUILD_DIR/$APP_MAIN ]] ||
      warn "\"main\" is $APP_MAIN but the build left no such file; the web process will not start" \
        "Make the build script produce it, or point \"main\" at the server file."
  elif [[ -n $APP_START ]]; then
    info "web: npm start   (runs the \"start\" script: $APP_START)"
  elif [[ -f $BUILD_DIR/server.js ]]; then
    info "web: npm start   (no \"start\" script: npm runs node server.js)"
  else
    warn "This app has no Procfile, no \"start\" script, no \"main\" and no server.js: its default web process, npm start, has nothing to run" \
      "Add a Procfile (web: tsunicorn dist/app.js --log-file -), a \"start\" script, or \"main\" in package.json."
  fi
fi

step "Writing the runtime environment"
write_profile "$BUILD_DIR"
info ".profile.d/tsforeman-nodejs.sh: PATH, NODE_ENV, WEB_CONCURRENCY"
write_export "$BUILD_DIR" "$BP_DIR"
step_done

header "Build succeeded in $(format_ms $(($(now_ms) - BUILD_STARTED_MS)))"

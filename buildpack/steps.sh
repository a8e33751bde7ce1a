# shellcheck shell=bash
# The build itself, shared by both front ends: bin/compile (classic: compile.sh) and bin/build (Cloud
# Native Buildpack: cnb-build.sh). Each sets where things go, then calls build_app:
#
#   BUILD_DIR CACHE_DIR ENV_DIR BP_DIR   the app, what persists between builds, the config vars, us
#   NODE_HOME_DIR TSFOREMAN_HOME_DIR     where Node.js and the buildpack's tsforeman go (default
#                                        BUILD_DIR/.heroku/node and BUILD_DIR/.heroku/tsforeman)
#   build_app                            steps 1-6; sets DEV_DEPENDENCIES_KEPT ("" when pruned)
#
# A front end may define front_end_restore_node_modules (return 0 when it put node_modules in place)
# and front_end_keeps_node_modules (return 0 when it keeps node_modules itself between builds).

front_end_restore_node_modules() { return 1; }
front_end_keeps_node_modules() { return 1; }

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

# shellcheck disable=SC2153,SC2164 # BUILD_DIR, ENV_DIR... are set by the front end; set -e covers cd
build_app() {
  header "Node.js app detected (tsforeman buildpack)"
  export_env_dir "$ENV_DIR"
  if ((${BP_TEST_COMPILE:-0})); then
    export NODE_ENV=test
    info "A test build (bin/test-compile, for Heroku CI): NODE_ENV=test, devDependencies kept"
  fi
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

  if [[ -n $ENGINES_NPM ]]; then
    step "Installing npm"
    install_npm_version "$CACHE_DIR"
    step_done
  fi
  if [[ $PACKAGE_MANAGER != npm ]]; then
    step "Installing $PACKAGE_MANAGER"
    install_package_manager "$CACHE_DIR"
    step_done
  fi
  package_manager_env "$CACHE_DIR"
  read_cache_directories "$BUILD_DIR"
  restore_cache_directories "$BUILD_DIR" "$CACHE_DIR"

  export NODE_ENV=${NODE_ENV:-production}
  if has_script heroku-prebuild; then
    step "Before installing dependencies"
    run_script heroku-prebuild
    step_done
  fi

  step "Installing dependencies"
  info "NODE_ENV=$NODE_ENV (devDependencies are installed for the build and pruned after it)"
  # Known before installing, so that a front end can keep node_modules itself when nothing is pruned.
  DEV_DEPENDENCIES_KEPT=$(dev_dependencies_kept_because)
  if ! front_end_restore_node_modules && ! restore_node_modules "$BUILD_DIR" "$CACHE_DIR"; then
    install_dependencies "$BUILD_DIR" "$CACHE_DIR"
    if ! front_end_keeps_node_modules; then save_node_modules "$BUILD_DIR" "$CACHE_DIR"; fi
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

  save_cache_directories "$BUILD_DIR" "$CACHE_DIR"

  step "Pruning devDependencies"
  if [[ -n $DEV_DEPENDENCIES_KEPT ]]; then
    info "Keeping devDependencies: $DEV_DEPENDENCIES_KEPT"
  else
    prune_dev_dependencies "$BUILD_DIR"
  fi
  cd "$BUILD_DIR"
  if has_script heroku-cleanup; then run_script heroku-cleanup; fi
  check_node_modules_cache "$CACHE_DIR"
  step_done

  # bin/test runs the tests with the same yarn or pnpm, and has no cache of its own.
  if ((${BP_TEST_COMPILE:-0})) && [[ -n $PM_DIR ]]; then
    rm -rf "$BUILD_DIR/.heroku/package-manager"
    mkdir -p "$BUILD_DIR/.heroku"
    cp -a "$PM_DIR" "$BUILD_DIR/.heroku/package-manager"
  fi

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
}

# shellcheck shell=bash
# Step 3 and 5 of bin/compile: install dependencies by lockfile, prune devDependencies after the build.
#
#   detect_package_manager BUILD_DIR   # sets PACKAGE_MANAGER (npm|yarn|pnpm) and LOCKFILE (may be empty)
#   install_dependencies BUILD_DIR CACHE_DIR
#   run_package_script BUILD_DIR NAME  # through the package manager, output indented
#   prune_dev_dependencies BUILD_DIR
#
# Each package manager keeps its cache in CACHE_DIR (npm/, yarn/, pnpm-store/, corepack/).

detect_package_manager() {
  local build_dir=$1 file
  local -a found=()
  for file in package-lock.json npm-shrinkwrap.json yarn.lock pnpm-lock.yaml; do
    [[ -f $build_dir/$file ]] && found+=("$file")
  done
  PACKAGE_MANAGER=npm
  LOCKFILE=""
  if ((${#found[@]} == 0)); then return 0; fi
  if ((${#found[@]} > 1)); then
    fail "Two lockfiles: ${found[*]}" \
      "Keep only the lockfile of the package manager you use (delete the other, commit), so the build installs what you tested."
  fi
  LOCKFILE=${found[0]}
  case $LOCKFILE in
    yarn.lock) PACKAGE_MANAGER=yarn ;;
    pnpm-lock.yaml) PACKAGE_MANAGER=pnpm ;;
  esac
}

_corepack() {
  if ! command -v corepack >/dev/null 2>&1; then
    fail "$LOCKFILE needs $PACKAGE_MANAGER, which the buildpack runs through corepack, but this Node.js has no corepack" \
      "Use a Node.js version that ships corepack (engines.node below 25), or switch to npm (package-lock.json)."
  fi
  corepack "$@"
}

# Sets YARN_IN_USE to the version corepack runs. Asked once: each corepack start costs time.
YARN_IN_USE=""
_yarn_version() {
  [[ -z $YARN_IN_USE ]] || return 0
  local output
  if ! output=$(_corepack yarn --version 2>&1); then
    fail "corepack could not run yarn: $(printf '%s\n' "$output" | grep -m1 -E '^(Error|Usage Error|Internal Error)' || printf '%s' "${output##*$'\n'}")" \
      "Check the \"packageManager\" field of package.json (e.g. \"yarn@1.22.22\"), or switch to npm."
  fi
  # The version is the last line; corepack may print a notice before it.
  YARN_IN_USE=${output##*$'\n'}
}

install_dependencies() {
  local build_dir=$1 cache_dir=$2
  export npm_config_cache="$cache_dir/npm"
  export npm_config_update_notifier=false
  export COREPACK_HOME="$cache_dir/corepack"
  export COREPACK_ENABLE_DOWNLOAD_PROMPT=0
  # Without a "packageManager" field, use the version this corepack pins rather than asking the
  # registry for the latest: the same build gives the same package manager.
  export COREPACK_DEFAULT_TO_LATEST=${COREPACK_DEFAULT_TO_LATEST:-0}
  export YARN_CACHE_FOLDER="$cache_dir/yarn"
  cd "$build_dir" || return 1
  local -a npm_flags=(--include=dev --prefer-offline --no-audit --no-fund --progress=false)
  case "$PACKAGE_MANAGER:$LOCKFILE" in
    npm:)
      info "No lockfile: npm install (commit package-lock.json for reproducible builds)"
      run_indented npm install "${npm_flags[@]}" ||
        fail "npm install failed (see above)" "Run npm install locally, fix the error, commit package-lock.json."
      ;;
    npm:*)
      info "$LOCKFILE found: npm ci $(npm --version)"
      run_indented npm ci "${npm_flags[@]}" ||
        fail "npm ci failed (see above)" \
          "If $LOCKFILE is out of sync with package.json, run npm install locally and commit $LOCKFILE."
      ;;
    yarn:*)
      _yarn_version
      info "yarn.lock found: yarn $YARN_IN_USE through corepack"
      if [[ ${YARN_IN_USE%%.*} == 1 ]]; then
        run_indented _corepack yarn install --frozen-lockfile --production=false --non-interactive ||
          fail "yarn install failed (see above)" "Run yarn install locally and commit yarn.lock."
      else
        YARN_ENABLE_GLOBAL_CACHE=false run_indented _corepack yarn install --immutable ||
          fail "yarn install failed (see above)" "Run yarn install locally and commit yarn.lock."
      fi
      ;;
    pnpm:*)
      info "pnpm-lock.yaml found: pnpm $(_corepack pnpm --version) through corepack"
      # NODE_ENV=production would make pnpm skip devDependencies, which the build needs.
      NODE_ENV=development run_indented _corepack pnpm install --frozen-lockfile --store-dir "$cache_dir/pnpm-store" ||
        fail "pnpm install failed (see above)" "Run pnpm install locally and commit pnpm-lock.yaml."
      ;;
  esac
}

run_package_script() {
  local build_dir=$1 name=$2
  shift 2
  cd "$build_dir" || return 1
  case $PACKAGE_MANAGER in
    npm) run_indented npm run "$name" ${1+--} "$@" ;;
    yarn) run_indented _corepack yarn run "$name" "$@" ;;
    pnpm) run_indented _corepack pnpm run "$name" "$@" ;;
  esac
}

# node_modules as installed (devDependencies included, before the build) is kept in
# CACHE_DIR/node_modules under a key made of the lockfile, the package manager and the Node.js
# version: a build with the same three copies it back and installs nothing. Without a lockfile, or
# with NODE_MODULES_CACHE=false, every build installs.
_node_modules_key() {
  local build_dir=$1
  [[ -n $LOCKFILE ]] || return 1
  printf '%s %s %s %s\n' "$PACKAGE_MANAGER" "${NODE_VERSION:-?}" "$(uname -m)" "$(sha256sum <"$build_dir/$LOCKFILE" | cut -c1-64)"
}

restore_node_modules() {
  local build_dir=$1 cache=$2/node_modules key
  if [[ ${NODE_MODULES_CACHE:-} == false ]]; then
    info "NODE_MODULES_CACHE=false: node_modules is installed afresh, not taken from the cache"
    rm -rf "$cache"
    return 1
  fi
  key=$(_node_modules_key "$build_dir") || return 1
  [[ -d $cache/node_modules && -f $cache/key && $(<"$cache/key") == "$key" ]] || return 1
  if [[ -e $build_dir/node_modules ]]; then
    info "The app brings its own node_modules: not using the cached one"
    return 1
  fi
  cp -a "$cache/node_modules" "$build_dir/node_modules"
  info "Reusing node_modules from the cache ($LOCKFILE and Node.js $NODE_VERSION unchanged): nothing to install"
}

save_node_modules() {
  local build_dir=$1 cache=$2/node_modules key
  [[ ${NODE_MODULES_CACHE:-} != false ]] || return 0
  rm -rf "$cache"
  key=$(_node_modules_key "$build_dir") || return 0
  [[ -d $build_dir/node_modules ]] || return 0
  mkdir -p "$cache"
  cp -a "$build_dir/node_modules" "$cache/node_modules.tmp"
  mv "$cache/node_modules.tmp" "$cache/node_modules"
  printf '%s\n' "$key" >"$cache/key"
}

# Why devDependencies stay, or "" when they are to be pruned.
dev_dependencies_kept_because() {
  local production=${NPM_CONFIG_PRODUCTION:-${npm_config_production:-}}
  if [[ ${KEEP_DEV_DEPENDENCIES:-} == true ]]; then
    printf 'KEEP_DEV_DEPENDENCIES=true'
  elif [[ $production == false ]]; then
    printf 'NPM_CONFIG_PRODUCTION=false'
  elif [[ ${NODE_ENV:-production} != production ]]; then
    printf 'NODE_ENV=%s is not production' "$NODE_ENV"
  elif [[ ${DEV_DEPENDENCY_COUNT:-1} == 0 && ${APP_HAS_WORKSPACES:-0} == 0 && ! -f ${BUILD_DIR:-.}/pnpm-workspace.yaml ]]; then
    printf 'none in package.json'
  fi
}

prune_dev_dependencies() {
  local build_dir=$1
  cd "$build_dir" || return 1
  case $PACKAGE_MANAGER in
    npm)
      run_indented npm prune --omit=dev --no-audit --no-fund --progress=false ||
        fail "npm prune failed (see above)" "Set KEEP_DEV_DEPENDENCIES=true to skip pruning."
      ;;
    yarn)
      _yarn_version
      if [[ ${YARN_IN_USE%%.*} == 1 ]]; then
        run_indented _corepack yarn install --frozen-lockfile --production=true --ignore-scripts --prefer-offline --non-interactive ||
          fail "yarn could not prune devDependencies (see above)" "Set KEEP_DEV_DEPENDENCIES=true to skip pruning."
      else
        run_indented _corepack yarn workspaces focus --all --production ||
          fail "yarn could not prune devDependencies (see above)" \
            "Yarn 2/3 needs the workspace-tools plugin for this; or set KEEP_DEV_DEPENDENCIES=true."
      fi
      ;;
    pnpm)
      run_indented _corepack pnpm prune --prod ||
        fail "pnpm prune failed (see above)" "Set KEEP_DEV_DEPENDENCIES=true to skip pruning."
      ;;
  esac
}

# shellcheck shell=bash
# Step 3 and 5 of bin/compile: install dependencies by lockfile, prune devDependencies after the build.
#
#   detect_package_manager BUILD_DIR   # sets PACKAGE_MANAGER (npm|yarn|pnpm) and LOCKFILE (may be empty)
#   install_package_manager CACHE_DIR  # yarn or pnpm, the version package.json names, first on PATH
#   install_dependencies BUILD_DIR CACHE_DIR
#   run_package_script BUILD_DIR NAME  # through the package manager, output indented
#   prune_dev_dependencies BUILD_DIR
#   restore_node_modules BUILD_DIR CACHE_DIR / save_node_modules BUILD_DIR CACHE_DIR / check_node_modules_cache CACHE_DIR
#
# Each package manager keeps its cache in CACHE_DIR (npm/, yarn/, pnpm-store/); yarn and pnpm
# themselves are in CACHE_DIR/package-managers/.

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

# The yarn or pnpm version to install, as Heroku's buildpack chooses it: engines.yarn / engines.pnpm,
# else the "packageManager" field (its +hash dropped), else yarn 1.x or the latest pnpm. Sets PM_SPEC
# (a version or a range, as npm takes it) and PM_SPEC_FROM (where it came from).
PM_VERSION=""
# The folder of the yarn or pnpm in use (bin/ inside), "" for npm.
PM_DIR=""

_package_manager_spec() {
  local engine="" name version
  PM_SPEC=""
  PM_SPEC_FROM=""
  case $PACKAGE_MANAGER in
    yarn) engine=$ENGINES_YARN ;;
    pnpm) engine=$ENGINES_PNPM ;;
  esac
  if [[ -n $PACKAGE_MANAGER_FIELD ]]; then
    name=${PACKAGE_MANAGER_FIELD%%@*}
    version=${PACKAGE_MANAGER_FIELD#*@}
    version=${version%%+*}
    if [[ $PACKAGE_MANAGER_FIELD != *@* || -z $version ]]; then
      fail "package.json: \"packageManager\" is \"$PACKAGE_MANAGER_FIELD\": it must be NAME@VERSION" \
        "Use for instance \"packageManager\": \"$PACKAGE_MANAGER@<version>\"."
    fi
    if [[ $name != "$PACKAGE_MANAGER" && $PACKAGE_MANAGER != npm ]]; then
      fail "package.json says \"packageManager\": \"$PACKAGE_MANAGER_FIELD\", but the lockfile is $LOCKFILE ($PACKAGE_MANAGER)" \
        "Keep the lockfile of the package manager you use, and name that one in \"packageManager\"."
    fi
  fi
  [[ $PACKAGE_MANAGER != npm ]] || return 0
  if [[ -n $engine ]]; then
    PM_SPEC=$engine
    PM_SPEC_FROM="engines.$PACKAGE_MANAGER \"$engine\""
  elif [[ -n $PACKAGE_MANAGER_FIELD ]]; then
    PM_SPEC=$version
    PM_SPEC_FROM="packageManager \"$PACKAGE_MANAGER_FIELD\""
  elif [[ $PACKAGE_MANAGER == yarn ]]; then
    PM_SPEC=1.x
    PM_SPEC_FROM="the default: neither engines.yarn nor packageManager is set"
  else
    PM_SPEC=latest
    PM_SPEC_FROM="the default: neither engines.pnpm nor packageManager is set"
    warn "No pnpm version named: installing the latest pnpm" \
      "Set \"packageManager\": \"pnpm@<version>\" (or engines.pnpm) in package.json, so every build uses the pnpm you tested with."
  fi
}

# Installs yarn or pnpm with npm from the registry (the way Heroku's buildpack installs them, and the
# only way on Node.js 25 and later, which ship no corepack) into CACHE_DIR/package-managers, one
# folder per version asked for, and puts it first on PATH, so build scripts that call `yarn` or
# `pnpm` find it. Sets PM_VERSION. A version already there is used without asking the registry.
install_package_manager() {
  local cache_dir=$1 package dir spec major=""
  [[ $PACKAGE_MANAGER != npm ]] || return 0
  _package_manager_spec
  spec=$PM_SPEC
  package=$PACKAGE_MANAGER
  if [[ $spec =~ ([0-9]+) ]]; then major=${BASH_REMATCH[1]}; fi
  # yarn 2 and later are published as @yarnpkg/cli-dist; the "yarn" package is yarn 1.
  if [[ $PACKAGE_MANAGER == yarn && -n $major ]] && ((major >= 2)); then package=@yarnpkg/cli-dist; fi
  dir="$cache_dir/package-managers/$PACKAGE_MANAGER@${spec//[^A-Za-z0-9._-]/_}"
  export npm_config_cache="$cache_dir/npm"
  if [[ -x $dir/bin/$PACKAGE_MANAGER ]] && PM_VERSION=$(cd / && "$dir/bin/$PACKAGE_MANAGER" --version 2>/dev/null); then
    info "Using $PACKAGE_MANAGER $PM_VERSION from the cache ($PM_SPEC_FROM)"
  else
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$cache_dir/package-managers"
    info "Installing $PACKAGE_MANAGER $spec ($PM_SPEC_FROM) with npm"
    run_indented npm install --global --prefix "$dir.tmp" --prefer-offline --no-audit --no-fund --progress=false \
      --no-update-notifier "$package@$spec" ||
      fail "Could not install $PACKAGE_MANAGER $spec from the npm registry (see above)" \
        "Check that $package@$spec exists (npm view $package@$spec version) and that the registry is reachable."
    mv "$dir.tmp" "$dir"
    PM_VERSION=$(cd / && "$dir/bin/$PACKAGE_MANAGER" --version 2>&1) ||
      fail "The $PACKAGE_MANAGER just installed does not run: $PM_VERSION" "Name another version in package.json."
    PM_VERSION=${PM_VERSION##*$'\n'}
    info "Installed $PACKAGE_MANAGER $PM_VERSION"
  fi
  # shellcheck disable=SC2034 # read by steps.sh
  PM_DIR=$dir
  export PATH="$dir/bin:$PATH"
  hash -r
}

# engines.npm: the npm of the Node.js in use unless it does not satisfy the range, else that npm,
# installed with npm into CACHE_DIR/package-managers (cached like yarn and pnpm) and first on PATH.
install_npm_version() {
  local cache_dir=$1 spec=$ENGINES_NPM current dir
  [[ -n $spec ]] || return 0
  current=$(npm --version 2>/dev/null) || fail "This Node.js has no npm" "Use a Node.js release that ships npm."
  if semver_valid_range "$spec" && semver_satisfies "$current" "$spec"; then
    info "npm $current satisfies engines.npm \"$spec\""
    return 0
  fi
  dir="$cache_dir/package-managers/npm@${spec//[^A-Za-z0-9._-]/_}"
  if [[ -x $dir/bin/npm ]] && current=$("$dir/bin/npm" --version 2>/dev/null); then
    info "Using npm $current from the cache (engines.npm \"$spec\")"
  else
    rm -rf "$dir" "$dir.tmp"
    mkdir -p "$cache_dir/package-managers"
    info "Installing npm $spec (engines.npm; this Node.js has npm $current)"
    npm_config_cache="$cache_dir/npm" run_indented npm install --global --prefix "$dir.tmp" --prefer-offline --no-audit \
      --no-fund --progress=false --no-update-notifier "npm@$spec" ||
      fail "Could not install npm $spec from the npm registry (see above)" "Check engines.npm in package.json."
    mv "$dir.tmp" "$dir"
    current=$("$dir/bin/npm" --version 2>&1) || fail "The npm just installed does not run: $current" "Check engines.npm in package.json."
    info "Installed npm $current"
  fi
  export PATH="$dir/bin:$PATH"
  hash -r
}

# npm 12 and later skip the install scripts of dependencies that package.json's "allowScripts" does
# not cover, and still succeed: what those scripts build (native modules) would be missing. The build
# fails instead, after npm's own message, with the packages and what to set.
_npm_check_blocked_scripts() {
  local log=$1 packages
  grep -q 'had install scripts blocked' "$log" || return 0
  packages=$(sed -n 's/^.*npm warn install-scripts   \([^ ]*\) (.*$/\1/p' "$log" | tr '\n' ' ')
  fail "npm $(npm --version) did not run the install scripts of ${packages:-some dependencies}(see npm's message above): what they build is missing" \
    "Allow the ones you trust in the \"allowScripts\" field of package.json: run \"npm install-scripts approve <package>\" locally and commit package.json." \
    "npm does not take this setting from the environment for a project install (--allow-scripts is refused there)."
}

# Runs npm ci / npm install with its output indented, and checks it for blocked install scripts.
_npm_install() {
  local log status=0
  log=$(mktemp)
  "$@" 2>&1 | tee "$log" | indent || status=${PIPESTATUS[0]}
  if ((status == 0)); then _npm_check_blocked_scripts "$log"; fi
  rm -f "$log"
  return "$status"
}

# The environment every yarn and pnpm command of the build gets (install, scripts, prune): the same
# cache and store each time, so that pnpm prune sees the store install used and never rebuilds.
package_manager_env() {
  local cache_dir=$1
  export npm_config_cache="$cache_dir/npm"
  export npm_config_update_notifier=false
  export YARN_CACHE_FOLDER="$cache_dir/yarn"
  # pnpm's store; npm warns of a setting it does not know (on every npm command) if it sees this.
  if [[ $PACKAGE_MANAGER == pnpm ]]; then export npm_config_store_dir="$cache_dir/pnpm-store"; fi
  # Our own yarn or pnpm runs, not a corepack shim an image may carry.
  export COREPACK_ENABLE_STRICT=0
  export YARN_ENABLE_TELEMETRY=0
}

install_dependencies() {
  local build_dir=$1 cache_dir=$2
  package_manager_env "$cache_dir"
  cd "$build_dir" || return 1
  local -a npm_flags=(--include=dev --prefer-offline --no-audit --no-fund --progress=false)
  case "$PACKAGE_MANAGER:$LOCKFILE" in
    npm:)
      info "No lockfile: npm install (commit package-lock.json for reproducible builds)"
      _npm_install npm install "${npm_flags[@]}" ||
        fail "npm install failed (see above)" "Run npm install locally, fix the error, commit package-lock.json."
      ;;
    npm:*)
      info "$LOCKFILE found: npm ci $(npm --version)"
      _npm_install npm ci "${npm_flags[@]}" ||
        fail "npm ci failed (see above)" \
          "If $LOCKFILE is out of sync with package.json, run npm install locally and commit $LOCKFILE."
      ;;
    yarn:*)
      info "yarn.lock found: yarn install with yarn $PM_VERSION"
      if [[ ${PM_VERSION%%.*} == 1 ]]; then
        run_indented yarn install --frozen-lockfile --production=false --non-interactive ||
          fail "yarn install failed (see above)" "Run yarn install locally and commit yarn.lock."
      else
        YARN_ENABLE_GLOBAL_CACHE=false run_indented yarn install --immutable ||
          fail "yarn install failed (see above)" "Run yarn install locally and commit yarn.lock."
      fi
      ;;
    pnpm:*)
      info "pnpm-lock.yaml found: pnpm install with pnpm $PM_VERSION"
      # NODE_ENV=production would make pnpm skip devDependencies, which the build needs.
      NODE_ENV=development run_indented pnpm install --frozen-lockfile --store-dir "$cache_dir/pnpm-store" ||
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
    yarn) run_indented yarn run "$name" "$@" ;;
    pnpm) run_indented pnpm run "$name" "$@" ;;
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

# The cached node_modules (CACHE_DIR/node_modules/node_modules, as the install left it) and the app's
# share their files as hard links when both are on one file system: a warm build's restore then costs
# next to nothing. The package managers' own records, which they rewrite in place, are the app's own
# copies: every regular file at the top of node_modules and of node_modules/.pnpm (npm's
# .package-lock.json, yarn's .yarn-integrity, pnpm's .modules.yaml, .pnpm-workspace-state-v1.json and
# .pnpm/lock.yaml). Any other file written in place (a build that generates code into node_modules, or
# a slug run afterwards) would change the cache through its link: a file newer than
# CACHE_DIR/node_modules/saved means that, and the cache is dropped and kept as a plain copy from then
# on (CACHE_DIR/node_modules/copy).

# _unshare_records DIR: DIR/node_modules's package-manager records become files of their own: the
# regular files at its top and at the top of its .pnpm (package files live in folders below).
_unshare_records() {
  local file
  for file in "$1"/node_modules/.[!.]* "$1"/node_modules/* "$1"/node_modules/.pnpm/.[!.]* "$1"/node_modules/.pnpm/*; do
    [[ -f $file && ! -L $file ]] || continue
    cp -p "$file" "$file.tsforeman-tmp" && mv -f "$file.tsforeman-tmp" "$file"
  done
}

# _changed_in_cache CACHE: the first file of CACHE/node_modules written since it was saved ("" if none).
_changed_in_cache() {
  [[ -f $1/saved ]] || return 0
  find "$1/node_modules" -newer "$1/saved" \( -type f -o -type l \) -print -quit 2>/dev/null
}

restore_node_modules() {
  local build_dir=$1 cache=$2/node_modules key changed
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
  changed=$(_changed_in_cache "$cache")
  if [[ -n $changed ]]; then
    info "node_modules in the cache was written to since it was saved (${changed#"$cache/node_modules/"}): installing afresh"
    _keep_node_modules_as_copy "$cache"
    return 1
  fi
  # A cache saved without the stamp (by an earlier version) is copied: nothing could tell a change.
  if [[ -f $cache/copy || ! -f $cache/saved ]]; then
    cp -a "$cache/node_modules" "$build_dir/node_modules"
  else
    cp -al "$cache/node_modules" "$build_dir/node_modules" 2>/dev/null || {
      rm -rf "$build_dir/node_modules"
      cp -a "$cache/node_modules" "$build_dir/node_modules"
    }
    _unshare_records "$build_dir"
  fi
  info "Reusing node_modules from the cache ($LOCKFILE and Node.js $NODE_VERSION unchanged): nothing to install"
}

save_node_modules() {
  local build_dir=$1 cache=$2/node_modules key copy=0
  [[ ${NODE_MODULES_CACHE:-} != false ]] || return 0
  if [[ -f $cache/copy ]]; then copy=1; fi
  rm -rf "$cache"
  key=$(_node_modules_key "$build_dir") || return 0
  [[ -d $build_dir/node_modules ]] || return 0
  mkdir -p "$cache"
  if ((copy)) || ! cp -al "$build_dir/node_modules" "$cache/node_modules.tmp" 2>/dev/null; then
    rm -rf "$cache/node_modules.tmp"
    cp -a "$build_dir/node_modules" "$cache/node_modules.tmp"
    if ((copy)); then : >"$cache/copy"; fi
  else
    _unshare_records "$build_dir"
  fi
  mv "$cache/node_modules.tmp" "$cache/node_modules"
  printf '%s\n' "$key" >"$cache/key"
  : >"$cache/saved"
}

# After the build and the prune: a cached file the app's build (or the prune) wrote in place through
# its hard link is dropped with the rest of the cache, which is a plain copy from the next build on.
check_node_modules_cache() {
  local cache=$1/node_modules changed
  [[ -d $cache/node_modules && ! -f $cache/copy ]] || return 0
  changed=$(_changed_in_cache "$cache")
  [[ -n $changed ]] || return 0
  info "The build wrote into node_modules in place (${changed#"$cache/node_modules/"}): the cache drops its copy; the next build installs again and keeps a plain copy"
  _keep_node_modules_as_copy "$cache"
}

_keep_node_modules_as_copy() {
  rm -rf "$1"
  mkdir -p "$1"
  : >"$1/copy"
}

# Why devDependencies stay, or "" when they are to be pruned.
dev_dependencies_kept_because() {
  local production=${NPM_CONFIG_PRODUCTION:-${npm_config_production:-}}
  if ((${BP_TEST_COMPILE:-0})); then
    printf 'a test build (bin/test-compile)'
  elif [[ ${KEEP_DEV_DEPENDENCIES:-} == true ]]; then
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
      if [[ ${PM_VERSION%%.*} == 1 ]]; then
        run_indented yarn install --frozen-lockfile --production=true --ignore-scripts --prefer-offline --non-interactive ||
          fail "yarn could not prune devDependencies (see above)" "Set KEEP_DEV_DEPENDENCIES=true to skip pruning."
      elif [[ ${YARN2_SKIP_PRUNING:-} == true ]]; then
        info "YARN2_SKIP_PRUNING=true: devDependencies are kept"
      elif ((${PM_VERSION%%.*} >= 4)) || grep -qs 'plugin-workspace-tools' "$build_dir/.yarnrc.yml"; then
        YARN_ENABLE_GLOBAL_CACHE=false run_indented yarn workspaces focus --all --production ||
          fail "yarn could not prune devDependencies (see above)" "Set YARN2_SKIP_PRUNING=true to skip pruning."
      else
        warn "devDependencies are kept: yarn $PM_VERSION prunes them only with the workspace-tools plugin" \
          "Add it (yarn plugin import workspace-tools) and commit .yarnrc.yml and .yarn/plugins, or set YARN2_SKIP_PRUNING=true to silence this."
      fi
      ;;
    pnpm)
      run_indented pnpm prune --prod ||
        fail "pnpm prune failed (see above)" "Set KEEP_DEV_DEPENDENCIES=true to skip pruning."
      ;;
  esac
}

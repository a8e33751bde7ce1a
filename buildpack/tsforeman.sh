# shellcheck shell=bash
# Step 6 of bin/compile: `tsforeman` and `tsunicorn` in the slug, and the Procfile checked with them.
#
#   provide_tsforeman BUILD_DIR CACHE_DIR BP_DIR   # sets TSFOREMAN_BIN; TSFOREMAN_VENDORED=1 when
#                                                  # the buildpack's own copy went into the slug
#   check_procfile BUILD_DIR
#
# An app that depends on tsforeman brings both commands in node_modules/.bin. Otherwise the
# buildpack puts its own package into TSFOREMAN_HOME_DIR (default BUILD_DIR/.heroku/tsforeman; the
# CNB's tsforeman layer), since the default web process needs tsunicorn:
# from its built dist/ when it has one, else compiled from its sources. The result is cached in
# CACHE_DIR/tsforeman under a hash of those files.

TSFOREMAN_VENDORED=0
TSFOREMAN_BIN=""

_tsforeman_dist_complete() { [[ -f $1/dist/procfile/cli.js && -f $1/dist/runtime/cli.js ]]; }

# npm for the buildpack's own copy: pnpm's store setting, which npm does not know, is not passed on.
_tsforeman_npm() { env -u npm_config_store_dir npm "$@"; }

_tsforeman_build_copy() {
  local bp_dir=$1 dest=$2
  mkdir -p "$dest/bin"
  cp "$bp_dir/package.json" "$dest/"
  cp "$bp_dir/bin/tsforeman" "$bp_dir/bin/tsunicorn" "$dest/bin/"
  # A git checkout has the lockfile; a package installed from the registry does not.
  local install=install
  if [[ -f $bp_dir/package-lock.json ]]; then
    cp "$bp_dir/package-lock.json" "$dest/"
    install=ci
  fi
  cd "$dest" || return 1
  # --ignore-scripts: nothing of the dependencies' needs to run for the slug.
  local -a flags=(--ignore-scripts --prefer-offline --no-audit --no-fund --progress=false)
  if _tsforeman_dist_complete "$bp_dir"; then
    cp -R "$bp_dir/dist" "$dest/dist"
    run_indented _tsforeman_npm "$install" --omit=dev "${flags[@]}" || return 1
  else
    info "The buildpack has no built dist/: compiling tsforeman from its sources"
    cp -R "$bp_dir/tsconfig.json" "$bp_dir/procfile" "$dest/"
    [[ -d $bp_dir/runtime ]] && cp -R "$bp_dir/runtime" "$dest/"
    run_indented _tsforeman_npm "$install" --include=dev "${flags[@]}" || return 1
    # tsc emits even when it reports type errors; the check of dist/ below decides.
    run_indented ./node_modules/.bin/tsc -p tsconfig.json || info "tsc reported errors (above); using what it emitted"
    rm -rf "$dest/procfile" "$dest/runtime" "$dest/tsconfig.json"
    run_indented _tsforeman_npm prune --omit=dev "${flags[@]}" || return 1
  fi
  _tsforeman_dist_complete "$dest" || {
    info "The build of tsforeman lacks dist/procfile/cli.js or dist/runtime/cli.js"
    return 1
  }
}

provide_tsforeman() {
  local build_dir=$1 cache_dir=$2 bp_dir=$3
  if [[ -x $build_dir/node_modules/.bin/tsforeman && -x $build_dir/node_modules/.bin/tsunicorn ]]; then
    TSFOREMAN_BIN="$build_dir/node_modules/.bin/tsforeman"
    info "Using the app's own tsforeman and tsunicorn (node_modules/.bin)"
    return 0
  fi
  local key home=${TSFOREMAN_HOME_DIR:-$build_dir/.heroku/tsforeman} label=${TSFOREMAN_HOME_LABEL:-.heroku/tsforeman}
  if _tsforeman_dist_complete "$bp_dir"; then
    key=$(node "$bp_dir/buildpack/tree-hash.cjs" "$bp_dir" package.json package-lock.json bin/tsforeman bin/tsunicorn dist)
  else
    key=$(node "$bp_dir/buildpack/tree-hash.cjs" "$bp_dir" package.json package-lock.json bin/tsforeman bin/tsunicorn tsconfig.json procfile runtime)
  fi
  key="tsforeman-${key:0:16}"
  local store="$cache_dir/tsforeman"
  mkdir -p "$store"
  if [[ -d $store/$key ]]; then
    info "The app does not depend on tsforeman: adding the buildpack's copy (cached) to $label"
  else
    info "The app does not depend on tsforeman: adding the buildpack's copy to $label"
    local work
    work=$(mktemp -d "$store/build.XXXXXX")
    if ! (_tsforeman_build_copy "$bp_dir" "$work/package"); then
      rm -rf "$work"
      fail "Could not prepare tsforeman for the slug (see above)" \
        "Add tsforeman to the app's dependencies instead, so npm installs it with the app."
    fi
    # One prepared copy is enough: drop those of other buildpack versions.
    rm -rf "$store"/tsforeman-*
    mv "$work/package" "$store/$key"
    rm -rf "$work"
  fi
  rm -rf "$home"
  mkdir -p "$(dirname "$home")"
  cp -R "$store/$key" "$home"
  TSFOREMAN_BIN="$home/bin/tsforeman"
  # shellcheck disable=SC2034 # read by write_profile and write_export (profile.sh)
  TSFOREMAN_VENDORED=1
}

check_procfile() {
  local build_dir=$1 output
  if output=$(cd "$build_dir" && "$TSFOREMAN_BIN" check -f Procfile 2>&1); then
    [[ -n $output ]] && info "$output"
    return 0
  fi
  fail "The Procfile is invalid: ${output:-tsforeman check failed}" \
    "Fix that line of the Procfile; check it locally with: npx tsforeman check"
}

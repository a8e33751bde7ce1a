# shellcheck shell=bash
# bin/build: the Cloud Native Buildpack's build (Buildpack API 0.10), run by the lifecycle in the app
# directory with CNB_LAYERS_DIR and CNB_PLATFORM_DIR set. The steps are bin/compile's (steps.sh); what
# differs is where things go and how the result is described:
#
#   <layers>/nodejs        Node.js (launch, build, cache): reused as it is while the release is the same
#   <layers>/node_modules  the app's node_modules (launch; cache too when nothing is pruned, keyed by the
#                          lockfile, the package manager and Node.js); the app's node_modules links to it
#   <layers>/caches        package-manager caches, the Node.js release list, the installed node_modules
#                          kept for pruned builds, the prepared tsforeman (cache only)
#   <layers>/tsforeman     the buildpack's tsforeman and tsunicorn when the app does not depend on them
#   <layers>/web-env       exec.d program: WEB_CONCURRENCY and WEB_MEMORY at launch (launch)
#   <layers>/launch.toml   the Procfile's processes (web the default), or the default web process
#
# Config vars come from CNB_PLATFORM_DIR/env/, one file each, as ENV_DIR does for bin/compile.
set -euo pipefail
BP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=sources.sh
source "$BP_DIR/buildpack/sources.sh"

if [[ -z ${CNB_LAYERS_DIR:-} ]]; then
  echo "usage: bin/build is the Cloud Native Buildpack's build: the lifecycle runs it in the app directory with CNB_LAYERS_DIR set (on a classic platform: bin/compile BUILD_DIR CACHE_DIR ENV_DIR)" >&2
  exit 2
fi
mkdir -p "$CNB_LAYERS_DIR"
LAYERS_DIR=$(cd "$CNB_LAYERS_DIR" && pwd)
BUILD_DIR=$(pwd)
CACHE_DIR=$LAYERS_DIR/caches
ENV_DIR=${CNB_PLATFORM_DIR:+$CNB_PLATFORM_DIR/env}
NODE_HOME_DIR=$LAYERS_DIR/nodejs
NODE_HOME_LABEL="the nodejs layer"
# The nodejs layer is cached itself: no second copy in the caches layer.
NODE_HOME_KEPT=1
TSFOREMAN_HOME_DIR=$LAYERS_DIR/tsforeman
TSFOREMAN_HOME_LABEL="the tsforeman layer"
BUILD_STARTED_MS=$(now_ms)
mkdir -p "$CACHE_DIR"

# What the previous build's node_modules layer held (its metadata, restored by the lifecycle).
PREVIOUS_NODE_MODULES_KEY=""
PREVIOUS_NODE_MODULES_PRUNED=""
if [[ -f $LAYERS_DIR/node_modules.toml ]]; then
  PREVIOUS_NODE_MODULES_KEY=$(sed -n 's/^key = "\(.*\)"$/\1/p' "$LAYERS_DIR/node_modules.toml")
  PREVIOUS_NODE_MODULES_PRUNED=$(sed -n 's/^pruned = \(true\|false\)$/\1/p' "$LAYERS_DIR/node_modules.toml")
fi
# Every layer is described afresh below: one this build does not write is dropped from the image.
rm -f "$LAYERS_DIR"/{nodejs,node_modules,caches,tsforeman,web-env}.toml "$LAYERS_DIR/launch.toml"

# When nothing is pruned, the node_modules layer is itself the cache: a warm build moves it back.
front_end_keeps_node_modules() {
  [[ -n $DEV_DEPENDENCIES_KEPT && ${NODE_MODULES_CACHE:-} != false && -n $LOCKFILE ]]
}

front_end_restore_node_modules() {
  local layer=$LAYERS_DIR/node_modules key
  front_end_keeps_node_modules || return 1
  # The snapshot of pruned builds is not needed while the layer is the cache.
  rm -rf "$CACHE_DIR/node_modules"
  [[ -d $layer/node_modules && $PREVIOUS_NODE_MODULES_PRUNED == false ]] || return 1
  key=$(_node_modules_key "$BUILD_DIR") || return 1
  [[ $PREVIOUS_NODE_MODULES_KEY == "$key" && ! -e $BUILD_DIR/node_modules ]] || return 1
  mv "$layer/node_modules" "$BUILD_DIR/node_modules"
  info "Reusing node_modules from the node_modules layer ($LOCKFILE and Node.js $NODE_VERSION unchanged): nothing to install"
}

# <layers>/NAME.toml: its types ("launch build cache" words) and metadata lines.
write_layer_toml() {
  local name=$1 types=$2 type
  shift 2
  {
    printf '[types]\n'
    for type in launch build cache; do
      if [[ " $types " == *" $type "* ]]; then printf '%s = true\n' "$type"; else printf '%s = false\n' "$type"; fi
    done
    if (($# > 0)); then
      printf '\n[metadata]\n'
      printf '%s\n' "$@"
    fi
  } >"$LAYERS_DIR/$name.toml"
}

# An env file of a layer: write_layer_env LAYER DIR NAME.SUFFIX VALUE (DIR: env, env.launch, env.build).
write_layer_env() {
  mkdir -p "$LAYERS_DIR/$1/$2"
  printf '%s' "$4" >"$LAYERS_DIR/$1/$2/$3"
}

write_layers() {
  local layers=() key pruned=true
  [[ -z $DEV_DEPENDENCIES_KEPT ]] || pruned=false

  if ((NODE_INSTALLED_BY_BUILDPACK)); then
    write_layer_env nodejs env NODE_HOME.override "$NODE_HOME_DIR"
    write_layer_env nodejs env.launch NODE_ENV.default production
    write_layer_toml nodejs "launch build cache" "version = $(toml_string "$NODE_VERSION")"
    layers+=("nodejs (Node.js $NODE_VERSION: launch, build, cache)")
  else
    rm -rf "$NODE_HOME_DIR"
  fi

  local layer=$LAYERS_DIR/node_modules
  if [[ -d $BUILD_DIR/node_modules && ! -L $BUILD_DIR/node_modules ]]; then
    rm -rf "$layer"
    mkdir -p "$layer"
    mv "$BUILD_DIR/node_modules" "$layer/node_modules"
    ln -s "$layer/node_modules" "$BUILD_DIR/node_modules"
    write_layer_env node_modules env.launch PATH.prepend "$BUILD_DIR/node_modules/.bin"
    write_layer_env node_modules env.launch PATH.delim ":"
    if key=$(_node_modules_key "$BUILD_DIR") && front_end_keeps_node_modules; then
      write_layer_toml node_modules "launch cache" "key = $(toml_string "$key")" "pruned = $pruned"
      layers+=("node_modules (launch, cache: reused while $LOCKFILE and Node.js stay the same)")
    else
      write_layer_toml node_modules "launch" "pruned = $pruned"
      layers+=("node_modules (launch)")
    fi
  else
    rm -rf "$layer"
  fi

  write_layer_toml caches "cache"
  layers+=("caches (package managers, Node.js releases: cache only)")

  if ((TSFOREMAN_VENDORED)); then
    write_layer_toml tsforeman "launch"
    layers+=("tsforeman (tsforeman and tsunicorn: launch)")
  else
    rm -rf "$TSFOREMAN_HOME_DIR"
  fi

  rm -rf "$LAYERS_DIR/web-env"
  write_web_env_program "$LAYERS_DIR/web-env/exec.d/web-env"
  write_layer_toml web-env "launch"
  layers+=("web-env (exec.d: WEB_CONCURRENCY and WEB_MEMORY at launch)")

  local line
  for line in "${layers[@]}"; do info "$line"; done
}

write_launch_toml() {
  local i command default
  {
    if [[ -f $BUILD_DIR/Procfile ]]; then
      procfile_entries "$BUILD_DIR/Procfile"
      for i in "${!PROCFILE_TYPES[@]}"; do
        default=false
        [[ ${PROCFILE_TYPES[i]} == web ]] && default=true
        printf '[[processes]]\ntype = %s\ncommand = ["bash", "-c", %s]\ndefault = %s\n\n' \
          "$(toml_string "${PROCFILE_TYPES[i]}")" "$(toml_string "${PROCFILE_COMMANDS[i]}")" "$default"
      done
    else
      command=$(default_web_command "$APP_MAIN")
      printf '[[processes]]\ntype = "web"\ncommand = ["bash", "-c", %s]\ndefault = true\n' "$(toml_string "$command")"
    fi
  } >"$LAYERS_DIR/launch.toml"
  if [[ -f $BUILD_DIR/Procfile ]]; then
    info "launch.toml: the Procfile's processes (${PROCFILE_TYPES[*]})"
  else
    info "launch.toml: web: $command"
  fi
}

build_app

step "Writing the layers"
write_layers
write_launch_toml
step_done

header "Build succeeded in $(format_ms $(($(now_ms) - BUILD_STARTED_MS)))"

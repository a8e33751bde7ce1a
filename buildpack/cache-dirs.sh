# shellcheck shell=bash
# cacheDirectories (or cache_directories) of package.json: folders of the app kept in the cache between
# builds, as on Heroku (".next/cache", "client/node_modules"). Read once Node.js is installed.
#
#   read_cache_directories BUILD_DIR               # sets CACHE_DIRECTORIES (relative paths) and
#                                                  # CACHE_DIRECTORIES_FIELD (the name used, or "")
#   restore_cache_directories BUILD_DIR CACHE_DIR  # before the install: each folder the app lacks
#   save_cache_directories BUILD_DIR CACHE_DIR     # after the build, before the prune
#
# NODE_MODULES_CACHE=false turns this cache off too. "node_modules" itself is kept by the lockfile's
# key (dependencies.sh), not here.

CACHE_DIRECTORIES=()
CACHE_DIRECTORIES_FIELD=""

read_cache_directories() {
  local build_dir=$1 output line
  # CommonJS on whatever Node.js the app asked for; one line per folder, "!" before an error.
  # shellcheck disable=SC2016 # JavaScript, not shell
  output=$(node -e '
    const fs = require("fs"), path = require("path");
    const manifest = JSON.parse(fs.readFileSync(process.argv[1], "utf8").replace(/^\uFEFF/, ""));
    const name = ["cacheDirectories", "cache_directories"].find((key) => manifest[key] !== undefined);
    if (name === undefined) process.exit(0);
    console.log(name);
    const value = manifest[name];
    if (!Array.isArray(value) || value.some((entry) => typeof entry !== "string")) {
      console.log(`!"${name}" must be an array of folder names, such as [".next/cache"]`);
      process.exit(0);
    }
    for (const entry of value) {
      const folder = path.posix.normalize(entry).replace(/\/+$/, "");
      if (folder === "" || folder === "." || path.posix.isAbsolute(folder) || folder === ".." || folder.startsWith("../")) {
        console.log(`!"${name}" names ${JSON.stringify(entry)}, which is not a folder inside the app`);
      } else {
        console.log(folder);
      }
    }' "$build_dir/package.json" 2>&1) || fail "Could not read cacheDirectories from package.json: $output"
  CACHE_DIRECTORIES=()
  CACHE_DIRECTORIES_FIELD=""
  [[ -n $output ]] || return 0
  while IFS= read -r line; do
    if [[ -z $CACHE_DIRECTORIES_FIELD ]]; then
      CACHE_DIRECTORIES_FIELD=$line
    elif [[ $line == '!'* ]]; then
      fail "package.json: ${line#!}" "Fix package.json and push again."
    else
      CACHE_DIRECTORIES+=("$line")
    fi
  done <<<"$output"
}

restore_cache_directories() {
  local build_dir=$1 store=$2/directories folder
  ((${#CACHE_DIRECTORIES[@]} > 0)) || return 0
  if [[ ${NODE_MODULES_CACHE:-} == false ]]; then
    info "NODE_MODULES_CACHE=false: the $CACHE_DIRECTORIES_FIELD are not restored"
    rm -rf "$store"
    return 0
  fi
  info "Restoring the $CACHE_DIRECTORIES_FIELD of package.json:"
  for folder in "${CACHE_DIRECTORIES[@]}"; do
    if [[ $folder == node_modules ]]; then
      info "- node_modules (kept with the lockfile's key instead)"
    elif [[ -e $build_dir/$folder ]]; then
      info "- $folder (the app has its own: kept)"
    elif [[ -d $store/$folder ]]; then
      mkdir -p "$(dirname "$build_dir/$folder")"
      cp -a "$store/$folder" "$build_dir/$folder"
      info "- $folder (restored)"
    else
      info "- $folder (not in the cache yet)"
    fi
  done
}

save_cache_directories() {
  local build_dir=$1 store=$2/directories folder
  rm -rf "$store"
  ((${#CACHE_DIRECTORIES[@]} > 0)) || return 0
  [[ ${NODE_MODULES_CACHE:-} != false ]] || return 0
  info "Caching the $CACHE_DIRECTORIES_FIELD of package.json:"
  for folder in "${CACHE_DIRECTORIES[@]}"; do
    [[ $folder != node_modules ]] || continue
    if [[ -d $build_dir/$folder ]]; then
      mkdir -p "$(dirname "$store/$folder")"
      cp -a "$build_dir/$folder" "$store/$folder"
      info "- $folder (saved)"
    else
      info "- $folder (the build left no such folder)"
    fi
  done
}

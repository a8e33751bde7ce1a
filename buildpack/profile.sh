# shellcheck shell=bash
# The environment of the app at dyno boot and of the buildpacks after this one.
#
#   write_profile BUILD_DIR      # .profile.d/tsforeman-nodejs.sh, sourced at boot with HOME = app dir
#   write_export BUILD_DIR BP_DIR  # BP_DIR/export, sourced by a following buildpack (if writable)

write_profile() {
  local build_dir=$1
  mkdir -p "$build_dir/.profile.d"
  {
    cat <<'PROFILE'
# Written by the tsforeman buildpack. Sourced at dyno boot, where $HOME is the app directory.
PROFILE
    if ((TSFOREMAN_VENDORED)); then
      # shellcheck disable=SC2016
      printf '%s\n' 'export PATH="$HOME/.heroku/node/bin:$HOME/node_modules/.bin:$HOME/.heroku/tsforeman/bin:$PATH"'
    else
      # shellcheck disable=SC2016
      printf '%s\n' 'export PATH="$HOME/.heroku/node/bin:$HOME/node_modules/.bin:$PATH"'
    fi
    cat <<'PROFILE'
export NODE_ENV="${NODE_ENV:-production}"

# Workers for tsunicorn and other servers that read WEB_CONCURRENCY: one per 512 MB of the
# container's memory limit, no more than its CPUs, at least one. A value already set wins.
if [ -z "${WEB_CONCURRENCY:-}" ]; then
  _tsf_cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
  case "${HEROKU_AVAILABLE_PARALLELISM:-}" in
    '' | *[!0-9]* | 0)
      _tsf_limit=""
      if [ -r /sys/fs/cgroup/memory.max ]; then
        _tsf_limit=$(cat /sys/fs/cgroup/memory.max)
      elif [ -r /sys/fs/cgroup/memory/memory.limit_in_bytes ]; then
        _tsf_limit=$(cat /sys/fs/cgroup/memory/memory.limit_in_bytes)
      fi
      case "$_tsf_limit" in
        '' | max | *[!0-9]*) WEB_CONCURRENCY=$_tsf_cpus ;;
        *) WEB_CONCURRENCY=$((_tsf_limit / 536870912)) ;;
      esac
      if [ "$WEB_CONCURRENCY" -gt "$_tsf_cpus" ] 2>/dev/null; then WEB_CONCURRENCY=$_tsf_cpus; fi
      if [ "$WEB_CONCURRENCY" -lt 1 ] 2>/dev/null; then WEB_CONCURRENCY=1; fi
      unset _tsf_limit
      ;;
    *) WEB_CONCURRENCY=$HEROKU_AVAILABLE_PARALLELISM ;;
  esac
  unset _tsf_cpus
  export WEB_CONCURRENCY
fi
PROFILE
  } >"$build_dir/.profile.d/tsforeman-nodejs.sh"
}

write_export() {
  local build_dir=$1 bp_dir=$2
  if [[ ! -w $bp_dir ]]; then
    info "The buildpack directory is read-only: no export file for later buildpacks"
    return 0
  fi
  local path="$build_dir/node_modules/.bin"
  if ((NODE_INSTALLED_BY_BUILDPACK)); then path="$build_dir/.heroku/node/bin:$path"; fi
  if ((TSFOREMAN_VENDORED)); then path="$path:$build_dir/.heroku/tsforeman/bin"; fi
  {
    # shellcheck disable=SC2016 # "$PATH" is for the next buildpack's shell to expand
    printf 'export PATH=%q:"$PATH"\n' "$path"
    if ((NODE_INSTALLED_BY_BUILDPACK)); then printf 'export NODE_HOME=%q\n' "$build_dir/.heroku/node"; fi
    printf 'export NODE_ENV=%q\n' "${NODE_ENV:-production}"
  } >"$bp_dir/export"
}

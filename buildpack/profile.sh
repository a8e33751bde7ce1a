# shellcheck shell=bash
# The environment of the app at dyno boot and of the buildpacks after this one.
#
#   write_profile BUILD_DIR      # .profile.d/tsforeman-nodejs.sh, sourced at boot with HOME = app dir
#   write_export BUILD_DIR BP_DIR  # BP_DIR/export, sourced by a following buildpack (if writable)
#   write_web_env_program FILE   # the CNB's exec.d program: the same sizing, printed as TOML on fd 3

# The folder of this file: web-env.sh is beside it.
PROFILE_PARTS=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)

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
PROFILE
    sed -e '/^# shellcheck /d' "$PROFILE_PARTS/web-env.sh"
    printf 'unset _tsf_set\n'
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

write_web_env_program() {
  local file=$1
  mkdir -p "$(dirname "$file")"
  {
    printf '#!/usr/bin/env bash\n# Written by the tsforeman buildpack: run by the launcher, prints TOML on fd 3.\n'
    sed -e '/^# shellcheck /d' "$PROFILE_PARTS/web-env.sh"
    # shellcheck disable=SC2016 # for the program's own shell
    printf '%s\n' 'for _tsf_name in $_tsf_set; do printf '"'"'%s = "%s"\n'"'"' "$_tsf_name" "${!_tsf_name}" >&3; done'
  } >"$file"
  chmod +x "$file"
}

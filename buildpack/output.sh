# shellcheck shell=bash
# Output conventions of a Heroku buildpack, and step timing.
#   header "Installing dependencies"   ->  -----> Installing dependencies
#   info "using npm 10.9.0"            ->         using npm 10.9.0
#   fail "message" "hint"              ->   !     message / !     hint   (stderr, exit 1)
# Sourced by the other buildpack/*.sh files; needs bash, date and sed only.

header() { printf -- '-----> %s\n' "$*"; }
info() { printf '       %s\n' "$*"; }

# Indents a command's output as buildpack detail lines, line by line as it arrives.
indent() { sed -u 's/^/       /'; }

warn() {
  printf ' !     Warning: %s\n' "$1" >&2
  shift
  local line
  for line in "$@"; do printf ' !     %s\n' "$line" >&2; done
}

# Prints the error and its hint lines on stderr, then exits 1: the build failed.
fail() {
  local line
  printf '\n' >&2
  for line in "$@"; do printf ' !     %s\n' "$line" >&2; done
  printf '\n' >&2
  exit 1
}

now_ms() {
  local ns
  ns=$(date +%s%N)
  printf '%s' $((ns / 1000000))
}

# format_ms 1234 -> 1.23s
format_ms() {
  local ms=$1
  printf '%d.%02ds' $((ms / 1000)) $(((ms % 1000) / 10))
}

STEP_STARTED_MS=0
step() {
  header "$*"
  STEP_STARTED_MS=$(now_ms)
}
step_done() {
  info "done in $(format_ms $(($(now_ms) - STEP_STARTED_MS)))"
}

# Runs a command with its output indented; returns the command's own exit status.
run_indented() {
  local status=0
  "$@" 2>&1 | indent || status=${PIPESTATUS[0]}
  return "$status"
}

# copy_tree FROM TO: TO becomes a copy of folder FROM, as hard links when both are on one file system
# (a warm build's restore costs next to nothing), else as a plain copy. Only for trees nothing writes
# into in place (an unpacked Node.js release); npm does rewrite files of node_modules in place.
copy_tree() {
  local from=$1 to=$2
  rm -rf "$to"
  mkdir -p "$(dirname "$to")"
  if ! cp -al "$from" "$to" 2>/dev/null; then
    rm -rf "$to"
    cp -a "$from" "$to"
  fi
}

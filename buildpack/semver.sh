# Node-style semver ranges in bash, for engines.node before Node exists.
#
#   semver_satisfies 20.11.1 '^20.1.0'          # status 0: yes, 1: no, 2: the range is invalid
#   semver_max_satisfying '20 || 22' 22.1.0 20.5.0 18.0.0   # prints 22.1.0
#
# Supported: exact (20.1.0, v20.1.0, =20.1.0), partial and wildcard (20, 20.x, 20.1.*, *), ^, ~, ~>,
# >, >=, <, <=, hyphen ranges (18 - 20), space-separated intersections and '||' unions.
# Pre-release versions are not supported (Node releases have none).

SEMVER_ERROR=""
_SEMVER_SETS=()
_semver_k=0

# A version as one comparable integer: major, minor and patch in fixed-width fields. The setter
# keeps the per-version loop of semver_max_satisfying free of subshells (index.json lists hundreds).
_semver_set_key() { _semver_k=$(((10#$1) * 100000000 + (10#$2) * 10000 + (10#$3))); }
_semver_key() {
  _semver_set_key "$@"
  printf '%s' "$_semver_k"
}

_SEMVER_COMPARATOR='^(<=|>=|<|>|=|~>|~|\^)?v?(x|X|\*|[0-9]+)(\.(x|X|\*|[0-9]+))?(\.(x|X|\*|[0-9]+))?$'

# Turns one comparator into primitive comparisons (">=KEY", "<KEY", ...) appended to _semver_out.
# "<0" stands for a comparator nothing satisfies.
_semver_comparator() {
  local text=$1
  if ! [[ $text =~ $_SEMVER_COMPARATOR ]]; then
    SEMVER_ERROR="cannot parse \"$text\" as a version or comparator"
    return 1
  fi
  local op=${BASH_REMATCH[1]} major=${BASH_REMATCH[2]} minor=${BASH_REMATCH[4]} patch=${BASH_REMATCH[6]}
  # Number of leading numeric parts; a wildcard ends the version.
  local n=0
  if [[ $major =~ ^[0-9]+$ ]]; then
    n=1
    if [[ $minor =~ ^[0-9]+$ ]]; then
      n=2
      if [[ $patch =~ ^[0-9]+$ ]]; then n=3; fi
    fi
  fi
  local M=0 m=0 p=0
  if ((n >= 1)); then M=$((10#$major)); fi
  if ((n >= 2)); then m=$((10#$minor)); fi
  if ((n >= 3)); then p=$((10#$patch)); fi
  case "$op:$n" in
    *:0)
      case $op in '>' | '<') _semver_out+=" <0" ;; esac ;;
    ':3' | '=:3') _semver_out+=" =$(_semver_key $M $m $p)" ;;
    ':2' | '=:2' | '~:2' | '~>:2' | '~:3' | '~>:3')
      _semver_out+=" >=$(_semver_key $M $m $p) <$(_semver_key $M $((m + 1)) 0)" ;;
    ':1' | '=:1' | '~:1' | '~>:1' | '^:1')
      _semver_out+=" >=$(_semver_key $M 0 0) <$(_semver_key $((M + 1)) 0 0)" ;;
    '^:2' | '^:3')
      if ((M > 0)); then
        _semver_out+=" >=$(_semver_key $M $m $p) <$(_semver_key $((M + 1)) 0 0)"
      elif ((m > 0 || n == 2)); then
        _semver_out+=" >=$(_semver_key 0 $m $p) <$(_semver_key 0 $((m + 1)) 0)"
      else
        _semver_out+=" >=$(_semver_key 0 0 $p) <$(_semver_key 0 0 $((p + 1)))"
      fi
      ;;
    '>:3') _semver_out+=" >$(_semver_key $M $m $p)" ;;
    '>:2') _semver_out+=" >=$(_semver_key $M $((m + 1)) 0)" ;;
    '>:1') _semver_out+=" >=$(_semver_key $((M + 1)) 0 0)" ;;
    '>=:'*) _semver_out+=" >=$(_semver_key $M $m $p)" ;;
    '<:'*) _semver_out+=" <$(_semver_key $M $m $p)" ;;
    '<=:3') _semver_out+=" <=$(_semver_key $M $m $p)" ;;
    '<=:2') _semver_out+=" <$(_semver_key $M $((m + 1)) 0)" ;;
    '<=:1') _semver_out+=" <$(_semver_key $((M + 1)) 0 0)" ;;
  esac
}

# Compiles a range into _SEMVER_SETS: one string of primitive comparisons per '||' alternative.
_semver_compile() {
  local range=$1 alternative part
  local -a alternatives=() parts=()
  SEMVER_ERROR=""
  _SEMVER_SETS=()
  # Split on '||' (a newline never occurs in a range we accept).
  if [[ $range == *$'\n'* ]]; then
    SEMVER_ERROR="a range cannot span lines"
    return 1
  fi
  range=${range//||/$'\n'}
  mapfile -t alternatives <<<"$range"
  for alternative in "${alternatives[@]}"; do
    _semver_out=""
    # Operators may be followed by spaces (">= 20"): glue them to their version.
    while [[ $alternative =~ ^(.*[\<\>=~^])[[:space:]]+(.*)$ ]]; do
      alternative="${BASH_REMATCH[1]}${BASH_REMATCH[2]}"
    done
    if [[ $alternative =~ ^[[:space:]]*([^[:space:]]+)[[:space:]]+-[[:space:]]+([^[:space:]]+)[[:space:]]*$ ]]; then
      local low=${BASH_REMATCH[1]} high=${BASH_REMATCH[2]}
      if [[ $low =~ ^[\<\>=~^] || $high =~ ^[\<\>=~^] ]]; then
        SEMVER_ERROR="a hyphen range takes plain versions: \"$alternative\""
        return 1
      fi
      _semver_comparator ">=$low" || return 1
      _semver_comparator "<=$high" || return 1
    else
      read -r -a parts <<<"$alternative"
      if ((${#parts[@]} == 0)); then
        if ((${#alternatives[@]} > 1)); then
          SEMVER_ERROR="an empty alternative in \"$1\""
          return 1
        fi
      fi
      for part in "${parts[@]}"; do
        _semver_comparator "$part" || return 1
      done
    fi
    _SEMVER_SETS+=("$_semver_out")
  done
  if ((${#_SEMVER_SETS[@]} == 0)); then _SEMVER_SETS=(""); fi
  return 0
}

# Is version $1 (a key) inside the compiled set $2?
_semver_in_set() {
  local key=$1 comparison op bound
  for comparison in $2; do
    op=${comparison%%[0-9]*}
    bound=${comparison#"$op"}
    case $op in
      '=') ((key == bound)) || return 1 ;;
      '>') ((key > bound)) || return 1 ;;
      '>=') ((key >= bound)) || return 1 ;;
      '<') ((key < bound)) || return 1 ;;
      '<=') ((key <= bound)) || return 1 ;;
    esac
  done
  return 0
}

# Is version $1 inside the compiled range? Leaves its key in _semver_k.
_semver_matches_compiled() {
  local set
  [[ ${1#v} =~ ^([0-9]+)\.([0-9]+)\.([0-9]+)$ ]] || return 1
  _semver_set_key "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
  for set in "${_SEMVER_SETS[@]}"; do
    if _semver_in_set "$_semver_k" "$set"; then return 0; fi
  done
  return 1
}

semver_valid_range() { _semver_compile "$1"; }

semver_satisfies() {
  _semver_compile "$2" || return 2
  _semver_matches_compiled "$1"
}

# Prints the highest of the versions ($2...) inside range $1; status 1 when none is, 2 when the
# range is invalid.
semver_max_satisfying() {
  local range=$1 version best="" best_key=-1
  shift
  _semver_compile "$range" || return 2
  for version in "$@"; do
    if _semver_matches_compiled "$version" && ((_semver_k > best_key)); then
      best=${version#v}
      best_key=$_semver_k
    fi
  done
  [[ -n $best ]] || return 1
  printf '%s\n' "$best"
}

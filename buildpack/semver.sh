# shellcheck shell=bash
# Node-style semver ranges in bash, for engines.node before Node exists. The answers are those of
# node-semver (the npm registry's `semver` package, default options), which npm and Heroku use.
#
#   semver_satisfies 20.11.1 '^20.1.0'          # status 0: yes, 1: no, 2: the range is invalid
#   semver_max_satisfying '20 || 22' 22.1.0 20.5.0 18.0.0   # prints 22.1.0
#
# Supported: exact (20.1.0, v20.1.0, =20.1.0), partial and wildcard (20, 20.x, 20.1.*, *), ^, ~, ~>,
# >, >=, <, <=, hyphen ranges (18 - 20), space-separated intersections and '||' unions, pre-release
# tags (>=20.0.0-0, <21.0.0-rc.1) and build metadata (ignored). As in node-semver: an empty range or
# an empty '||' alternative matches every version; numbers have no leading zeros; a pre-release
# version (23.0.0-rc.1) satisfies a range only if a comparator of the same alternative names a
# pre-release of the same major.minor.patch, so '*' and '>=22' leave it out but '>=23.0.0-0' does not.
# Version numbers above 999999 are refused in a range and never match (Node's are far below).

SEMVER_ERROR=""
# One string per '||' alternative, for release versions (no pre-release tag): comparisons such as
# ">=KEY" or "<KEY", each bound's pre-release tag already folded in (see _semver_emit).
_SEMVER_SETS=()
# The same alternatives as node-semver prints them ("<KEY-0"), for pre-release versions.
_SEMVER_FULL_SETS=()
_semver_k=0
_semver_c=0

_SEMVER_NUMBER='(0|[1-9][0-9]*)'
_SEMVER_PART="(x|X|\\*|$_SEMVER_NUMBER)"
_SEMVER_PRE_ID='(0|[1-9][0-9]*|[0-9]*[A-Za-z-][0-9A-Za-z-]*)'
_SEMVER_PRE="^$_SEMVER_PRE_ID(\\.$_SEMVER_PRE_ID)*\$"
_SEMVER_BUILD='^[0-9A-Za-z-]+(\.[0-9A-Za-z-]+)*$'
# A comparator: operator, version (parts checked apart), pre-release tag, build metadata.
_SEMVER_COMPARATOR='^(<=|>=|<|>|=|~>|~|\^)?[v=]*([^-+]*)(-([^+]*))?(\+(.*))?$'
# A version to test (numbers of up to six digits, see above).
_SEMVER_VERSION='^v?(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})\.(0|[1-9][0-9]{0,5})(-([^+]+))?(\+(.+))?$'

# A version as one comparable integer: major, minor and patch in fixed-width fields. The setter
# keeps the per-version loop of semver_max_satisfying free of subshells (index.json lists hundreds).
_semver_set_key() { _semver_k=$(((10#$1) * 1000000000000 + (10#$2) * 1000000 + (10#$3))); }

# Compares two pre-release tags (both non-empty) as node-semver does: identifier by identifier,
# numbers numerically and below words, words in ASCII order, a prefix below the longer tag.
# Sets _semver_c to -1, 0 or 1.
_semver_compare_pre() {
  local LC_ALL=C
  local -a left right
  local i a b
  IFS=. read -r -a left <<<"$1"
  IFS=. read -r -a right <<<"$2"
  for ((i = 0; ; i++)); do
    if ((i >= ${#left[@]} || i >= ${#right[@]})); then
      _semver_c=$(((${#left[@]} > ${#right[@]}) - (${#left[@]} < ${#right[@]})))
      return 0
    fi
    a=${left[i]} b=${right[i]}
    [[ $a == "$b" ]] && continue
    if [[ $a =~ ^[0-9]+$ && $b =~ ^[0-9]+$ ]]; then
      # No leading zeros: a longer number is bigger, and equal lengths compare as text (no 64-bit limit).
      if ((${#a} != ${#b})); then
        _semver_c=$(((${#a} > ${#b}) * 2 - 1))
      elif [[ $a > $b ]]; then _semver_c=1; else _semver_c=-1; fi
    elif [[ $a =~ ^[0-9]+$ ]]; then
      _semver_c=-1
    elif [[ $b =~ ^[0-9]+$ ]]; then
      _semver_c=1
    else
      if [[ $a > $b ]]; then _semver_c=1; else _semver_c=-1; fi
    fi
    return 0
  done
}

# Compares version (key $1, pre-release $2) with (key $3, pre-release $4); sets _semver_c.
_semver_compare() {
  if (($1 != $3)); then
    _semver_c=$((($1 > $3) * 2 - 1))
  elif [[ $2 == "$4" ]]; then
    _semver_c=0
  elif [[ -z $2 ]]; then
    _semver_c=1
  elif [[ -z $4 ]]; then
    _semver_c=-1
  else
    _semver_compare_pre "$2" "$4"
  fi
}

# Appends comparator OP MAJOR.MINOR.PATCH[-PRE] to both forms of the alternative being compiled.
# For a release version V and a bound B-PRE: V >= B-PRE and V > B-PRE mean V >= B; V < B-PRE and
# V <= B-PRE mean V < B; V = B-PRE never holds ("<0" is the comparison nothing satisfies).
_semver_emit() {
  local op=$1 pre=${5-}
  _semver_set_key "$2" "$3" "$4"
  _semver_full+=" $op$_semver_k${pre:+-$pre}"
  if [[ -z $pre ]]; then
    _semver_out+=" $op$_semver_k"
  else
    case $op in
      '>=' | '>') _semver_out+=" >=$_semver_k" ;;
      '<' | '<=') _semver_out+=" <$_semver_k" ;;
      *) _semver_out+=" <0" ;;
    esac
  fi
}

# Parses one comparator into _semver_op, _semver_n (how many leading numeric parts: a wildcard ends
# the version), _semver_M, _semver_m, _semver_p and _semver_pre.
_semver_parse() {
  local text=$1 version pre build has_pre has_build
  local -a parts
  if ! [[ $text =~ $_SEMVER_COMPARATOR ]]; then
    SEMVER_ERROR="cannot parse \"$text\" as a version or comparator"
    return 1
  fi
  _semver_op=${BASH_REMATCH[1]} version=${BASH_REMATCH[2]} pre=${BASH_REMATCH[4]} build=${BASH_REMATCH[6]}
  has_pre=${BASH_REMATCH[3]:+1} has_build=${BASH_REMATCH[5]:+1}
  IFS=. read -r -a parts <<<"$version"
  # A tag or build metadata only after major.minor.patch (wildcards allowed: "20.x.x-0").
  if [[ -z $version || $version == *. || ${#parts[@]} -gt 3 ]] ||
    ! [[ ${parts[0]} =~ ^$_SEMVER_PART$ && ${parts[1]-0} =~ ^$_SEMVER_PART$ && ${parts[2]-0} =~ ^$_SEMVER_PART$ ]] ||
    { [[ -n $has_pre$has_build ]] && ((${#parts[@]} < 3)); } ||
    { [[ -n $has_pre ]] && ! [[ $pre =~ $_SEMVER_PRE ]]; } ||
    { [[ -n $has_build ]] && ! [[ $build =~ $_SEMVER_BUILD ]]; }; then
    SEMVER_ERROR="cannot parse \"$text\" as a version or comparator"
    return 1
  fi
  if [[ $version =~ [xX*]\.[0-9] ]]; then
    SEMVER_ERROR="cannot parse \"$text\": a number after a wildcard"
    return 1
  fi
  if [[ $version =~ [0-9]{7} ]]; then
    SEMVER_ERROR="\"$text\": version numbers above 999999 are not supported"
    return 1
  fi
  _semver_n=0 _semver_M=0 _semver_m=0 _semver_p=0 _semver_pre=""
  if [[ ${parts[0]} =~ ^[0-9]+$ ]]; then
    _semver_n=1 _semver_M=${parts[0]}
    if [[ ${parts[1]-x} =~ ^[0-9]+$ ]]; then
      _semver_n=2 _semver_m=${parts[1]}
      if [[ ${parts[2]-x} =~ ^[0-9]+$ ]]; then
        _semver_n=3 _semver_p=${parts[2]}
        # A pre-release tag counts only on a version without wildcards.
        _semver_pre=$pre
      fi
    fi
  fi
  return 0
}

# Turns one comparator into what node-semver desugars it to (its Range#range), through _semver_emit.
_semver_comparator() {
  _semver_parse "$1" || return 1
  local op=$_semver_op n=$_semver_n M=$((10#$_semver_M)) m=$((10#$_semver_m)) p=$((10#$_semver_p)) pre=$_semver_pre
  if ((n == 0)); then
    # '*', 'x': any version; '>*' and '<*': none.
    case $op in '>' | '<') _semver_emit '<' 0 0 0 0 ;; esac
    return 0
  fi
  case "$op:$n" in
    ':3' | '=:3') _semver_emit '=' $M $m $p "$pre" ;;
    '>:3' | '>=:3' | '<:3' | '<=:3') _semver_emit "$op" $M $m $p "$pre" ;;
    ':2' | '=:2' | '~:2' | '~>:2') _semver_emit '>=' $M $m 0 && _semver_emit '<' $M $((m + 1)) 0 0 ;;
    ':1' | '=:1' | '~:1' | '~>:1' | '^:1') _semver_emit '>=' $M 0 0 && _semver_emit '<' $((M + 1)) 0 0 0 ;;
    '~:3' | '~>:3') _semver_emit '>=' $M $m $p "$pre" && _semver_emit '<' $M $((m + 1)) 0 0 ;;
    '^:2')
      _semver_emit '>=' $M $m 0
      if ((M > 0)); then _semver_emit '<' $((M + 1)) 0 0 0; else _semver_emit '<' 0 $((m + 1)) 0 0; fi
      ;;
    '^:3')
      _semver_emit '>=' $M $m $p "$pre"
      if ((M > 0)); then
        _semver_emit '<' $((M + 1)) 0 0 0
      elif ((m > 0)); then
        _semver_emit '<' 0 $((m + 1)) 0 0
      else
        _semver_emit '<' 0 0 $((p + 1)) 0
      fi
      ;;
    '>=:'*) _semver_emit '>=' $M $m 0 ;;
    '>:1') _semver_emit '>=' $((M + 1)) 0 0 ;;
    '>:2') _semver_emit '>=' $M $((m + 1)) 0 ;;
    '<:'*) _semver_emit '<' $M $m 0 0 ;;
    '<=:1') _semver_emit '<' $((M + 1)) 0 0 0 ;;
    '<=:2') _semver_emit '<' $M $((m + 1)) 0 0 ;;
  esac
}

# A hyphen range LOW - HIGH: plain versions (an optional v or =), partial ones widened.
_semver_hyphen() {
  local side
  for side in low high; do
    if [[ $side == low ]]; then _semver_parse "$1" || return 1; else _semver_parse "$2" || return 1; fi
    if [[ -n $_semver_op && $_semver_op != = ]]; then
      SEMVER_ERROR="a hyphen range takes plain versions: \"$1 - $2\""
      return 1
    fi
    local M=$((10#$_semver_M)) m=$((10#$_semver_m)) p=$((10#$_semver_p))
    case "$side:$_semver_n" in
      low:1 | low:2 | low:3) _semver_emit '>=' $M $m $p "$_semver_pre" ;;
      high:1) _semver_emit '<' $((M + 1)) 0 0 0 ;;
      high:2) _semver_emit '<' $M $((m + 1)) 0 0 ;;
      high:3) _semver_emit '<=' $M $m $p "$_semver_pre" ;;
    esac
  done
}

# Compiles a range into _SEMVER_SETS and _SEMVER_FULL_SETS: one string per '||' alternative.
_semver_compile() {
  local range=$1 alternative part
  local -a alternatives=() parts=()
  SEMVER_ERROR=""
  _SEMVER_SETS=()
  _SEMVER_FULL_SETS=()
  # Split on '||' (a newline never occurs in a range we accept).
  if [[ $range == *$'\n'* ]]; then
    # shellcheck disable=SC2034 # a result, read by the callers of semver_valid_range
    SEMVER_ERROR="a range cannot span lines"
    return 1
  fi
  range=${range//||/$'\n'}
  mapfile -t alternatives <<<"$range"
  for alternative in "${alternatives[@]}"; do
    _semver_out=""
    _semver_full=""
    # Operators may be followed by spaces (">= 20"): glue them to their version.
    while [[ $alternative =~ ^(.*[\<\>=~^])[[:space:]]+(.*)$ ]]; do
      alternative="${BASH_REMATCH[1]}${BASH_REMATCH[2]}"
    done
    if [[ $alternative =~ ^[[:space:]]*([^[:space:]]+)[[:space:]]+-[[:space:]]+([^[:space:]]+)[[:space:]]*$ ]]; then
      _semver_hyphen "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" || return 1
    else
      # An empty alternative has no comparator: it matches every version.
      read -r -a parts <<<"$alternative"
      for part in "${parts[@]}"; do
        _semver_comparator "$part" || return 1
      done
    fi
    _SEMVER_SETS+=("$_semver_out")
    _SEMVER_FULL_SETS+=("$_semver_full")
  done
  # An alternative that matches anything makes the range '*' (so pre-releases no longer pass through
  # another alternative, as in node-semver).
  for part in "${_SEMVER_FULL_SETS[@]}"; do
    [[ -n $part ]] && continue
    _SEMVER_SETS=("")
    _SEMVER_FULL_SETS=("")
    break
  done
  if ((${#_SEMVER_SETS[@]} == 0)); then
    _SEMVER_SETS=("")
    _SEMVER_FULL_SETS=("")
  fi
  return 0
}

# Is release key $1 inside the compiled release-form set $2?
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

# Is the pre-release version (key $1, tag $2) inside the full-form set $3? Every comparator must hold,
# and one must name a pre-release of the same major.minor.patch.
_semver_in_full_set() {
  local key=$1 pre=$2 comparison op bound bound_pre named=1
  for comparison in $3; do
    op=${comparison%%[0-9]*}
    bound=${comparison#"$op"}
    bound_pre=""
    if [[ $bound == *-* ]]; then
      bound_pre=${bound#*-}
      bound=${bound%%-*}
      ((bound == key)) && named=0
    fi
    _semver_compare "$key" "$pre" "$bound" "$bound_pre"
    case $op in
      '=') ((_semver_c == 0)) || return 1 ;;
      '>') ((_semver_c > 0)) || return 1 ;;
      '>=') ((_semver_c >= 0)) || return 1 ;;
      '<') ((_semver_c < 0)) || return 1 ;;
      '<=') ((_semver_c <= 0)) || return 1 ;;
    esac
  done
  return $named
}

# Is version $1 inside the compiled range? Leaves its key in _semver_k and its tag in _semver_pre.
_semver_matches_compiled() {
  local set i
  [[ $1 =~ $_SEMVER_VERSION ]] || return 1
  _semver_set_key "${BASH_REMATCH[1]}" "${BASH_REMATCH[2]}" "${BASH_REMATCH[3]}"
  _semver_pre=${BASH_REMATCH[5]}
  if [[ -n ${BASH_REMATCH[4]} ]] && ! [[ $_semver_pre =~ $_SEMVER_PRE ]]; then return 1; fi
  if [[ -z $_semver_pre ]]; then
    for set in "${_SEMVER_SETS[@]}"; do
      if _semver_in_set "$_semver_k" "$set"; then return 0; fi
    done
  else
    for i in "${!_SEMVER_FULL_SETS[@]}"; do
      if _semver_in_full_set "$_semver_k" "$_semver_pre" "${_SEMVER_FULL_SETS[i]}"; then return 0; fi
    done
  fi
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
  local range=$1 version best="" best_key=-1 best_pre=""
  shift
  _semver_compile "$range" || return 2
  for version in "$@"; do
    _semver_matches_compiled "$version" || continue
    _semver_compare "$_semver_k" "$_semver_pre" "$best_key" "$best_pre"
    if ((_semver_c > 0)); then
      best=${version#v}
      best_key=$_semver_k
      best_pre=$_semver_pre
    fi
  done
  [[ -n $best ]] || return 1
  printf '%s\n' "$best"
}

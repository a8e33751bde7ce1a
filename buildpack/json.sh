# A strict JSON reader in bash: the build image has no node, jq or python before Node is installed,
# yet package.json must be checked (and engines.node read) before anything is downloaded.
#
#   json_read package.json engines.node   # validates the file; prints the value of engines.node
#                                          # when it is a string (nothing when absent)
#   json_read package.json                # validates only
#
# On invalid JSON it returns 1 and sets JSON_ERROR to "LINE: what is wrong".
# Paths are object keys joined by '.', e.g. scripts.start. Meant for package.json-sized files.

JSON_ERROR=""
_json_text=""
_json_rest=""
_json_want=""
_json_found=""
_json_token=""

_JSON_WS=$'^[ \t\r\n]+'
# A JSON string: no raw control characters, only the escapes JSON allows.
_JSON_STRING='^"([^"\\'$'\x01''-'$'\x1f'']|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"'
_JSON_NUMBER='^-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?'
_JSON_LITERAL='^(true|false|null)'

_json_fail() {
  local consumed=$((${#_json_text} - ${#_json_rest}))
  local before=${_json_text:0:consumed}
  local newlines=${before//[!$'\n']/}
  local near
  if [[ -z $_json_rest ]]; then
    near="unexpected end of file"
  else
    near="unexpected '${_json_rest:0:1}'"
  fi
  JSON_ERROR="$((${#newlines} + 1)): $near, $1"
  return 1
}

_json_skip_ws() {
  if [[ $_json_rest =~ $_JSON_WS ]]; then
    _json_rest=${_json_rest:${#BASH_REMATCH}}
  fi
  return 0
}

# Reads a string token into _json_token (its raw content, escapes undecoded).
_json_string() {
  if [[ $_json_rest =~ $_JSON_STRING ]]; then
    _json_token=${BASH_REMATCH:1:${#BASH_REMATCH}-2}
    _json_rest=${_json_rest:${#BASH_REMATCH}}
    return 0
  fi
  _json_fail "a string is not closed or holds an invalid escape or control character"
}

# Decodes the JSON escapes of a string token.
_json_decode() {
  local raw=$1 out="" c code low
  while [[ -n $raw ]]; do
    c=${raw:0:1}
    if [[ $c != '\' ]]; then
      out+=$c
      raw=${raw:1}
      continue
    fi
    c=${raw:1:1}
    raw=${raw:2}
    case $c in
      n) out+=$'\n' ;;
      t) out+=$'\t' ;;
      r) out+=$'\r' ;;
      b) out+=$'\b' ;;
      f) out+=$'\f' ;;
      u)
        code=$((16#${raw:0:4}))
        raw=${raw:4}
        # A surrogate pair encodes one code point above U+FFFF.
        if ((code >= 0xD800 && code <= 0xDBFF)) && [[ ${raw:0:2} == '\u' ]]; then
          low=$((16#${raw:2:4}))
          if ((low >= 0xDC00 && low <= 0xDFFF)); then
            code=$((0x10000 + ((code - 0xD800) << 10) + (low - 0xDC00)))
            raw=${raw:6}
          fi
        fi
        out+=$(_json_utf8 "$code")
        ;;
      *) out+=$c ;;
    esac
  done
  printf '%s' "$out"
}

# Prints code point $1 as UTF-8 bytes, whatever the locale.
_json_utf8() {
  local code=$1 hex
  if ((code < 0x80)); then
    printf -v hex '\\x%02x' "$code"
  elif ((code < 0x800)); then
    printf -v hex '\\x%02x\\x%02x' $((0xC0 | code >> 6)) $((0x80 | (code & 0x3F)))
  elif ((code < 0x10000)); then
    printf -v hex '\\x%02x\\x%02x\\x%02x' $((0xE0 | code >> 12)) $((0x80 | (code >> 6 & 0x3F))) $((0x80 | (code & 0x3F)))
  else
    printf -v hex '\\x%02x\\x%02x\\x%02x\\x%02x' $((0xF0 | code >> 18)) $((0x80 | (code >> 12 & 0x3F))) \
      $((0x80 | (code >> 6 & 0x3F))) $((0x80 | (code & 0x3F)))
  fi
  printf "$hex"
}

_json_value() {
  local path=$1
  _json_skip_ws
  case ${_json_rest:0:1} in
    '{') _json_container "$path" '}' ;;
    '[') _json_container "$path" ']' ;;
    '"')
      _json_string || return 1
      if [[ $path == "$_json_want" ]]; then _json_found=$_json_token; fi
      ;;
    *)
      if [[ $_json_rest =~ $_JSON_NUMBER || $_json_rest =~ $_JSON_LITERAL ]]; then
        _json_rest=${_json_rest:${#BASH_REMATCH}}
        if [[ $path == "$_json_want" ]]; then _json_found=""; fi
      else
        _json_fail "expected a value"
      fi
      ;;
  esac
}

# Reads an object (close '}') or an array (close ']') whose opening bracket starts _json_rest.
_json_container() {
  local path=$1 close=$2 key
  _json_rest=${_json_rest:1}
  _json_skip_ws
  if [[ ${_json_rest:0:1} == "$close" ]]; then
    _json_rest=${_json_rest:1}
    return 0
  fi
  while :; do
    _json_skip_ws
    if [[ ${_json_rest:0:1} == "$close" ]]; then
      _json_fail "a trailing comma before '$close' (JSON allows none)"
      return 1
    fi
    if [[ $close == ']' ]]; then
      # Array items get a path no lookup can name.
      _json_value "${path}[]" || return 1
    else
      if [[ ${_json_rest:0:1} != '"' ]]; then
        _json_fail "expected a key in double quotes"
        return 1
      fi
      _json_string || return 1
      key=$_json_token
      _json_skip_ws
      if [[ ${_json_rest:0:1} != ':' ]]; then
        _json_fail "expected ':' after a key"
        return 1
      fi
      _json_rest=${_json_rest:1}
      _json_value "${path:+$path.}$key" || return 1
    fi
    _json_skip_ws
    case ${_json_rest:0:1} in
      ',') _json_rest=${_json_rest:1} ;;
      "$close")
        _json_rest=${_json_rest:1}
        return 0
        ;;
      *)
        _json_fail "expected ',' or '$close'"
        return 1
        ;;
    esac
  done
}

json_read() {
  local LC_ALL=C
  local file=$1
  _json_want=${2-}
  _json_found=""
  JSON_ERROR=""
  # $(<file) drops trailing newlines only, which are whitespace to JSON anyway.
  _json_text=$(<"$file")
  # A UTF-8 byte order mark is not JSON: rejected here (and by package-json.cjs), though npm strips one.
  _json_rest=$_json_text
  _json_skip_ws
  if [[ -z $_json_rest ]]; then
    JSON_ERROR="1: the file is empty"
    return 1
  fi
  _json_value "" || return 1
  _json_skip_ws
  if [[ -n $_json_rest ]]; then
    _json_fail "expected the end of the file after the top-level value"
    return 1
  fi
  if [[ -n $_json_want && -n $_json_found ]]; then
    _json_decode "$_json_found"
  fi
  return 0
}

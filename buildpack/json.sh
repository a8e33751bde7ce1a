# shellcheck shell=bash
# A strict JSON reader in bash: the build image has no node, jq or python before Node is installed,
# yet package.json must be checked (and engines.node read) before anything is downloaded.
#
#   json_read package.json     # reads and checks the whole file once; returns 1 and sets JSON_ERROR
#                              # to "LINE: what is wrong" when it is not JSON
#   json_get main              # a top-level member: sets JSON_KIND (string, number, boolean, null,
#   json_get engines node      # object, array; "" when absent), JSON_VALUE (the decoded text of a
#                              # string, else "") and JSON_LINE (where the value starts); two names:
#                              # a member of a top-level object
#   json_members scripts       # sets JSON_MEMBERS to the member names of a top-level object
#   $JSON_ROOT                 # the kind of the top-level value: object, array or scalar
#
# It accepts what JSON.parse accepts, plus a leading UTF-8 byte order mark, which npm strips too. A
# repeated member name keeps its last value, as with JSON.parse (and so npm). Values deeper than two
# levels are checked but not kept. grep cuts the file into tokens (one pass, whatever its size) and
# one loop checks their order, so a 75 KB package.json takes a fraction of a second.

JSON_ERROR=""
# The kind of the top-level value: object, array or scalar.
JSON_ROOT=""
JSON_KIND=""
JSON_VALUE=""
JSON_LINE=""
JSON_MEMBERS=()
# Kept values, by path: a top-level name, or two names joined by the unit separator (which no
# decoded name we keep contains: see _json_name).
declare -gA _JSON_KINDS=() _JSON_STRINGS=() _JSON_LINES=()
# Paths in the order they were first seen (with repeats), for json_members.
_JSON_PATHS=()
_JSON_SEP=$'\x1f'

# One token per match: a string (no raw control character, only JSON's escapes), a number, a literal,
# a punctuation mark, or any other single byte but JSON whitespace (an error wherever it is).
# [:cntrl:] is 0x00-0x1f and 0x7f in the C locale; 0x7f is allowed in a JSON string, so it is added.
_JSON_TOKEN='"([^"\\[:cntrl:]]|'$'\x7f''|\\["\\/bfnrt]|\\u[0-9a-fA-F]{4})*"|-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?|true|false|null|[^ '$'\t\r'']'

# Sets _json_decoded to string token $1 (without its quotes) with its escapes decoded.
_json_decode() {
  local raw=$1 c code low
  _json_decoded=""
  while [[ $raw == *\\* ]]; do
    _json_decoded+=${raw%%\\*}
    raw=${raw#*\\}
    c=${raw:0:1}
    raw=${raw:1}
    case $c in
      n) _json_decoded+=$'\n' ;;
      t) _json_decoded+=$'\t' ;;
      r) _json_decoded+=$'\r' ;;
      b) _json_decoded+=$'\b' ;;
      f) _json_decoded+=$'\f' ;;
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
        _json_utf8 "$code"
        ;;
      *) _json_decoded+=$c ;;
    esac
  done
  _json_decoded+=$raw
}

# Appends code point $1 to _json_decoded as UTF-8 bytes, whatever the locale.
_json_utf8() {
  local code=$1 format bytes
  if ((code < 0x80)); then
    printf -v format '\\x%02x' "$code"
  elif ((code < 0x800)); then
    printf -v format '\\x%02x\\x%02x' $((0xC0 | code >> 6)) $((0x80 | (code & 0x3F)))
  elif ((code < 0x10000)); then
    printf -v format '\\x%02x\\x%02x\\x%02x' $((0xE0 | code >> 12)) $((0x80 | (code >> 6 & 0x3F))) $((0x80 | (code & 0x3F)))
  else
    printf -v format '\\x%02x\\x%02x\\x%02x\\x%02x' $((0xF0 | code >> 18)) $((0x80 | (code >> 12 & 0x3F))) \
      $((0x80 | (code >> 6 & 0x3F))) $((0x80 | (code & 0x3F)))
  fi
  # shellcheck disable=SC2059 # the format is the escaped bytes built just above
  printf -v bytes "$format"
  _json_decoded+=$bytes
}

# A member name as a path part: decoded, unless it holds the separator (it then stays escaped, so
# it can match no name we look up).
_json_name() {
  _json_decoded=$1
  [[ $1 == *\\* ]] || return 0
  _json_decode "$1"
  [[ $_json_decoded != *"$_JSON_SEP"* ]] || _json_decoded=$1
}

# Keeps the value starting now at path $1: kind $2, raw string token $3. The line is $entry's.
_json_keep() {
  local path=$1 old
  if [[ -n ${_JSON_KINDS[$path]+set} && $path != *"$_JSON_SEP"* ]]; then
    # A repeated top-level name: its earlier value and members are gone.
    for old in "${!_JSON_KINDS[@]}"; do
      [[ $old == "$path$_JSON_SEP"* ]] || continue
      unset '_JSON_KINDS[$old]' '_JSON_STRINGS[$old]' '_JSON_LINES[$old]'
    done
  fi
  _JSON_KINDS[$path]=$2
  _JSON_STRINGS[$path]=${3-}
  _JSON_LINES[$path]=${entry%%:*}
  _JSON_PATHS+=("$path")
}

json_read() {
  local LC_ALL=C
  local file=$1 bom="" entry="" token state=value open="" problem="" path key1="" key2=""
  local -a tokens
  JSON_ERROR=""
  JSON_ROOT=""
  _JSON_KINDS=()
  _JSON_STRINGS=()
  _JSON_LINES=()
  _JSON_PATHS=()
  if [[ ! -f $file || ! -r $file ]]; then
    JSON_ERROR="1: cannot read the file"
    return 1
  fi
  mapfile -t tokens < <(LC_ALL=C grep -anoE "$_JSON_TOKEN" "$file")
  IFS= read -r -n 3 bom <"$file" || true
  # A byte order mark comes out as three one-byte tokens.
  if [[ $bom == $'\xef\xbb\xbf' ]]; then tokens=("${tokens[@]:3}"); fi
  if ((${#tokens[@]} == 0)); then
    JSON_ERROR="1: the file is empty"
    return 1
  fi
  # state: what the next token must be. value: a value; first-value: a value or ']' (after '[');
  # first-key: a key or '}' (after '{'); key: a key (after ',' in an object); after-key: ':'; next: ',' or
  # the close of the container; end: nothing (after the top-level value).
  # open: the open containers, innermost last ("{[" is an array inside an object).
  for entry in "${tokens[@]}"; do
    token=${entry#*:}
    case $state in
      value | first-value)
        if [[ $state == first-value && $token == ']' ]]; then
          open=${open%?}
        else
          # Kept: the top-level members and the members of top-level objects.
          path=""
          if [[ -z $open ]]; then
            # shellcheck disable=SC2034 # a result of json_read, read by its callers
            case $token in '{') JSON_ROOT=object ;; '[') JSON_ROOT=array ;; *) JSON_ROOT=scalar ;; esac
          elif [[ $open == '{' ]]; then
            path=$key1
          elif [[ $open == '{{' ]]; then
            path=$key1$_JSON_SEP$key2
          fi
          case $token in
            '{')
              if [[ -n $path ]]; then _json_keep "$path" object; fi
              open+='{' state=first-key
              continue
              ;;
            '[')
              if [[ -n $path ]]; then _json_keep "$path" array; fi
              open+='[' state=first-value
              continue
              ;;
            '"'?*) if [[ -n $path ]]; then _json_keep "$path" string "${token:1:${#token}-2}"; fi ;;
            [0-9]* | -[0-9]*) if [[ -n $path ]]; then _json_keep "$path" number; fi ;;
            true | false) if [[ -n $path ]]; then _json_keep "$path" boolean; fi ;;
            null) if [[ -n $path ]]; then _json_keep "$path" null; fi ;;
            '"') problem="a string is not closed or holds an invalid escape or control character" && break ;;
            ']')
              # In an array, a value is due only after a ','.
              if [[ $open == *'[' ]]; then problem="a trailing comma before ']' (JSON allows none)"; else problem="expected a value"; fi
              break
              ;;
            *) problem="expected a value" && break ;;
          esac
        fi
        ;;
      first-key | key)
        case $token in
          '"'?*)
            if [[ $open == '{' ]]; then
              _json_name "${token:1:${#token}-2}"
              key1=$_json_decoded
            elif [[ $open == '{{' ]]; then
              _json_name "${token:1:${#token}-2}"
              key2=$_json_decoded
            fi
            state=after-key
            continue
            ;;
          '}')
            if [[ $state == key ]]; then problem="a trailing comma before '}' (JSON allows none)" && break; fi
            open=${open%?}
            ;;
          '"') problem="a string is not closed or holds an invalid escape or control character" && break ;;
          *) problem="expected a key in double quotes" && break ;;
        esac
        ;;
      after-key)
        if [[ $token != ':' ]]; then problem="expected ':' after a key" && break; fi
        state=value
        continue
        ;;
      next)
        case $token:$open in
          ,:*'{')
            state=key
            continue
            ;;
          ,:*)
            state=value
            continue
            ;;
          ']:'*'[') open=${open%?} ;;
          '}:'*'{') open=${open%?} ;;
          *)
            if [[ $open == *'{' ]]; then problem="expected ',' or '}'"; else problem="expected ',' or ']'"; fi
            break
            ;;
        esac
        ;;
      end) problem="expected the end of the file after the top-level value" && break ;;
    esac
    # A value just ended: a scalar, or a container just closed.
    if [[ -z $open ]]; then state=end; else state=next; fi
  done
  if [[ -z $problem ]]; then
    case $state in
      end) return 0 ;;
      value | first-value) problem="expected a value" ;;
      first-key | key) problem="expected a key in double quotes" ;;
      after-key) problem="expected ':' after a key" ;;
      next) if [[ $open == *'{' ]]; then problem="expected ',' or '}'"; else problem="expected ',' or ']'"; fi ;;
    esac
    JSON_ERROR="${entry%%:*}: unexpected end of file, $problem"
  elif [[ -z $token ]]; then
    JSON_ERROR="${entry%%:*}: unexpected NUL byte, $problem"
  else
    # shellcheck disable=SC2034 # a result of json_read, read by its callers
    JSON_ERROR="${entry%%:*}: unexpected '${token:0:1}', $problem"
  fi
  return 1
}

json_get() {
  local LC_ALL=C
  local path=$1${2+$_JSON_SEP$2}
  JSON_KIND=${_JSON_KINDS[$path]-}
  # shellcheck disable=SC2034 # a result of json_get, read by its callers
  JSON_LINE=${_JSON_LINES[$path]-}
  JSON_VALUE=""
  if [[ $JSON_KIND == string ]]; then
    _json_decode "${_JSON_STRINGS[$path]}"
    # shellcheck disable=SC2034 # a result of json_get, read by its callers
    JSON_VALUE=$_json_decoded
  fi
}

json_members() {
  local LC_ALL=C
  local path name
  local -A listed=()
  JSON_MEMBERS=()
  for path in "${_JSON_PATHS[@]}"; do
    [[ $path == "$1$_JSON_SEP"* && -n ${_JSON_KINDS[$path]+set} ]] || continue
    name=${path#"$1$_JSON_SEP"}
    [[ -z ${listed[$name]+set} ]] || continue
    listed[$name]=1
    JSON_MEMBERS+=("$name")
  done
}

# shellcheck shell=bash
# The processes an app gets: its Procfile, else the default web process.
#
#   default_web_command MAIN     # "tsunicorn MAIN --log-file -" (MAIN quoted for the shell unless it
#                                # is plainly a path), or "npm start" when MAIN is ""
#   procfile_entries FILE        # sets PROCFILE_TYPES and PROCFILE_COMMANDS (arrays, in file order)
#   toml_string TEXT             # TEXT as a TOML basic string, quotes included

default_web_command() {
  local main=$1
  if [[ -z $main ]]; then
    printf 'npm start'
    return 0
  fi
  if ! [[ $main =~ ^[A-Za-z0-9_./@+-]+$ ]]; then
    main="'${main//\'/\'\\\'\'}'"
  fi
  printf 'tsunicorn %s --log-file -' "$main"
}

# The Procfile grammar tsforeman check accepts: "name: command" lines, blank lines and # comments.
procfile_entries() {
  local file=$1 line
  PROCFILE_TYPES=()
  PROCFILE_COMMANDS=()
  while IFS= read -r line || [[ -n $line ]]; do
    line=${line%$'\r'}
    [[ $line =~ ^[[:space:]]*(#|$) ]] && continue
    if [[ $line =~ ^[[:space:]]*([A-Za-z0-9_-]+)[[:space:]]*:[[:space:]]*(.*[^[:space:]])[[:space:]]*$ ]]; then
      PROCFILE_TYPES+=("${BASH_REMATCH[1]}")
      PROCFILE_COMMANDS+=("${BASH_REMATCH[2]}")
    fi
  done <"$file"
}

toml_string() {
  local text=$1 out="" c i code
  for ((i = 0; i < ${#text}; i++)); do
    c=${text:i:1}
    case $c in
      '"') out+='\"' ;;
      \\) out+=\\\\ ;;
      $'\t') out+='\t' ;;
      $'\n') out+='\n' ;;
      $'\r') out+='\r' ;;
      [[:cntrl:]])
        printf -v code '%d' "'$c"
        printf -v c '\\u%04X' "$code"
        out+=$c
        ;;
      *) out+=$c ;;
    esac
  done
  printf '"%s"' "$out"
}

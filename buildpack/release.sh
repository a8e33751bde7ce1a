# shellcheck shell=bash
# bin/release BUILD_DIR: YAML on stdout with the web process the app gets when it has no Procfile:
# `tsunicorn MAIN --log-file -` when package.json has "main", else `npm start`.
set -euo pipefail
BP_DIR=$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)
# shellcheck source=json.sh
source "$BP_DIR/buildpack/json.sh"
# shellcheck source=process.sh
source "$BP_DIR/buildpack/process.sh"

if [[ $# -lt 1 ]]; then
  echo "usage: bin/release BUILD_DIR" >&2
  exit 2
fi
build_dir=$1

# A YAML double-quoted scalar (JSON's string syntax is a subset of it).
yaml_quote() {
  local text=${1//\\/\\\\}
  text=${text//\"/\\\"}
  printf '"%s"' "$text"
}

main=""
if [[ -f $build_dir/package.json ]]; then
  if ! json_read "$build_dir/package.json"; then
    echo " !     $build_dir/package.json:$JSON_ERROR" >&2
    exit 1
  fi
  json_get main
  main=$JSON_VALUE
fi

web=$(default_web_command "$main")

printf -- '---\ndefault_process_types:\n  web: %s\n' "$(yaml_quote "$web")"

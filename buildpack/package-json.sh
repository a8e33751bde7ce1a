# shellcheck shell=bash
# Step 1 of bin/compile: package.json, read once before Node exists, as npm reads it (see json.sh).
#
#   read_package_json FILE   # sets ENGINES_NODE, APP_MAIN, APP_START (values of engines.node, main,
#                            # scripts.start; "" when absent), DEFINED_SCRIPTS: the lifecycle
#                            # scripts the build runs that package.json defines, space-separated,
#                            # DEV_DEPENDENCY_COUNT, APP_HAS_WORKSPACES (1 with "workspaces"),
#                            # ENGINES_NPM, ENGINES_YARN, ENGINES_PNPM and PACKAGE_MANAGER_FIELD
#                            # ("packageManager")
#
# Fails the build, naming the line, when the file is not JSON or a field the build uses has the
# wrong type (npm would fail later, or quietly ignore the field).

PACKAGE_JSON_LIFECYCLE="heroku-prebuild heroku-postbuild heroku-build build heroku-cleanup"

# Fails unless field $2 (and $3: a member of it) of file $1 is absent or of kind $4 ($5 says so).
_package_json_expect() {
  local file=$1 field=$2 member=${3-} kind=$4 wanted=$5
  if [[ -n $member ]]; then json_get "$field" "$member"; else json_get "$field"; fi
  [[ -z $JSON_KIND || $JSON_KIND == "$kind" ]] && return 0
  # shellcheck disable=SC2153 # JSON_LINE is set by json_get (json.sh), like JSON_KIND
  fail "$file:$JSON_LINE: \"$field${member:+.$member}\" must be $wanted, not $JSON_KIND" "Fix package.json and push again."
}

read_package_json() {
  local file=$1 name
  json_read "$file" || fail "$file:$JSON_ERROR" "Fix $file so it is valid JSON (no comments, no trailing commas)."
  [[ $JSON_ROOT == object ]] || fail "$file:1: must hold a JSON object ({...}), not a JSON $JSON_ROOT" "Fix package.json and push again."

  _package_json_expect "$file" main "" string 'a string (the server file)'
  # shellcheck disable=SC2034 # a result, read by compile.sh
  APP_MAIN=$JSON_VALUE
  _package_json_expect "$file" engines "" object 'an object such as {"node": "20.x"}'
  _package_json_expect "$file" engines node string 'a string such as "20.x"'
  # shellcheck disable=SC2034 # a result, read by compile.sh
  ENGINES_NODE=$JSON_VALUE
  _package_json_expect "$file" engines npm string 'a string such as "11.x"'
  # shellcheck disable=SC2034 # a result, read by dependencies.sh
  ENGINES_NPM=$JSON_VALUE
  _package_json_expect "$file" engines yarn string 'a string such as "1.22.x"'
  # shellcheck disable=SC2034 # a result, read by dependencies.sh
  ENGINES_YARN=$JSON_VALUE
  _package_json_expect "$file" engines pnpm string 'a string such as "10.x"'
  # shellcheck disable=SC2034 # a result, read by dependencies.sh
  ENGINES_PNPM=$JSON_VALUE
  _package_json_expect "$file" packageManager "" string 'a string such as "pnpm@10.12.1"'
  # shellcheck disable=SC2034 # a result, read by dependencies.sh
  PACKAGE_MANAGER_FIELD=$JSON_VALUE
  _package_json_expect "$file" dependencies "" object 'an object'
  _package_json_expect "$file" devDependencies "" object 'an object'
  _package_json_expect "$file" scripts "" object 'an object'
  json_members scripts
  for name in "${JSON_MEMBERS[@]}"; do
    _package_json_expect "$file" scripts "$name" string 'a string (a shell command)'
  done
  json_members devDependencies
  # shellcheck disable=SC2034 # a result, read by dependencies.sh
  DEV_DEPENDENCY_COUNT=${#JSON_MEMBERS[@]}
  json_get workspaces
  # shellcheck disable=SC2034 # a result, read by dependencies.sh
  APP_HAS_WORKSPACES=0
  # shellcheck disable=SC2034 # a result, read by dependencies.sh
  [[ -n $JSON_KIND ]] && APP_HAS_WORKSPACES=1
  json_get scripts start
  # shellcheck disable=SC2034 # a result, read by compile.sh
  APP_START=$JSON_VALUE

  # A script made of spaces only does nothing: npm would run an empty command.
  DEFINED_SCRIPTS=""
  for name in $PACKAGE_JSON_LIFECYCLE; do
    json_get scripts "$name"
    [[ -n ${JSON_VALUE//[[:space:]]/} ]] && DEFINED_SCRIPTS+="${DEFINED_SCRIPTS:+ }$name"
  done
  return 0
}

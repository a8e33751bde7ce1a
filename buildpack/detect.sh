# shellcheck shell=bash
# bin/detect: a Node.js app is one with a package.json. Two interfaces:
#   classic:  bin/detect BUILD_DIR                  exit 0 (and print the name) or 1
#   CNB:      bin/detect, run in the app directory with CNB_BUILD_PLAN_PATH set (Buildpack API 0.10):
#             exit 0 (writing the build plan: this buildpack provides and requires "node") or 100
set -euo pipefail
if [[ $# -ge 1 ]]; then
  if [[ -f $1/package.json ]]; then
    echo "Node.js (tsforeman)"
    exit 0
  fi
  exit 1
fi
if [[ -z ${CNB_BUILD_PLAN_PATH:-} ]]; then
  echo "usage: bin/detect BUILD_DIR (classic), or with CNB_BUILD_PLAN_PATH set in the app directory (Cloud Native Buildpack)" >&2
  exit 2
fi
if [[ ! -f package.json ]]; then
  echo "No package.json in $(pwd): not a Node.js app"
  exit 100
fi
cat >"$CNB_BUILD_PLAN_PATH" <<'PLAN'
[[provides]]
name = "node"

[[requires]]
name = "node"
PLAN
echo "Node.js (tsforeman): package.json found"
exit 0

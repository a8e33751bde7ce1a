# shellcheck shell=bash
# bin/detect BUILD_DIR: a Node.js app is one with a package.json.
set -euo pipefail
if [[ $# -lt 1 ]]; then
  echo "usage: bin/detect BUILD_DIR" >&2
  exit 2
fi
if [[ -f $1/package.json ]]; then
  echo "Node.js (tsforeman)"
  exit 0
fi
exit 1

# shellcheck shell=bash
# Step 2 of bin/compile: a Node.js that satisfies engines.node, on PATH.
#
#   install_node BUILD_DIR CACHE_DIR RANGE
#
# Uses a satisfying `node` (with `npm`) that an earlier buildpack left on PATH; otherwise resolves
# RANGE against $NODE_MIRROR/index.json, downloads node-vX-linux-ARCH.tar.xz (.tar.gz when xz is
# missing; ARCH x64 or arm64, from uname -m), checks it against SHASUMS256.txt and unpacks it into
# NODE_HOME_DIR (default BUILD_DIR/.heroku/node). A NODE_HOME_DIR that already holds the same
# release (the CNB's cached nodejs layer) is used as it is: nothing is downloaded or unpacked.
# CACHE_DIR/node keeps index.json (for NODE_INDEX_TTL seconds) and the unpacked release (installed/),
# so a warm build downloads and unpacks nothing. Needs bash, coreutils, grep, curl and tar.

NODE_INSTALLED_BY_BUILDPACK=0

# The platform part of Node.js's file names for this machine.
_node_arch() {
  case $(uname -m) in
    x86_64 | amd64) printf 'x64' ;;
    aarch64 | arm64) printf 'arm64' ;;
    *) fail "This machine is $(uname -m): Node.js releases are installed for x86_64 and aarch64 only" \
      "Build on a linux/amd64 or linux/arm64 image, or set NODE_BINARY_URL to a Node.js build for it." ;;
  esac
}
NODE_ARCH=""

_node_mirror() {
  local mirror=${NODE_MIRROR:-https://nodejs.org/dist}
  printf '%s' "${mirror%/}"
}

_node_fetch() {
  local url=$1 dest=$2 err
  if ! err=$(curl --fail --silent --show-error --location --retry 2 --connect-timeout 20 -o "$dest" "$url" 2>&1); then
    rm -f "$dest"
    # curl repeats its error once per retry: the last line says it all.
    fail "Could not download $url" "${err##*$'\n'}" \
      "Check the network and NODE_MIRROR (now $(_node_mirror)), then build again."
  fi
}

# Prints "VERSION LTS" per release that has a linux-ARCH build; LTS is "false" or the LTS name.
_node_index_versions() {
  local object version lts arch=${NODE_ARCH:-x64}
  # Release objects hold no nested objects, so each {...} is one release.
  tr -d '\r\n' <"$1" | grep -o '{[^{}]*}' | while IFS= read -r object; do
    [[ $object =~ \"version\"[[:space:]]*:[[:space:]]*\"v([0-9]+\.[0-9]+\.[0-9]+)\" ]] || continue
    version=${BASH_REMATCH[1]}
    if [[ $object == *'"files"'* && $object != *"\"linux-$arch\""* ]]; then continue; fi
    lts=false
    if [[ $object =~ \"lts\"[[:space:]]*:[[:space:]]*\"([^\"]*)\" ]]; then lts=${BASH_REMATCH[1]}; fi
    printf '%s %s\n' "$version" "$lts"
  done
}

# Path of an index.json no older than NODE_INDEX_TTL seconds, from the cache or the mirror.
_node_index() {
  local cache=$1 mirror
  mirror=$(_node_mirror)
  local index="$cache/index.json" source_file="$cache/index.source"
  local ttl=${NODE_INDEX_TTL:-86400}
  [[ $ttl =~ ^[0-9]+$ ]] || fail "NODE_INDEX_TTL must be a number of seconds, not \"$ttl\""
  if [[ -s $index && -f $source_file && $(<"$source_file") == "$mirror" ]]; then
    local age=$(($(date +%s) - $(stat -c %Y "$index")))
    if ((age < ttl)); then
      info "Using the cached list of Node.js releases from $mirror (fetched ${age}s ago)"
      return 0
    fi
  fi
  info "Fetching the list of Node.js releases from $mirror/index.json"
  _node_fetch "$mirror/index.json" "$index.tmp"
  mv "$index.tmp" "$index"
  printf '%s' "$mirror" >"$source_file"
}

# The newest version of each major, newest first: what to show when nothing matches.
_node_newest_per_major() {
  local version seen=" " major list=""
  for version in "$@"; do
    major=${version%%.*}
    [[ $seen == *" $major "* ]] && continue
    seen+="$major "
    list+="${list:+, }$version"
  done
  printf '%s' "$list"
}

# The end-of-life date of Node.js line $1 (YYYY-MM-DD), from the release schedule's rule: an even
# line comes out in April of year 2013 + N/2 and ends 30 April three years later; an odd line comes
# out in October of year 2013 + (N-1)/2 and ends on 1 June the year after.
_node_eol_date() {
  local major=$1
  if ((major % 2 == 0)); then
    printf '%d-04-30' $((2013 + major / 2 + 3))
  else
    printf '%d-06-01' $((2013 + (major - 1) / 2 + 1))
  fi
}

# Is line $1 past its end of life today? Lines 20 and older always are.
_node_line_eol() {
  local major=$1 today
  ((major <= 20)) && return 0
  today=$(date -u +%F)
  [[ ! $today < $(_node_eol_date "$major") ]]
}

# The LTS lines of the index not yet past their end of life, newest first, e.g. "26.x, 24.x, 22.x".
_node_supported_lines() {
  local version major seen=" " list=""
  for version in "$@"; do
    major=${version%%.*}
    [[ $seen == *" $major "* ]] && continue
    seen+="$major "
    _node_line_eol "$major" && continue
    list+="${list:+, }$major.x"
  done
  printf '%s' "$list"
}

# One warning line when the Node.js line in use is past its end of life.
_node_warn_eol() {
  local version=$1 major=${1%%.*}
  _node_line_eol "$major" || return 0
  warn "Node.js $major reached its end of life on $(_node_eol_date "$major") and gets no security fixes; supported lines: ${NODE_SUPPORTED_LINES:-22.x, 24.x, 26.x} (set engines.node in package.json to one of them)"
}

NODE_SUPPORTED_LINES=""

_node_resolve() {
  local cache=$1 range=$2 version lts
  local -a all=() lts_versions=()
  _node_index "$cache"
  while read -r version lts; do
    all+=("$version")
    if [[ $lts != false ]]; then lts_versions+=("$version"); fi
  done < <(_node_index_versions "$cache/index.json")
  ((${#all[@]} > 0)) || fail "The Node.js release list at $(_node_mirror)/index.json has no linux-${NODE_ARCH:-x64} release" \
    "Point NODE_MIRROR at a mirror of https://nodejs.org/dist."
  local sorted
  sorted=$(printf '%s\n' "${all[@]}" | sort -t. -k1,1nr -k2,2nr -k3,3nr)
  local -a sorted_versions
  mapfile -t sorted_versions <<<"$sorted"
  if ((${#lts_versions[@]} > 0)); then
    sorted=$(printf '%s\n' "${lts_versions[@]}" | sort -t. -k1,1nr -k2,2nr -k3,3nr)
    mapfile -t lts_versions <<<"$sorted"
  else
    lts_versions=("${sorted_versions[@]}")
  fi
  NODE_SUPPORTED_LINES=$(_node_supported_lines "${lts_versions[@]}")
  # The newest LTS line: the index lists every release, LTS ones with their codename.
  local newest_lts=${lts_versions[0]} lts_major
  lts_major=${newest_lts%%.*}
  if [[ -z $range ]]; then
    NODE_VERSION=$(semver_max_satisfying "$lts_major.x" "${lts_versions[@]}")
    info "engines.node is not set: using the newest LTS line, $lts_major.x ($NODE_VERSION)"
    info "Set \"engines\": {\"node\": \"$lts_major.x\"} in package.json to choose."
    return 0
  fi
  if ! NODE_VERSION=$(semver_max_satisfying "$range" "${sorted_versions[@]}"); then
    fail "No Node.js release satisfies engines.node \"$range\" in package.json" \
      "Releases that exist (newest of each major): $(_node_newest_per_major "${sorted_versions[@]}")" \
      "Change engines.node in package.json to a range that includes one of them."
  fi
  # A range that reaches past the newest LTS line (">=20", "*") gets that line, as on Heroku, unless
  # NODEJS_ALLOW_WIDE_RANGE=true; a range that names only newer lines (">=27") is taken as written.
  local capped
  local -a within=()
  for version in "${sorted_versions[@]}"; do
    ((${version%%.*} <= lts_major)) && within+=("$version")
  done
  if ((${NODE_VERSION%%.*} > lts_major)) && ((${#within[@]} > 0)) &&
    capped=$(semver_max_satisfying "$range" "${within[@]}"); then
    if [[ ${NODEJS_ALLOW_WIDE_RANGE:-} == true ]]; then
      info "engines.node \"$range\" resolves to $NODE_VERSION, past the newest LTS line ($lts_major.x): allowed by NODEJS_ALLOW_WIDE_RANGE=true"
      return 0
    fi
    info "engines.node \"$range\" reaches past the newest LTS line, $lts_major.x: using $capped (NODEJS_ALLOW_WIDE_RANGE=true allows $NODE_VERSION)"
    NODE_VERSION=$capped
    return 0
  fi
  info "engines.node \"$range\" resolves to $NODE_VERSION"
}

_node_download() {
  local cache=$1 version=$2 mirror name ext expected actual tmp
  mirror=$(_node_mirror)
  tmp=$(mktemp -d "$cache/download.XXXXXX")
  _node_fetch "$mirror/v$version/SHASUMS256.txt" "$tmp/SHASUMS256.txt"
  name=""
  for ext in tar.xz tar.gz; do
    if [[ $ext == tar.xz ]] && ! command -v xz >/dev/null 2>&1; then continue; fi
    expected=$(grep -E "^[0-9a-f]{64}  (\./)?node-v$version-linux-$NODE_ARCH\.$ext\$" "$tmp/SHASUMS256.txt" | cut -c1-64 || true)
    if [[ -n $expected ]]; then
      name="node-v$version-linux-$NODE_ARCH.$ext"
      break
    fi
  done
  if [[ -z $name ]]; then
    rm -rf "$tmp"
    fail "$mirror/v$version/SHASUMS256.txt lists no node-v$version-linux-$NODE_ARCH tarball" \
      "Use another Node.js version or another NODE_MIRROR."
  fi
  info "Downloading $mirror/v$version/$name"
  _node_fetch "$mirror/v$version/$name" "$tmp/$name"
  actual=$(sha256sum "$tmp/$name" | cut -c1-64)
  if [[ $actual != "$expected" ]]; then
    rm -rf "$tmp"
    fail "Checksum mismatch for $name: SHASUMS256.txt says $expected, the download is $actual" \
      "The download is corrupt or the mirror ($mirror) is serving other files; nothing was installed. Build again, or fix NODE_MIRROR."
  fi
  info "Verified SHA-256 $actual"
  # Keep only the tarball of the version in use, so the cache does not grow with every upgrade.
  rm -f "$cache"/node-v*-linux-"$NODE_ARCH".tar.*  # their .sha256 files too
  mv "$tmp/$name" "$cache/$name"
  printf '%s\n' "$actual" >"$cache/$name.sha256"
  rm -rf "$tmp"
  NODE_TARBALL="$cache/$name"
}

# Sets NODE_TARBALL to a cached, still intact tarball of $2, if there is one.
_node_cached_tarball() {
  local cache=$1 version=$2 ext file
  NODE_TARBALL=""
  for ext in tar.xz tar.gz; do
    file="$cache/node-v$version-linux-$NODE_ARCH.$ext"
    [[ -f $file && -f $file.sha256 ]] || continue
    if [[ $ext == tar.xz ]] && ! command -v xz >/dev/null 2>&1; then continue; fi
    if [[ $(sha256sum "$file" | cut -c1-64) == "$(<"$file.sha256")" ]]; then
      NODE_TARBALL=$file
      info "Using the cached $(basename "$file") (SHA-256 verified when it was downloaded, checked again now)"
      return 0
    fi
    warn "the cached $(basename "$file") is damaged; downloading it again"
    rm -f "$file" "$file.sha256"
  done
  return 1
}

# NODE_BINARY_URL: a Node.js tarball of the user's choice (.tar.gz or .tar.xz), taken as it is (there
# is no SHASUMS256.txt to check it against). Kept in the cache under a hash of the URL, so a warm
# build with the same URL downloads nothing.
_node_from_url() {
  local cache=$1 url=$2 key ext
  case $url in
    *.tar.xz) ext=tar.xz ;;
    *.tar.gz | *.tgz) ext=tar.gz ;;
    *) fail "NODE_BINARY_URL must point at a .tar.gz or .tar.xz of a Node.js build, not $url" \
      "Use a URL such as https://nodejs.org/dist/v24.11.1/node-v24.11.1-linux-x64.tar.gz" ;;
  esac
  key=$(printf '%s' "$url" | sha256sum | cut -c1-16)
  NODE_TARBALL="$cache/url-$key.$ext"
  if [[ -s $NODE_TARBALL ]]; then
    info "NODE_BINARY_URL is set: using the cached download of $url"
    return 0
  fi
  info "NODE_BINARY_URL is set: downloading Node.js from $url (not resolved from engines.node)"
  rm -f "$cache"/url-*
  _node_fetch "$url" "$NODE_TARBALL.tmp"
  mv "$NODE_TARBALL.tmp" "$NODE_TARBALL"
}

install_node() {
  local build_dir=$1 cache_dir=$2 range=$3
  local cache="$cache_dir/node"
  mkdir -p "$cache"

  if [[ -n $range ]] && ! semver_valid_range "$range"; then
    fail "engines.node \"$range\" in package.json is not a valid version range: $SEMVER_ERROR" \
      "Use a range such as \"20.x\", \"^20.11.0\", \">=20 <23\" or \"20 || 22\"."
  fi

  local existing
  if [[ -z ${NODE_BINARY_URL:-} ]] && existing=$(command -v node 2>/dev/null) && command -v npm >/dev/null 2>&1; then
    local existing_version
    existing_version=$("$existing" --version 2>/dev/null || true)
    if [[ -n $existing_version ]] && semver_satisfies "${existing_version#v}" "${range:-*}"; then
      info "Using Node.js $existing_version already on PATH ($existing), left by an earlier buildpack"
      NODE_VERSION=${existing_version#v}
      _node_warn_eol "$NODE_VERSION"
      return 0
    fi
    info "Node.js ${existing_version:-?} on PATH ($existing) does not satisfy engines.node \"$range\": installing one"
  fi

  NODE_ARCH=$(_node_arch)
  local node_home=${NODE_HOME_DIR:-$build_dir/.heroku/node} origin
  if [[ -n ${NODE_BINARY_URL:-} ]]; then
    origin="url $NODE_BINARY_URL"
  else
    _node_resolve "$cache" "$range"
    origin="release $NODE_VERSION linux-$NODE_ARCH"
  fi
  # What a folder holds is written in it: the same source, still running, is reused as it is. The
  # classic build keeps the unpacked release in CACHE_DIR/node/installed (the CNB's nodejs layer is
  # itself kept), so a warm build copies it (as hard links) instead of unpacking the tarball again.
  local installed="" tree="$cache/installed"
  if [[ -f $node_home/.tsforeman-source && $(<"$node_home/.tsforeman-source") == "$origin" ]] &&
    installed=$("$node_home/bin/node" --version 2>/dev/null); then
    info "Reusing Node.js $installed in ${NODE_HOME_LABEL:-.heroku/node} (the same release): nothing to download or unpack"
  elif [[ ${NODE_HOME_KEPT:-0} == 0 && -f $tree/.tsforeman-source && $(<"$tree/.tsforeman-source") == "$origin" ]] &&
    installed=$("$tree/bin/node" --version 2>/dev/null); then
    copy_tree "$tree" "$node_home"
    if [[ -n ${NODE_BINARY_URL:-} ]]; then info "NODE_BINARY_URL is set: Node.js from $NODE_BINARY_URL"; fi
    info "Using Node.js $installed from the cache (unpacked by an earlier build): nothing to download or unpack"
  else
    installed=""
    if [[ -n ${NODE_BINARY_URL:-} ]]; then
      _node_from_url "$cache" "$NODE_BINARY_URL"
    else
      _node_cached_tarball "$cache" "$NODE_VERSION" || _node_download "$cache" "$NODE_VERSION"
    fi
    rm -rf "$node_home"
    mkdir -p "$node_home"
    local flag=-z
    [[ $NODE_TARBALL == *.tar.xz ]] && flag=-J
    if ! tar "$flag" -xf "$NODE_TARBALL" -C "$node_home" --strip-components=1 --no-same-owner; then
      rm -f "$NODE_TARBALL" "$NODE_TARBALL.sha256"
      fail "Could not unpack $(basename "$NODE_TARBALL")" "The cached copy was removed; build again."
    fi
    printf '%s\n' "$origin" >"$node_home/.tsforeman-source"
    # The unpacked release is what later builds use: the tarball is not needed any more.
    if [[ ${NODE_HOME_KEPT:-0} == 0 ]]; then copy_tree "$node_home" "$tree"; else rm -rf "$tree"; fi
    rm -f "$NODE_TARBALL" "$NODE_TARBALL.sha256"
  fi
  export PATH="$node_home/bin:$PATH"
  hash -r
  local label=${NODE_HOME_LABEL:-.heroku/node}
  if [[ -z $installed ]]; then
    installed=$(node --version 2>&1) || fail "The Node.js just installed does not run: $installed" \
      "The build image must be linux-x64 or linux-arm64 with glibc."
    info "Installed Node.js $installed into $label (npm $(npm --version 2>/dev/null || echo missing))"
  fi
  # shellcheck disable=SC2034 # read by write_export (profile.sh)
  NODE_INSTALLED_BY_BUILDPACK=1
  NODE_VERSION=${installed#v}
  _node_warn_eol "$NODE_VERSION"
}

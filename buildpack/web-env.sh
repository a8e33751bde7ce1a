# shellcheck shell=sh
# The web process's sizing at boot, in POSIX sh: copied into .profile.d (classic) and into the CNB's
# exec.d program, so both generations compute the same values.
#
#   WEB_MEMORY       MB of memory per worker: 512 unless set
#   WEB_CONCURRENCY  workers: HEROKU_AVAILABLE_PARALLELISM if set, else the container's memory limit
#                    (cgroup v2 memory.max, else v1 memory/memory.limit_in_bytes) over WEB_MEMORY,
#                    no more than the CPUs, at least 1; with no limit, the CPUs
#
# A value the user set is never replaced. TSFOREMAN_CGROUP_ROOT names where the cgroup files are
# mounted (default /sys/fs/cgroup). Sets _tsf_set to the names it assigned.
_tsf_set=""
if [ -z "${WEB_MEMORY:-}" ]; then
  WEB_MEMORY=512
  _tsf_set="WEB_MEMORY"
fi
export WEB_MEMORY
if [ -z "${WEB_CONCURRENCY:-}" ]; then
  _tsf_cpus=$(nproc 2>/dev/null || getconf _NPROCESSORS_ONLN 2>/dev/null || echo 1)
  case "${HEROKU_AVAILABLE_PARALLELISM:-}" in
    '' | *[!0-9]* | 0)
      _tsf_root=${TSFOREMAN_CGROUP_ROOT:-/sys/fs/cgroup}
      _tsf_limit=""
      if [ -r "$_tsf_root/memory.max" ]; then
        _tsf_limit=$(cat "$_tsf_root/memory.max")
      elif [ -r "$_tsf_root/memory/memory.limit_in_bytes" ]; then
        _tsf_limit=$(cat "$_tsf_root/memory/memory.limit_in_bytes")
      fi
      # cgroup v1 says "no limit" with a number near 2^63: more than 16 digits is no limit.
      case "$_tsf_limit" in
        '' | max | *[!0-9]*) _tsf_limit="" ;;
        ?????????????????*) _tsf_limit="" ;;
      esac
      case "$WEB_MEMORY" in
        '' | *[!0-9]* | 0) _tsf_per=512 ;;
        *) _tsf_per=$WEB_MEMORY ;;
      esac
      if [ -n "$_tsf_limit" ]; then
        WEB_CONCURRENCY=$((_tsf_limit / (_tsf_per * 1048576)))
      else
        WEB_CONCURRENCY=$_tsf_cpus
      fi
      if [ "$WEB_CONCURRENCY" -gt "$_tsf_cpus" ] 2>/dev/null; then WEB_CONCURRENCY=$_tsf_cpus; fi
      if [ "$WEB_CONCURRENCY" -lt 1 ] 2>/dev/null; then WEB_CONCURRENCY=1; fi
      unset _tsf_root _tsf_limit _tsf_per
      ;;
    *) WEB_CONCURRENCY=$HEROKU_AVAILABLE_PARALLELISM ;;
  esac
  unset _tsf_cpus
  _tsf_set="$_tsf_set WEB_CONCURRENCY"
fi
export WEB_CONCURRENCY

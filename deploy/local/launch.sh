#!/usr/bin/env bash
# Launches one rlvr training run on this machine as separate processes: N learner
# ranks (c10d over loopback), M rollout workers (`rlvr serve-rollout`) and K verifier
# services (`rlvr serve-verifier`). Each process logs to <run-dir>/logs/<role>-<i>.log.
# Services start first; the learners start once every service printed its
# "listening on" line. Ctrl-C (or any exit of this script) stops every process it
# started, by process group, so nothing is left behind.
#
#   deploy/local/launch.sh --learners 2 --workers 2 --verifiers 1 -- learner.steps=10
#
# Options:
#   --config FILE           training config (default: the built-in quickstart)
#   --learners N            learner ranks (default 1)
#   --workers M             rollout workers (default 0: each rank runs the in-process engine)
#   --verifiers K           verifier services (default 0: in-process verifiers)
#   --verifier-config FILE  config of `rlvr serve-verifier` (default: the math verifier)
#   --verifier-task NAME    task verifier name routed to the services (default: math)
#   --model DIR             model the rollout workers load (default: builtin; use the
#                           training config's model.path)
#   --worker-args "ARGS"    extra `rlvr serve-rollout` flags, e.g. "--kv-mib 64"
#   --run-dir DIR           logs and training outputs (default: runs/local-<time>)
#   --master-port PORT      c10d rendezvous port (default 29500)
#   --token-file FILE       shared token required by every service and sent by the learners
#   --rlvr PATH             the rlvr binary (default: rlvr on PATH, else build/cli/rlvr)
#   --ready-timeout SEC     seconds to wait for each service (default 300)
#   --stop-timeout SEC      seconds learners get to save a checkpoint on stop (default 120)
# Everything after `--` is passed to `rlvr train` as key=value overrides.
#
# Rollout workers are shared by all ranks; after every optimizer step each rank
# publishes the same weights (the ranks are in lockstep after the all-reduce), so a
# worker may serve any rank, and a worker that dies is failed over by every rank.
# Verifier services are spread over the ranks: rank r grades on service r mod K.
#
# Exit status: that of the first learner rank that failed, 0 when all succeeded,
# 2 for bad options, 3 when a service did not become ready or died mid-run.
set -euo pipefail

usage() { sed -n '2,35p' "$0" | sed 's/^# \{0,1\}//'; }
die() { echo "launch.sh: $*" >&2; exit 2; }

ROOT=$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)
config="" learners=1 workers=0 verifiers=0 verifier_config="" verifier_task=math
model=builtin worker_args="" run_dir="" master_port=29500 token_file="" rlvr=""
ready_timeout=300 stop_timeout=120
overrides=()
while [ $# -gt 0 ]; do
  case "$1" in
    --config) config=${2:?--config needs a file}; shift 2 ;;
    --learners) learners=${2:?}; shift 2 ;;
    --workers) workers=${2:?}; shift 2 ;;
    --verifiers) verifiers=${2:?}; shift 2 ;;
    --verifier-config) verifier_config=${2:?}; shift 2 ;;
    --verifier-task) verifier_task=${2:?}; shift 2 ;;
    --model) model=${2:?}; shift 2 ;;
    --worker-args) worker_args=${2:-}; shift 2 ;;
    --run-dir) run_dir=${2:?}; shift 2 ;;
    --master-port) master_port=${2:?}; shift 2 ;;
    --token-file) token_file=${2:?}; shift 2 ;;
    --rlvr) rlvr=${2:?}; shift 2 ;;
    --ready-timeout) ready_timeout=${2:?}; shift 2 ;;
    --stop-timeout) stop_timeout=${2:?}; shift 2 ;;
    -h|--help) usage; exit 0 ;;
    --) shift; overrides=("$@"); break ;;
    *) die "unknown option '$1' (see --help)" ;;
  esac
done

is_count() { [[ "$1" =~ ^[0-9]+$ ]]; }
if ! { is_count "$learners" && [ "$learners" -ge 1 ]; }; then
  die "--learners: expected a number >= 1, got '$learners'"
fi
is_count "$workers" || die "--workers: expected a number >= 0, got '$workers'"
is_count "$verifiers" || die "--verifiers: expected a number >= 0, got '$verifiers'"
if ! { is_count "$master_port" && [ "$master_port" -ge 1 ] && [ "$master_port" -le 65535 ]; }; then
  die "--master-port: expected a port, got '$master_port'"
fi
is_count "$ready_timeout" || die "--ready-timeout: expected seconds, got '$ready_timeout'"
is_count "$stop_timeout" || die "--stop-timeout: expected seconds, got '$stop_timeout'"
[ -z "$config" ] || [ -f "$config" ] || die "--config: no such file '$config'"
[ -z "$verifier_config" ] || [ -f "$verifier_config" ] ||
  die "--verifier-config: no such file '$verifier_config'"
[ -z "$token_file" ] || [ -r "$token_file" ] || die "--token-file: cannot read '$token_file'"
if [ -z "$rlvr" ]; then
  rlvr=$(command -v rlvr || true)
  [ -n "$rlvr" ] || rlvr=$ROOT/build/cli/rlvr
fi
[ -x "$rlvr" ] || die "--rlvr: '$rlvr' is not an executable rlvr binary"
[ -n "$run_dir" ] || run_dir=runs/local-$(date +%Y%m%d-%H%M%S)
mkdir -p "$run_dir/logs"
run_dir=$(cd "$run_dir" && pwd)
logs=$run_dir/logs
: >"$run_dir/pids"

# Process bookkeeping: every child is the leader of its own process group (setsid),
# so stopping the group also stops anything it spawned (e.g. sandboxed code).
pids=() roles=()
start() {  # start ROLE LOG CMD... [with env from the caller's exported variables]
  local role=$1 log=$2
  shift 2
  setsid "$@" >"$log" 2>&1 </dev/null &
  pids+=("$!")
  roles+=("$role")
  echo "$! $role" >>"$run_dir/pids"
}

# True while any process of group $1 is running (zombies do not count).
group_alive() {
  ps -e -o pgid=,stat= | awk -v g="$1" '$1 == g && $2 !~ /^Z/ { found = 1 } END { exit !found }'
}
alive() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ "$state" != Z* ]]
}

# Stops the process groups given as arguments: SIGTERM, then SIGKILL after $1 seconds.
stop_groups() {
  local timeout=$1 pid i any
  shift
  for pid in "$@"; do kill -TERM -- "-$pid" 2>/dev/null || true; done
  for ((i = 0; i < timeout * 5; i++)); do
    any=0
    for pid in "$@"; do
      if group_alive "$pid"; then any=1; fi
    done
    [ "$any" = 1 ] || break
    sleep 0.2
  done
  for pid in "$@"; do kill -KILL -- "-$pid" 2>/dev/null || true; done
  for pid in "$@"; do wait "$pid" 2>/dev/null || true; done
}

# Learners first (on SIGTERM they finish the step, save a checkpoint and exit, which
# needs the services), then the services.
stopping=0
stop_all() {
  [ "$stopping" = 0 ] || return 0
  stopping=1
  local i learner_groups=() service_groups=()
  for ((i = 0; i < ${#pids[@]}; i++)); do
    case "${roles[$i]}" in
      learner-*) learner_groups+=("${pids[$i]}") ;;
      *) service_groups+=("${pids[$i]}") ;;
    esac
  done
  [ "${#learner_groups[@]}" = 0 ] || stop_groups "$stop_timeout" "${learner_groups[@]}"
  [ "${#service_groups[@]}" = 0 ] || stop_groups 20 "${service_groups[@]}"
}
interrupted() {
  echo "launch.sh: interrupted; stopping every process (logs in $logs)" >&2
  stop_all
  exit 130
}
trap stop_all EXIT
trap interrupted INT TERM HUP

# Waits for "listening on HOST:PORT" in LOG of PID; prints HOST:PORT.
wait_ready() {
  local pid=$1 log=$2 role=$3 deadline=$((SECONDS + ready_timeout)) address
  while [ "$SECONDS" -lt "$deadline" ]; do
    address=$(sed -n 's/.*listening on \([^ ]*:[0-9][0-9]*\).*/\1/p' "$log" | head -n 1)
    if [ -n "$address" ]; then echo "$address"; return 0; fi
    if ! alive "$pid"; then
      echo "launch.sh: $role exited before it was ready; its log ($log):" >&2
      tail -n 20 "$log" >&2
      return 1
    fi
    sleep 0.2
  done
  echo "launch.sh: $role not ready after ${ready_timeout}s (log: $log)" >&2
  return 1
}

# Rollout workers and verifier services, on loopback and any free port.
worker_addresses=() verifier_addresses=()
token_flags=()
[ -z "$token_file" ] || token_flags=(--token-file "$token_file")
for ((i = 0; i < workers; i++)); do
  # shellcheck disable=SC2086  # worker_args is a list of flags
  start "rollout-$i" "$logs/rollout-$i.log" "$rlvr" serve-rollout --model "$model" --host 127.0.0.1 \
    --port 0 "${token_flags[@]}" $worker_args
done
if [ "$verifiers" -gt 0 ] && [ -z "$verifier_config" ]; then
  verifier_config=$run_dir/verifier.yaml
  printf 'verifier:\n  name: math\nserve:\n  address: 127.0.0.1\n  port: 0\n' >"$verifier_config"
fi
verifier_token=()
[ -z "$token_file" ] || verifier_token=("serve.token_file=$token_file")
for ((i = 0; i < verifiers; i++)); do
  start "verifier-$i" "$logs/verifier-$i.log" "$rlvr" serve-verifier --config "$verifier_config" \
    --port 0 "${verifier_token[@]}"
done
for ((i = 0; i < ${#pids[@]}; i++)); do
  address=$(wait_ready "${pids[$i]}" "$logs/${roles[$i]}.log" "${roles[$i]}") || exit 3
  case "${roles[$i]}" in
    rollout-*) worker_addresses+=("\"$address\"") ;;
    verifier-*) verifier_addresses+=("$address") ;;
  esac
  echo "launch.sh: ${roles[$i]} ready on $address"
done
services=${#pids[@]}

# Learner ranks.
common=("run.dir=$run_dir")
if [ "$workers" -gt 0 ]; then
  common+=("rollout.workers=[$(IFS=,; echo "${worker_addresses[*]}")]")
fi
[ -z "$token_file" ] || common+=("security.token_file=$token_file")
config_flags=()
[ -z "$config" ] || config_flags=(--config "$config")
for ((rank = 0; rank < learners; rank++)); do
  rank_overrides=()
  if [ "$verifiers" -gt 0 ]; then
    rank_overrides=("verifiers.$verifier_task.use=remote"
      "verifiers.$verifier_task.target=${verifier_addresses[$((rank % verifiers))]}")
  fi
  RANK=$rank WORLD_SIZE=$learners LOCAL_RANK=$rank MASTER_ADDR=127.0.0.1 MASTER_PORT=$master_port \
    start "learner-$rank" "$logs/learner-$rank.log" "$rlvr" train "${config_flags[@]}" \
    "${common[@]}" "${rank_overrides[@]}" "${overrides[@]}"
done
echo "launch.sh: $learners learner rank(s) started; logs in $logs"

# Wait for the learners; a service that dies meanwhile ends the run.
live=("${pids[@]}")
remaining=$learners
while [ "$remaining" -gt 0 ]; do
  finished="" rc=0
  wait -n -p finished "${live[@]}" || rc=$?
  [ -n "$finished" ] || continue
  for ((i = 0; i < ${#pids[@]}; i++)); do [ "${pids[$i]}" != "$finished" ] || break; done
  role=${roles[$i]}
  next=()
  for pid in "${live[@]}"; do [ "$pid" = "$finished" ] || next+=("$pid"); done
  live=("${next[@]}")
  if [ "$i" -lt "$services" ]; then
    echo "launch.sh: $role died during training (status $rc); last lines of its log:" >&2
    tail -n 20 "$logs/$role.log" >&2
    stop_all
    exit 3
  fi
  remaining=$((remaining - 1))
  echo "launch.sh: $role exited with status $rc"
  if [ "$rc" != 0 ]; then
    echo "launch.sh: $role failed; last lines of its log:" >&2
    tail -n 20 "$logs/$role.log" >&2
    stop_all
    exit "$rc"
  fi
done
echo "launch.sh: training finished; outputs under $run_dir"

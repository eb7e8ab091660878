#!/usr/bin/env bash
# Multi-host training on one machine: 2 learner ranks and 2 rollout workers, each in
# its own network namespace with its own 10.x address, joined by a bridge in a
# "switch" namespace (the host's own network is not touched). Mid-run, one worker's
# link is cut (no FIN, no RST: like a host that vanished); training must go on with
# the other worker (WorkerPool failover) and finish every step with a checkpoint.
#   tests/deploy/netns_test.sh RLVR_BINARY
# Exits 77 (skipped) when not root or network namespaces are not available.
set -euo pipefail
rlvr=$(realpath "${1:?usage: netns_test.sh RLVR_BINARY}")

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root for ip netns"
command -v ip >/dev/null || skip "iproute2 (ip) is not installed"

tag=rlvr$$
sw=$tag-sw
nodes=(l0 l1 w0 w1)
declare -A addr=([l0]=10.199.0.10 [l1]=10.199.0.11 [w0]=10.199.0.20 [w1]=10.199.0.21)
work=$(mktemp -d /tmp/rlvr_netns.XXXXXX)
pids=()
cleanup() {
  set +e
  local pid
  for pid in "${pids[@]}"; do kill -TERM "$pid" 2>/dev/null; done
  sleep 1
  for pid in "${pids[@]}"; do kill -KILL "$pid" 2>/dev/null; wait "$pid" 2>/dev/null; done
  for n in "${nodes[@]}"; do ip netns del "$tag-$n" 2>/dev/null; done
  ip netns del "$sw" 2>/dev/null
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/*.log; do echo "--- $f"; tail -n 30 "$f"; done >&2
  exit 1
}

ip netns add "$sw" 2>/dev/null || skip "cannot create network namespaces (ip netns add)"
ip -n "$sw" link add br0 type bridge
ip -n "$sw" link set br0 up
ip -n "$sw" link set lo up
for n in "${nodes[@]}"; do
  ns=$tag-$n
  ip netns add "$ns"
  ip -n "$sw" link add "p-$n" type veth peer name eth0 netns "$ns"
  ip -n "$sw" link set "p-$n" master br0 up
  ip -n "$ns" link set lo up
  ip -n "$ns" addr add "${addr[$n]}/24" dev eth0
  ip -n "$ns" link set eth0 up
done
# A child that exited is reaped by bash at once, or left a zombie until waited for.
running() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ "$state" != Z* ]]
}
# True when a TCP connection from namespace node $1 to $2:$3 opens within 3 s.
reach() { ip netns exec "$tag-$1" timeout 3 bash -c "exec 3<>/dev/tcp/$2/$3" 2>/dev/null; }

for w in w0 w1; do
  ip netns exec "$tag-$w" "$rlvr" serve-rollout --model builtin --host "${addr[$w]}" --port 50051 \
    --kv-mib 32 >"$work/$w.log" 2>&1 &
  pids+=("$!")
done
for w in w0 w1; do
  for _ in $(seq 1 600); do grep -qs "listening on" "$work/$w.log" && break; sleep 0.1; done
  grep -qs "listening on ${addr[$w]}:50051" "$work/$w.log" || fail "$w not listening"
  reach l1 "${addr[$w]}" 50051 || fail "no route from l1 to $w"
done

steps=8
workers="[\"${addr[w0]}:50051\",\"${addr[w1]}:50051\"]"
learner_pids=()
for rank in 0 1; do
  ip netns exec "$tag-l$rank" env RANK=$rank WORLD_SIZE=2 LOCAL_RANK=0 MASTER_ADDR="${addr[l0]}" \
    MASTER_PORT=29555 GLOO_SOCKET_IFNAME=eth0 "$rlvr" train run.dir="$work/runs" run.name=netns \
    "rollout.workers=$workers" learner.steps=$steps checkpoint.every=$steps sft.steps=2 \
    sft.batch_size=4 learner.prompts_per_step=2 rollout.n=4 rollout.max_new_tokens=8 \
    data.eval_tasks=2 >"$work/l$rank.log" 2>&1 &
  pids+=("$!")
  learner_pids+=("$!")
done

# Cut w1 off once training is under way.
metrics=$work/runs/netns/metrics.jsonl
grpo_steps() {  # GRPO steps in metrics.jsonl so far
  if [ -f "$metrics" ]; then grep -c '"phase":"grpo"' "$metrics" || true; else echo 0; fi
}
for _ in $(seq 1 1200); do
  if [ "$(grpo_steps)" -ge 2 ]; then break; fi
  for pid in "${learner_pids[@]}"; do
    running "$pid" || fail "a learner exited early"
  done
  sleep 0.1
done
[ "$(grpo_steps)" -ge 2 ] || fail "training did not reach step 2"
ip -n "$sw" link set p-w1 down
cut_at=$(grpo_steps)
echo "cut w1 off after step $cut_at of $steps"
[ "$cut_at" -lt "$steps" ] || fail "the run finished before the cut; nothing was tested"

for rank in 0 1; do
  rc=0
  timeout 600 tail --pid="${learner_pids[$rank]}" -f /dev/null || true
  wait "${learner_pids[$rank]}" || rc=$?
  [ "$rc" = 0 ] || fail "rank $rank exited with status $rc"
done
done_steps=$(grpo_steps)
[ "$done_steps" = "$steps" ] || fail "expected $steps GRPO steps, found $done_steps"
[ -f "$work/runs/netns/checkpoints/step-0000000$steps/manifest.json" ] || fail "no final checkpoint"
# Each rank noticed the dead worker and carried on with the other one.
for rank in 0 1; do
  grep -Eq "rollout workers: 1 of 2 live; [1-9][0-9]* failed call" "$work/l$rank.log" ||
    fail "rank $rank did not report the failed worker: $(grep 'rollout workers' "$work/l$rank.log")"
done
# w0 is still reachable, w1 is not.
reach l0 "${addr[w0]}" 50051 || fail "w0 became unreachable"
if reach l0 "${addr[w1]}" 50051; then fail "w1 was not cut off"; fi
grep -h "rollout workers:" "$work/l0.log" "$work/l1.log"
echo PASS

#!/usr/bin/env bash
# deploy/local/launch.sh for real: 2 learner ranks + 2 rollout workers + 1 verifier
# service with a shared token train a few steps and write a checkpoint; Ctrl-C stops
# a running launch with a checkpoint; no process outlives the launcher; bad options
# get one clear message.
#   tests/deploy/local_launch_test.sh RLVR_BINARY SOURCE_DIR
set -euo pipefail
rlvr=${1:?usage: local_launch_test.sh RLVR_BINARY SOURCE_DIR}
src=${2:?usage: local_launch_test.sh RLVR_BINARY SOURCE_DIR}
launch=$src/deploy/local/launch.sh
work=$(mktemp -d /tmp/rlvr_local_launch.XXXXXX)
bg=""
cleanup() {
  if [ -n "$bg" ]; then kill -TERM "$bg" 2>/dev/null || true; wait "$bg" 2>/dev/null || true; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() { echo "FAIL: $*" >&2; exit 1; }
# A child that exited is reaped by bash at once, or left a zombie until waited for.
running() {
  local state
  state=$(ps -o stat= -p "$1" 2>/dev/null) || return 1
  [[ "$state" != Z* ]]
}

# No process of any group the launcher started may remain.
check_no_orphans() {
  local pid role
  [ -s "$1/pids" ] || fail "$1/pids lists no process"
  while read -r pid role; do
    if pgrep -g "$pid" >/dev/null; then
      ps -e -o pid,pgid,stat,args | awk -v g="$pid" '$2 == g' >&2
      fail "$role (process group $pid) still has processes after the launcher exited"
    fi
  done <"$1/pids"
}

tiny=(sft.steps=2 sft.batch_size=4 learner.prompts_per_step=2 rollout.n=4
  rollout.max_new_tokens=8 data.eval_tasks=2 checkpoint.keep_last=5)

echo "== bad options are refused with the option's name"
set +e
out=$("$launch" --rlvr "$rlvr" --learners 0 2>&1); rc=$?
set -e
[ "$rc" = 2 ] || fail "--learners 0 exited $rc"
grep -q -- "--learners" <<<"$out" || fail "no mention of --learners in: $out"

echo "== 2 learners + 2 rollout workers + 1 verifier service, with a shared token"
printf 'launch-test-token-93a1\n' >"$work/token"
run=$work/run
port=$((20000 + RANDOM % 10000))
if ! "$launch" --rlvr "$rlvr" --learners 2 --workers 2 --verifiers 1 --run-dir "$run" \
  --master-port "$port" --token-file "$work/token" --worker-args "--kv-mib 32" -- \
  run.name=tiny learner.steps=3 checkpoint.every=3 "${tiny[@]}" >"$work/launch.out" 2>&1; then
  cat "$work/launch.out"
  for f in "$run"/logs/*.log; do echo "--- $f"; tail -n 30 "$f"; done
  fail "launch exited non-zero"
fi
cat "$work/launch.out"
[ -f "$run/tiny/checkpoints/step-00000003/manifest.json" ] || fail "no checkpoint at step 3"
[ -f "$run/tiny/summary.json" ] || fail "rank 0 wrote no summary.json"
steps=$(grep -c '"phase":"grpo"' "$run/tiny/metrics.jsonl")
[ "$steps" = 3 ] || fail "expected 3 GRPO steps in metrics.jsonl, found $steps"
for log in learner-0 learner-1 rollout-0 rollout-1 verifier-0; do
  [ -s "$run/logs/$log.log" ] || fail "missing log $log.log"
done
grep -q "token required" "$run/logs/rollout-0.log" || fail "rollout worker did not require the token"
# The verifier service graded the learners' samples (it prints its counts on SIGTERM).
grep -Eq "served [1-9][0-9]* calls" "$run/logs/verifier-0.log" ||
  fail "the verifier service served no call: $(cat "$run/logs/verifier-0.log")"
# Both ranks trained: rank 1's log shows its steps too.
grep -q "grpo 3/3" "$run/logs/learner-1.log" || fail "rank 1 did not reach step 3"
if grep -rq "launch-test-token-93a1" "$run/logs" "$work/launch.out"; then
  fail "the token appears in a log"
fi
check_no_orphans "$run"

echo "== Ctrl-C stops everything, the learner saving a checkpoint"
run2=$work/run2
# Job control on: a background job started without it ignores SIGINT (as a terminal's
# Ctrl-C would not be), and in its own process group like a foreground command.
set -m
"$launch" --rlvr "$rlvr" --learners 1 --workers 1 --run-dir "$run2" \
  --master-port "$((port + 1))" --worker-args "--kv-mib 32" -- \
  run.name=long learner.steps=100000 checkpoint.every=100000 "${tiny[@]}" >"$work/launch2.out" 2>&1 &
bg=$!
set +m
for _ in $(seq 1 600); do
  if grep -qs '"phase":"grpo"' "$run2/long/metrics.jsonl"; then break; fi
  sleep 0.2
done
grep -qs '"phase":"grpo"' "$run2/long/metrics.jsonl" || { cat "$work/launch2.out"; fail "no GRPO step"; }
kill -INT "$bg"
for _ in $(seq 1 300); do
  running "$bg" || break
  sleep 0.2
done
! running "$bg" || fail "the launcher did not stop within 60 s of SIGINT"
rc=0
wait "$bg" || rc=$?
bg=""
cat "$work/launch2.out"
[ "$rc" = 130 ] || fail "interrupted launch exited $rc, expected 130"
grep -q "interrupted; checkpoint saved" "$run2/logs/learner-0.log" ||
  fail "the learner did not save on stop: $(tail -n 5 "$run2/logs/learner-0.log")"
ls "$run2"/long/checkpoints/step-*/manifest.json >/dev/null || fail "no checkpoint after Ctrl-C"
check_no_orphans "$run2"
echo "PASS"

#!/usr/bin/env bash
# deploy/slurm/rlvr.sbatch for real: starts a private one-node Slurm cluster (its own
# munged, slurmctld and slurmd with their own sockets, ports, state and logs in a
# temporary directory), submits the job with sbatch (2 learner ranks, 1 rollout worker,
# 1 verifier service, a shared token), and checks that training ran its steps and
# wrote a checkpoint. Every daemon is stopped on exit, also on failure.
#   tests/deploy/slurm_test.sh RLVR_BINARY SOURCE_DIR
# Exits 77 (skipped) when not root or Slurm/munge are not installed.
set -euo pipefail
rlvr=$(realpath "${1:?usage: slurm_test.sh RLVR_BINARY SOURCE_DIR}")
src=${2:?usage: slurm_test.sh RLVR_BINARY SOURCE_DIR}

skip() { echo "SKIPPED: $*"; exit 77; }
[ "$(id -u)" = 0 ] || skip "needs root to run slurmd and munged"
for tool in munged slurmctld slurmd sbatch sinfo scontrol squeue scancel; do
  command -v "$tool" >/dev/null || skip "$tool is not installed (Debian: slurm-wlm munge)"
done

work=$(mktemp -d /tmp/rlvr_slurm.XXXXXX)
chmod 755 "$work"
daemons=()
cleanup() {
  set +e
  if [ -f "$work/slurm.conf" ]; then
    SLURM_CONF=$work/slurm.conf scancel --full --quiet --user=root 2>/dev/null
    sleep 1
  fi
  local pid
  for pid in "${daemons[@]}"; do kill -TERM -- "-$pid" 2>/dev/null; done
  for _ in $(seq 1 50); do
    local any=0
    for pid in "${daemons[@]}"; do pgrep -g "$pid" >/dev/null && any=1; done
    [ "$any" = 1 ] || break
    sleep 0.2
  done
  for pid in "${daemons[@]}"; do kill -KILL -- "-$pid" 2>/dev/null; done
  for pid in "${daemons[@]}"; do wait "$pid" 2>/dev/null; done
  # munged forks into the background: stop it through its pid file.
  if [ -f "$work/munged.pid" ]; then kill -TERM "$(cat "$work/munged.pid")" 2>/dev/null; fi
  rm -rf "$work"
}
trap cleanup EXIT
fail() {
  echo "FAIL: $*" >&2
  for f in "$work"/log/*.log "$work"/run/logs/*.log "$work"/job.out; do
    [ -f "$f" ] && { echo "--- $f"; tail -n 40 "$f"; }
  done >&2
  exit 1
}

mkdir -p "$work"/{munge,state,spool,log,run}
chmod 700 "$work/munge"
# munge: a fresh key and a daemon on its own socket.
dd if=/dev/urandom of="$work/munge/munge.key" bs=1024 count=1 status=none
chmod 400 "$work/munge/munge.key"
munged --force --socket="$work/munge/munge.socket" --key-file="$work/munge/munge.key" \
  --pid-file="$work/munged.pid" --log-file="$work/log/munged.log" \
  --seed-file="$work/munge/munged.seed" || fail "munged did not start"

# Five consecutive ports below the kernel's ephemeral range, so no outgoing connection of
# a test running beside this one can hold one of them (a c10d store once failed with
# EADDRINUSE on a port picked inside that range).
read -r ephemeral_low _ </proc/sys/net/ipv4/ip_local_port_range
span=$((ephemeral_low - 10005))
[ "$span" -gt 100 ] || fail "ephemeral port range starts at $ephemeral_low: no room below it"
port=$((10000 + RANDOM % span))
node=$(hostname -s)
cat >"$work/slurm.conf" <<EOF
ClusterName=rlvrtest
SlurmctldHost=$(hostname -s)(127.0.0.1)
SlurmctldPort=$port
SlurmdPort=$((port + 1))
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
AuthInfo=socket=$work/munge/munge.socket
CredType=cred/munge
StateSaveLocation=$work/state
SlurmdSpoolDir=$work/spool
SlurmctldPidFile=$work/slurmctld.pid
SlurmdPidFile=$work/slurmd.pid
SlurmctldLogFile=$work/log/slurmctld.log
SlurmdLogFile=$work/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
SchedulerType=sched/builtin
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
ReturnToService=2
SlurmctldTimeout=30
SlurmdTimeout=30
InactiveLimit=0
KillWait=5
NodeName=$node NodeHostname=$(hostname -s) NodeAddr=127.0.0.1 CPUs=2 State=UNKNOWN
PartitionName=debug Nodes=$node Default=YES MaxTime=INFINITE State=UP OverSubscribe=YES
EOF
export SLURM_CONF=$work/slurm.conf

setsid slurmctld -D -i -f "$SLURM_CONF" >"$work/log/slurmctld.out" 2>&1 &
daemons+=("$!")
setsid slurmd -D -N "$node" -f "$SLURM_CONF" >"$work/log/slurmd.out" 2>&1 &
daemons+=("$!")
for _ in $(seq 1 150); do
  state=$(sinfo -h -n "$node" -o %T 2>/dev/null || true)
  [ "$state" = idle ] && break
  sleep 0.2
done
[ "${state:-}" = idle ] || fail "node not idle (state '${state:-none}')"
echo "slurm up: $(sinfo -h -o '%P %D %T %N')"

printf 'slurm-test-token-77c2\n' >"$work/token"
job=$(RLVR_BIN=$rlvr RLVR_RUN_DIR=$work/run RLVR_LEARNER_NODES=1 RLVR_LEARNERS_PER_NODE=2 \
  RLVR_WORKERS=1 RLVR_VERIFIERS=1 RLVR_WORKER_ARGS="--kv-mib 32" RLVR_TOKEN_FILE=$work/token \
  RLVR_WORKER_PORT=$((port + 2)) RLVR_VERIFIER_PORT=$((port + 3)) MASTER_PORT=$((port + 4)) \
  sbatch --parsable --nodes=1 --ntasks=2 --output="$work/job.out" --chdir="$work" \
  "$src/deploy/slurm/rlvr.sbatch" run.name=tiny learner.steps=3 checkpoint.every=3 sft.steps=2 \
  sft.batch_size=4 learner.prompts_per_step=2 rollout.n=4 rollout.max_new_tokens=8 \
  data.eval_tasks=2) || fail "sbatch refused the job"
echo "submitted job $job"
for _ in $(seq 1 1500); do
  st=$(scontrol show job "$job" 2>/dev/null | sed -n 's/.*JobState=\([A-Z_]*\).*/\1/p')
  case "$st" in COMPLETED|FAILED|CANCELLED|TIMEOUT|NODE_FAIL|OUT_OF_MEMORY) break ;; esac
  sleep 0.2
done
echo "job $job: ${st:-unknown}"
cat "$work/job.out" || true
[ "$st" = COMPLETED ] || fail "job ended in state '${st:-unknown}'"
[ -f "$work/run/tiny/checkpoints/step-00000003/manifest.json" ] || fail "no checkpoint at step 3"
steps=$(grep -c '"phase":"grpo"' "$work/run/tiny/metrics.jsonl")
[ "$steps" = 3 ] || fail "expected 3 GRPO steps, found $steps"
grep -q "grpo 3/3" "$work/run/logs/learner-1.log" || fail "rank 1 did not train"
grep -q "token required" "$work/run/logs/rollout-0.log" || fail "worker ran without the token"
echo "PASS"

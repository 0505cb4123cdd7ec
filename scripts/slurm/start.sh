#!/usr/bin/env bash
# Start a one-node SLURM cluster on this machine, as root, without systemd or cgroups.
#
#   scripts/slurm/start.sh [STATE_DIR]      (default: /tmp/peftlab-slurm)
#
# Everything the cluster needs lives in STATE_DIR: its own munge key, socket and daemon, its own
# slurm.conf (one node = this host with the CPUs and memory `slurmd -C` reports), state, spool and
# logs. On success it prints `export SLURM_CONF=STATE_DIR/slurm.conf`; clients (sbatch, squeue,
# scontrol, peftlab) find the cluster through that variable. Stop it with scripts/slurm/stop.sh.
#
# Exit codes: 0 started (or already running), 1 failed to start, 3 not root, 4 packages missing,
# 5 ports 6817/6818 taken by another cluster.
set -euo pipefail

STATE_DIR="${1:-${PEFTLAB_SLURM_DIR:-/tmp/peftlab-slurm}}"
# How long finished jobs stay visible to `scontrol show job` (SLURM's default is 300 s). The
# coordinator reads job state without sacct, so it must outlive a coordinator restart.
MIN_JOB_AGE_SECONDS="${PEFTLAB_SLURM_MIN_JOB_AGE_SECONDS:-86400}"
START_TIMEOUT_SECONDS="${PEFTLAB_SLURM_START_TIMEOUT_SECONDS:-60}"

if [ "$(id -u)" -ne 0 ]; then
  echo "slurm: start.sh must run as root (the daemons run jobs as any user)" >&2
  exit 3
fi
for tool in munged slurmctld slurmd sbatch scontrol sinfo; do
  if ! command -v "$tool" >/dev/null 2>&1 && [ ! -x "/usr/sbin/$tool" ]; then
    echo "slurm: '$tool' not found; install: apt-get install -y slurmctld slurmd slurm-client munge" >&2
    exit 4
  fi
done
export PATH="$PATH:/usr/sbin:/sbin"

mkdir -p "$STATE_DIR"
STATE_DIR="$(cd "$STATE_DIR" && pwd)"
CONF="$STATE_DIR/slurm.conf"
export SLURM_CONF="$CONF"

if [ -f "$CONF" ] && timeout 5 scontrol ping 2>/dev/null | grep -q "is UP"; then
  echo "slurm: already running from $STATE_DIR"
  echo "export SLURM_CONF=$CONF"
  exit 0
fi

port_busy() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }
for port in 6817 6818; do
  if port_busy "$port"; then
    echo "slurm: port $port is in use: another SLURM cluster runs on this machine" \
      "(stop it first, e.g. scripts/slurm/stop.sh /tmp/peftlab-slurm)" >&2
    exit 5
  fi
done

started_ms=$(date +%s%3N)
chmod 0755 "$STATE_DIR"
mkdir -p "$STATE_DIR/munge" "$STATE_DIR/ctld" "$STATE_DIR/spool" "$STATE_DIR/log"
chmod 0700 "$STATE_DIR/munge"

# --- munge: own key, socket, pid and seed; --force accepts a socket under a sticky /tmp ---
MUNGE_SOCKET="$STATE_DIR/munge/munge.socket"
if [ -f "$STATE_DIR/munge/munged.pid" ] && kill -0 "$(cat "$STATE_DIR/munge/munged.pid")" 2>/dev/null; then
  :
else
  if [ ! -s "$STATE_DIR/munge/munge.key" ]; then
    dd if=/dev/urandom of="$STATE_DIR/munge/munge.key" bs=1024 count=1 status=none
  fi
  chmod 0400 "$STATE_DIR/munge/munge.key"
  munged --force \
    --key-file="$STATE_DIR/munge/munge.key" \
    --socket="$MUNGE_SOCKET" \
    --pid-file="$STATE_DIR/munge/munged.pid" \
    --seed-file="$STATE_DIR/munge/munged.seed" \
    --log-file="$STATE_DIR/log/munged.log"
fi

# --- slurm.conf: this host as the only node, with its real CPUs and memory ---
NODE_LINE="$(slurmd -C | head -n 1)"
NODE_NAME="$(echo "$NODE_LINE" | sed -E 's/^NodeName=([^ ]+).*/\1/')"
cat >"$CONF" <<CONF
# Written by peftlab scripts/slurm/start.sh: a one-node test cluster.
ClusterName=peftlab
SlurmctldHost=$NODE_NAME
SlurmctldPort=6817
SlurmdPort=6818
SlurmUser=root
SlurmdUser=root
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$MUNGE_SOCKET
StateSaveLocation=$STATE_DIR/ctld
SlurmdSpoolDir=$STATE_DIR/spool
SlurmctldPidFile=$STATE_DIR/slurmctld.pid
SlurmdPidFile=$STATE_DIR/slurmd.pid
SlurmctldLogFile=$STATE_DIR/log/slurmctld.log
SlurmdLogFile=$STATE_DIR/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/backfill
# Schedule as soon as a job ends or is submitted (defaults wait up to 3 s per dependency step).
SchedulerParameters=batch_sched_delay=0,sched_min_interval=0
SelectType=select/cons_tres
SelectTypeParameters=CR_Core
ReturnToService=2
MinJobAge=$MIN_JOB_AGE_SECONDS
KillWait=5
InactiveLimit=0
$NODE_LINE State=UNKNOWN
PartitionName=main Nodes=$NODE_NAME Default=YES MaxTime=INFINITE State=UP
CONF

# -i: ignore state left by an earlier cluster in this directory (stale jobs, nodes)
slurmctld -i -f "$CONF"
slurmd -f "$CONF"

deadline=$(( $(date +%s) + START_TIMEOUT_SECONDS ))
until sinfo -h -N -o "%N %t" 2>/dev/null | grep -Eq "^$NODE_NAME (idle|mix|alloc)"; do
  daemons_gone=""
  for pid_file in "$STATE_DIR/slurmctld.pid" "$STATE_DIR/slurmd.pid"; do
    if [ -f "$pid_file" ] && ! kill -0 "$(cat "$pid_file")" 2>/dev/null; then daemons_gone=1; fi
  done
  if [ "$(date +%s)" -ge "$deadline" ] || [ -n "$daemons_gone" ]; then
    echo "slurm: node $NODE_NAME not idle (a daemon exited, or ${START_TIMEOUT_SECONDS}s passed);" \
      "logs in $STATE_DIR/log" >&2
    sinfo -N 2>&1 | sed 's/^/  sinfo: /' >&2 || true
    tail -n 20 "$STATE_DIR/log/slurmctld.log" "$STATE_DIR/log/slurmd.log" >&2 || true
    exit 1
  fi
  sleep 0.2
done
echo "slurm: started in $(( $(date +%s%3N) - started_ms )) ms from $STATE_DIR (node $NODE_NAME)"
echo "export SLURM_CONF=$CONF"

#!/usr/bin/env bash
# Stop the one-node cluster that scripts/slurm/start.sh started from STATE_DIR.
#
#   scripts/slurm/stop.sh [STATE_DIR]       (default: /tmp/peftlab-slurm)
#
# `scontrol shutdown` stops slurmctld and slurmd (running jobs are killed); then munged is
# stopped by its pid file. Safe to run when nothing is running.
set -uo pipefail

STATE_DIR="${1:-${PEFTLAB_SLURM_DIR:-/tmp/peftlab-slurm}}"
export PATH="$PATH:/usr/sbin:/sbin"
export SLURM_CONF="$STATE_DIR/slurm.conf"
STOP_TIMEOUT_SECONDS=20

wait_gone() { # pid-file
  [ -f "$1" ] || return 0
  local pid deadline
  pid="$(cat "$1" 2>/dev/null)" || return 0
  deadline=$(( $(date +%s) + STOP_TIMEOUT_SECONDS ))
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$(date +%s)" -ge "$deadline" ]; then
      echo "slurm: pid $pid ($1) still alive after ${STOP_TIMEOUT_SECONDS}s, killing" >&2
      kill -9 "$pid" 2>/dev/null
      break
    fi
    sleep 0.1
  done
  rm -f "$1"
}

if [ -f "$SLURM_CONF" ]; then
  timeout 10 scontrol shutdown >/dev/null 2>&1 || true
  wait_gone "$STATE_DIR/slurmctld.pid"
  # slurmd stops on `scontrol shutdown` unless the controller was already gone
  if [ -f "$STATE_DIR/slurmd.pid" ] && kill -0 "$(cat "$STATE_DIR/slurmd.pid")" 2>/dev/null; then
    kill "$(cat "$STATE_DIR/slurmd.pid")" 2>/dev/null
  fi
  wait_gone "$STATE_DIR/slurmd.pid"
fi
if [ -f "$STATE_DIR/munge/munged.pid" ]; then
  kill "$(cat "$STATE_DIR/munge/munged.pid")" 2>/dev/null
  wait_gone "$STATE_DIR/munge/munged.pid"
fi
echo "slurm: stopped ($STATE_DIR)"

#!/usr/bin/env bash
# A real single-node Slurm (Debian's slurmctld + slurmd + munge, Slurm 22.05 on
# Debian 12) for Horizon's tests, without systemd, bound to 127.0.0.1.
#   scripts/slurm.sh up     install when missing, (re)start, wait until idle
#   scripts/slurm.sh down   stop what `up` started
# Needs root (apt, munge, the daemons). State, logs and pid files live in
# $SLURM_DIR (default /tmp/horizon-slurm); slurm.conf at $SLURM_CONF (default
# /etc/slurm/slurm.conf, so clients need no SLURM_CONF).
set -euo pipefail

SLURM_DIR=${SLURM_DIR:-/tmp/horizon-slurm}
SLURM_CONF=${SLURM_CONF:-/etc/slurm/slurm.conf}
export SLURM_CONF

stop_daemons() {
  for f in "$SLURM_DIR/run/slurmd.pid" "$SLURM_DIR/run/slurmctld.pid"; do
    [ -s "$f" ] || continue
    p=$(cat "$f")
    if kill "$p" 2>/dev/null; then
      for _ in $(seq 100); do kill -0 "$p" 2>/dev/null || break; sleep 0.1; done
    fi
    rm -f "$f"
  done
}

install_packages() {
  if command -v slurmctld >/dev/null && command -v slurmd >/dev/null \
    && command -v sbatch >/dev/null && command -v munged >/dev/null; then
    return
  fi
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null
}

start_munge() {
  if munge -n 2>/dev/null | unmunge >/dev/null 2>&1; then return; fi
  [ -s /etc/munge/munge.key ] || runuser -u munge -- mungekey --create
  install -d -o munge -g munge -m 0755 /run/munge
  runuser -u munge -- /usr/sbin/munged
  for _ in $(seq 50); do munge -n 2>/dev/null | unmunge >/dev/null 2>&1 && break; sleep 0.1; done
  munge -n | unmunge >/dev/null
}

write_conf() {
  # the node's memory as slurmd detects it (without RealMemory any --mem job is
  # refused), and 16 CPUs whatever the machine has (config_overrides), so the
  # tests' jobs, mostly asleep, do not queue behind each other on 2 cores
  local mem
  mem=$(slurmd -C | head -n1 | grep -o 'RealMemory=[0-9]*')
  mkdir -p "$(dirname "$SLURM_CONF")"
  cat > "$SLURM_CONF" <<CONF
ClusterName=horizon-ci
SlurmctldHost=localhost(127.0.0.1)
SlurmUser=root
AuthType=auth/munge
CredType=cred/munge
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmctldPort=6817
SlurmdPort=6818
StateSaveLocation=$SLURM_DIR/state
SlurmdSpoolDir=$SLURM_DIR/spool
SlurmctldPidFile=$SLURM_DIR/run/slurmctld.pid
SlurmdPidFile=$SLURM_DIR/run/slurmd.pid
SlurmctldLogFile=$SLURM_DIR/log/slurmctld.log
SlurmdLogFile=$SLURM_DIR/log/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=200
SlurmdParameters=config_overrides
JobAcctGatherType=jobacct_gather/linux
JobAcctGatherFrequency=task=1
JobAcctGatherParams=OverMemoryKill
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$SLURM_DIR/log/jobcomp.log
MpiDefault=none
ReturnToService=2
MinJobAge=3600
KillWait=5
SchedulerParameters=batch_sched_delay=0
NodeName=localhost NodeAddr=127.0.0.1 CPUs=16 $mem Feature=horizon State=UNKNOWN
PartitionName=debug Nodes=localhost Default=YES MaxTime=INFINITE State=UP
# jobs sent here wait in PENDING for as long as a test needs them to
PartitionName=parked Nodes=localhost MaxTime=INFINITE State=DOWN
CONF
}

up() {
  install_packages
  stop_daemons
  mkdir -p "$SLURM_DIR"/{state,spool,log,run}
  start_munge
  write_conf
  slurmctld -f "$SLURM_CONF"
  slurmd -f "$SLURM_CONF" -N localhost
  for _ in $(seq 300); do
    if [ "$(sinfo -h -N -o %T 2>/dev/null | head -n1)" = idle ]; then
      sinfo
      return
    fi
    sleep 0.1
  done
  echo "Slurm did not become ready" >&2
  sinfo -N -l >&2 || true
  tail -n 50 "$SLURM_DIR"/log/slurmctld.log "$SLURM_DIR"/log/slurmd.log >&2 || true
  exit 1
}

case "${1:-}" in
  up) up ;;
  down) stop_daemons ;;
  *) echo "usage: $0 up|down" >&2; exit 2 ;;
esac

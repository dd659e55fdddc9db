#!/usr/bin/env bash
# A single-node Slurm on localhost for tests/cli_slurm.sh: installs Debian's slurm-wlm
# daemons and munge when missing, then starts munged, slurmctld and slurmd with every
# file (key, socket, slurm.conf, state, logs, pids) inside DIR, on ports of their own, so
# nothing of the machine's own setup is used or touched.
#   scripts/slurm_local.sh start DIR   exit 0 when sinfo shows the node idle; prints
#                                      'export SLURM_CONF=DIR/slurm.conf'
#   scripts/slurm_local.sh stop DIR    stops the daemons start left in DIR (by their pids)
# Exit 2: Slurm cannot be installed or started here (the reason on stderr, logs in DIR).
set -uo pipefail
cmd=${1:-}
dir=${2:-}
[ -n "$cmd" ] && [ -n "$dir" ] || { echo "usage: $0 start|stop DIR" >&2; exit 1; }

stop() {
	for p in slurmd slurmctld munged; do
		[ -f "$dir/$p.pid" ] || continue
		pid=$(cat "$dir/$p.pid")
		kill "$pid" 2>/dev/null
		for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.1; done
		kill -9 "$pid" 2>/dev/null
		rm -f "$dir/$p.pid"
	done
	return 0
}

if [ "$cmd" = stop ]; then
	stop
	exit 0
fi
[ "$cmd" = start ] || { echo "usage: $0 start|stop DIR" >&2; exit 1; }

need=()
for b in slurmctld slurmd sbatch munged; do
	command -v "$b" >/dev/null 2>&1 || [ -x "/usr/sbin/$b" ] || need+=("$b")
done
if [ ${#need[@]} -gt 0 ]; then
	SUDO=""
	[ "$(id -u)" -eq 0 ] || SUDO="sudo -n"
	echo "slurm_local: installing slurmctld slurmd slurm-client munge (missing: ${need[*]})" >&2
	export DEBIAN_FRONTEND=noninteractive
	{ $SUDO apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1 ||
		{ $SUDO apt-get update -q >/dev/null 2>&1 &&
			$SUDO apt-get install -y -q --no-install-recommends slurmctld slurmd slurm-client munge >/dev/null 2>&1; }; } ||
		{ echo "slurm_local: cannot install Slurm (apt-get failed)" >&2; exit 2; }
fi
[ "$(id -u)" -eq 0 ] || { echo "slurm_local: the daemons need root here (slurmd runs jobs as their user)" >&2; exit 2; }
export PATH=$PATH:/usr/sbin

mkdir -p "$dir"/{state,spool,munge} || exit 2
dir=$(cd "$dir" && pwd)
host=$(hostname -s)
base=$((20000 + ($$ % 20000)))
dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 2>/dev/null
chmod 0400 "$dir/munge/munge.key"
chmod 0700 "$dir/munge"
munged --foreground --force --key-file="$dir/munge/munge.key" --socket="$dir/munge/munge.socket" \
	--pid-file="$dir/munge/munged.pid" --log-file="$dir/munged.log" --seed-file="$dir/munge/seed" >"$dir/munged.out" 2>&1 &
echo $! >"$dir/munged.pid"

cat >"$dir/slurm.conf" <<EOF
ClusterName=kvlabtest
SlurmctldHost=$host(127.0.0.1)
SlurmctldPort=$base
SlurmdPort=$((base + 1))
AuthType=auth/munge
AuthInfo=socket=$dir/munge/munge.socket
CredType=cred/munge
SlurmUser=root
SlurmdUser=root
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.daemon.pid
SlurmdPidFile=$dir/slurmd.daemon.pid
SlurmctldLogFile=$dir/slurmctld.log
SlurmdLogFile=$dir/slurmd.log
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/none
MpiDefault=none
SwitchType=switch/none
SchedulerType=sched/builtin
SelectType=select/cons_tres
SelectTypeParameters=CR_CPU
SlurmdParameters=config_overrides
ReturnToService=2
MinJobAge=600
NodeName=$host NodeAddr=127.0.0.1 CPUs=4 RealMemory=4000 State=UNKNOWN
PartitionName=debug Nodes=$host Default=YES MaxTime=INFINITE State=UP
EOF
export SLURM_CONF=$dir/slurm.conf
for _ in $(seq 1 50); do [ -S "$dir/munge/munge.socket" ] && break; sleep 0.1; done
[ -S "$dir/munge/munge.socket" ] || { echo "slurm_local: munged did not start (see $dir/munged.log)" >&2; stop; exit 2; }
slurmctld -D -c -i -f "$dir/slurm.conf" >"$dir/slurmctld.out" 2>&1 &
echo $! >"$dir/slurmctld.pid"
sleep 1
slurmd -D -f "$dir/slurm.conf" >"$dir/slurmd.out" 2>&1 &
echo $! >"$dir/slurmd.pid"
for _ in $(seq 1 100); do
	state=$(sinfo -h -o '%t' 2>/dev/null | head -1)
	[ "$state" = idle ] && { echo "export SLURM_CONF=$dir/slurm.conf"; exit 0; }
	sleep 0.2
done
echo "slurm_local: the node did not come up idle (state '${state:-none}'; see $dir/slurmctld.log, $dir/slurmd.log)" >&2
tail -3 "$dir/slurmctld.log" "$dir/slurmd.log" "$dir/slurmd.out" >&2 2>/dev/null
stop
exit 2

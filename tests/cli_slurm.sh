#!/usr/bin/env bash
# kvlab sweep --slurm on a real single-node Slurm started on localhost
# (scripts/slurm_local.sh: munged, slurmctld, slurmd, every file in a temp folder): a
# 4-shard sweep through sbatch --array and the afterok merge job equals the same sweep run
# locally, no row lost or doubled; then a shard killed mid-way and resubmitted resumes and
# the merge again equals the local sweep. Stops every daemon it started. Skips only when
# Slurm cannot be installed or started here. Takes about a minute.
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
T=tests/golden/tiny_llama
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
tmp=$(mktemp -d)
. tests/lib_cli.sh
cleanup() {
	if [ -n "${SLURM_CONF:-}" ]; then
		scancel --quiet --user="$(id -un)" 2>/dev/null
		for _ in $(seq 1 50); do [ -z "$(squeue -h 2>/dev/null)" ] && break; sleep 0.2; done
	fi
	bash scripts/slurm_local.sh stop "$tmp/slurm"
	rm -rf "$tmp"
}
trap cleanup EXIT
t0=$(date +%s)

if ! out=$(bash scripts/slurm_local.sh start "$tmp/slurm" 2>&1); then
	skip slurm_sweep "Slurm cannot be installed or started here: $(printf '%s' "$out" | tail -1)"
	exit 0
fi
export SLURM_CONF=$tmp/slurm/slurm.conf
export PATH=$PATH:/usr/sbin
export KVLAB_LOCAL_DIR=$tmp/local # the array tasks' node-local databases

q1() { sqlite3 "$1" "$2" 2>/dev/null; }
rows() {
	q1 "$1" "SELECT run_id, sample_id, idx, n_prompt, prediction, n_generated, kv_bytes FROM samples ORDER BY 1, 2;
		 SELECT * FROM scores ORDER BY 1, 2, 3; SELECT run_id, config_json FROM runs ORDER BY 1;
		 SELECT * FROM sweep_runs ORDER BY 1, 2; SELECT sweep_id, spec_json FROM sweeps ORDER BY 1"
}
dups() { q1 "$1" "SELECT COUNT(*) - COUNT(DISTINCT run_id || '/' || sample_id) FROM samples"; }
# wait_job ID SECONDS: until the job leaves the queue; its final state on stdout
wait_job() {
	for _ in $(seq 1 $(($2 * 5))); do
		[ -z "$(squeue -h -j "$1" 2>/dev/null)" ] && break
		sleep 0.2
	done
	scontrol show job "$1" 2>/dev/null | grep -oE 'JobState=[A-Z_]+' | head -1 | cut -d= -f2
}

# 1. a 4-shard sweep through sbatch equals the same sweep run locally
A=(--model $T --task needle --context_lengths 400 --depths 0,25,50,75,100 --threads 1
	--method fastkv --eviction_mode proportional --grid 'tsp_idx=0,1 retain_rate=0.1,0.3')
$K sweep "${A[@]}" --db "$tmp/ref.db" >/dev/null 2>"$tmp/ref.err"
if $K sweep "${A[@]}" --slurm --shards 4 --slurm_dir "$tmp/sw" --db "$tmp/merged.db" >"$tmp/sub.out" 2>"$tmp/sub.err"; then
	read -r array merge < <(sed -n 2p "$tmp/sub.out")
	state=$(wait_job "$merge" 120)
	if [ "$state" = COMPLETED ] && [ "$(dups "$tmp/merged.db")" = 0 ] && [ "$(q1 "$tmp/merged.db" "SELECT COUNT(*) FROM samples")" = 20 ] &&
		[ "$(rows "$tmp/merged.db")" = "$(rows "$tmp/ref.db")" ]; then
		ok slurm_sweep_of_4_shards_should_equal_the_local_sweep
	else
		fail slurm_sweep_of_4_shards_should_equal_the_local_sweep "merge job $merge: ${state:-?}; $(tail -2 "$tmp/sw/logs/"*.log 2>/dev/null | tail -4)"
	fi
else
	fail slurm_sweep_of_4_shards_should_equal_the_local_sweep "$(tail -2 "$tmp/sub.err")"
fi

# 2. shard 0 killed mid-way: the merge waits (afterok); resubmitted, the shard resumes from its
#    local database and the merge equals the local sweep
B=(--model $M --task needle --context_lengths 600 --depths 0,10,20,30,40,50,60,70,80,90,100 --threads 1
	--method snapkv --grid 'max_capacity_prompts=64,128')
$K sweep "${B[@]}" --db "$tmp/ref2.db" >/dev/null 2>"$tmp/ref2.err"
$K sweep "${B[@]}" --slurm --shards 4 --slurm_dir "$tmp/sw2" --db "$tmp/merged2.db" >"$tmp/sub2.out" 2>"$tmp/sub2.err"
id=$(sed -n 1p "$tmp/sub2.out")
read -r array merge < <(sed -n 2p "$tmp/sub2.out")
local0="$KVLAB_LOCAL_DIR/kvlab-sweep-${id:0:12}-shard-0.db"
killed=0
for _ in $(seq 1 600); do
	n=$(q1 "$local0" "SELECT COUNT(*) FROM samples" || echo 0)
	if [ "${n:-0}" -ge 2 ] 2>/dev/null; then
		[ "$n" -lt 6 ] && scancel "${array}_0" && killed=$n
		break
	fi
	sleep 0.05
done
for i in 1 2 3; do wait_job "${array}_$i" 120 >/dev/null; done
wait_job "${array}_0" 30 >/dev/null
sleep 1
mstate=$(scontrol show job "$merge" 2>/dev/null | grep -oE 'Reason=[A-Za-z]+' | head -1)
if [ "$killed" -gt 0 ] && [ ! -e "$tmp/merged2.db" ] && [ ! -e "$tmp/sw2/shards/shard-0.db" ]; then
	ok slurm_killed_shard_should_hold_back_the_merge
else
	fail slurm_killed_shard_should_hold_back_the_merge "killed after $killed samples; merge: $mstate"
fi
scancel "$merge" 2>/dev/null
again=$(sbatch --parsable --array=0 "$tmp/sw2/array.sh")
merge2=$(sbatch --parsable --dependency=afterok:"$again" "$tmp/sw2/merge.sh")
state=$(wait_job "$merge2" 180)
if [ "$state" = COMPLETED ] && [ "$(dups "$tmp/merged2.db")" = 0 ] && [ "$(q1 "$tmp/merged2.db" "SELECT COUNT(*) FROM samples")" = 22 ] &&
	[ "$(rows "$tmp/merged2.db")" = "$(rows "$tmp/ref2.db")" ] &&
	grep -qE "[1-9][0-9]* already present" "$tmp/sw2/logs/shard-0.log"; then
	ok slurm_resubmitted_shard_should_resume_and_merge_to_the_local_sweep
else
	fail slurm_resubmitted_shard_should_resume_and_merge_to_the_local_sweep "merge job $merge2: ${state:-?}; $(tail -3 "$tmp/sw2/logs/shard-0.log" "$tmp/sw2/logs/merge.log" 2>/dev/null)"
fi
echo "# cli_slurm.sh took $(($(date +%s) - t0)) s"

#!/usr/bin/env bash
# Decode (and prefill) speed of kvlab against llama.cpp on the same GGUF, same threads,
# same KV type, measured interleaved (llama.cpp, kvlab, llama.cpp, kvlab, ...) so that
# drift on a shared machine hurts both alike. llama.cpp is built from the source that
# PyPI's llama-cpp-python sdist vendors (vendor/llama.cpp), CPU only, in a folder outside
# the repository (default /work/llamacpp, or $LLAMACPP_DIR); nothing of it is committed.
#
#   scripts/bench_vs_llamacpp.sh            the issue's points: 512, 2048, 8192 x 1, 2 threads
#   scripts/bench_vs_llamacpp.sh --quick    512 and 2048 at 1 thread, fewer tokens and rounds
#
# Prints one table: context, threads, KV type, decode tok/s of each (median over the
# rounds) and their ratio (kvlab / llama.cpp), and prefill tok/s at that context.
# Flags: --quick, --kv_dtype f16|f32|bf16 (kvlab's cache; llama.cpp's too for f16 and
# bf16, its default; llama-bench takes no f32 cache, so f32 compares kvlab's f32 against
# llama.cpp's f16), --dtype fp32|int8 (kvlab's --dtype; int8 takes decode's Q4_1 products
# with x as bytes, as llama.cpp does), --ctx "512 2048", --threads "1 2", --gen N (decoded
# tokens per measurement), --rounds N, --model PATH, --kvlab PATH, --dir DIR, --build_only.
set -euo pipefail

here=$(cd "$(dirname "$0")/.." && pwd)
dir=${LLAMACPP_DIR:-/work/llamacpp}
model="$here/models/SmolLM2-135M-Instruct.Q4_1.gguf"
kvlab="$here/build/rel/kvlab"
ctxs="512 2048 8192"
threads="1 2"
gen=64
rounds=3
kvt=f16
dtype=fp32
build_only=0

die() { echo "bench_vs_llamacpp: $*" >&2; exit 1; }

while [ $# -gt 0 ]; do
	case "$1" in
	--quick) ctxs="512 2048"; threads="1"; gen=32; rounds=2 ;;
	--kv_dtype) kvt=${2:?--kv_dtype needs f16, f32 or bf16}; shift ;;
	--dtype) dtype=${2:?--dtype needs fp32 or int8}; shift ;;
	--ctx) ctxs=${2:?--ctx needs a list}; shift ;;
	--threads) threads=${2:?--threads needs a list}; shift ;;
	--gen) gen=${2:?--gen needs a number}; shift ;;
	--rounds) rounds=${2:?--rounds needs a number}; shift ;;
	--model) model=${2:?--model needs a path}; shift ;;
	--kvlab) kvlab=${2:?--kvlab needs a path}; shift ;;
	--dir) dir=${2:?--dir needs a folder}; shift ;;
	--build_only) build_only=1 ;;
	-h|--help) sed -n '2,17p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
	*) die "unknown flag '$1' (see --help)" ;;
	esac
	shift
done
case "$kvt" in f16|f32|bf16) ;; *) die "--kv_dtype: expected f16, f32 or bf16, got '$kvt'" ;; esac
case "$dtype" in fp32|int8) ;; *) die "--dtype: expected fp32 or int8, got '$dtype'" ;; esac
lkvt=$kvt
[ "$kvt" = f32 ] && lkvt=f16 # llama-bench's cache types are f16, bf16 and quantised ones
for v in $ctxs $threads $gen $rounds; do
	case "$v" in ''|*[!0-9]*) die "--ctx/--threads/--gen/--rounds: expected positive integers, got '$v'" ;; esac
done
case "$dir" in "$here"|"$here"/*) die "--dir $dir: llama.cpp must be built outside the repository" ;; esac

# ---------------------------------------------------------------------------- llama.cpp
bench_bin="$dir/build/bin/llama-bench"
if [ ! -x "$bench_bin" ]; then
	mkdir -p "$dir"
	sdist=$(ls "$dir"/llama_cpp_python-*.tar.gz 2>/dev/null | tail -n 1 || true)
	if [ -z "$sdist" ]; then
		echo "bench_vs_llamacpp: downloading the llama-cpp-python sdist into $dir" >&2
		pip download --no-binary :all: --no-deps -d "$dir" llama-cpp-python >&2 || die "pip download failed"
		sdist=$(ls "$dir"/llama_cpp_python-*.tar.gz | tail -n 1)
	fi
	src="${sdist%.tar.gz}"
	[ -d "$src/vendor/llama.cpp" ] || tar xzf "$sdist" -C "$dir"
	[ -f "$src/vendor/llama.cpp/CMakeLists.txt" ] || die "$sdist: no vendor/llama.cpp inside"
	echo "bench_vs_llamacpp: building llama-bench from $src/vendor/llama.cpp (CPU only, native, Release)" >&2
	cmake -S "$src/vendor/llama.cpp" -B "$dir/build" -DCMAKE_BUILD_TYPE=Release -DGGML_NATIVE=ON -DGGML_CUDA=OFF \
		-DGGML_METAL=OFF -DGGML_VULKAN=OFF -DLLAMA_CURL=OFF -DLLAMA_OPENSSL=OFF -DLLAMA_BUILD_TESTS=OFF \
		-DLLAMA_BUILD_EXAMPLES=OFF -DLLAMA_BUILD_SERVER=OFF -DLLAMA_BUILD_TOOLS=ON >&2 || die "cmake configure failed"
	cmake --build "$dir/build" --target llama-bench -j "$(nproc)" >&2 || die "cmake build failed"
	[ -x "$bench_bin" ] || die "$bench_bin was not built"
fi
[ "$build_only" = 1 ] && { echo "$bench_bin"; exit 0; }

# ---------------------------------------------------------------------------- kvlab
[ -x "$kvlab" ] || die "$kvlab: not built (make -j2 all)"
[ -f "$model" ] || die "--model $model: no such file"
tmp=$(mktemp -d)
trap 'rm -rf "$tmp"' EXIT

# llama.cpp: decode of gen tokens after a prompt of depth N (-d N), and the prefill of
# N tokens, one repetition after llama-bench's own warm-up; tok/s from its CSV.
llama_once() { # N threads -> "decode_tps prefill_tps"
	local n=$1 t=$2 out="$tmp/l.csv"
	"$bench_bin" -m "$model" -t "$t" -r 1 -o csv -ctk "$lkvt" -ctv "$lkvt" -fa 1 -p "$n" -n 0 -d 0 >"$out.p" 2>/dev/null ||
		die "llama-bench failed (prefill N=$n t=$t)"
	"$bench_bin" -m "$model" -t "$t" -r 1 -o csv -ctk "$lkvt" -ctv "$lkvt" -fa 1 -p 0 -n "$gen" -d "$n" >"$out.d" 2>/dev/null ||
		die "llama-bench failed (decode N=$n t=$t)"
	local pcol dcol
	pcol=$(head -n 1 "$out.p" | tr ',' '\n' | grep -n '^"*avg_ts"*$' | cut -d: -f1)
	dcol=$(head -n 1 "$out.d" | tr ',' '\n' | grep -n '^"*avg_ts"*$' | cut -d: -f1)
	echo "$(tail -n 1 "$out.d" | cut -d, -f"$dcol" | tr -d '"') $(tail -n 1 "$out.p" | cut -d, -f"$pcol" | tr -d '"')"
}

# kvlab: one e2e run of fullkv (prefill N, then gen decode steps) after one warm-up;
# tok/s from the progress line of the timed run.
kvlab_once() { # N threads -> "decode_tps prefill_tps"
	local n=$1 t=$2 log="$tmp/k.log"
	rm -f "$tmp/k.db"*
	"$kvlab" bench e2e --model "$model" --methods fullkv --context_lengths "$n" --genlen $((gen + 1)) --threads "$t" \
		--warmups 1 --runs 1 --kv_dtype "$kvt" --dtype "$dtype" --db "$tmp/k.db" >/dev/null 2>"$log" || { cat "$log" >&2; die "kvlab bench failed"; }
	grep ' run 1/1 ' "$log" | sed -E 's/.*prefill ([0-9.]+) ms, decode ([0-9.]+) ms\/token.*/\2 \1/' |
		awk -v n="$n" '{ printf "%.3f %.3f\n", 1000 / $1, 1000 * n / $2 }'
}

median() { sort -g | awk '{ v[NR] = $1 } END { if (NR % 2) print v[(NR + 1) / 2]; else print (v[NR / 2] + v[NR / 2 + 1]) / 2 }'; }

echo "# $(date -u +%FT%TZ) $(grep -m1 'model name' /proc/cpuinfo | cut -d: -f2 | sed 's/^ //'), $(nproc) cores"
echo "# model $model; kvlab at $(git -C "$here" rev-parse --short HEAD 2>/dev/null || echo '?')"
echo "# llama.cpp from $(ls -d "$dir"/llama_cpp_python-*/ 2>/dev/null | tail -n 1), flash attention on; KV kvlab $kvt, llama.cpp $lkvt; kvlab --dtype $dtype"
echo "# $rounds interleaved rounds (llama.cpp, kvlab) per point, decode over $gen tokens after N, medians"
printf '%6s %3s %7s | %12s %12s %6s | %13s %13s %6s\n' N thr kv "llama dec/s" "kvlab dec/s" ratio "llama pre/s" "kvlab pre/s" ratio
for n in $ctxs; do
	for t in $threads; do
		: >"$tmp/ld"; : >"$tmp/lp"; : >"$tmp/kd"; : >"$tmp/kp"
		for _ in $(seq "$rounds"); do
			read -r d p < <(llama_once "$n" "$t"); echo "$d" >>"$tmp/ld"; echo "$p" >>"$tmp/lp"
			read -r d p < <(kvlab_once "$n" "$t"); echo "$d" >>"$tmp/kd"; echo "$p" >>"$tmp/kp"
		done
		ld=$(median <"$tmp/ld"); lp=$(median <"$tmp/lp"); kd=$(median <"$tmp/kd"); kp=$(median <"$tmp/kp")
		awk -v n="$n" -v t="$t" -v k="$kvt/$lkvt" -v ld="$ld" -v kd="$kd" -v lp="$lp" -v kp="$kp" 'BEGIN {
			printf "%6d %3d %7s | %12.1f %12.1f %5.2fx | %13.1f %13.1f %5.2fx\n", n, t, k, ld, kd, kd / ld, lp, kp, kp / lp }'
	done
done

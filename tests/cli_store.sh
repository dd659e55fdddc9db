#!/usr/bin/env bash
# The results store's promises to reading commands (report, plot, export): a read-only
# database (file and folder) is read, not refused; a SQLite file that is not kvlab's is
# refused and left byte for byte as it was (report used to add kvlab's schema to it); a
# damaged database is an error with a non-zero exit (it used to read as "no runs", exit 0).
# Prints 'ok NAME' / 'FAIL NAME' / 'skip NAME: why' per case (tests/run.sh counts them).
set -u
cd "$(dirname "$0")/.."
K=${KVLAB:-./kvlab}
K=$(cd "$(dirname "$K")" && pwd)/$(basename "$K")
M=models/SmolLM2-135M-Instruct.Q4_1.gguf
tmp=$(mktemp -d)
chmod 755 "$tmp"
trap 'chmod -R u+w "$tmp" 2>/dev/null; rm -rf "$tmp"' EXIT
. tests/lib_cli.sh

# one real run (one tiny needle cell), the database every case copies
db="$tmp/kv.db"
expect store_setup_run 0 "1 samples stored now" -- \
	$K run --task needle --model "$M" --context_lengths 300 --depths 50 --method fullkv --threads 1 --db "$db"
snap() { (cd "$1" && ls -la --time-style=+%s.%N . | grep -v ' \.\.$' && sha256sum ./* 2>/dev/null); }

# read-only: root ignores permission bits, so the readers run as nobody when we are root
ro="$tmp/ro"
mkdir "$ro" && cp "$db" "$ro/kv.db" && chmod 444 "$ro/kv.db" && chmod 555 "$ro"
reader=()
if [ "$(id -u)" = 0 ]; then
	if command -v setpriv >/dev/null 2>&1; then
		reader=(setpriv --reuid 65534 --regid 65534 --clear-groups)
	else
		reader=(none)
	fi
fi
if [ "${reader[0]:-}" = none ]; then
	skip report_should_read_a_read_only_database "running as root without setpriv: nothing here is read-only"
else
	before=$(snap "$ro")
	expect report_should_read_a_read_only_database 0 "fullkv .* overlap=" -- "${reader[@]}" "$K" report --db "$ro/kv.db"
	expect report_bench_should_read_a_read_only_database 0 "no benchmark rows" -- \
		"${reader[@]}" "$K" report --bench --db "$ro/kv.db"
	if command -v gnuplot >/dev/null 2>&1; then
		mkdir -p "$tmp/pics" && chmod 777 "$tmp/pics"
		expect plot_needle_should_read_a_read_only_database 0 "^Average Score: " -- \
			"${reader[@]}" "$K" plot needle --db "$ro/kv.db" --out "$tmp/pics/n.png"
	else
		skip plot_needle_should_read_a_read_only_database "gnuplot not installed (make deps)"
	fi
	after=$(snap "$ro")
	check reading_should_leave_a_read_only_database_as_it_was [ "$before" = "$after" ]
	[ "$before" = "$after" ] || diff <(echo "$before") <(echo "$after") | sed "s/^/    /"
fi

# a SQLite file that is not kvlab's: refused, not one byte written
sqlite3 "$tmp/other.db" "CREATE TABLE t(a); INSERT INTO t VALUES (1);"
sum0=$(sha256sum <"$tmp/other.db")
expect report_should_refuse_a_foreign_database 1 "--db $tmp/other.db: not a kvlab results database" -- \
	$K report --db "$tmp/other.db"
expect export_should_refuse_a_foreign_database 1 "not a kvlab results database" -- \
	$K export --format ruler --db "$tmp/other.db" --out "$tmp/exp"
check report_should_leave_a_foreign_database_untouched [ "$sum0" = "$(sha256sum <"$tmp/other.db")" ]
check report_should_create_no_wal_beside_a_foreign_database [ ! -e "$tmp/other.db-wal" ]
printf 'not a database at all, just text\n%.0s' $(seq 200) >"$tmp/text.db"
expect report_should_refuse_a_text_file 1 "--db $tmp/text.db: not a readable SQLite database" -- \
	$K report --db "$tmp/text.db"
expect report_should_name_a_missing_database 1 "--db $tmp/none.db: no such database" -- $K report --db "$tmp/none.db"

# two garbled pages in the middle of a real database: an error, never "(no evaluation runs)"
cp "$db" "$tmp/bad.db"
pages=$(($(stat -c %s "$tmp/bad.db") / 4096))
if [ "$pages" -ge 4 ]; then
	head -c 8192 /dev/urandom | dd of="$tmp/bad.db" bs=4096 seek=$((pages - 3)) conv=notrunc status=none
	expect report_should_refuse_a_damaged_database 1 "--db $tmp/bad.db: the database is damaged" -- \
		$K report --db "$tmp/bad.db"
else
	fail report_should_refuse_a_damaged_database "the setup database has only $pages pages"
fi

#!/usr/bin/env bash
# Builds kaohe and runs the bundled Wujin 2018 year through its year end in a fresh demo ledger
# (target/demo-ledger): the year's records, one appeal and its decision, the close (rank
# bonuses, final scores), the final scores, verification, and the HTML report.
#
# `./demo.sh serve` loads the same year (not closed), makes keys for a department, two
# stations, an auditor and registers them, and serves the pages: open the address it prints
# and sign in with one of the key files it lists. Ctrl-C stops it.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet
kaohe=target/release/kaohe
db=target/demo-ledger
rm -rf "$db"
"$kaohe" --db "$db" init --rubric schema/rubric-2018.toml
"$kaohe" --db "$db" import fixtures/wujin-2018.jsonl
echo
if [ "${1:-}" = "serve" ]; then
    keys=target/demo-keys
    rm -rf "$keys"
    mkdir -p "$keys"
    for who in "--dept 基层科 基层科" "--dept 社矫科 社矫科" "--station WJ01 WJ01" \
               "--station WJ02 WJ02" "--auditor 市局审计 auditor"; do
        set -- $who
        "$kaohe" key new "$1" "$2" --out "$keys/$3.key" >/dev/null
        "$kaohe" --db "$db" key register "$keys/$3.key.pub" >/dev/null
    done
    echo "Sign in with one of these key files (never the .pub):"
    ls "$keys"/*.key
    exec "$kaohe" --db "$db" serve --listen 127.0.0.1:8018
fi
"$kaohe" --db "$db" appeal file --against D008 --station WJ02 --id A1 \
    --grounds "通报所涉人员信息已在规定时限内录入，系统显示延迟" --evidence "信息录入系统日志截图"
"$kaohe" --db "$db" appeal decide A1 --outcome upheld --by 社矫科 \
    --reason "经核查系统日志，录入及时，扣分不成立" --evidence "复核意见书〔2019〕1号"
echo
"$kaohe" --db "$db" close
echo
"$kaohe" --db "$db" score
"$kaohe" --db "$db" verify
"$kaohe" --db "$db" report --out target/demo-report.html
echo
echo "Try: $kaohe --db $db explain --station WJ02    or    $kaohe --db $db score --json"
echo "Open target/demo-report.html in a browser for the year-end report."

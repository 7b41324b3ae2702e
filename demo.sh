#!/usr/bin/env bash
# Builds kaohe and runs the bundled Wujin 2018 year through its year end in a fresh demo ledger
# (target/demo-ledger): the year's records, one appeal and its decision, the close (rank
# bonuses, final scores), the final scores, verification, and the HTML report.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet
kaohe=target/release/kaohe
db=target/demo-ledger
rm -rf "$db"
"$kaohe" --db "$db" init --rubric schema/rubric-2018.toml
"$kaohe" --db "$db" import fixtures/wujin-2018.jsonl
echo
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

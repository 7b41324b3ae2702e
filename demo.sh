#!/usr/bin/env bash
# Builds kaohe, loads the bundled Wujin 2018 year into target/demo-ledger (fresh each run),
# prints the scores and verifies the chain.
set -euo pipefail
cd "$(dirname "$0")"
cargo build --release --quiet
kaohe=target/release/kaohe
db=target/demo-ledger
rm -rf "$db"
"$kaohe" --db "$db" init --rubric schema/rubric-2018.toml
"$kaohe" --db "$db" import fixtures/wujin-2018.jsonl
"$kaohe" --db "$db" score
"$kaohe" --db "$db" verify
echo
echo "Try: $kaohe --db $db log --station WJ02    or    $kaohe --db $db score --json"

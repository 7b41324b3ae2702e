//! Lists as the command line prints them: keys, stations, checkpoints, evidence files.

use crate::events::event::{Hash, StationRegistered};
use crate::ledger::KeyInfo;
use crate::ops::actions::EvidenceList;
use crate::ops::proofs::SignedCheckpoint;
use crate::render::view::Table;
use serde_json::{json, Value};

/// `key list --json`.
pub fn keys_json(keys: &[KeyInfo]) -> Value {
    let list: Vec<Value> = keys
        .iter()
        .map(|k| {
            json!({
                "public_key": hex::encode(k.public_key),
                "actor": k.actor.to_string(),
                "registered_seq": k.registered_seq,
                "revoked_seq": k.revoked_seq,
            })
        })
        .collect();
    json!({ "keys": list })
}

/// `key list`.
pub fn keys_table(keys: &[KeyInfo]) -> String {
    let mut t = Table::new(
        &["public key", "actor", "registered", "revoked"],
        &[false, false, true, true],
    );
    for k in keys {
        t.row(vec![
            hex::encode(k.public_key),
            k.actor.to_string(),
            format!("seq {}", k.registered_seq),
            k.revoked_seq
                .map(|s| format!("seq {s}"))
                .unwrap_or_default(),
        ]);
    }
    t.render()
}

/// `station list --json`.
pub fn stations_json(list: &[(u64, StationRegistered)]) -> Value {
    let v: Vec<Value> = list
        .iter()
        .map(
            |(seq, s)| json!({"code": s.code, "name": s.name, "kind": s.kind.as_str(), "seq": seq}),
        )
        .collect();
    json!({ "stations": v })
}

/// `station list`.
pub fn stations_table(list: &[(u64, StationRegistered)]) -> String {
    let mut t = Table::new(
        &["站点", "名称", "类型", "seq"],
        &[false, false, false, true],
    );
    for (seq, s) in list {
        t.row(vec![
            s.code.clone(),
            s.name.clone(),
            s.kind.label_zh().into(),
            seq.to_string(),
        ]);
    }
    t.render()
}

/// A checkpoint as `checkpoint --json` prints it (with the signer's key when known).
pub fn checkpoint_json(s: &SignedCheckpoint, public: Option<&[u8; 32]>) -> Value {
    let cp = &s.checkpoint;
    let mut v = json!({
        "origin": cp.origin, "size": cp.size, "root": hex::encode(cp.root), "note": s.note,
    });
    if let Some(p) = public {
        v["public_key"] = json!(hex::encode(p));
    }
    v
}

/// `checkpoint --list`.
pub fn checkpoints_text(all: &[SignedCheckpoint]) -> String {
    if all.is_empty() {
        return "no checkpoints stored (`kaohe --key FILE checkpoint` makes one)\n".into();
    }
    all.iter()
        .map(|s| {
            format!(
                "size {:>10}  root {}\n",
                s.checkpoint.size,
                hex::encode(s.checkpoint.root)
            )
        })
        .collect()
}

/// `evidence list --json`.
pub fn evidence_json(list: &EvidenceList) -> Value {
    let files: Vec<Value> = list
        .files
        .iter()
        .map(|(h, size, seqs)| json!({"hash": hex::encode(h), "size": size, "seqs": seqs}))
        .collect();
    let missing: Vec<Value> = list
        .missing
        .iter()
        .map(|(h, seqs)| json!({"hash": hex::encode(h), "seqs": seqs}))
        .collect();
    json!({"files": files, "missing": missing})
}

/// `evidence list`: a line per stored file, then a line per reference whose file is missing.
pub fn evidence_text(list: &EvidenceList) -> String {
    let seqs = |s: &[u64]| {
        if s.is_empty() {
            "referenced by no event".to_string()
        } else {
            let s: Vec<String> = s.iter().map(u64::to_string).collect();
            format!("seq {}", s.join(", "))
        }
    };
    let mut text = String::new();
    for (h, size, s) in &list.files {
        text.push_str(&format!("{}  {size} bytes  {}\n", hex(h), seqs(s)));
    }
    for (h, s) in &list.missing {
        text.push_str(&format!("{}  NOT STORED  {}\n", hex(h), seqs(s)));
    }
    if list.files.is_empty() && list.missing.is_empty() {
        text.push_str("no evidence files\n");
    }
    text
}

fn hex(h: &Hash) -> String {
    hex::encode(h)
}

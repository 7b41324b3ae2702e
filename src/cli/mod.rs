//! The command line: the only place that knows clap. Each subcommand is one line here that
//! calls its handler; a handler gathers what the command reads from outside, calls the
//! library's use case (`kaohe::ops::actions` and the operations beside it) and prints what it
//! returns through the library's renderers. Exit codes: 0 ok, 1 a check found a problem,
//! 2 bad input or usage.

mod args;
mod checks;
mod errors;
mod input;
mod reads;
mod serve;
mod witness;
mod writes;

pub use args::Cli;
pub use errors::{Exit, EXIT_BAD_INPUT};

use anyhow::{anyhow, Result};
use args::{AppealSub, Cmd, EvidenceSub, KeySub, RubricSub, StationCmd};
use errors::{Damage, EXIT_PROBLEM};

/// Runs a command; damage found in the ledger is reported with how to restore it.
pub fn run(cli: Cli) -> Result<()> {
    // A panic the store contains (sled's, on damaged files) becomes a damage error; only
    // other panics print.
    let default_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        if !kaohe::ops::actions::panic_is_contained() {
            default_hook(info)
        }
    }));
    let db = cli.db.clone();
    kaohe::ops::actions::set_lock_wait(std::time::Duration::from_secs(cli.wait));
    run_command(cli).map_err(|e| match e.downcast::<Damage>() {
        Ok(Damage(message)) => anyhow!(Exit {
            code: EXIT_PROBLEM,
            message: format!("{message}\n{}", errors::restore_hint(&db)),
        }),
        Err(e) => e,
    })
}

/// One line per command: the handler that runs it (kept one line each, as a table).
#[rustfmt::skip]
fn run_command(cli: Cli) -> Result<()> {
    let db = cli.db.as_path();
    let key = cli.key.as_deref();
    let out = &mut std::io::stdout().lock();
    match cli.command {
        Cmd::Init { rubric, require_signatures: _, bureau_key, follows } => writes::init(db, &rubric, bureau_key.as_deref(), follows.as_deref(), out),
        Cmd::Key(KeySub::New { who, out: file }) => writes::key_new(args::key_actor(who)?, &file, out),
        Cmd::Key(KeySub::Register { file, json }) => writes::submit(db, key, args::key_register_request(&file)?, json, out),
        Cmd::Key(KeySub::Revoke { which, reason, json }) => writes::submit(db, key, args::key_revoke_request(&which, reason)?, json, out),
        Cmd::Key(KeySub::List { json }) => reads::key_list(db, json, out),
        Cmd::Station(StationCmd::Add { code, name, kind, json }) => writes::submit(db, key, args::station_request(code, name, kind), json, out),
        Cmd::Station(StationCmd::List { json }) => reads::stations(db, json, out),
        Cmd::Record(a) => { let json = a.json; writes::submit(db, key, a.request()?, json, out) }
        Cmd::Metric(a) => { let json = a.json; writes::submit(db, key, a.request()?, json, out) }
        Cmd::Appeal(AppealSub::File { against, station, grounds, evidence, evidence_file, id, json }) => writes::submit(db, key, args::appeal_request(against, station, grounds, id, (evidence, evidence_file))?, json, out),
        Cmd::Appeal(AppealSub::Decide { appeal, outcome, points, by, reason, evidence, evidence_file, json }) => writes::submit(db, key, args::decide_request(appeal, outcome, points, (by, reason), (evidence, evidence_file))?, json, out),
        Cmd::Appeal(AppealSub::List { station, pending, json }) => reads::appeal_list(db, station.as_deref(), pending, json, out),
        Cmd::Reverse(a) => { let json = a.json; writes::submit(db, key, a.request()?, json, out) }
        Cmd::Close { accept_gaps, reason, json } => writes::close(db, key, accept_gaps.then_some(reason).flatten(), json, out),
        Cmd::Import { file, json } => writes::import_file(db, key, &file, json, out),
        Cmd::Score { time, json } => reads::score(db, &time.query()?, json, out),
        Cmd::Explain { station, item, time, json } => reads::explain(db, &station, item.as_deref(), &time.query()?, json, out),
        Cmd::Report { out: file, station, time } => reads::report(db, &file, station, &time.query()?, out),
        Cmd::Show { event, seq, hash, json } => reads::show(db, args::event_name(event.as_deref(), seq, hash.as_deref())?, json, out),
        Cmd::Log { station, time, json } => reads::log(db, station.as_deref(), &time.query()?, json, out),
        Cmd::Export { as_of_seq, known_at, scores, format, at, out: file } => reads::export(db, &args::TimeArgs { at, known_at, as_of_seq }, scores, format, file.as_deref(), out),
        Cmd::Reconcile { tallies, time, json } => reads::reconcile_tallies(db, &tallies, &time.query()?, json, out),
        Cmd::Evidence(EvidenceSub::Get { hash, out: file }) => reads::evidence_get(db, &hash, &file, out),
        Cmd::Evidence(EvidenceSub::List { json }) => reads::evidence_list(db, json, out),
        Cmd::Verify { export, head, evidence, checkpoint, pubkey, follows, follows_export, witnesses, json } => checks::verify(db, export.as_deref(), head.as_deref(), evidence, &checks::Against { checkpoint: checkpoint.as_deref(), pubkey: pubkey.as_deref(), witnesses: &witnesses, follows: follows.as_deref(), follows_export: follows_export.as_deref() }, json, out),
        Cmd::Backup { out: file, json } => writes::backup(db, &file, json, out),
        Cmd::Restore { file, json } => writes::restore(db, &file, json, out),
        Cmd::Rubric { draft: Some(RubricSub::Check { file, json }), .. } => reads::rubric_check(&file, json, out),
        Cmd::Rubric { draft: Some(RubricSub::Diff { old, new, json }), .. } => reads::rubric_diff(&old, &new, json, out),
        Cmd::Rubric { json, toml, draft: None } => reads::rubric(db, json, toml, out),
        Cmd::Serve { listen, tls_cert, tls_key, checkpoint_key, checkpoint_every } => serve::serve(db, listen, tls_cert.zip(tls_key), checkpoint_key.map(|k| (k, checkpoint_every)), out),
        Cmd::Checkpoint { list: true, json, .. } => reads::checkpoint_list(db, json, out),
        Cmd::Checkpoint { add: Some(file), json, .. } => writes::checkpoint_add(db, &file, json, out),
        Cmd::Checkpoint { json, .. } => writes::checkpoint(db, key, json, out),
        Cmd::Receipt { event, seq, checkpoint } => checks::receipt(db, event.as_deref(), seq, checkpoint.as_deref(), out),
        Cmd::VerifyReceipt { file, pubkey, witnesses, json } => checks::verify_receipt(&file, &pubkey, &witnesses, json, out),
        Cmd::Consistency { old, new } => checks::consistency(db, &old, &new, out),
        Cmd::VerifyConsistency { file, pubkey, witnesses, json } => checks::verify_consistency(&file, &pubkey, &witnesses, json, out),
        Cmd::Witness { state, log_key, input, json } => witness::witness(&state, key, &log_key, &input, json, out),
    }
}

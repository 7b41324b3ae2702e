//! Group commit: commits that arrive while the ledger is being written wait together, and
//! the next writer applies them all in one durable commit (one sync of the files, one flush of
//! sled). Each learns its own outcome; a refused command is taken out of the group and the
//! others are tried again, so that one bad command never refuses another. Success is reported
//! only after the group's flush.

use crate::ledger::{Attached, Ledger, LedgerError, Numbered, Outcome};
use std::sync::mpsc;
use std::sync::Mutex;

/// One command waiting for the next group, with where its outcome goes.
struct Job {
    numbered: Numbered,
    attached: Attached,
    reply: mpsc::Sender<Result<Outcome, LedgerError>>,
}

/// The commits waiting for a writer.
#[derive(Default)]
pub struct Group {
    waiting: Mutex<Vec<Job>>,
}

/// A lock was poisoned by a panic while it was held.
fn poisoned() -> LedgerError {
    LedgerError::Io("a request failed while it held the ledger".into())
}

impl Group {
    /// Commits one signed command: queued, then applied by whichever caller holds the
    /// writer next, in one commit with every other command queued by then. `after` runs
    /// with the writer after each group's commit (the service refreshes its readers).
    pub fn commit(
        &self,
        writer: &Mutex<Ledger>,
        numbered: Numbered,
        attached: Attached,
        now: jiff::Timestamp,
        after: impl Fn(&Ledger),
    ) -> Result<Outcome, LedgerError> {
        let (reply, outcome) = mpsc::channel();
        self.waiting.lock().map_err(|_| poisoned())?.push(Job {
            numbered,
            attached,
            reply,
        });
        let mut ledger = writer.lock().map_err(|_| poisoned())?;
        // Another caller may have committed this one's group while it waited for the writer.
        if let Ok(done) = outcome.try_recv() {
            return done;
        }
        let jobs = std::mem::take(&mut *self.waiting.lock().map_err(|_| poisoned())?);
        apply(&mut ledger, jobs, now);
        after(&ledger);
        drop(ledger);
        outcome
            .recv()
            .unwrap_or_else(|_| Err(LedgerError::Io("a commit was lost".into())))
    }
}

/// Applies the jobs in one commit; a refused one is answered with its refusal and the rest
/// are applied again without it (each refusal names its line: the job's place).
fn apply(ledger: &mut Ledger, mut jobs: Vec<Job>, now: jiff::Timestamp) {
    while !jobs.is_empty() {
        let commands: Vec<(Numbered, Option<Attached>)> = jobs
            .iter()
            .enumerate()
            .map(|(i, j)| {
                let numbered = Numbered {
                    line: Some(i + 1),
                    command: j.numbered.command.clone(),
                };
                (numbered, Some(j.attached.clone()))
            })
            .collect();
        match ledger.apply_attached(&commands, now) {
            Ok(outcomes) => {
                for (job, o) in jobs.into_iter().zip(outcomes) {
                    let _ = job.reply.send(Ok(o));
                }
                return;
            }
            Err(LedgerError::Refused {
                line: Some(line),
                field,
                message,
                zh,
            }) if (1..=jobs.len()).contains(&line) => {
                let job = jobs.remove(line - 1);
                let _ = job.reply.send(Err(LedgerError::Refused {
                    line: None,
                    field,
                    message,
                    zh,
                }));
            }
            Err(e) => {
                let text = e.to_string();
                let mut first = Some(e);
                for job in jobs.drain(..) {
                    let e = first
                        .take()
                        .unwrap_or_else(|| LedgerError::Io(text.clone()));
                    let _ = job.reply.send(Err(e));
                }
            }
        }
    }
}

//! The checked read path on two threads: a reader thread reads blocks, checks every link and
//! decodes, and hands batches of decoded events to the caller's thread, which folds them.
//! Same checks and the same order as [`crate::ledger::read_checked`]: the caller sees every
//! event before the first damaged one, then the damage.

use crate::events::event::{Body, Hash};
use crate::ledger::{read_checked_owned, EventRef, LedgerError};
use crate::store::Store;
use std::sync::mpsc::{sync_channel, Receiver, SyncSender};

/// Events handed over at a time (one store block).
const BATCH_EVENTS: usize = crate::base::limits::EVENTS_PER_BLOCK as usize;

/// Batches in flight between the threads: enough to ride out a slow event on either side,
/// few enough that memory stays flat (each batch is about one block, ~30 KB, decoded).
const BATCHES_IN_FLIGHT: usize = 8;

/// A run of consecutive checked events.
struct Batch {
    first_seq: u64,
    /// The hash before the first event.
    prev: Hash,
    /// The stored bytes of every event, back to back.
    bytes: Vec<u8>,
    /// Per event: where its bytes end in `bytes`, its stored hash, and its body.
    events: Vec<(usize, Hash, Body)>,
}

impl Batch {
    fn new(first_seq: u64, prev: Hash) -> Batch {
        Batch {
            first_seq,
            prev,
            bytes: Vec::with_capacity(BATCH_EVENTS * 128),
            events: Vec::with_capacity(BATCH_EVENTS),
        }
    }
}

type Message = Result<Batch, LedgerError>;

/// Walks events `[from, to)` chained after `prev`, calling `f` for each on this thread until
/// it returns `Ok(false)`. Returns the first damage found or the first error `f` returns.
pub fn read_checked_parallel(
    store: &Store,
    from: u64,
    to: u64,
    prev: &Hash,
    mut f: impl FnMut(EventRef<'_>) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    let (tx, rx) = sync_channel::<Message>(BATCHES_IN_FLIGHT);
    // Folded batches go back to the reader, which frees their bodies (allocated on its
    // thread, where freeing is cheap) and reuses their buffers.
    let (back_tx, back_rx) = sync_channel::<Batch>(BATCHES_IN_FLIGHT);
    std::thread::scope(|s| {
        s.spawn(move || read_batches(store, from, to, prev, tx, back_rx));
        fold_batches(&rx, &back_tx, &mut f)
        // Dropping `rx` on return stops the reader at its next send.
    })
}

/// The reader thread: checked, decoded events in batches; damage as the last message.
fn read_batches(
    store: &Store,
    from: u64,
    to: u64,
    prev: &Hash,
    tx: SyncSender<Message>,
    back: Receiver<Batch>,
) {
    let mut batch = Batch::new(from, *prev);
    let mut last = *prev;
    let walk = read_checked_owned(store, from, to, prev, |body, e| {
        if batch.events.len() == BATCH_EVENTS {
            let next = match back.try_recv() {
                Ok(mut used) => {
                    used.bytes.clear();
                    used.events.clear();
                    used.first_seq = e.seq;
                    used.prev = last;
                    used
                }
                Err(_) => Batch::new(e.seq, last),
            };
            let full = std::mem::replace(&mut batch, next);
            if tx.send(Ok(full)).is_err() {
                return Ok(false); // the folding side stopped
            }
        }
        batch.bytes.extend_from_slice(e.bytes);
        batch.events.push((batch.bytes.len(), *e.hash, body));
        last = *e.hash;
        Ok(true)
    });
    if !batch.events.is_empty() && tx.send(Ok(batch)).is_err() {
        return;
    }
    if let Err(e) = walk {
        let _ = tx.send(Err(e));
    }
}

/// The caller's side: every event of every batch, in order.
fn fold_batches(
    rx: &Receiver<Message>,
    back: &SyncSender<Batch>,
    f: &mut impl FnMut(EventRef<'_>) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    for message in rx {
        let batch = message?;
        let mut prev = batch.prev;
        let mut start = 0usize;
        for (i, (end, hash, body)) in batch.events.iter().enumerate() {
            let go = f(EventRef {
                seq: batch.first_seq + i as u64,
                body,
                bytes: &batch.bytes[start..*end],
                hash,
                prev_hash: &prev,
            })?;
            if !go {
                return Ok(());
            }
            prev = *hash;
            start = *end;
        }
        // A full return queue (or a finished reader) frees the batch here instead.
        let _ = back.try_send(batch);
    }
    Ok(())
}

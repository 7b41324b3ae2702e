//! The checked read path on two threads: a reader thread reads blocks, checks every link,
//! decodes, and prepares what the caller asks of each event alone (`prepare`); it hands
//! batches of them to the caller's thread, which folds them in order.
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
struct Batch<P> {
    first_seq: u64,
    /// The hash before the first event.
    prev: Hash,
    /// The stored bytes of every event, back to back.
    bytes: Vec<u8>,
    /// Per event: where its bytes end in `bytes`, and its stored hash.
    events: Vec<(usize, Hash)>,
    /// Per event, its body.
    bodies: Vec<Body>,
    /// Per event, what was prepared from it (taken by the fold; the bodies stay, to be freed
    /// by the reader).
    prepared: Vec<P>,
}

impl<P> Batch<P> {
    fn new(first_seq: u64, prev: Hash) -> Batch<P> {
        Batch {
            first_seq,
            prev,
            bytes: Vec::with_capacity(BATCH_EVENTS * 128),
            events: Vec::with_capacity(BATCH_EVENTS),
            bodies: Vec::with_capacity(BATCH_EVENTS),
            prepared: Vec::with_capacity(BATCH_EVENTS),
        }
    }

    /// This batch emptied for the run from `first_seq`, after `prev`.
    fn reused(mut self, first_seq: u64, prev: Hash) -> Batch<P> {
        self.bytes.clear();
        self.events.clear();
        self.bodies.clear();
        self.prepared.clear();
        self.first_seq = first_seq;
        self.prev = prev;
        self
    }
}

type Message<P> = Result<Batch<P>, LedgerError>;

/// Walks events `[from, to)` chained after `prev`, calling `f` for each on this thread until
/// it returns `Ok(false)`. Before a run of events is handed over, `prepare` is called on the
/// reader's thread with the seq of its first event and the bodies, and pushes one `P` per
/// body, which `f` is given with its event. Returns the first damage found or the first
/// error `f` returns.
pub fn read_checked_parallel<P: Send>(
    store: &Store,
    from: u64,
    to: u64,
    prev: &Hash,
    prepare: impl FnMut(u64, &[Body], &mut Vec<P>) + Send,
    mut f: impl FnMut(EventRef<'_>, P) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    let (tx, rx) = sync_channel::<Message<P>>(BATCHES_IN_FLIGHT);
    // Folded batches go back to the reader, which frees their bodies (allocated on its
    // thread, where freeing is cheap) and reuses their buffers.
    let (back_tx, back_rx) = sync_channel::<Batch<P>>(BATCHES_IN_FLIGHT);
    std::thread::scope(|s| {
        s.spawn(move || read_batches(store, from, to, prev, prepare, tx, back_rx));
        let folded = fold_batches(&rx, &back_tx, &mut f);
        // The receiver is dropped here, inside the scope, so that a reader blocked on a full
        // queue after the fold stopped early (damage, or `f` done) fails its send and ends:
        // the scope waits for it. (Dropped after the scope, it deadlocked `verify` on damage
        // with more than a queue's worth of events after it.)
        drop(rx);
        folded
    })
}

/// The reader thread: checked, decoded, prepared events in batches; damage as the last
/// message.
fn read_batches<P>(
    store: &Store,
    from: u64,
    to: u64,
    prev: &Hash,
    mut prepare: impl FnMut(u64, &[Body], &mut Vec<P>),
    tx: SyncSender<Message<P>>,
    back: Receiver<Batch<P>>,
) {
    let mut batch = Batch::new(from, *prev);
    let mut last = *prev;
    let mut send = |mut full: Batch<P>| {
        prepare(full.first_seq, &full.bodies, &mut full.prepared);
        // Invariant: `prepare` pushes one value per body (checked here, where a miss would
        // shift every event's value onto the next one).
        assert_eq!(
            full.prepared.len(),
            full.bodies.len(),
            "one prepared per body"
        );
        tx.send(Ok(full)).is_ok()
    };
    let walk = read_checked_owned(store, from, to, prev, |body, e| {
        if batch.events.len() == BATCH_EVENTS {
            let next = match back.try_recv() {
                Ok(used) => used.reused(e.seq, last),
                Err(_) => Batch::new(e.seq, last),
            };
            if !send(std::mem::replace(&mut batch, next)) {
                return Ok(false); // the folding side stopped
            }
        }
        batch.bytes.extend_from_slice(e.bytes);
        batch.events.push((batch.bytes.len(), *e.hash));
        batch.bodies.push(body);
        last = *e.hash;
        Ok(true)
    });
    if !batch.events.is_empty() && !send(batch) {
        return;
    }
    if let Err(e) = walk {
        let _ = tx.send(Err(e));
    }
}

/// The caller's side: every event of every batch, in order.
fn fold_batches<P>(
    rx: &Receiver<Message<P>>,
    back: &SyncSender<Batch<P>>,
    f: &mut impl FnMut(EventRef<'_>, P) -> Result<bool, LedgerError>,
) -> Result<(), LedgerError> {
    for message in rx {
        let mut batch = message?;
        let mut prev = batch.prev;
        let mut start = 0usize;
        // The reader prepared one value per body (asserted as it sent them).
        let events = batch.events.iter().zip(&batch.bodies);
        for (i, (((end, hash), body), prepared)) in events.zip(batch.prepared.drain(..)).enumerate()
        {
            let go = f(
                EventRef {
                    seq: batch.first_seq + i as u64,
                    body,
                    bytes: &batch.bytes[start..*end],
                    hash,
                    prev_hash: &prev,
                },
                prepared,
            )?;
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

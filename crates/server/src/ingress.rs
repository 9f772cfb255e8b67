//! Where every source hands in records: [`Ingress::submit`] returns once the records are in the
//! write-ahead log, so a source may acknowledge them (HTTP 2xx, TCP read) after it returns.
//!
//! One writer thread owns the [`Wal`]: it takes whatever submissions are waiting, appends them
//! in one write (group commit, one sync), numbers them, answers each submitter and passes the
//! numbered records on to the pipeline. The number of records between submission and the end
//! of the pipeline is bounded (`queue_records`): past it, `submit` answers
//! [`SubmitError::Busy`] at once (HTTP turns that into 429 with Retry-After; TCP and file
//! sources wait with [`Ingress::submit_wait`]; UDP drops and counts).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::mpsc::{Receiver, SyncSender, TryRecvError, TrySendError};
use std::time::Duration;

use tokio::sync::oneshot;

use crate::metrics::Metrics;
use crate::wal::{Record, Wal, WalRecord};

/// Most records the writer groups into one append.
const GROUP_RECORDS: usize = 16_384;

/// Why a submission was not taken.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SubmitError {
    #[error("the ingest queue is full; retry in {retry_after_secs} s")]
    Busy { retry_after_secs: u64 },
    #[error("palisade is shutting down")]
    Closed,
    #[error("write-ahead log failure: {0}")]
    Wal(String),
}

/// What the sources were told: the sequence numbers their records got.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ack {
    pub first_seq: u64,
    pub count: u64,
}

struct Submission {
    records: Vec<Record>,
    done: Option<oneshot::Sender<Result<Ack, SubmitError>>>,
}

/// A batch of numbered records on its way to the pipeline.
pub type Batch = Vec<WalRecord>;

/// The submitting side; cheap to clone, one per source.
#[derive(Clone)]
pub struct Ingress {
    tx: SyncSender<Submission>,
    shared: Arc<Shared>,
}

struct Shared {
    /// Records submitted and not yet applied by the pipeline.
    in_flight: AtomicU64,
    capacity: u64,
    closed: AtomicBool,
    /// The log may drop segments whose records are all at or below this (applied and in a
    /// baseline snapshot).
    truncate_through: AtomicU64,
    metrics: Arc<Metrics>,
}

/// Handle the pipeline uses to say records are done (frees queue capacity).
#[derive(Clone)]
pub struct Done(Arc<Shared>);

impl Done {
    /// Records up to `seq` are applied and in a snapshot: the log may drop them.
    pub fn snapshotted(&self, seq: u64) {
        self.0.truncate_through.fetch_max(seq, Ordering::AcqRel);
    }

    pub fn applied(&self, n: u64) {
        let left = self
            .0
            .in_flight
            .fetch_sub(n, Ordering::AcqRel)
            .saturating_sub(n);
        self.0.metrics.queue_depth.set(left as i64);
    }
}

impl Ingress {
    /// Starts the writer thread over `wal`; numbered records go to `pipeline`. `replay` are
    /// records read back from the log at start-up, handed to the pipeline first.
    pub fn start(
        wal: Wal,
        capacity: u64,
        pipeline: SyncSender<Batch>,
        metrics: Arc<Metrics>,
    ) -> (Ingress, Done, std::thread::JoinHandle<()>) {
        let (tx, rx) = std::sync::mpsc::sync_channel::<Submission>(1024);
        let shared = Arc::new(Shared {
            in_flight: AtomicU64::new(0),
            capacity: capacity.max(1),
            closed: AtomicBool::new(false),
            truncate_through: AtomicU64::new(0),
            metrics,
        });
        let writer_shared = Arc::clone(&shared);
        let handle = std::thread::Builder::new()
            .name("palisade-wal".into())
            .spawn(move || writer(wal, rx, pipeline, writer_shared))
            .unwrap_or_else(|e| panic!("cannot start the write-ahead log thread: {e}"));
        (
            Ingress {
                tx,
                shared: Arc::clone(&shared),
            },
            Done(shared),
            handle,
        )
    }

    fn reserve(&self, n: u64) -> Result<(), SubmitError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(SubmitError::Closed);
        }
        let cap = self.shared.capacity;
        let mut cur = self.shared.in_flight.load(Ordering::Acquire);
        loop {
            // A batch larger than the whole queue is still taken when the queue is empty.
            if cur > 0 && cur + n > cap {
                self.shared.metrics.rejected.inc_by(n);
                return Err(SubmitError::Busy {
                    retry_after_secs: 1,
                });
            }
            match self.shared.in_flight.compare_exchange_weak(
                cur,
                cur + n,
                Ordering::AcqRel,
                Ordering::Acquire,
            ) {
                Ok(_) => {
                    self.shared.metrics.queue_depth.set((cur + n) as i64);
                    return Ok(());
                }
                Err(now) => cur = now,
            }
        }
    }

    fn unreserve(&self, n: u64) {
        self.shared.in_flight.fetch_sub(n, Ordering::AcqRel);
    }

    fn send(
        &self,
        records: Vec<Record>,
    ) -> Result<oneshot::Receiver<Result<Ack, SubmitError>>, SubmitError> {
        let n = records.len() as u64;
        self.reserve(n)?;
        let (done, rx) = oneshot::channel();
        if self
            .tx
            .send(Submission {
                records,
                done: Some(done),
            })
            .is_err()
        {
            self.unreserve(n);
            return Err(SubmitError::Closed);
        }
        Ok(rx)
    }

    /// Submits records; resolves once they are in the log. `Busy` when the queue is full.
    pub async fn submit(&self, records: Vec<Record>) -> Result<Ack, SubmitError> {
        if records.is_empty() {
            return Ok(Ack {
                first_seq: 0,
                count: 0,
            });
        }
        let rx = self.send(records)?;
        rx.await.unwrap_or(Err(SubmitError::Closed))
    }

    /// Like [`Ingress::submit`], but waits for room instead of answering `Busy` (sources that
    /// can push back on their sender: TCP, files).
    pub async fn submit_wait(&self, records: Vec<Record>) -> Result<Ack, SubmitError> {
        let mut records = Some(records);
        loop {
            let n = records.as_ref().map_or(0, Vec::len) as u64;
            match self.reserve_probe(n) {
                Ok(()) => return self.submit(records.take().unwrap_or_default()).await,
                Err(SubmitError::Busy { .. }) => {
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(e) => return Err(e),
            }
        }
    }

    /// Blocking form of [`Ingress::submit_wait`] for plain threads.
    pub fn submit_blocking(&self, records: Vec<Record>) -> Result<Ack, SubmitError> {
        if records.is_empty() {
            return Ok(Ack {
                first_seq: 0,
                count: 0,
            });
        }
        let n = records.len() as u64;
        while let Err(e) = self.reserve_probe(n) {
            if e != (SubmitError::Busy {
                retry_after_secs: 1,
            }) {
                return Err(e);
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let rx = self.send(records)?;
        rx.blocking_recv().unwrap_or(Err(SubmitError::Closed))
    }

    /// Whether `n` records would fit now (without taking the room).
    fn reserve_probe(&self, n: u64) -> Result<(), SubmitError> {
        if self.shared.closed.load(Ordering::Acquire) {
            return Err(SubmitError::Closed);
        }
        let cur = self.shared.in_flight.load(Ordering::Acquire);
        if cur > 0 && cur + n > self.shared.capacity {
            Err(SubmitError::Busy {
                retry_after_secs: 1,
            })
        } else {
            Ok(())
        }
    }

    /// Hands records to the writer without waiting, neither for room in the queue nor for the
    /// log: `Busy` or `Closed` when they cannot be taken at once (the caller counts the drop).
    /// For side events of a request that must not slow it (authentication assessments).
    pub fn try_submit(&self, records: Vec<Record>) -> Result<(), SubmitError> {
        let n = records.len() as u64;
        if n == 0 {
            return Ok(());
        }
        self.reserve(n)?;
        match self.tx.try_send(Submission {
            records,
            done: None,
        }) {
            Ok(()) => Ok(()),
            Err(TrySendError::Full(_)) => {
                self.unreserve(n);
                Err(SubmitError::Busy {
                    retry_after_secs: 1,
                })
            }
            Err(TrySendError::Disconnected(_)) => {
                self.unreserve(n);
                Err(SubmitError::Closed)
            }
        }
    }

    /// Records submitted and not yet applied.
    pub fn in_flight(&self) -> u64 {
        self.shared.in_flight.load(Ordering::Acquire)
    }

    /// Refuses further submissions (shutdown).
    pub fn close(&self) {
        self.shared.closed.store(true, Ordering::Release);
    }
}

fn writer(
    mut wal: Wal,
    rx: Receiver<Submission>,
    pipeline: SyncSender<Batch>,
    shared: Arc<Shared>,
) {
    let mut group: Vec<Submission> = Vec::new();
    let mut records: Vec<Record> = Vec::new();
    while let Ok(first) = rx.recv() {
        group.push(first);
        let mut n = group[0].records.len();
        while n < GROUP_RECORDS {
            match rx.try_recv() {
                Ok(s) => {
                    n += s.records.len();
                    group.push(s);
                }
                Err(TryRecvError::Empty | TryRecvError::Disconnected) => break,
            }
        }
        records.clear();
        let counts: Vec<u64> = group.iter().map(|s| s.records.len() as u64).collect();
        for s in &mut group {
            records.append(&mut s.records);
        }
        let started = std::time::Instant::now();
        let result = wal.append(&records);
        shared
            .metrics
            .wal_append_seconds
            .observe(started.elapsed().as_secs_f64());
        let mark = shared.truncate_through.load(Ordering::Acquire);
        if mark > 0 {
            wal.truncate_through(mark);
        }
        shared.metrics.wal_bytes.set(wal.size_bytes() as i64);
        shared.metrics.wal_segments.set(wal.segment_count() as i64);
        match result {
            Ok(first_seq) => {
                // The records are in the log: answer the submitters, then pass them on.
                let mut next = first_seq;
                for (s, count) in group.drain(..).zip(counts) {
                    if let Some(done) = s.done {
                        let _ = done.send(Ok(Ack {
                            first_seq: next,
                            count,
                        }));
                    }
                    next += count;
                }
                let batch: Batch = records
                    .drain(..)
                    .enumerate()
                    .map(|(k, record)| WalRecord {
                        seq: first_seq + k as u64,
                        record,
                    })
                    .collect();
                if pipeline.send(batch).is_err() {
                    break;
                }
            }
            Err(e) => {
                let n = records.len() as u64;
                shared.in_flight.fetch_sub(n, Ordering::AcqRel);
                let msg = e.to_string();
                tracing::error!("{msg}");
                for s in group.drain(..) {
                    if let Some(done) = s.done {
                        let _ = done.send(Err(SubmitError::Wal(msg.clone())));
                    }
                }
            }
        }
    }
    shared.closed.store(true, Ordering::Release);
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wal::WalOptions;
    use palisade_ingest::Format;

    fn recs(n: usize) -> Vec<Record> {
        (0..n)
            .map(|i| Record {
                source: Arc::from("t"),
                format: Format::Json,
                line: format!("{{\"i\":{i}}}").into_bytes(),
            })
            .collect()
    }

    #[test]
    fn a_full_queue_refuses_at_once_and_frees_as_the_pipeline_applies() {
        let dir = tempfile::tempdir().unwrap();
        let (wal, _) = Wal::open(dir.path(), WalOptions::default()).unwrap();
        let (tx, rx) = std::sync::mpsc::sync_channel(8);
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let (ingress, done, _writer) = Ingress::start(wal, 10, tx, Arc::new(Metrics::new()));
        let ack = rt.block_on(ingress.submit(recs(10))).unwrap();
        assert_eq!((ack.first_seq, ack.count), (1, 10));
        assert_eq!(
            rt.block_on(ingress.submit(recs(1))),
            Err(SubmitError::Busy {
                retry_after_secs: 1
            })
        );
        assert_eq!(ingress.in_flight(), 10);
        // The pipeline takes the batch and applies it: room again, numbering continues.
        let batch = rx.recv().unwrap();
        assert_eq!(batch.len(), 10);
        assert_eq!(batch[9].seq, 10);
        done.applied(10);
        let ack = rt.block_on(ingress.submit(recs(3))).unwrap();
        assert_eq!((ack.first_seq, ack.count), (11, 3));
        ingress.close();
        assert_eq!(
            rt.block_on(ingress.submit(recs(1))),
            Err(SubmitError::Closed)
        );
    }
}

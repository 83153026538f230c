//! LZ4-HC encoding off the request path (format 2, with the dictionary: ~0.2 ms a page). A miss
//! is answered from the fetched bytes and its entry is written once this thread has encoded it
//! (`PageCache::keep`); a document stored at once (`PageCache::put`, or a miss this thread is
//! slow to get to) is written with the fast LZ4 compressor (format 1) first, and the store swaps
//! in this thread's encoding if the entry did not change meanwhile.
//!
//! The thread runs at the lowest CPU priority, one job at a time as they come: on a busy machine
//! the answers go first and the jobs wait (the misses' writes then take the fast encoding first,
//! see `PageCache::keep`). At most `MAX_QUEUED` jobs wait.

use std::collections::VecDeque;
use std::sync::{Arc, Condvar, Mutex, OnceLock};
use std::time::Duration;

use bytes::Bytes;

use super::envelope::{self, EntryMeta};

/// Past this many waiting jobs (a machine too busy to give this thread any time), new entries
/// keep their fast encoding. Each holds its page (~14 KB): a few MB at most.
const MAX_QUEUED: usize = 256;

struct Job {
    meta: EntryMeta,
    raw: Bytes,
    done: tokio::sync::oneshot::Sender<Vec<u8>>,
}

impl Job {
    /// Encodes and answers. A panic (a bug) drops the answer, so the caller keeps the entry as it
    /// is, and the thread goes on with the next job.
    fn run(self) {
        let Job { meta, raw, done } = self;
        // Whoever asked stopped waiting (a shutdown, or the fast encoding was kept): no work.
        if done.is_closed() {
            return;
        }
        let encoded = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
            envelope::encode(meta, &raw)
        }));
        if let Ok(bytes) = encoded {
            let _ = done.send(bytes);
        }
    }
}

/// Jobs waiting. Pushing into a non-empty queue wakes nobody: the thread is working already.
#[derive(Default)]
struct Queue {
    jobs: Mutex<VecDeque<Job>>,
    wake: Condvar,
}

static QUEUE: OnceLock<Option<Arc<Queue>>> = OnceLock::new();

fn queue() -> Option<&'static Arc<Queue>> {
    QUEUE
        .get_or_init(|| {
            let queue = Arc::new(Queue::default());
            let worker = queue.clone();
            std::thread::Builder::new()
                .name("reelcache-encoder".to_owned())
                .spawn(move || {
                    lowest_priority();
                    worker.work();
                })
                .ok()
                .map(|_| queue)
        })
        .as_ref()
}

impl Queue {
    /// Queues `job`; `false` (and the job dropped) when too many are waiting.
    fn push(&self, job: Job) -> bool {
        let mut jobs = crate::sync::lock(&self.jobs);
        if jobs.len() >= MAX_QUEUED {
            return false;
        }
        let was_empty = jobs.is_empty();
        jobs.push_back(job);
        drop(jobs);
        if was_empty {
            self.wake.notify_one();
        }
        true
    }

    /// Runs jobs one at a time, oldest first.
    fn work(&self) {
        let mut jobs = crate::sync::lock(&self.jobs);
        loop {
            let Some(job) = jobs.pop_front() else {
                jobs = self.wake.wait(jobs).unwrap_or_else(|e| e.into_inner());
                continue;
            };
            drop(jobs);
            job.run();
            jobs = crate::sync::lock(&self.jobs);
        }
    }
}

/// Lowers the calling thread (on Linux, nice applies per thread) to nice 19.
fn lowest_priority() {
    #[cfg(target_os = "linux")]
    {
        // SAFETY: plain system calls on the calling thread's own id; no memory is shared.
        let failed = unsafe {
            let tid = libc::syscall(libc::SYS_gettid) as libc::id_t;
            libc::setpriority(libc::PRIO_PROCESS, tid, 19) != 0
        };
        if failed {
            tracing::debug!("the encoder thread keeps the default priority");
        }
    }
}

/// Encodes one entry with LZ4-HC on the encoder thread; `None` when it cannot (too many waiting,
/// or the thread could not be started): the entry then keeps its fast encoding.
pub async fn encode(meta: EntryMeta, raw: Bytes) -> Option<Vec<u8>> {
    submit(meta, raw)?.await.ok()
}

/// Queues one entry for the encoder thread now; `None` when the queue is full (or there is no
/// thread). The receiver gets the encoding, or is closed if the job failed.
pub fn submit(meta: EntryMeta, raw: Bytes) -> Option<tokio::sync::oneshot::Receiver<Vec<u8>>> {
    let queue = queue()?;
    let (done, encoded) = tokio::sync::oneshot::channel();
    queue.push(Job { meta, raw, done }).then_some(encoded)
}

/// Re-encodings still running, so that a command can wait for them before it exits.
#[derive(Clone)]
pub struct Pending {
    count: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Default for Pending {
    fn default() -> Self {
        Pending {
            count: Arc::new(tokio::sync::watch::Sender::new(0)),
        }
    }
}

/// One running re-encoding; dropping it (done, failed or cancelled) counts it out.
pub struct Running {
    count: Arc<tokio::sync::watch::Sender<usize>>,
}

impl Drop for Running {
    fn drop(&mut self) {
        self.count.send_modify(|n| *n = n.saturating_sub(1));
    }
}

impl Pending {
    pub fn start(&self) -> Running {
        self.count.send_modify(|n| *n += 1);
        Running {
            count: self.count.clone(),
        }
    }

    /// Waits until nothing is running, or `limit` has passed; `false` on the latter.
    pub async fn settle(&self, limit: Duration) -> bool {
        let mut watch = self.count.subscribe();
        tokio::time::timeout(limit, watch.wait_for(|n| *n == 0))
            .await
            .is_ok()
    }
}

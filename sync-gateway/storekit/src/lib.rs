//! Disk faults in the embedded stores of all three tiers (hub store, gateway queue, edge
//! journal).
//!
//! After an I/O error (a full disk, EIO) redb refuses every later write with `PreviousIo` until
//! the file is closed and opened again. [`Reopenable`] holds the database so that this can
//! happen while the service runs: the first I/O error marks it faulted (health says why), and
//! at most once a second later the file is reopened — once nobody holds it — and proved
//! writable with a probe transaction. Owners that keep state in memory next to the file
//! reload it when [`Reopenable::generation`] moves. Nothing is acknowledged that a failed
//! transaction held: the owners answer only after a commit returned.

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, RwLock};
use std::time::{Duration, Instant};

use redb::{Database, TableDefinition};

#[cfg(feature = "testing")]
pub mod testing;

/// Seconds between two attempts to reopen a faulted file.
const REOPEN_EVERY: Duration = Duration::from_secs(1);

/// The probe's table: one key, rewritten by each recovery to prove the file writable.
const PROBE: TableDefinition<&str, u64> = TableDefinition::new("storekit:probe");

/// Creates what a store needs in a fresh or reopened file (its tables).
pub type Init = fn(&Database) -> Result<(), redb::Error>;

/// Whether `e` leaves the file to be reopened before anything is written again.
pub fn is_io(e: &redb::Error) -> bool {
    matches!(e, redb::Error::Io(_) | redb::Error::PreviousIo)
}

struct Fault {
    why: String,
    retry_at: Instant,
}

/// A redb database that is reopened after I/O errors.
pub struct Reopenable {
    what: &'static str,
    path: PathBuf,
    cache_bytes: usize,
    init: Init,
    /// `None` only while a faulted file is being reopened.
    db: RwLock<Option<Arc<Database>>>,
    /// The I/O failure that stopped writes and when to try reopening next.
    fault: Mutex<Option<Fault>>,
    generation: AtomicU64,
}

fn open_file(path: &Path, cache_bytes: usize, init: Init) -> Result<Database, redb::Error> {
    let db = Database::builder()
        .set_cache_size(cache_bytes)
        .create(path)?;
    init(&db)?;
    Ok(db)
}

impl Reopenable {
    /// Opens (creating, recovering) the file at `path` and runs `init` on it. `what` names the
    /// store in logs ("gateway queue").
    pub fn open(
        what: &'static str,
        path: &Path,
        cache_bytes: usize,
        init: Init,
    ) -> Result<Self, redb::Error> {
        let db = open_file(path, cache_bytes, init)?;
        Ok(Self {
            what,
            path: path.to_owned(),
            cache_bytes,
            init,
            db: RwLock::new(Some(Arc::new(db))),
            fault: Mutex::new(None),
            generation: AtomicU64::new(0),
        })
    }

    /// The database, for one operation: hold it no longer (a held handle delays a reopen).
    /// While the file is being reopened this is `PreviousIo`.
    pub fn get(&self) -> Result<Arc<Database>, redb::Error> {
        self.recover();
        self.current()
    }

    fn current(&self) -> Result<Arc<Database>, redb::Error> {
        self.db
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
            .ok_or(redb::Error::PreviousIo)
    }

    /// The database for a write, or for reading state to write from: refused (`PreviousIo`)
    /// while the store is faulted. A faulted handle may still show a commit that failed at the
    /// disk and that the reopened file will not hold.
    pub fn writable(&self) -> Result<Arc<Database>, redb::Error> {
        // One recovery attempt per call: `fault` makes it.
        match self.fault() {
            Some(_) => Err(redb::Error::PreviousIo),
            None => self.current(),
        }
    }

    /// Passes `r` through, marking the store faulted when it failed at the disk.
    pub fn noted<T, E: Into<redb::Error>>(&self, r: Result<T, E>) -> Result<T, redb::Error> {
        r.map_err(|e| {
            let e = e.into();
            self.note(&e);
            e
        })
    }

    /// Marks the store faulted when `e` is a failure at the disk.
    pub fn note(&self, e: &redb::Error) {
        if is_io(e) {
            self.failed(&e.to_string());
        }
    }

    /// Why writes are refused, after trying to recover; `None` when the store is writable.
    pub fn fault(&self) -> Option<String> {
        self.recover();
        self.fault
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(|f| f.why.clone())
    }

    /// Moves each time the file was reopened: state kept in memory beside it must be reloaded.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Acquire)
    }

    fn failed(&self, why: &str) {
        let mut f = self.fault.lock().unwrap_or_else(|p| p.into_inner());
        match &mut *f {
            // Failing writes keep coming while the disk is full: they must not push the next
            // reopen attempt away.
            Some(f) => f.why = why.to_owned(),
            None => {
                tracing::error!(store = self.what, error = %why, path = %self.path.display(), "write failed at the disk; writes are refused until the file is reopened");
                *f = Some(Fault {
                    why: why.to_owned(),
                    retry_at: Instant::now() + REOPEN_EVERY,
                });
            }
        }
    }

    fn retry_later(&self, why: String) {
        *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = Some(Fault {
            why,
            retry_at: Instant::now() + REOPEN_EVERY,
        });
    }

    /// When faulted and due: closes the file (once no operation holds it), reopens it, and
    /// proves it writable with a probe transaction.
    fn recover(&self) {
        let due = {
            let f = self.fault.lock().unwrap_or_else(|p| p.into_inner());
            matches!(&*f, Some(f) if Instant::now() >= f.retry_at)
        };
        if !due {
            return;
        }
        let mut g = self.db.write().unwrap_or_else(|p| p.into_inner());
        if g.as_ref().is_some_and(|db| Arc::strong_count(db) > 1) {
            return;
        }
        // redb allows one open handle per file: the old one goes first.
        *g = None;
        let db = match open_file(&self.path, self.cache_bytes, self.init) {
            Ok(db) => Arc::new(db),
            Err(e) => return self.retry_later(e.to_string()),
        };
        let probe = (|| -> Result<(), redb::Error> {
            let tx = db.begin_write()?;
            tx.open_table(PROBE)?
                .insert("probe", self.generation() + 1)?;
            tx.commit()?;
            Ok(())
        })();
        // Reads work again either way.
        *g = Some(db);
        match probe {
            Ok(()) => {
                self.generation.fetch_add(1, Ordering::AcqRel);
                *self.fault.lock().unwrap_or_else(|p| p.into_inner()) = None;
                tracing::info!(store = self.what, path = %self.path.display(), "file reopened and writable again");
            }
            Err(e) => self.retry_later(e.to_string()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use redb::ReadableDatabase;

    const T: TableDefinition<u64, u64> = TableDefinition::new("t");

    fn init(db: &Database) -> Result<(), redb::Error> {
        let tx = db.begin_write()?;
        tx.open_table(T)?;
        tx.commit()?;
        Ok(())
    }

    #[test]
    fn an_io_fault_is_reported_and_the_file_reopened_once_free() {
        let dir = tempfile::tempdir().unwrap();
        let s = Reopenable::open("test store", &dir.path().join("t.redb"), 1 << 20, init).unwrap();
        let write = |k: u64| {
            let db = s.get()?;
            let tx = db.begin_write()?;
            tx.open_table(T)?.insert(k, k)?;
            s.noted(tx.commit())
        };
        write(1).unwrap();
        assert!(s.fault().is_none());
        // Not an I/O error: no fault.
        let _ = s.noted::<(), _>(Err(redb::Error::TableDoesNotExist("x".into())));
        assert!(s.fault().is_none());
        let held = s.get().unwrap();
        let _ = s.noted::<(), _>(Err(redb::Error::PreviousIo));
        assert!(s.fault().unwrap().contains("re-open"), "{:?}", s.fault());
        std::thread::sleep(REOPEN_EVERY + Duration::from_millis(50));
        // A handle still held delays the reopen.
        assert!(s.fault().is_some());
        assert_eq!(s.generation(), 0);
        drop(held);
        assert!(s.fault().is_none());
        assert_eq!(s.generation(), 1);
        write(2).unwrap();
        let db = s.get().unwrap();
        let rx = db.begin_read().unwrap();
        let t = rx.open_table(T).unwrap();
        assert_eq!(t.get(1).unwrap().unwrap().value(), 1);
        assert_eq!(t.get(2).unwrap().unwrap().value(), 2);
    }
}

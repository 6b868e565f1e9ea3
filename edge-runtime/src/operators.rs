//! Who may change things on this box: named operators with a PIN, kept as argon2id hashes in
//! `<data dir>/operators.json` (mode 0600, written atomically). Acknowledging an alarm needs an
//! operator's name and PIN; a box without operators refuses every acknowledgement — a loopback
//! or plant-LAN address is not a credential. `foodflow-edge operator add|remove|list` manage the
//! file; the running edge reads it at each attempt, so changes need no restart.
//!
//! Wrong PINs are throttled per (operator, source address) and per source address
//! ([`foodflow_transport::throttle`]): a stranger guessing in an operator's name locks out only
//! the stranger's own address, never the operator at the line.

use std::path::{Path, PathBuf};
use std::time::Duration;

use foodflow_transport::throttle::Throttle;
use serde::{Deserialize, Serialize};

/// The file's name in the data directory.
pub const FILE: &str = "operators.json";
/// PINs have at least this many characters (six digits: a million to guess, five at a time).
pub const MIN_PIN: usize = 6;
/// PINs have at most this many bytes (argon2 hashes whatever it is given).
pub const MAX_PIN: usize = 64;
/// Names have at most this many characters, like the line screen's field.
pub const MAX_NAME: usize = 60;
/// The file is read whole; anything larger is not ours.
const MAX_FILE_BYTES: u64 = 1 << 20;

#[derive(Debug, thiserror::Error)]
pub enum OperatorsError {
    #[error("reading {path}: {source}")]
    Read {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("writing {path}: {source}")]
    Write {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{path} is not an operators file: {source}")]
    Parse {
        path: PathBuf,
        #[source]
        source: serde_json::Error,
    },
    #[error("{path} is larger than {MAX_FILE_BYTES} bytes")]
    TooLarge { path: PathBuf },
    #[error("an operator name has 1 to {MAX_NAME} characters: letters, digits, spaces and . - _ '")]
    Name,
    #[error("a PIN has {MIN_PIN} to {MAX_PIN} characters")]
    Pin,
    #[error("hashing the PIN: {0}")]
    Hash(String),
}

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Operator {
    name: String,
    pin_hash: String,
}

#[derive(Debug, Default, Serialize, Deserialize)]
pub struct Operators {
    operators: Vec<Operator>,
}

pub fn check_name(name: &str) -> Result<(), OperatorsError> {
    let n = name.chars().count();
    let ok = (1..=MAX_NAME).contains(&n)
        && name.trim() == name
        && name
            .chars()
            .all(|c| c.is_alphanumeric() || " .-_'".contains(c));
    if ok {
        Ok(())
    } else {
        Err(OperatorsError::Name)
    }
}

fn check_pin(pin: &str) -> Result<(), OperatorsError> {
    if pin.chars().count() < MIN_PIN || pin.len() > MAX_PIN {
        return Err(OperatorsError::Pin);
    }
    Ok(())
}

impl Operators {
    /// The operators of the data directory `dir` (none when the file does not exist).
    pub fn load(dir: &Path) -> Result<Self, OperatorsError> {
        let path = dir.join(FILE);
        let read = |source| OperatorsError::Read {
            path: path.clone(),
            source,
        };
        let meta = match std::fs::metadata(&path) {
            Ok(m) => m,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Self::default()),
            Err(e) => return Err(read(e)),
        };
        if meta.len() > MAX_FILE_BYTES {
            return Err(OperatorsError::TooLarge { path });
        }
        let bytes = std::fs::read(&path).map_err(read)?;
        serde_json::from_slice(&bytes).map_err(|source| OperatorsError::Parse { path, source })
    }

    /// Writes the file readable by this user only, replacing it atomically.
    pub fn save(&self, dir: &Path) -> Result<(), OperatorsError> {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let path = dir.join(FILE);
        let tmp = dir.join(format!("{FILE}.tmp"));
        let write = |source| OperatorsError::Write {
            path: path.clone(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(write)?;
        let _ = std::fs::remove_file(&tmp);
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .mode(0o600)
            .open(&tmp)
            .map_err(write)?;
        let body = serde_json::to_vec_pretty(self).map_err(|e| write(e.into()))?;
        f.write_all(&body).map_err(write)?;
        f.sync_all().map_err(write)?;
        std::fs::rename(&tmp, &path).map_err(write)?;
        Ok(())
    }

    /// Adds an operator or gives an existing one a new PIN.
    pub fn set(&mut self, name: &str, pin: &str) -> Result<(), OperatorsError> {
        check_name(name)?;
        check_pin(pin)?;
        let pin_hash = foodflow_transport::password::hash(pin).map_err(OperatorsError::Hash)?;
        self.operators.retain(|o| o.name != name);
        self.operators.push(Operator {
            name: name.to_owned(),
            pin_hash,
        });
        self.operators.sort_by(|a, b| a.name.cmp(&b.name));
        Ok(())
    }

    /// Removes an operator; false when there was none of that name.
    pub fn remove(&mut self, name: &str) -> bool {
        let before = self.operators.len();
        self.operators.retain(|o| o.name != name);
        self.operators.len() != before
    }

    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.operators.iter().map(|o| o.name.as_str())
    }

    pub fn is_empty(&self) -> bool {
        self.operators.is_empty()
    }

    /// Whether `pin` is `name`'s PIN. An unknown name costs a hash too, so timing does not
    /// tell which names exist.
    pub fn verify(&self, name: &str, pin: &str) -> bool {
        if pin.len() > MAX_PIN {
            return false;
        }
        match self.operators.iter().find(|o| o.name == name) {
            Some(o) => foodflow_transport::password::verify(pin, &o.pin_hash),
            None => {
                let _ = foodflow_transport::password::verify(pin, dummy_hash());
                false
            }
        }
    }
}

/// A hash of a random PIN nobody knows, verified against for unknown names.
fn dummy_hash() -> &'static str {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY.get_or_init(|| {
        let mut pin = [0u8; 16];
        rand::fill(&mut pin);
        let pin: String = pin.iter().map(|b| format!("{b:02x}")).collect();
        foodflow_transport::password::hash(&pin).unwrap_or_default()
    })
}

/// Why a credential was not accepted.
#[derive(Debug, PartialEq, Eq)]
pub enum Refusal {
    /// The box has no operators: nobody can acknowledge until one is added.
    NoOperators,
    /// Unknown name or wrong PIN (not told apart).
    Wrong,
    /// Too many wrong PINs from this address (seconds to wait).
    Throttled(u64),
    /// The operators file cannot be read.
    Unavailable(String),
}

/// The running edge's check of operator credentials.
pub struct Gate {
    dir: PathBuf,
    per_name: Throttle,
    per_source: Throttle,
    /// One PIN hash at a time: argon2 is slow by design and the box has other work.
    hashing: tokio::sync::Semaphore,
}

impl Gate {
    pub fn new(data_dir: &Path) -> Self {
        Gate {
            dir: data_dir.to_owned(),
            per_name: Throttle::new(5, Duration::from_secs(30), 10_000),
            per_source: Throttle::new(20, Duration::from_secs(60), 10_000),
            hashing: tokio::sync::Semaphore::new(1),
        }
    }

    /// Checks `name` and `pin` presented from `source` (an address).
    pub async fn check(&self, name: &str, pin: &str, source: &str) -> Result<(), Refusal> {
        let ops = Operators::load(&self.dir).map_err(|e| Refusal::Unavailable(e.to_string()))?;
        if ops.is_empty() {
            return Err(Refusal::NoOperators);
        }
        let begun = self.per_source.begin(source.to_owned()).and_then(|s| {
            let n = self.per_name.begin(format!("{name}\u{0}{source}"))?;
            Ok((s, n))
        });
        let (by_source, by_name) = match begun {
            Ok(both) => both,
            Err(wait) => {
                tokio::time::sleep(foodflow_transport::throttle::TARPIT).await;
                return Err(Refusal::Throttled(wait));
            }
        };
        let _permit = self
            .hashing
            .acquire()
            .await
            .map_err(|e| Refusal::Unavailable(e.to_string()))?;
        let (name, pin) = (name.to_owned(), pin.to_owned());
        let ok = tokio::task::spawn_blocking(move || ops.verify(&name, &pin))
            .await
            .unwrap_or(false);
        if !ok {
            return Err(Refusal::Wrong);
        }
        by_source.succeeded();
        by_name.succeeded();
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn operators_are_kept_private_and_verified() {
        let d = tempfile::tempdir().unwrap();
        assert!(Operators::load(d.path()).unwrap().is_empty());
        let mut ops = Operators::default();
        ops.set("Ana Operator", "204817").unwrap();
        assert!(matches!(ops.set("x", "123"), Err(OperatorsError::Pin)));
        assert!(matches!(
            ops.set("a\nb", "123456"),
            Err(OperatorsError::Name)
        ));
        assert!(matches!(ops.set("", "123456"), Err(OperatorsError::Name)));
        ops.save(d.path()).unwrap();
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(d.path().join(FILE))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let text = std::fs::read_to_string(d.path().join(FILE)).unwrap();
        assert!(!text.contains("204817"), "only the hash is kept");
        let back = Operators::load(d.path()).unwrap();
        assert_eq!(back.names().collect::<Vec<_>>(), ["Ana Operator"]);
        assert!(back.verify("Ana Operator", "204817"));
        assert!(!back.verify("Ana Operator", "204818"));
        assert!(!back.verify("Bo", "204817"));
        std::fs::write(d.path().join(FILE), b"[1,2").unwrap();
        assert!(matches!(
            Operators::load(d.path()),
            Err(OperatorsError::Parse { .. })
        ));
    }

    #[tokio::test]
    async fn wrong_pins_lock_out_the_guessing_address_only() {
        let d = tempfile::tempdir().unwrap();
        let gate = Gate::new(d.path());
        assert_eq!(
            gate.check("Ana", "204817", "10.0.0.9").await,
            Err(Refusal::NoOperators)
        );
        let mut ops = Operators::default();
        ops.set("Ana", "204817").unwrap();
        ops.save(d.path()).unwrap();
        for _ in 0..5 {
            assert_eq!(
                gate.check("Ana", "000000", "10.0.0.9").await,
                Err(Refusal::Wrong)
            );
        }
        assert!(matches!(
            gate.check("Ana", "204817", "10.0.0.9").await,
            Err(Refusal::Throttled(_))
        ));
        assert_eq!(gate.check("Ana", "204817", "10.0.0.5").await, Ok(()));
    }
}

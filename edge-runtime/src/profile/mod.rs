//! Device profiles: typed YAML, checked at load, with errors that name file, line and field and
//! say how to fix them.

mod locate;
mod schema;
mod validate;

use std::fmt;
use std::path::{Path, PathBuf};

pub use locate::Seg;
pub use schema::*;

/// One problem found in a profile.
#[derive(Debug, Clone, PartialEq)]
pub struct Problem {
    pub line: Option<usize>,
    pub column: Option<usize>,
    /// The field path, e.g. `opcua[0].tags[2].deadband`.
    pub field: String,
    pub message: String,
}

/// Everything wrong with one profile file.
#[derive(Debug, Clone, thiserror::Error)]
pub struct ProfileError {
    pub file: PathBuf,
    pub problems: Vec<Problem>,
}

impl fmt::Display for ProfileError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let n = self.problems.len();
        write!(
            f,
            "device profile {} has {n} problem{}:",
            self.file.display(),
            if n == 1 { "" } else { "s" }
        )?;
        for p in &self.problems {
            write!(f, "\n  {}", self.file.display())?;
            if let Some(l) = p.line {
                write!(f, ":{l}")?;
                if let Some(c) = p.column {
                    write!(f, ":{c}")?;
                }
            }
            if p.field.is_empty() {
                write!(f, ": {}", p.message)?;
            } else {
                write!(f, ": field `{}`: {}", p.field, p.message)?;
            }
        }
        Ok(())
    }
}

/// Reads, parses and validates a profile file.
pub fn load(path: &Path) -> Result<Profile, ProfileError> {
    let text = std::fs::read_to_string(path).map_err(|e| ProfileError {
        file: path.to_owned(),
        problems: vec![Problem {
            line: None,
            column: None,
            field: String::new(),
            message: format!("cannot read the file: {e}"),
        }],
    })?;
    parse(path, &text)
}

/// Parses and validates profile text; `file` only names it in errors.
pub fn parse(file: &Path, text: &str) -> Result<Profile, ProfileError> {
    let fail = |problems| ProfileError {
        file: file.to_owned(),
        problems,
    };
    let de = serde_yaml::Deserializer::from_str(text);
    let profile: Profile = match serde_path_to_error::deserialize(de) {
        Ok(p) => p,
        Err(e) => {
            let field = e.path().to_string();
            let inner = e.into_inner();
            let (line, column) = match inner.location() {
                Some(l) => (Some(l.line()), Some(l.column())),
                None => (None, None),
            };
            let field = if field == "." { String::new() } else { field };
            let msg = inner.to_string();
            // serde_yaml prefixes the path it knows; we print the full path ourselves.
            let msg = match msg.split_once(": ") {
                Some((prefix, rest)) if !prefix.contains(' ') && field.starts_with(prefix) => {
                    rest.to_owned()
                }
                _ => msg,
            };
            return Err(fail(vec![Problem {
                line,
                column,
                field,
                message: explain_serde(&msg),
            }]));
        }
    };
    let issues = validate::validate(&profile);
    if issues.is_empty() {
        return Ok(profile);
    }
    Err(fail(
        issues
            .into_iter()
            .map(|(path, message)| {
                let pos = (0..=path.len())
                    .rev()
                    .find_map(|n| locate::locate(text, &path[..n]));
                Problem {
                    line: pos.map(|p| p.0),
                    column: pos.map(|p| p.1),
                    field: locate::render(&path),
                    message,
                }
            })
            .collect(),
    ))
}

/// serde's messages end with " at line L column C"; we print the position ourselves.
fn explain_serde(msg: &str) -> String {
    let msg = match msg.rfind(" at line ") {
        Some(i) => &msg[..i],
        None => msg,
    };
    let hint = if msg.starts_with("unknown field") {
        "; check the spelling against device-profiles/README.md"
    } else if msg.starts_with("missing field") {
        "; add it (see device-profiles/README.md for what it means)"
    } else if msg.starts_with("unknown variant") {
        "; use one of the listed values"
    } else {
        ""
    };
    format!("{msg}{hint}")
}

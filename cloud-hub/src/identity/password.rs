//! The password policy; hashing is [`foodflow_transport::password`]'s.

pub use foodflow_transport::password::{hash, verify};

/// The shortest password accepted.
pub const MIN_LEN: usize = 12;
/// The longest accepted, in bytes (a passphrase fits; a megabyte to hash does not).
pub const MAX_BYTES: usize = 1024;

pub fn check_policy(password: &str) -> Result<(), String> {
    if password.chars().count() < MIN_LEN {
        return Err(format!("a password needs at least {MIN_LEN} characters"));
    }
    if password.len() > MAX_BYTES {
        return Err(format!("a password has at most {MAX_BYTES} bytes"));
    }
    if password.trim() != password {
        return Err("a password may not start or end with white space".into());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_policy_wants_long_untrimmed_passwords() {
        assert!(check_policy("short").is_err());
        assert!(check_policy(" leading space ok?").is_err());
        assert!(check_policy("long enough pass").is_ok());
    }
}

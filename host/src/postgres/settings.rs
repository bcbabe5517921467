//! The host's own Postgres settings, parsed once at start (`host up` flags
//! or their environment variables) into typed values, so a bad value stops
//! the host instead of being ignored deep inside the pool code.

use std::fmt;
use std::num::NonZeroUsize;
use std::str::FromStr;

/// Spin's pool size: at most 64 connections per address (`CONNECTION_POOL_SIZE`
/// in spinframework/spin `crates/factor-outbound-pg/src/client.rs`).
pub const SPIN_POOL_SIZE: usize = 64;

/// How the host treats Postgres, beyond what the manifest says.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct PostgresSettings {
    /// The most connections one address's pool opens (`HOST_PG_POOL_SIZE`).
    pub pool_size: PoolSize,
    /// What a synchronous `query` that matches no row gives the guest.
    pub empty_results: EmptyResults,
}

/// The most connections one pool opens: a positive number.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PoolSize(NonZeroUsize);

impl PoolSize {
    pub fn new(size: usize) -> Result<Self, InvalidPoolSize> {
        NonZeroUsize::new(size).map(Self).ok_or(InvalidPoolSize(size.to_string()))
    }

    pub fn get(self) -> usize {
        self.0.get()
    }
}

impl Default for PoolSize {
    /// Spin's 64.
    fn default() -> Self {
        Self(NonZeroUsize::new(SPIN_POOL_SIZE).expect("64 is not zero"))
    }
}

impl FromStr for PoolSize {
    type Err = InvalidPoolSize;

    fn from_str(text: &str) -> Result<Self, Self::Err> {
        text.trim().parse::<NonZeroUsize>().map(Self).map_err(|_| InvalidPoolSize(text.to_owned()))
    }
}

impl fmt::Display for PoolSize {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.0.fmt(f)
    }
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("a Postgres pool size is a whole number of connections above zero, not `{0}`")]
pub struct InvalidPoolSize(String);

/// What a synchronous `query` that matches no row answers.
///
/// Spin 4.0.0 to 4.0.2 never answers it: the request hangs until the client
/// gives up (spinframework/spin#3671, fixed by PR #3673 after 4.0.2). A fixed
/// Spin answers an empty row set carrying the statement's columns. The host
/// cannot usefully hang, so by default it fails the query loudly instead.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub enum EmptyResults {
    /// `query-failed`, naming the statement: code that passes here never
    /// relies on an empty result, so it also runs on Spin 4.0.x.
    #[default]
    Fail,
    /// An empty row set with the prepared statement's columns, as a Spin
    /// with the fix answers.
    Columns,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pool_sizes_are_positive_whole_numbers_and_default_to_spins() {
        assert_eq!(PoolSize::default().get(), 64);
        assert_eq!("16".parse::<PoolSize>().unwrap().get(), 16);
        for bad in ["0", "-1", "", "sixteen", "1.5"] {
            let error = bad.parse::<PoolSize>().unwrap_err().to_string();
            assert!(error.contains(&format!("`{bad}`")), "{error}");
        }
        assert!(PoolSize::new(0).is_err());
    }

    #[test]
    fn empty_results_fail_unless_told_to_emulate_a_fixed_spin() {
        use clap::ValueEnum;
        assert_eq!(PostgresSettings::default().empty_results, EmptyResults::Fail);
        assert_eq!(EmptyResults::from_str("columns", false), Ok(EmptyResults::Columns));
        assert!(EmptyResults::from_str("hang", false).is_err());
    }
}

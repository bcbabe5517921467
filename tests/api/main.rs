//! One test binary for the whole API (zero2prod's layout): each module pins
//! the behaviour of one area, driving the real components through the host.

mod audit;
mod docs;
mod hardening;
mod health;
mod host_isolation;
mod jwks;
mod login;
mod mfa;
mod passwords;
mod pipeline;
mod preferences;
mod profile;
mod register;
mod robustness;
mod session_list;
mod sessions;
mod spin_conventions;
mod staff;

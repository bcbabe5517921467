//! One test binary for the whole API (zero2prod's layout): each module pins
//! the behaviour of one area, driving the real components through the
//! runtime `TEST_RUNTIME` names (the host, or a real `spin up`).

mod docs;
mod health;
mod isolation;
mod login;
mod passwords;
mod pipeline;
mod preferences;
mod profile;
mod register;
mod robustness;
mod sessions;
mod spin_conventions;
mod staff;

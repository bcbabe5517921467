//! One test binary for the whole API (zero2prod's layout): each module pins
//! the behaviour of one area, driving the real components through the
//! runtime `TEST_RUNTIME` names (the host, or a real `spin up`).

mod audit;
mod devices;
mod docs;
mod email_codes;
mod endpoints;
mod fuzz;
mod fuzz_findings;
mod hardening;
mod health;
mod introspect;
mod isolation;
mod jwks;
mod login;
mod lookup;
mod memory_growth;
mod mfa;
mod notification_preferences;
mod passkeys;
mod passwords;
mod pipeline;
mod preferences;
mod profile;
mod python_tools;
mod register;
mod replays;
mod revocation;
mod robustness;
mod session_list;
mod sessions;
mod spin_conventions;
mod staff;
mod traces;
mod viewer;

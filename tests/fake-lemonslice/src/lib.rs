//! A fake LemonSlice API server that follows the vendor contract
//! (`shared/lemonslice-api.md`), for tests, the demo and benchmarks.
//!
//! It serves join, leave and session status at the root and under `/api`,
//! injects the [`Faults`] it is given (latency, error statuses, joins whose
//! answer is lost, calls that hang), and shows what it saw through a control
//! API under `/_fake/`, which [`Admin`] reads and drives.
//!
//! Start it in-process with [`FakeServer::start`], or run the
//! `fake-lemonslice` binary and use [`Admin::new`] with the URL it prints.

mod admin;
mod control;
mod faults;
mod model;
mod reply;
mod server;
mod state;
mod vendor;

pub use admin::Admin;
pub use faults::{Faults, WebsocketUrlAnswer};
pub use model::{Bot, CallCounts, Leave, Peaks, RequestRecord};
pub use server::{Config, FakeServer};

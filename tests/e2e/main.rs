//! Integration tests against the local control plane (`make test` starts it).
//! One binary with a module per concern: one link instead of many.

mod api;
mod bench;
mod chaos;
mod client;
mod cluster;
mod controller;
mod gitops;
mod installs;
mod lifecycle;
mod packaging;
mod plugin;
mod record;
mod runtime;
mod scene;
mod session;
mod slow_link;
mod support;
mod tenants;
mod view;

//! The fake against the vendor contract (`shared/lemonslice-api.md`): the
//! documented requests sent as plain HTTP, the answers checked field by field.
//! One test binary, a module per concern; the client and helpers in `support`.

mod calls;
mod faults;
mod peaks;
mod refusals;
mod server;
mod sessions;
mod support;

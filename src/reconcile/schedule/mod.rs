//! Whether and when a reconcile runs: which watch deliveries ask for one
//! (`triggers`, with `own_writes` telling the operator's own echoes apart),
//! whose turn it is (`lanes`) and where reconciles wait for it (`waiting`),
//! objects as the watch decodes them (`watched`) and as the cache keeps them
//! (`cached`), the bot ids their statuses record (`recorded_ids`) and the
//! Secrets their specs name (`secret_refs`), all kept by `uid`. Knows nothing
//! of a reconcile's decisions or of the shared `Context`.

mod cached;
mod lanes;
mod own_writes;
mod recorded_ids;
mod secret_refs;
mod triggers;
mod uid;
mod waiting;
mod watched;

pub use cached::Cached;
pub use lanes::{Lane, Lanes, Turn};
pub use own_writes::OwnWrites;
pub use recorded_ids::RecordedIds;
pub use secret_refs::{SecretName, SecretRefs, secret_key};
pub use triggers::{Admitted, Remembered, Triggers};
pub use uid::Uid;
pub use waiting::WaitingRoom;
pub use watched::{Watched, invalid_message};

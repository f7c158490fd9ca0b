//! Converging at the API server's pace: reconciles take turns in the order
//! their objects appear, joins before bookkeeping, and a reconcile starts from
//! the operator's own last write when the watch has not yet brought it.
//!
//! A turn bounds the work at the API server, not the wait for the vendor: a
//! join or leave steps aside while its call is out (see [`Turn::step_aside`]),
//! so that a slow vendor does not idle the API server's capacity, and its
//! result is written without waiting for a new turn.
//!
//! The controller itself runs unbounded: its queue hands out held objects in
//! no particular order, so under a burst the bots created last could join
//! first. Instead each reconcile waits here for a turn, on a fair (first come,
//! first served) semaphore: one lane, as wide as `--concurrency`, for the work
//! on the path to Ready or gone (joins, leaves, failures); a narrower one for
//! the bookkeeping of bots already joined (the record's annotation copy,
//! session polls) and for Events, so that none of it delays a new join.

use super::watched::drop_unread;
use crate::api::{BotRecord, MeetingBot};
use futures::FutureExt;
use kube::ResourceExt;
use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore};

/// Which turn a reconcile waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Lane {
    /// Joins, leaves, and whatever a bot that is not (or no longer) joined needs.
    Path,
    /// Work on a bot that is joined and stays: it can wait for new joins.
    Bookkeeping,
}

impl Lane {
    pub(super) fn of(bot: &MeetingBot) -> Lane {
        if !bot.is_deleting() && matches!(bot.bot_record(), BotRecord::Joined(_)) {
            Lane::Bookkeeping
        } else {
            Lane::Path
        }
    }
}

/// How long bookkeeping waits before it looks again whether joins still wait.
const YIELD: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub(super) struct Lanes {
    path: Arc<Semaphore>,
    bookkeeping: Arc<Semaphore>,
    bookkeeping_width: usize,
}

impl Lanes {
    pub(super) fn new(concurrency: u16) -> Lanes {
        let path = usize::from(concurrency.max(1));
        let bookkeeping_width = (path / 4).max(1);
        Lanes {
            path: Arc::new(Semaphore::new(path)),
            bookkeeping: Arc::new(Semaphore::new(bookkeeping_width)),
            bookkeeping_width,
        }
    }

    /// How many bookkeeping turns may run at once.
    pub(super) fn bookkeeping_width(&self) -> usize {
        self.bookkeeping_width
    }

    /// Waits for a turn in `lane`, after everyone who asked before.
    pub(super) async fn turn(&self, lane: Lane) -> Turn {
        Turn {
            permit: Mutex::new(Some(self.permit(lane).await)),
            lanes: self.clone(),
            lane,
        }
    }

    /// A turn
    /// in the bookkeeping lane is taken only while the path lane has room:
    /// under a burst, the record's copies, session polls and Events wait
    /// until no join is waiting (each was made safe to wait: the record is in
    /// status, and a poll only learns sooner that a session ended).
    async fn permit(&self, lane: Lane) -> OwnedSemaphorePermit {
        let acquire = |semaphore: &Arc<Semaphore>| {
            semaphore
                .clone()
                .acquire_owned()
                .map(|permit| permit.expect("the lanes are never closed"))
        };
        match lane {
            Lane::Path => acquire(&self.path).await,
            Lane::Bookkeeping => loop {
                let permit = acquire(&self.bookkeeping).await;
                if self.path.available_permits() > 0 {
                    return permit;
                }
                drop(permit);
                tokio::time::sleep(YIELD).await;
            },
        }
    }
}

/// One reconcile's turn, held until it ends or steps aside.
pub(super) struct Turn {
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    lanes: Lanes,
    lane: Lane,
}

impl Turn {
    fn permit(&self) -> MutexGuard<'_, Option<OwnedSemaphorePermit>> {
        self.permit.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Lets the next reconcile go while this one waits for the vendor; what
    /// follows the call (writing its result) goes on without a turn.
    pub(super) fn step_aside(&self) {
        self.permit().take();
    }

    /// Before a further call that changes a meeting: waits in line again if
    /// this reconcile stepped aside.
    pub(super) async fn take_back(&self) {
        if self.permit().is_some() {
            return;
        }
        let permit = self.lanes.permit(self.lane).await;
        *self.permit() = Some(permit);
    }
}

/// The objects the operator's own writes returned, per UID, until the watch
/// delivers that version or a newer one: a reconcile that would start from an
/// older cached copy starts from this one instead, so that its fenced writes
/// are not refused by the operator's own previous write. Fencing still
/// decides: if anyone else wrote since, the write is refused as before.
#[derive(Default)]
pub(super) struct OwnWrites(Mutex<HashMap<String, MeetingBot>>);

/// A resourceVersion as a number, where it is one (etcd's revisions are): the
/// order is only used to pick the newer copy, never to skip a precondition.
fn version(bot: &impl ResourceExt) -> Option<u64> {
    bot.resource_version()?.parse().ok()
}

impl OwnWrites {
    fn lock(&self) -> MutexGuard<'_, HashMap<String, MeetingBot>> {
        self.0.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Remembers what a write returned (less what nobody reads).
    pub(super) fn wrote(&self, bot: &MeetingBot) {
        let (Some(uid), Some(_)) = (bot.uid(), version(bot)) else {
            return;
        };
        let mut bot = bot.clone();
        drop_unread(&mut bot.metadata);
        let mut written = self.lock();
        match written.get(&uid) {
            Some(known) if version(known) >= version(&bot) => {}
            _ => {
                written.insert(uid, bot);
            }
        }
    }

    /// The watch delivered `seen`: a copy of ours that is no newer goes.
    pub(super) fn observed(&self, seen: &impl ResourceExt) {
        let Some(uid) = seen.uid() else { return };
        let mut written = self.lock();
        if let Some(known) = written.get(&uid)
            && version(seen) >= version(known)
        {
            written.remove(&uid);
        }
    }

    /// Our last write of `cached`'s object when it is newer than `cached`.
    pub(super) fn newer_than(&self, cached: &MeetingBot) -> Option<MeetingBot> {
        let uid = cached.uid()?;
        let written = self.lock();
        let known = written.get(&uid)?;
        (version(known)? > version(cached)?).then(|| known.clone())
    }

    pub(super) fn forget(&self, uid: &str) {
        self.lock().remove(uid);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::MeetingBotSpec;

    fn bot(uid: &str, rv: &str) -> MeetingBot {
        let mut bot = MeetingBot::new("b", MeetingBotSpec::example());
        bot.metadata.uid = Some(uid.into());
        bot.metadata.resource_version = Some(rv.into());
        bot
    }

    #[test]
    fn a_newer_own_write_replaces_an_older_cache_until_the_watch_catches_up() {
        let own = OwnWrites::default();
        own.wrote(&bot("u", "12"));
        assert_eq!(
            own.newer_than(&bot("u", "10"))
                .and_then(|b| b.metadata.resource_version),
            Some("12".into())
        );
        assert!(own.newer_than(&bot("u", "12")).is_none());
        assert!(own.newer_than(&bot("other", "1")).is_none());
        // An older write does not replace a newer one.
        own.wrote(&bot("u", "11"));
        assert!(own.newer_than(&bot("u", "11")).is_some());
        own.observed(&bot("u", "11"));
        assert_eq!(own.len(), 1);
        own.observed(&bot("u", "13"));
        assert_eq!(own.len(), 0);
    }

    #[test]
    fn versions_that_are_not_numbers_leave_the_cache_alone() {
        let own = OwnWrites::default();
        own.wrote(&bot("u", "x"));
        assert_eq!(own.len(), 0);
        own.wrote(&bot("u", "5"));
        assert!(own.newer_than(&bot("u", "y")).is_none());
    }

    #[tokio::test]
    async fn bookkeeping_waits_while_joins_wait() {
        let lanes = Lanes::new(1);
        let join = lanes.turn(Lane::Path).await;
        let later = tokio::time::timeout(Duration::from_millis(300), lanes.turn(Lane::Bookkeeping));
        assert!(
            later.await.is_err(),
            "no bookkeeping while the path lane is full"
        );
        drop(join);
        let _turn = lanes.turn(Lane::Bookkeeping).await;
    }

    #[tokio::test]
    async fn a_turn_stepped_aside_lets_the_next_go_and_is_taken_back_in_line() {
        let lanes = Lanes::new(1);
        let join = lanes.turn(Lane::Path).await;
        let waiting = tokio::time::timeout(Duration::from_millis(100), lanes.turn(Lane::Path));
        assert!(waiting.await.is_err(), "the one turn is taken");
        join.step_aside();
        let next = lanes.turn(Lane::Path).await;
        let back = tokio::time::timeout(Duration::from_millis(100), join.take_back());
        assert!(back.await.is_err(), "taking a turn back waits in line");
        drop(next);
        join.take_back().await;
    }

    #[tokio::test]
    async fn turns_are_taken_in_the_order_asked() {
        let lanes = Arc::new(Lanes::new(1));
        let first = lanes.turn(Lane::Path).await;
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut waiting = Vec::new();
        for i in 0..5 {
            let (lanes, order) = (lanes.clone(), order.clone());
            waiting.push(tokio::spawn(async move {
                let _turn = lanes.turn(Lane::Path).await;
                order.lock().unwrap().push(i);
            }));
            tokio::task::yield_now().await;
        }
        drop(first);
        for task in waiting {
            task.await.unwrap();
        }
        assert_eq!(*order.lock().unwrap(), vec![0, 1, 2, 3, 4]);
    }
}

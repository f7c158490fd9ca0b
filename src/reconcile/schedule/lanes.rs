//! Converging at the API server's pace: reconciles take turns in the order
//! their objects appear, joins before bookkeeping.
//!
//! A turn bounds the work at the API server, not the wait for the vendor: a
//! join or leave steps aside while its call is out (see [`Turn::step_aside`]),
//! so that a slow vendor does not idle the API server's capacity, and its
//! result is written without waiting for a new turn.
//!
//! The controller itself runs unbounded: its queue hands out held objects in
//! no particular order, so under a burst the bots created last could join
//! first. Instead each reconcile takes a turn here, first come first served
//! (waiting for it in `waiting`, outside kube's runner): one lane, as wide as
//! `--concurrency`, for the work on the path to Ready or gone (joins, leaves,
//! failures); a narrower one for the bookkeeping of bots already joined (the
//! record's annotation copy, session polls) and for Events, so that none of it
//! delays a new join.

use crate::api::{BotRecord, MeetingBot};
use futures::FutureExt;
use parking_lot::Mutex;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;
use tokio::sync::{Notify, OwnedSemaphorePermit, Semaphore};

/// Which turn a reconcile waits for.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Lane {
    /// Joins, leaves, and whatever a bot that is not (or no longer) joined,
    /// or whose spec changed, needs.
    Path,
    /// Work on a bot that is joined and stays: it can wait for new joins.
    Bookkeeping,
}

impl Lane {
    pub fn of(bot: &MeetingBot) -> Lane {
        // A spec not yet acted on (suspend, a new meeting: a leave a user
        // waits for) does not wait behind a fleet's session polls.
        let acted_on = bot
            .status
            .as_ref()
            .is_some_and(|status| status.observed_generation == bot.metadata.generation);
        if acted_on && !bot.is_deleting() && matches!(bot.bot_record(), BotRecord::Joined(_)) {
            Lane::Bookkeeping
        } else {
            Lane::Path
        }
    }
}

/// How long bookkeeping waits before it looks again whether joins still wait.
pub const YIELD: Duration = Duration::from_millis(100);

#[derive(Clone)]
pub struct Lanes {
    path: Arc<Semaphore>,
    bookkeeping: Arc<Semaphore>,
    path_width: usize,
    bookkeeping_width: usize,
    /// Told whenever a turn ends or steps aside.
    freed: Arc<Notify>,
    /// Path turns stepped aside whose reconcile goes on (a vendor call, then
    /// the write of its result): work on the path that holds no turn.
    aside: Arc<AtomicUsize>,
}

impl Lanes {
    pub fn new(concurrency: u16) -> Lanes {
        let path = usize::from(concurrency.max(1));
        let bookkeeping_width = (path / 4).max(1);
        Lanes {
            path: Arc::new(Semaphore::new(path)),
            bookkeeping: Arc::new(Semaphore::new(bookkeeping_width)),
            path_width: path,
            bookkeeping_width,
            freed: Arc::default(),
            aside: Arc::default(),
        }
    }

    /// Told whenever a turn ends or steps aside.
    pub fn freed(&self) -> &Notify {
        &self.freed
    }

    /// Whether the path lane has a free turn: bookkeeping goes only then.
    fn path_has_room(&self) -> bool {
        self.path.available_permits() > 0
    }

    /// A free turn in `lane`, if there is one now, without going ahead of
    /// anyone waiting for it.
    pub fn try_permit(&self, lane: Lane) -> Option<OwnedSemaphorePermit> {
        match lane {
            Lane::Path => self.path.clone().try_acquire_owned().ok(),
            Lane::Bookkeeping if self.path_has_room() => {
                self.bookkeeping.clone().try_acquire_owned().ok()
            }
            Lane::Bookkeeping => None,
        }
    }

    /// The turn that `permit`, of `lane`, gives.
    pub fn turn_with(&self, permit: OwnedSemaphorePermit, lane: Lane) -> Turn {
        Turn {
            permit: Mutex::new(Some(permit)),
            lanes: self.clone(),
            lane,
            aside: AtomicBool::new(false),
        }
    }

    /// Whether nothing is under way on the path: no turn taken, and no
    /// reconcile that stepped aside still at its call or its write.
    fn path_idle(&self) -> bool {
        self.path.available_permits() == self.path_width && self.aside.load(Ordering::Acquire) == 0
    }

    /// A bookkeeping turn taken only while nothing is under way on the path,
    /// for work that nobody waits for and that costs the API server a write
    /// (Events): under a burst of deletions, whose turns are short (each
    /// steps aside for its leave), bookkeeping's "room in the path lane"
    /// holds most of the time, and each Event would slow the API server that
    /// the deletions wait for.
    pub async fn quiet_turn(&self) -> Turn {
        loop {
            let turn = self.turn(Lane::Bookkeeping).await;
            if self.path_idle() {
                return turn;
            }
            drop(turn);
            tokio::time::sleep(YIELD).await;
        }
    }

    /// How many turns of `lane` are taken now (for /metrics).
    pub fn busy(&self, lane: Lane) -> usize {
        match lane {
            Lane::Path => self.path_width - self.path.available_permits(),
            Lane::Bookkeeping => self.bookkeeping_width - self.bookkeeping.available_permits(),
        }
    }

    /// How many bookkeeping turns may run at once.
    pub fn bookkeeping_width(&self) -> usize {
        self.bookkeeping_width
    }

    /// Waits for a turn in `lane`, after everyone who asked before.
    pub async fn turn(&self, lane: Lane) -> Turn {
        self.turn_with(self.permit(lane).await, lane)
    }

    /// Waits for a permit in `lane`. A turn in the bookkeeping lane is taken
    /// only while the path lane has room:
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
                if self.path_has_room() {
                    return permit;
                }
                drop(permit);
                tokio::time::sleep(YIELD).await;
            },
        }
    }
}

/// One reconcile's turn, held until it ends or steps aside.
pub struct Turn {
    permit: Mutex<Option<OwnedSemaphorePermit>>,
    lanes: Lanes,
    lane: Lane,
    /// Stepped aside (counted in the lanes' `aside`), and not back.
    aside: AtomicBool,
}

impl Turn {
    /// Lets the next reconcile go while this one waits for the vendor; what
    /// follows the call (writing its result) goes on without a turn.
    pub fn step_aside(&self) {
        if self.permit.lock().take().is_some() && self.lane == Lane::Path {
            self.aside.store(true, Ordering::Release);
            self.lanes.aside.fetch_add(1, Ordering::AcqRel);
        }
        self.lanes.freed.notify_one();
    }

    fn back(&self) {
        if self.aside.swap(false, Ordering::AcqRel) {
            self.lanes.aside.fetch_sub(1, Ordering::AcqRel);
        }
    }

    /// Before a further call that changes a meeting: waits in line again if
    /// this reconcile stepped aside.
    pub async fn take_back(&self) {
        if self.permit.lock().is_some() {
            return;
        }
        let permit = self.lanes.permit(self.lane).await;
        *self.permit.lock() = Some(permit);
        self.back();
    }
}

impl Drop for Turn {
    fn drop(&mut self) {
        self.back();
        if self.permit.lock().take().is_some() {
            self.lanes.freed.notify_one();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::{MeetingBotSpec, MeetingBotStatus, RecordedBot, joined_annotations};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;
    use kube::ResourceExt;

    /// A bot whose record says it joined, with status as of `observed`.
    fn joined(generation: i64, observed: i64) -> MeetingBot {
        let mut bot = MeetingBot::new("b", MeetingBotSpec::example());
        bot.metadata.uid = Some("u".into());
        bot.metadata.generation = Some(generation);
        let recorded = RecordedBot {
            meeting_bot_id: "bot-1".into(),
            session_id: "s1".into(),
            joined_spec: None,
            joined_at: None,
            uid: Some("u".into()),
            api_key: None,
            install: None,
        };
        for (key, value) in joined_annotations(&recorded) {
            if let Some(value) = value {
                bot.annotations_mut().insert(key.into(), value);
            }
        }
        bot.status = Some(MeetingBotStatus {
            observed_generation: Some(observed),
            ..MeetingBotStatus::default()
        });
        bot
    }

    #[test]
    fn only_a_joined_bot_at_rest_waits_behind_joins() {
        assert_eq!(Lane::of(&joined(1, 1)), Lane::Bookkeeping, "its polls");
        assert_eq!(
            Lane::of(&MeetingBot::new("b", MeetingBotSpec::example())),
            Lane::Path,
            "a join"
        );
        assert_eq!(
            Lane::of(&joined(2, 1)),
            Lane::Path,
            "a spec changed (suspend, another meeting) leaves as soon as a join would"
        );
        let mut deleted = joined(1, 1);
        deleted.metadata.deletion_timestamp = Some(Time(jiff::Timestamp::now()));
        assert_eq!(Lane::of(&deleted), Lane::Path, "a deletion's leave");
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
    async fn a_quiet_turn_waits_until_nothing_is_under_way_on_the_path() {
        let lanes = Lanes::new(2);
        let leave = lanes.turn(Lane::Path).await;
        leave.step_aside();
        let quiet = tokio::time::timeout(Duration::from_millis(300), lanes.quiet_turn());
        assert!(
            quiet.await.is_err(),
            "no Event while a leave is at its call or its write"
        );
        leave.take_back().await;
        let quiet = tokio::time::timeout(Duration::from_millis(300), lanes.quiet_turn());
        assert!(quiet.await.is_err(), "nor while it holds its turn");
        drop(leave);
        let _event = lanes.quiet_turn().await;
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
                order.lock().push(i);
            }));
            tokio::task::yield_now().await;
        }
        drop(first);
        for task in waiting {
            task.await.unwrap();
        }
        assert_eq!(*order.lock(), vec![0, 1, 2, 3, 4]);
    }
}

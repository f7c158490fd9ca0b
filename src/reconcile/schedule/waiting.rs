//! Where reconciles wait for a turn (see `lanes`): outside kube's runner.
//!
//! The controller runs unbounded, so that its queue (which hands out held
//! objects in no particular order) never decides who goes first. A reconcile
//! that waited for its turn inside the runner would still be one of its
//! tasks, and kube-runtime polls every such task each time the runner wakes:
//! under a burst of N creates that is work growing with N². So a reconcile
//! that finds no free turn takes a place in line here and ends at once; when
//! a turn frees, the dispatcher keeps it for the first in line and triggers
//! that object's reconcile again, which takes the turn kept for it.

use super::cached::Cached;
use super::lanes::{Lane, Lanes, Turn, YIELD};
use kube::runtime::reflector::ObjectRef;
use parking_lot::Mutex;
use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::OwnedSemaphorePermit;

/// How long a turn kept for a called object waits for its reconcile: the
/// trigger is lost when the object went meanwhile.
const CLAIM_WITHIN: Duration = Duration::from_secs(2);

type Key = ObjectRef<Cached>;

#[derive(Clone)]
pub struct WaitingRoom {
    lanes: Lanes,
    line: Arc<Mutex<Line>>,
}

#[derive(Default)]
struct Line {
    /// Places in line for a turn in the path lane, first come first.
    path: VecDeque<Place>,
    /// Places in line for a turn in the bookkeeping lane, first come first.
    bookkeeping: VecDeque<Place>,
    /// The lane each waiting object waits in, and its ticket: a place whose
    /// ticket is not its object's current one was given up (an object moved
    /// to the path lane), and is skipped when it comes up, so that moving
    /// costs no scan of the line. Its key is shared with its place: under a
    /// burst, every new object waits here.
    waiting: HashMap<Arc<Key>, (Lane, u64)>,
    /// The next ticket.
    tickets: u64,
    /// How many objects wait in each lane (its line may hold given-up places).
    waiting_in: [usize; 2],
    /// Turns kept for called objects until their reconcile comes.
    called: HashMap<Key, Kept>,
}

struct Place {
    key: Arc<Key>,
    ticket: u64,
}

struct Kept {
    permit: OwnedSemaphorePermit,
    lane: Lane,
    since: Instant,
}

impl Line {
    fn queue(&mut self, lane: Lane) -> &mut VecDeque<Place> {
        match lane {
            Lane::Path => &mut self.path,
            Lane::Bookkeeping => &mut self.bookkeeping,
        }
    }

    fn count(&mut self, lane: Lane) -> &mut usize {
        &mut self.waiting_in[lane as usize]
    }

    /// Puts `key` at the end of `lane`'s line.
    fn push(&mut self, key: Arc<Key>, lane: Lane) {
        let ticket = self.tickets;
        self.tickets += 1;
        *self.count(lane) += 1;
        self.waiting.insert(key.clone(), (lane, ticket));
        self.queue(lane).push_back(Place { key, ticket });
    }

    /// `key` no longer waits (its place, if still in a line, is skipped).
    fn leave(&mut self, key: &Key) {
        if let Some((lane, _)) = self.waiting.remove(key) {
            *self.count(lane) -= 1;
        }
    }

    /// The first in `lane`'s line that still waits there, given-up places dropped.
    fn first(&mut self, lane: Lane) -> Option<Key> {
        loop {
            let queue = match lane {
                Lane::Path => &mut self.path,
                Lane::Bookkeeping => &mut self.bookkeeping,
            };
            let place = queue.front()?;
            if self.waiting.get(&place.key) == Some(&(lane, place.ticket)) {
                return Some(Key::clone(&place.key));
            }
            queue.pop_front();
        }
    }

    /// Takes the first in `lane`'s line (as answered by [`Line::first`]) out.
    fn pop(&mut self, lane: Lane) {
        if let Some(place) = self.queue(lane).pop_front() {
            self.leave(&place.key);
        }
    }
}

impl WaitingRoom {
    pub fn new(lanes: Lanes) -> WaitingRoom {
        WaitingRoom {
            lanes,
            line: Arc::default(),
        }
    }

    /// Waits for a turn in `lane` outside the line of keys: for work that
    /// no object's reconcile carries (a deleted object's bot).
    pub async fn turn(&self, lane: Lane) -> Turn {
        self.lanes.turn(lane).await
    }

    /// For each lane, by name, how many reconciles wait in line and how many
    /// turns are taken (for /metrics).
    pub fn load(&self) -> [(&'static str, usize, usize); 2] {
        let line = self.line.lock();
        [
            (
                "path",
                line.waiting_in[Lane::Path as usize],
                self.lanes.busy(Lane::Path),
            ),
            (
                "bookkeeping",
                line.waiting_in[Lane::Bookkeeping as usize],
                self.lanes.busy(Lane::Bookkeeping),
            ),
        ]
    }

    /// A turn in `lane` for `key`'s reconcile now: the one kept for it, or a
    /// free one when nobody waits ahead. `None` when it waits in line: its
    /// reconcile ends, and the dispatcher calls it again.
    pub fn enter(&self, key: &Key, lane: Lane) -> Option<Turn> {
        let mut line = self.line.lock();
        if let Some(kept) = line.called.remove(key) {
            return Some(self.lanes.turn_with(kept.permit, kept.lane));
        }
        match line.waiting.get(key).copied() {
            // Work on the path to Ready or gone does not wait behind bookkeeping.
            Some((Lane::Bookkeeping, _)) if lane == Lane::Path => line.leave(key),
            Some(_) => return None,
            None => {}
        }
        if line.first(lane).is_none()
            && let Some(permit) = self.lanes.try_permit(lane)
        {
            return Some(self.lanes.turn_with(permit, lane));
        }
        // Name and namespace only: equality ignores the rest.
        let mut place = key.clone();
        place.extra = Default::default();
        line.push(Arc::new(place), lane);
        None
    }

    /// Keeps each free turn for the first in line that still `exists`, and
    /// answers whom to call; turns kept too long for a call go back.
    fn call_next(&self, exists: impl Fn(&Key) -> bool) -> Vec<Key> {
        let mut line = self.line.lock();
        line.called
            .retain(|_, kept| kept.since.elapsed() < CLAIM_WITHIN);
        let mut calls = Vec::new();
        for lane in [Lane::Path, Lane::Bookkeeping] {
            while let Some(first) = line.first(lane) {
                if !exists(&first) {
                    line.pop(lane);
                    continue;
                }
                let Some(permit) = self.lanes.try_permit(lane) else {
                    break;
                };
                line.pop(lane);
                let since = Instant::now();
                line.called.insert(
                    first.clone(),
                    Kept {
                        permit,
                        lane,
                        since,
                    },
                );
                calls.push(first);
            }
        }
        calls
    }

    /// Calls the objects whose turn came, through `call`, for as long as the
    /// process runs; `exists` says whether an object is still there.
    pub async fn dispatch(self, exists: impl Fn(&Key) -> bool, call: impl Fn(Key)) {
        loop {
            self.call_next(&exists).into_iter().for_each(&call);
            // Also without being told: bookkeeping waits for room in the path
            // lane too, and kept turns expire.
            let _ = tokio::time::timeout(YIELD, self.lanes.freed().notified()).await;
        }
    }

    #[cfg(test)]
    fn waiting(&self) -> std::collections::HashSet<Key> {
        self.line
            .lock()
            .waiting
            .keys()
            .map(|key| Key::clone(key))
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(name: &str) -> Key {
        ObjectRef::new(name).within("ns")
    }

    fn all(_: &Key) -> bool {
        true
    }

    #[test]
    fn who_finds_no_turn_waits_in_line_and_is_called_in_order() {
        let room = WaitingRoom::new(Lanes::new(1));
        let first = room.enter(&key("a"), Lane::Path).expect("a free turn");
        assert!(room.enter(&key("b"), Lane::Path).is_none());
        assert!(room.enter(&key("c"), Lane::Path).is_none());
        assert!(
            room.enter(&key("b"), Lane::Path).is_none(),
            "b keeps its place"
        );
        assert!(room.call_next(all).is_empty(), "no turn is free");
        drop(first);
        assert_eq!(room.call_next(all), [key("b")]);
        assert!(
            room.enter(&key("c"), Lane::Path).is_none(),
            "the turn is kept for b"
        );
        let second = room.enter(&key("b"), Lane::Path).expect("the kept turn");
        drop(second);
        assert_eq!(room.call_next(all), [key("c")]);
        assert!(room.waiting().is_empty());
    }

    #[test]
    fn bookkeeping_waits_while_joins_wait_and_a_deletion_does_not_wait_behind_it() {
        let room = WaitingRoom::new(Lanes::new(1));
        let join = room.enter(&key("new"), Lane::Path).expect("a free turn");
        assert!(room.enter(&key("joined"), Lane::Bookkeeping).is_none());
        assert!(room.enter(&key("other"), Lane::Bookkeeping).is_none());
        // The joined bot is deleted: its leave waits in the path lane instead.
        assert!(room.enter(&key("joined"), Lane::Path).is_none());
        drop(join);
        assert_eq!(room.call_next(all), [key("joined")]);
        let leave = room
            .enter(&key("joined"), Lane::Path)
            .expect("the kept turn");
        assert!(
            room.call_next(all).is_empty(),
            "no bookkeeping while the path lane is full"
        );
        drop(leave);
        assert_eq!(room.call_next(all), [key("other")]);
    }

    #[test]
    fn a_place_given_up_for_the_path_lane_is_skipped_and_not_counted() {
        let room = WaitingRoom::new(Lanes::new(1));
        let join = room.enter(&key("new"), Lane::Path).expect("a free turn");
        for name in ["joined", "other"] {
            assert!(room.enter(&key(name), Lane::Bookkeeping).is_none());
        }
        assert!(room.enter(&key("joined"), Lane::Path).is_none());
        assert_eq!(room.load()[0].1, 1, "one waits in the path lane");
        assert_eq!(room.load()[1].1, 1, "one waits in the bookkeeping lane");
        drop(join);
        assert_eq!(room.call_next(all), [key("joined")]);
        let leave = room.enter(&key("joined"), Lane::Path).expect("kept");
        // Back in the bookkeeping lane (its leave failed): the end of that line.
        drop(leave);
        assert!(room.enter(&key("busy"), Lane::Path).is_some());
        assert!(room.enter(&key("joined"), Lane::Bookkeeping).is_none());
        assert_eq!(room.load()[1].1, 2);
        let mut called = Vec::new();
        while !room.waiting().is_empty() {
            room.line.lock().called.clear();
            called.extend(room.call_next(all));
        }
        assert_eq!(called, [key("other"), key("joined")]);
    }

    #[test]
    fn objects_gone_are_not_called_and_a_turn_kept_too_long_goes_back() {
        let room = WaitingRoom::new(Lanes::new(1));
        let first = room.enter(&key("a"), Lane::Path).expect("a free turn");
        assert!(room.enter(&key("gone"), Lane::Path).is_none());
        assert!(room.enter(&key("b"), Lane::Path).is_none());
        drop(first);
        assert_eq!(room.call_next(|k| *k != key("gone")), [key("b")]);
        room.line
            .lock()
            .called
            .get_mut(&key("b"))
            .expect("kept")
            .since -= CLAIM_WITHIN;
        assert!(room.call_next(all).is_empty());
        assert!(
            room.enter(&key("c"), Lane::Path).is_some(),
            "b's turn went back"
        );
    }
}

//! Events on MeetingBots. Warnings repeat (a failing reconcile is reported
//! once a minute), so they go through kube's recorder, which folds a repeat
//! into the same Event with a count. That recorder keeps every Event it
//! published for six minutes; Normal Events mark one transition each (Joined,
//! Left, ...), so they are published without it and a burst of joins leaves
//! no memory behind.
//!
//! Events off the path to Ready or gone (Joined, Left) wait in one queue for
//! a bookkeeping turn taken while nothing is under way on the path (see
//! `Lanes::quiet_turn`): a waiting Event holds only its own fields, where a
//! task per Event held a whole publishing future (about 4.5 KiB each).

use crate::api::MeetingBot;
use crate::reconcile::schedule::Lanes;
use futures::StreamExt;
use k8s_openapi::api::core::v1::ObjectReference;
use kube::Resource;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use parking_lot::Mutex;
use std::time::Duration;
use tokio::sync::{mpsc, watch};
use tokio::task::JoinHandle;
use tracing::warn;

pub struct Events {
    publisher: Publisher,
    /// `None` once the operator stops: Events still waiting are published,
    /// no new one is queued.
    deferred: Mutex<Option<mpsc::UnboundedSender<Deferred>>>,
    /// Told when the reconciles have stopped.
    stopping: watch::Sender<bool>,
    publishing: Mutex<Option<JoinHandle<()>>>,
}

/// How long a stopping operator spends on the Events still waiting (with
/// leader election, within the drain that also holds the Lease).
const FLUSH_WITHIN: Duration = Duration::from_secs(5);

#[derive(Clone)]
struct Publisher {
    kube: kube::Client,
    reporter: Reporter,
    warnings: Recorder,
}

/// An Event waiting for its turn: a burst of joins queues one per bot, so
/// it keeps only what varies (not a whole `ObjectReference`, with the
/// MeetingBot's API version and kind in each).
struct Deferred {
    type_: EventType,
    reason: &'static str,
    note: Box<str>,
    regarding: Regarding,
}

/// The MeetingBot an Event is about.
struct Regarding {
    namespace: Box<str>,
    name: Box<str>,
    uid: Box<str>,
}

impl Regarding {
    fn of(bot: &MeetingBot) -> Regarding {
        let text = |field: &Option<String>| field.as_deref().unwrap_or_default().into();
        Regarding {
            namespace: text(&bot.metadata.namespace),
            name: text(&bot.metadata.name),
            uid: text(&bot.metadata.uid),
        }
    }

    /// What `object_ref` gives for the same MeetingBot.
    fn object_reference(&self) -> ObjectReference {
        let text = |field: &str| (!field.is_empty()).then(|| field.to_owned());
        ObjectReference {
            api_version: Some(MeetingBot::api_version(&()).into()),
            kind: Some(MeetingBot::kind(&()).into()),
            namespace: text(&self.namespace),
            name: text(&self.name),
            uid: text(&self.uid),
            resource_version: None,
            field_path: None,
        }
    }
}

impl Events {
    /// Starts the publisher of deferred Events, which takes turns in `lanes`.
    pub fn new(kube: kube::Client, reporter: Reporter, lanes: Lanes) -> Events {
        let publisher = Publisher {
            warnings: Recorder::new(kube.clone(), reporter.clone()),
            kube,
            reporter,
        };
        let (deferred, queue) = mpsc::unbounded_channel::<Deferred>();
        let (stopping, stopped) = watch::channel(false);
        let background = publisher.clone();
        let queue = futures::stream::unfold(queue, |mut queue| async {
            queue.recv().await.map(|event| (event, queue))
        });
        let publishing = tokio::spawn(queue.for_each_concurrent(
            lanes.bookkeeping_width(),
            move |event| {
                let (publisher, lanes) = (background.clone(), lanes.clone());
                let mut stopped = stopped.clone();
                async move {
                    // Once the reconciles have stopped, no turn is needed (and
                    // turns promised to reconciles that never ran stay taken).
                    let _turn = tokio::select! {
                        turn = lanes.quiet_turn() => Some(turn),
                        _ = stopped.wait_for(|stopped| *stopped) => None,
                    };
                    let regarding = event.regarding.object_reference();
                    publisher
                        .publish(event.type_, event.reason, &event.note, &regarding)
                        .await;
                }
            },
        ));
        Events {
            publisher,
            deferred: Mutex::new(Some(deferred)),
            stopping,
            publishing: Mutex::new(Some(publishing)),
        }
    }

    /// Publishes the Events still waiting, once the reconciles have stopped,
    /// within [`FLUSH_WITHIN`]: a Joined or Left Event queued just before a
    /// shutdown is not lost.
    pub async fn flush(&self) {
        drop(self.deferred.lock().take());
        self.stopping.send_replace(true);
        let publishing = self.publishing.lock().take();
        if let Some(publishing) = publishing
            && tokio::time::timeout(FLUSH_WITHIN, publishing)
                .await
                .is_err()
        {
            warn!("stopping with Events not yet published");
        }
    }

    /// Publishes an Event about `regarding`; a failure is only logged.
    pub async fn publish(
        &self,
        type_: EventType,
        reason: &str,
        note: &str,
        regarding: &ObjectReference,
    ) {
        self.publisher.publish(type_, reason, note, regarding).await;
    }

    /// Publishes an Event off the path to Ready or gone: in the bookkeeping
    /// lane, once no join or leave is under way, so that none waits for
    /// another bot's Event.
    pub fn publish_later(
        &self,
        type_: EventType,
        reason: &'static str,
        note: String,
        regarding: &MeetingBot,
    ) {
        let event = Deferred {
            type_,
            reason,
            note: note.into(),
            regarding: Regarding::of(regarding),
        };
        let sent = match self.deferred.lock().as_ref() {
            Some(deferred) => deferred.send(event).is_ok(),
            None => false,
        };
        if !sent {
            warn!(reason, "could not publish an Event: the publisher stopped");
        }
    }
}

/// The Event's `action`: what the operator did, or tried, that the Event
/// (named by its `reason`) reports.
pub fn action(reason: &str) -> &'static str {
    use crate::api::event;
    match reason {
        event::JOINED | event::JOIN_FAILED | event::JOIN_OUTCOME_UNKNOWN => "Join",
        event::LEFT
        | event::LEAVE_FAILED
        | event::REJOINING
        | event::SUSPENDED
        | event::COMPLETED => "Leave",
        event::SESSION_ENDED | event::UNKNOWN_JOIN_ENDED => "ReadSession",
        event::FOREIGN_RECORD
        | event::ADOPTION_CONFLICT
        | event::RECORD_CONFLICT
        | event::OTHER_INSTALL => "ReadRecord",
        event::LEFT_SCOPE => "HandOver",
        event::INVALID_SPEC => "ReadSpec",
        event::CONNECTION_SECRET_NOT_OWNED
        | event::CONNECTION_SECRET_FAILED
        | crate::api::reason::WEBSOCKET_URL_MISSING => "WriteConnectionSecret",
        // A reconcile that failed on the Kubernetes API, the operator's
        // configuration or its HTTP client.
        _ => "Reconcile",
    }
}

impl Publisher {
    async fn publish(
        &self,
        type_: EventType,
        reason: &str,
        note: &str,
        regarding: &ObjectReference,
    ) {
        let recorder = match type_ {
            EventType::Warning => self.warnings.clone(),
            EventType::Normal => Recorder::new(self.kube.clone(), self.reporter.clone()),
        };
        let event = Event {
            type_,
            reason: reason.to_owned(),
            note: Some(note.to_owned()),
            action: action(reason).into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, regarding).await {
            warn!(%error, reason, "could not publish an Event");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{Regarding, action};
    use crate::api::{MeetingBot, MeetingBotSpec, event, reason};
    use kube::Resource;

    #[test]
    fn a_deferred_event_regards_the_object_as_object_ref_names_it() {
        let mut bot = MeetingBot::new("standup", MeetingBotSpec::example());
        bot.metadata.namespace = Some("team".into());
        bot.metadata.uid = Some("c8e897e4-e022-4a12-baf9-ae11edcfcd90".into());
        bot.metadata.resource_version = Some("42".into());
        assert_eq!(Regarding::of(&bot).object_reference(), bot.object_ref(&()));
    }

    #[test]
    fn every_event_names_its_action() {
        for name in event::ALL {
            let expected = match *name {
                reason::KUBERNETES_FORBIDDEN
                | reason::KUBERNETES_WRITE_REFUSED
                | reason::KUBERNETES_NOT_FOUND
                | reason::KUBERNETES_ERROR
                | reason::INVALID_OBJECT
                | reason::OPERATOR_CONFIG_ERROR
                | reason::HTTP_CLIENT_ERROR => "Reconcile",
                _ => "not Reconcile",
            };
            let got = action(name);
            assert_eq!(
                got == "Reconcile",
                expected == "Reconcile",
                "{name}: action {got}"
            );
        }
        assert_eq!(action(event::JOINED), "Join");
        assert_eq!(action(event::LEFT), "Leave");
        assert_eq!(action(event::SESSION_ENDED), "ReadSession");
        assert_eq!(
            action(reason::WEBSOCKET_URL_MISSING),
            "WriteConnectionSecret"
        );
    }
}

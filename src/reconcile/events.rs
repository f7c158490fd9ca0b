//! Events on MeetingBots. Warnings repeat (a failing reconcile is reported
//! once a minute), so they go through kube's recorder, which folds a repeat
//! into the same Event with a count. That recorder keeps every Event it
//! published for six minutes; Normal Events mark one transition each (Joined,
//! Left, ...), so they are published without it and a burst of joins leaves
//! no memory behind.

use k8s_openapi::api::core::v1::ObjectReference;
use kube::runtime::events::{Event, EventType, Recorder, Reporter};
use tracing::warn;

#[derive(Clone)]
pub(super) struct Events {
    kube: kube::Client,
    reporter: Reporter,
    warnings: Recorder,
}

impl Events {
    pub(super) fn new(kube: kube::Client, reporter: Reporter) -> Events {
        Events {
            warnings: Recorder::new(kube.clone(), reporter.clone()),
            kube,
            reporter,
        }
    }

    /// Publishes an Event about `regarding`; a failure is only logged.
    pub(super) async fn publish(
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
            action: "Reconcile".into(),
            secondary: None,
        };
        if let Err(error) = recorder.publish(&event, regarding).await {
            warn!(%error, reason, "could not publish an Event");
        }
    }
}

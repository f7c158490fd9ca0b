//! Reading and setting a MeetingBot's conditions: the one place that knows
//! how a condition list is merged. Setting a condition replaces the one of
//! its type, keeps every other, and moves `lastTransitionTime` only when the
//! condition's status changes (so an unchanged state is an equal status).

use super::condition::READY;
use super::{MeetingBot, MeetingBotStatus};
use k8s_openapi::apimachinery::pkg::apis::meta::v1::Condition;

impl MeetingBot {
    /// The condition of `type_` in this MeetingBot's status, if any.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.status.as_ref()?.condition(type_)
    }
}

impl MeetingBotStatus {
    /// The condition of `type_`, if status has one.
    pub fn condition(&self, type_: &str) -> Option<&Condition> {
        self.conditions.iter().find(|c| c.type_ == type_)
    }

    /// The reason of the Ready condition, if any.
    pub fn ready_reason(&self) -> Option<&str> {
        self.condition(READY).map(|c| c.reason.as_str())
    }

    /// Puts `condition` in place of the one of its type (or at the end),
    /// keeping the previous `lastTransitionTime` when the status is the same.
    pub fn set_condition(&mut self, mut condition: Condition) {
        match self
            .conditions
            .iter_mut()
            .find(|c| c.type_ == condition.type_)
        {
            Some(previous) => {
                if previous.status == condition.status {
                    condition.last_transition_time = previous.last_transition_time.clone();
                }
                *previous = condition;
            }
            None => self.conditions.push(condition),
        }
    }

    /// Removes the condition of `type_`, if there is one.
    pub fn remove_condition(&mut self, type_: &str) {
        self.conditions.retain(|c| c.type_ != type_);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::api::condition::{CONNECTION_SECRET_READY, RECONCILING};
    use jiff::{SignedDuration, Timestamp};
    use k8s_openapi::apimachinery::pkg::apis::meta::v1::Time;

    fn condition(type_: &str, status: &str, reason: &str, at: Timestamp) -> Condition {
        Condition {
            type_: type_.into(),
            status: status.into(),
            reason: reason.into(),
            message: String::new(),
            observed_generation: None,
            last_transition_time: Time(at),
        }
    }

    #[test]
    fn setting_a_condition_keeps_the_others_and_moves_time_only_on_a_change() {
        let first = Timestamp::now();
        let later = first.checked_add(SignedDuration::from_secs(60)).unwrap();
        let mut status = MeetingBotStatus::default();
        status.set_condition(condition(READY, "True", "Joined", first));
        status.set_condition(condition(CONNECTION_SECRET_READY, "True", "Written", first));

        status.set_condition(condition(READY, "True", "Joined", later));
        assert_eq!(
            status.condition(READY).unwrap().last_transition_time,
            Time(first)
        );

        status.set_condition(condition(READY, "False", "VendorUnavailable", later));
        let ready = status.condition(READY).unwrap();
        assert_eq!(
            (ready.status.as_str(), ready.last_transition_time.clone()),
            ("False", Time(later))
        );
        assert_eq!(status.ready_reason(), Some("VendorUnavailable"));
        assert!(status.condition(CONNECTION_SECRET_READY).is_some());

        status.set_condition(condition(RECONCILING, "True", "VendorUnavailable", later));
        status.remove_condition(RECONCILING);
        assert_eq!(status.conditions.len(), 2);
    }
}

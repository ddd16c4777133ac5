//! The rise/fall state of one member, the hysteresis every load balancer uses:
//! one lost SYN must not move a VIP, and one lucky answer from a flapping server
//! must not move it back. The state travels with each round (request and
//! result), so streaks continue across rounds and the prober keeps nothing.

use serde::{Deserialize, Serialize};

use super::settings::ProbeSettings;

/// What the prober believes about one member. The default is "unknown": no
/// verdict yet, no streak.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct MemberState {
    /// `None` until `rise` successes or `fall` failures have been seen in a row.
    pub up: Option<bool>,
    /// Consecutive successful observations, up to the latest.
    pub ok_streak: u32,
    /// Consecutive failed observations, up to the latest.
    pub fail_streak: u32,
}

impl MemberState {
    /// Records one observation. Returns `Some(new_up)` when the verdict changes
    /// (including the first verdict of an unknown member), `None` otherwise.
    pub(crate) fn observe(&mut self, ok: bool, settings: &ProbeSettings) -> Option<bool> {
        self.count(ok);
        let due = self.due(settings)?;
        if self.up == Some(due) {
            return None;
        }
        self.up = Some(due);
        Some(due)
    }

    /// Rule: an observation extends its own streak and breaks the other one,
    /// so only consecutive observations count.
    fn count(&mut self, ok: bool) {
        if ok {
            self.ok_streak = self.ok_streak.saturating_add(1);
            self.fail_streak = 0;
        } else {
            self.fail_streak = self.fail_streak.saturating_add(1);
            self.ok_streak = 0;
        }
    }

    /// Rule: down after `fall` consecutive failures, up after `rise`
    /// consecutive successes. Only one streak is non-zero at a time, so from
    /// unknown the first streak to reach its threshold decides.
    fn due(&self, settings: &ProbeSettings) -> Option<bool> {
        if self.fail_streak >= settings.fall {
            Some(false)
        } else if self.ok_streak >= settings.rise {
            Some(true)
        } else {
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::probe::settings::parse;

    /// fall=3 rise=2, the defaults.
    fn settings() -> ProbeSettings {
        parse("tcp:80").unwrap()
    }

    fn member(up: Option<bool>) -> MemberState {
        MemberState {
            up,
            ..MemberState::default()
        }
    }

    /// Feeds observations; returns every change reported, in order.
    fn feed(state: &mut MemberState, observations: &[bool]) -> Vec<bool> {
        let settings = settings();
        observations
            .iter()
            .filter_map(|ok| state.observe(*ok, &settings))
            .collect()
    }

    #[test]
    fn given_an_up_member_when_it_fails_fall_times_then_it_is_down() {
        let mut state = member(Some(true));
        assert_eq!(feed(&mut state, &[false, false]), Vec::<bool>::new());
        assert_eq!(feed(&mut state, &[false]), vec![false]);
        assert_eq!(state.up, Some(false));
        assert_eq!(state.fail_streak, 3);
    }

    #[test]
    fn given_an_up_member_when_a_success_breaks_its_failures_then_the_count_restarts() {
        let mut state = member(Some(true));
        assert!(feed(&mut state, &[false, false, true, false, false]).is_empty());
        assert_eq!(state.up, Some(true));
        assert_eq!(feed(&mut state, &[false]), vec![false]);
    }

    #[test]
    fn given_a_down_member_when_it_answers_rise_times_then_it_is_up() {
        let mut state = member(Some(false));
        assert!(feed(&mut state, &[true]).is_empty());
        assert_eq!(feed(&mut state, &[true]), vec![true]);
        assert_eq!(
            (state.up, state.ok_streak, state.fail_streak),
            (Some(true), 2, 0)
        );
    }

    #[test]
    fn given_a_down_member_when_it_flaps_then_it_stays_down() {
        let mut state = member(Some(false));
        assert!(feed(&mut state, &[true, false, true, false, true, false]).is_empty());
        assert_eq!(state.up, Some(false));
    }

    #[test]
    fn given_an_unknown_member_when_it_answers_rise_times_then_it_is_up() {
        let mut state = MemberState::default();
        assert_eq!(feed(&mut state, &[true, true]), vec![true]);
    }

    #[test]
    fn given_an_unknown_member_when_it_fails_fall_times_first_then_it_is_down() {
        let mut state = MemberState::default();
        assert_eq!(feed(&mut state, &[true, false, false, false]), vec![false]);
        assert_eq!(state.up, Some(false));
    }

    #[test]
    fn given_a_decided_member_when_its_streak_goes_on_then_no_change_is_reported_again() {
        let mut state = member(Some(true));
        assert!(feed(&mut state, &[true; 20]).is_empty());
        assert_eq!(state.ok_streak, 20);
    }

    #[test]
    fn given_streaks_carried_from_a_previous_round_when_observed_then_they_continue() {
        let mut state = MemberState {
            up: Some(true),
            ok_streak: 0,
            fail_streak: 2,
        };
        assert_eq!(feed(&mut state, &[false]), vec![false]);
    }

    #[test]
    fn given_a_state_when_serialized_then_unknown_is_null() {
        let json = serde_json::to_value(MemberState::default()).unwrap();
        assert_eq!(
            json,
            serde_json::json!({"up": null, "ok_streak": 0, "fail_streak": 0})
        );
    }
}

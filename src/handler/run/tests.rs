//! The run a trigger asks for: its intent and the source reports name.

use super::*;
use crate::trigger::test_support::{alarm_hint, state_hint, SERVER_A, SERVER_B};
use crate::world::{AlarmState, InstanceState};

#[test]
fn hints_name_their_instance_and_every_trigger_its_source() {
    let alarm = alarm_hint(
        AlarmState::Alarm,
        "web-status",
        SERVER_A,
        "alarm web-status (ALARM)",
    );
    let state = state_hint(InstanceState::Stopped, SERVER_B, None, "EC2 state change");
    let schedule = Trigger::Reconcile {
        groups: None,
        source: "schedule arn:rule".to_string(),
    };
    let manual = Trigger::Manual(ManualCommand::Status {
        group: "web".to_string(),
    });
    let ignored = Trigger::Ignored {
        reason: "nothing to see".to_string(),
    };
    assert_eq!(alarm.instance_id(), Some(SERVER_A));
    assert_eq!(state.instance_id(), Some(SERVER_B));
    for other in [&schedule, &manual, &ignored] {
        assert_eq!(other.instance_id(), None, "{other:?}");
    }
    assert_eq!(source(&alarm), "alarm web-status (ALARM)");
    assert_eq!(source(&state), "EC2 state change");
    assert_eq!(source(&schedule), "schedule arn:rule");
    assert_eq!(source(&manual), "manual");
    assert_eq!(source(&ignored), "event");
}

#[test]
fn only_an_operators_failover_asks_for_a_move_every_other_trigger_for_the_levels() {
    let to_b = Trigger::Manual(ManualCommand::Failover {
        group: "web".to_string(),
        target: Some(SERVER_B.to_string()),
        dry_run: false,
    });
    assert_eq!(
        intent(&to_b),
        Intent::Failover {
            target: Some(SERVER_B.to_string())
        }
    );
    assert_eq!(source(&to_b), "manual failover");
    let alarm = alarm_hint(AlarmState::Alarm, "web-status", SERVER_A, "alarm");
    let state = state_hint(InstanceState::Stopped, SERVER_A, None, "EC2 state change");
    let schedule = Trigger::Reconcile {
        groups: None,
        source: "schedule".to_string(),
    };
    for automatic in [alarm, state, schedule] {
        assert_eq!(intent(&automatic), Intent::Automatic, "{automatic:?}");
    }
}

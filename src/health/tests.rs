use super::*;
use chrono::TimeZone;

fn at(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(secs, 0).unwrap()
}

fn running() -> Signals<'static> {
    Signals {
        state: InstanceState::Running,
        checks: StatusChecks::OK,
        launch_time: Some(at(1_000)),
        alarms: &[],
        alarms_unread: None,
        reported_down: None,
        probe: None,
    }
}

fn alarm(state: AlarmState) -> AlarmRecord {
    AlarmRecord {
        name: "web-a-app".to_string(),
        instance_id: "i-a".to_string(),
        state,
    }
}

#[test]
fn given_a_running_instance_with_ok_checks_and_ok_alarms_then_it_is_healthy() {
    let ok = alarm(AlarmState::Ok);
    let alarms = [&ok];
    let health = assess(&Signals {
        alarms: &alarms,
        ..running()
    });
    assert_eq!(health.grade, Grade::Healthy);
    assert_eq!(health.summary(), "healthy");
}

#[test]
fn given_checks_still_initializing_or_without_data_then_the_grade_is_unknown() {
    for status in [
        CheckStatus::Initializing,
        CheckStatus::InsufficientData,
        CheckStatus::NotApplicable,
        CheckStatus::Unknown,
    ] {
        let mut signals = running();
        signals.checks.instance = status;
        assert_eq!(assess(&signals).grade, Grade::Unknown, "{status:?}");
    }
    let mut signals = running();
    signals.checks.attached_ebs = CheckStatus::Initializing;
    assert_eq!(assess(&signals).grade, Grade::Unknown);
}

#[test]
fn given_an_impaired_check_of_any_kind_then_the_member_failed() {
    for field in 0..3 {
        let mut signals = running();
        match field {
            0 => signals.checks.instance = CheckStatus::Impaired,
            1 => signals.checks.system = CheckStatus::Impaired,
            _ => signals.checks.attached_ebs = CheckStatus::Impaired,
        }
        let health = assess(&signals);
        assert_eq!(health.grade, Grade::Failed);
        assert!(!health.failed_by_soft_signals_only());
        assert!(
            health.summary().contains("impaired"),
            "{}",
            health.summary()
        );
    }
}

#[test]
fn given_an_alarm_in_alarm_then_the_member_failed_and_only_by_alarms() {
    let firing = alarm(AlarmState::Alarm);
    let alarms = [&firing];
    let health = assess(&Signals {
        alarms: &alarms,
        ..running()
    });
    assert_eq!(health.grade, Grade::Failed);
    assert!(health.failed_by_soft_signals_only());
    assert_eq!(health.summary(), "alarm web-a-app is ALARM");
}

#[test]
fn given_an_alarm_without_data_then_it_is_no_verdict_but_is_named() {
    let quiet = alarm(AlarmState::InsufficientData);
    let alarms = [&quiet];
    let health = assess(&Signals {
        alarms: &alarms,
        ..running()
    });
    assert_eq!(health.grade, Grade::Healthy);
    assert!(health.no_data() && !health.fully_healthy());
    assert_eq!(
        health.summary(),
        "alarm web-a-app is INSUFFICIENT_DATA (no verdict)"
    );
}

#[test]
fn given_alarm_levels_that_could_not_be_read_then_nothing_is_proven_either_way() {
    let health = assess(&Signals {
        alarms_unread: Some("CloudWatch DescribeAlarms failed (Throttling)"),
        ..running()
    });
    assert_eq!(health.grade, Grade::Unknown);
    assert!(
        health.summary().contains("Throttling"),
        "{}",
        health.summary()
    );
}

#[test]
fn given_a_stopped_instance_then_it_failed_whatever_its_alarms_say() {
    let ok = alarm(AlarmState::Ok);
    let alarms = [&ok];
    let health = assess(&Signals {
        state: InstanceState::Stopped,
        checks: StatusChecks::UNKNOWN,
        alarms: &alarms,
        ..running()
    });
    assert_eq!(health.grade, Grade::Failed);
    assert_eq!(health.summary(), "state stopped");
}

#[test]
fn given_a_stopping_event_while_describe_still_says_running_then_the_event_wins() {
    let health = assess(&Signals {
        reported_down: Some(ReportedDown {
            state: InstanceState::Stopping,
            at: Some(at(2_000)),
        }),
        ..running()
    });
    assert_eq!(health.grade, Grade::Failed);
    assert!(!health.failed_by_soft_signals_only());
    assert!(
        health.summary().contains("stopping"),
        "{}",
        health.summary()
    );
}

#[test]
fn given_a_down_event_older_than_the_last_start_then_it_is_a_late_delivery_and_ignored() {
    let health = assess(&Signals {
        launch_time: Some(at(3_000)),
        reported_down: Some(ReportedDown {
            state: InstanceState::Stopped,
            at: Some(at(2_000)),
        }),
        ..running()
    });
    assert_eq!(health.grade, Grade::Healthy);
}

#[test]
fn given_a_probe_that_saw_the_service_fail_then_the_member_failed_softly() {
    let down = ProbeSignal {
        up: false,
        reason: "connection refused".to_string(),
        streak: 3,
        age_ms: 800,
    };
    let health = assess(&Signals {
        probe: Some(&down),
        ..running()
    });
    assert_eq!(health.grade, Grade::Failed);
    assert!(
        health.failed_by_soft_signals_only(),
        "the hold-down may keep it"
    );
    assert_eq!(
        health.summary(),
        "probe: connection refused (3 in a row, 0.8 s ago)"
    );
    let up = ProbeSignal { up: true, ..down };
    let health = assess(&Signals {
        probe: Some(&up),
        ..running()
    });
    assert_eq!(health.grade, Grade::Healthy);
}

#[test]
fn given_a_running_event_then_it_is_no_verdict_at_all() {
    let health = assess(&Signals {
        reported_down: Some(ReportedDown {
            state: InstanceState::Running,
            at: None,
        }),
        ..running()
    });
    assert_eq!(health.grade, Grade::Healthy);
}

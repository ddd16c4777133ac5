//! Scenarios of the probe tag: given a tag value, when it is parsed, then the
//! settings are what the operator meant, or the error says how to fix it.

use super::*;

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn error_of(value: &str) -> String {
    match parse(value) {
        Ok(settings) => panic!("`{value}` parsed as {settings:?}, expected an error"),
        Err(e) => e,
    }
}

#[test]
fn given_a_bare_tcp_port_when_parsed_then_the_defaults_apply() {
    let settings = parse("tcp:5432").unwrap();
    assert_eq!(settings.check, Check::Tcp { port: 5432 });
    assert_eq!(
        (
            settings.interval,
            settings.timeout,
            settings.fall,
            settings.rise
        ),
        (ms(1000), ms(800), 3, 2)
    );
}

#[test]
fn given_http_without_a_path_when_parsed_then_the_path_is_the_root() {
    let settings = parse("  http:80  ").unwrap();
    assert_eq!(
        settings.check,
        Check::Http {
            port: 80,
            path: "/".to_string()
        }
    );
}

#[test]
fn given_every_option_when_parsed_then_each_is_taken() {
    let settings =
        parse("HTTP:8080/health?deep=1 interval=2s timeout=150ms fall=5 rise=1").unwrap();
    assert_eq!(
        settings,
        ProbeSettings {
            check: Check::Http {
                port: 8080,
                path: "/health?deep=1".to_string()
            },
            interval: ms(2000),
            timeout: ms(150),
            fall: 5,
            rise: 1,
        }
    );
}

#[test]
fn given_settings_when_displayed_then_the_canonical_form_parses_back_to_them() {
    for value in [
        "tcp:22",
        "http:80",
        "http:8080/health interval=250ms timeout=50ms fall=10 rise=1",
        "tcp:443 interval=60s timeout=59999ms",
    ] {
        let settings = parse(value).unwrap();
        let canonical = settings.to_string();
        assert_eq!(
            parse(&canonical).unwrap(),
            settings,
            "{value} -> {canonical}"
        );
    }
    assert_eq!(
        parse("http:80").unwrap().to_string(),
        "http:80/ interval=1s timeout=800ms fall=3 rise=2"
    );
}

#[test]
fn given_settings_when_serialized_then_durations_are_integer_milliseconds() {
    let settings = parse("http:80/health").unwrap();
    let json = serde_json::to_value(&settings).unwrap();
    assert_eq!(
        json,
        serde_json::json!({
            "check": {"type": "http", "port": 80, "path": "/health"},
            "interval_ms": 1000, "timeout_ms": 800, "fall": 3, "rise": 2
        })
    );
    assert_eq!(
        serde_json::from_value::<ProbeSettings>(json).unwrap(),
        settings
    );
}

#[test]
fn given_a_bad_scheme_when_parsed_then_the_error_shows_the_grammar() {
    assert!(error_of("udp:53").contains("unknown probe scheme `udp`"));
    assert!(error_of("5432").contains("tcp:PORT"));
    assert!(error_of("").contains("empty"));
    assert!(error_of("https:443/health").contains("tcp:443"));
}

#[test]
fn given_a_bad_port_when_parsed_then_the_error_names_the_range() {
    for value in ["tcp:0", "tcp:65536", "http:99999999999999999999999/"] {
        assert!(error_of(value).contains("1 to 65535"), "{value}");
    }
    assert!(error_of("tcp:ssh").contains("not a number"));
    assert!(error_of("tcp:").contains("not a number"));
    assert!(error_of("http:/health").contains("not a number"));
}

#[test]
fn given_a_bad_path_when_parsed_then_the_error_says_how_to_encode_it() {
    assert!(error_of("http:80/a\u{1}b").contains("percent-encode"));
    assert!(error_of("http:80/a b").contains("%20"));
}

#[test]
fn given_a_bad_option_when_parsed_then_the_error_names_it() {
    assert!(error_of("tcp:22 retries=3").contains("unknown probe option `retries`"));
    assert!(error_of("tcp:22 fall=2 fall=3").contains("given twice"));
    assert!(error_of("tcp:22 interval=1000").contains("no unit"));
    assert!(error_of("tcp:22 interval=1.5s").contains("whole number"));
    assert!(error_of("tcp:22 rise=two").contains("not a number"));
}

#[test]
fn given_an_interval_out_of_range_when_parsed_then_it_is_refused() {
    assert!(error_of("tcp:22 interval=199ms timeout=50ms").contains("200ms to 60s"));
    assert!(error_of("tcp:22 interval=61s").contains("200ms to 60s"));
    assert!(parse("tcp:22 interval=200ms timeout=50ms").is_ok());
}

#[test]
fn given_a_timeout_not_below_the_interval_when_parsed_then_it_is_refused() {
    assert!(error_of("tcp:22 interval=500ms").contains("shorter than interval 500ms"));
    assert!(error_of("tcp:22 timeout=1s").contains("lower timeout="));
    assert!(error_of("tcp:22 timeout=49ms").contains("at least 50ms"));
}

#[test]
fn given_fall_or_rise_out_of_range_when_parsed_then_it_is_refused() {
    for value in [
        "tcp:22 fall=0",
        "tcp:22 rise=0",
        "tcp:22 fall=11",
        "tcp:22 rise=11",
    ] {
        assert!(error_of(value).contains("1 to 10"), "{value}");
    }
}

#[test]
fn given_json_settings_with_a_zero_interval_when_validated_then_they_are_refused() {
    let mut settings = parse("tcp:22").unwrap();
    settings.interval = Duration::ZERO;
    assert!(settings.validate().is_err());
    settings = parse("tcp:22").unwrap();
    settings.check = Check::Tcp { port: 0 };
    assert!(settings.validate().unwrap_err().contains("port 0"));
}

//! `history`: the VIP's recent moves, read back from the function's decision
//! logs (one JSON line per decision, `"message": "decision"`).

use std::collections::VecDeque;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use serde::Serialize;
use serde_json::Value;

use crate::backend::{one_line, stack_output, Core};
use crate::failure::{Failure, EXIT_OK};
use crate::out::{visible, Out};
use crate::render::{Cell, Table};

/// What `history` was asked for.
pub(crate) struct Ask {
    pub(crate) group: Option<String>,
    pub(crate) log_group: Option<String>,
    pub(crate) hours: u64,
    pub(crate) limit: u64,
}

/// One move, as its decision line tells it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub(crate) struct Move {
    pub(crate) time: String,
    pub(crate) group: String,
    pub(crate) trigger: String,
    pub(crate) from: String,
    pub(crate) to: String,
    pub(crate) tables: u64,
    pub(crate) duration_ms: u64,
}

pub(crate) async fn history(
    core: &Core,
    out: &Out,
    ask: Ask,
    (function, stack): (Option<&str>, Option<&str>),
) -> Result<u8, Failure> {
    let log_group = match (&ask.log_group, stack, function) {
        (Some(group), _, _) => group.clone(),
        (None, Some(stack), _) => stack_output(&core.sdk, stack, "LogGroupName").await?,
        (None, None, Some(function)) => format!("/aws/lambda/{function}"),
        (None, None, None) => {
            return Err(Failure::Usage(
                "history needs the function's logs: pass --stack NAME, --function NAME or --log-group NAME".to_string(),
            ))
        }
    };
    let lines = read_lines(core, &log_group, ask.hours).await?;
    let mut moves: Vec<Move> = lines
        .iter()
        .filter_map(|(at, line)| parse_move(*at, line))
        .filter(|m| ask.group.as_ref().is_none_or(|g| &m.group == g))
        .collect();
    moves.reverse();
    moves.truncate(usize::try_from(ask.limit).unwrap_or(usize::MAX));
    if out.json {
        out.print_json(&moves);
    } else if moves.is_empty() {
        out.note(&format!(
            "no move of the VIP in {log_group} in the last {} hours",
            ask.hours
        ));
    } else {
        out.print(&visible(&render(&moves)));
    }
    Ok(EXIT_OK)
}

/// The most decision lines of one filter pattern kept in memory: past it, the
/// oldest go.
const MAX_LINES: usize = 100_000;

/// The filter patterns of the decision lines that may be moves: failovers,
/// and refusals (a hold-down that keeps the VIP whole finishes a move while it
/// refuses; [`parse_move`] keeps only those).
const MOVE_PATTERNS: [&str; 2] = ["\"decision\" \"failed_over\"", "\"decision\" \"refused\""];

/// The decision lines of the last `hours` that may be moves, oldest first, with
/// their times: the newest [`MAX_LINES`] of each pattern.
async fn read_lines(
    core: &Core,
    log_group: &str,
    hours: u64,
) -> Result<Vec<(i64, String)>, Failure> {
    let client = aws_sdk_cloudwatchlogs::Client::new(&core.sdk);
    let since = SystemTime::now()
        .checked_sub(Duration::from_secs(hours * 3600))
        .and_then(|t| t.duration_since(UNIX_EPOCH).ok())
        .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(0));
    let mut lines = Vec::new();
    for pattern in MOVE_PATTERNS {
        lines.extend(read_pattern(&client, log_group, since, pattern).await?);
    }
    // Pages interleave the log streams: order by time, oldest first.
    lines.sort_by_key(|(at, _)| *at);
    Ok(lines)
}

/// The events of `log_group` since `since` matching `pattern`: the newest
/// [`MAX_LINES`].
async fn read_pattern(
    client: &aws_sdk_cloudwatchlogs::Client,
    log_group: &str,
    since: i64,
    pattern: &str,
) -> Result<Vec<(i64, String)>, Failure> {
    let mut lines = VecDeque::new();
    let mut token: Option<String> = None;
    loop {
        let page = client
            .filter_log_events()
            .log_group_name(log_group)
            .start_time(since)
            .filter_pattern(pattern)
            .set_next_token(token.clone())
            .send()
            .await
            .map_err(|e| {
                Failure::Invoke(format!(
                    "CloudWatch Logs FilterLogEvents on {log_group} failed: {}",
                    one_line(&e)
                ))
            })?;
        for event in page.events() {
            if let Some(message) = event.message() {
                let line = (event.timestamp().unwrap_or(0), message.to_string());
                keep_newest(&mut lines, line, MAX_LINES);
            }
        }
        token = page.next_token().map(str::to_string);
        if token.is_none() {
            return Ok(Vec::from(lines));
        }
    }
}

/// Rule: a capped history drops its oldest lines, never its newest (the pages
/// come oldest first; the moves an operator asks about are the recent ones).
fn keep_newest<T>(lines: &mut VecDeque<T>, line: T, cap: usize) {
    lines.push_back(line);
    while lines.len() > cap {
        lines.pop_front();
    }
}

/// A decision line of a move, read from its JSON (fields at the top or under
/// `fields`, as the Lambda runtime's JSON logs put them); anything else is
/// not a move.
pub(crate) fn parse_move(at_ms: i64, line: &str) -> Option<Move> {
    let doc: Value = serde_json::from_str(line).ok()?;
    let fields = doc.get("fields").unwrap_or(&doc);
    let field = |key: &str| fields.get(key).or_else(|| doc.get(key));
    let text = |key: &str| {
        field(key)
            .and_then(Value::as_str)
            .unwrap_or("-")
            .to_string()
    };
    let number = |key: &str| field(key).and_then(Value::as_u64).unwrap_or(0);
    let message = field("message").and_then(Value::as_str)?;
    // A move that wrote no route (its record refused, every write pending) did
    // not move the VIP: the run that finishes it is the move. A refusal is one
    // when a hold-down kept the VIP whole: it wrote routes towards another
    // member than the holder it found.
    let moved = match text("action").as_str() {
        "failed_over" => true,
        "refused" => text("to") != "-" && text("to") != text("from"),
        _ => false,
    };
    if message != "decision"
        || !moved
        || field("dry_run") == Some(&Value::Bool(true))
        || number("changed") == 0
    {
        return None;
    }
    let time = chrono::DateTime::from_timestamp_millis(at_ms)
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, true))
        .unwrap_or_default();
    Some(Move {
        time,
        group: text("group"),
        trigger: text("trigger"),
        from: text("from"),
        to: text("to"),
        tables: number("changed"),
        duration_ms: number("duration_ms"),
    })
}

fn render(moves: &[Move]) -> String {
    let mut table = Table::with_header(&[
        "TIME", "GROUP", "FROM", "TO", "TABLES", "DURATION", "TRIGGER",
    ]);
    for m in moves {
        table.push(vec![
            m.time.as_str().into(),
            m.group.as_str().into(),
            m.from.as_str().into(),
            m.to.as_str().into(),
            m.tables.to_string().into(),
            Cell::from(format!("{} ms", m.duration_ms)),
            m.trigger.as_str().into(),
        ]);
    }
    table.render(crate::render::Palette::detect(false, None), "")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn given_more_lines_than_the_cap_then_the_newest_are_kept() {
        let mut lines = VecDeque::new();
        for at in 1..=5 {
            keep_newest(&mut lines, at, 3);
        }
        assert_eq!(Vec::from(lines), vec![3, 4, 5]);
    }

    #[test]
    fn given_decision_lines_then_only_real_moves_are_read_back() {
        let moved = r#"{"level":"INFO","fields":{"message":"decision","group":"web","action":"failed_over","trigger":"EC2 state change i-a (stopped)","dry_run":false,"from":"i-a","to":"i-b","changed":3,"duration_ms":81}}"#;
        let m = parse_move(1_796_526_000_000, moved).expect("a move");
        assert_eq!(
            (m.from.as_str(), m.to.as_str(), m.tables),
            ("i-a", "i-b", 3)
        );
        assert_eq!(m.time, "2026-12-06T03:00:00Z");
        let flat = r#"{"message":"decision","group":"web","action":"failed_over","dry_run":false,"from":"i-a","to":"i-b","changed":1,"duration_ms":5}"#;
        assert!(parse_move(0, flat).is_some(), "fields at the top level too");
        let kept_whole = r#"{"fields":{"message":"decision","group":"web","action":"refused","dry_run":false,"from":"i-a","to":"i-b","changed":2,"duration_ms":40}}"#;
        assert_eq!(
            parse_move(0, kept_whole).map(|m| m.tables),
            Some(2),
            "a hold-down that kept the VIP whole moved it"
        );
        for not_a_move in [
            r#"{"fields":{"message":"decision","action":"no_change"}}"#,
            r#"{"fields":{"message":"decision","action":"refused","from":"i-a","to":"-","changed":0}}"#,
            r#"{"fields":{"message":"decision","action":"refused","from":"i-b","to":"i-b","changed":1}}"#,
            r#"{"fields":{"message":"decision","action":"failed_over","dry_run":true}}"#,
            r#"{"fields":{"message":"event received","action":"failed_over"}}"#,
            "START RequestId: 1",
        ] {
            assert_eq!(parse_move(0, not_a_move), None, "{not_a_move}");
        }
    }
}

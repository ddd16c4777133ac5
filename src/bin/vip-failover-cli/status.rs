//! `status`, `check` and `release`: one manual action per group, printed as
//! tables or JSON.

use serde_json::{json, Value};
use vip_failover::preflight::CheckReport;
use vip_failover::report::StatusReport;
use vip_failover::trigger::ManualCommand;

use crate::backend::Core;
use crate::failure::{Failure, EXIT_OK, EXIT_PROBLEMS};
use crate::out::Out;
use crate::render;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    Status,
    Check,
}

/// `status` and `check`, for one group or every group: one manual action each.
/// A group that fails does not hide the others; the worst exit code wins.
pub(crate) async fn per_group(
    core: &Core,
    out: &Out,
    only: Option<String>,
    kind: Kind,
) -> Result<u8, Failure> {
    let single = only.is_some();
    let groups = core.groups(only).await?;
    let mut code = EXIT_OK;
    if groups.is_empty() {
        out.note(&format!(
            "no instance in {} carries the tag {}: no failover group found (wrong region or account?)",
            core.region,
            core.config.tags.group()
        ));
        if kind == Kind::Check {
            code = EXIT_PROBLEMS;
        }
    }
    let mut documents = Vec::new();
    let mut printed = 0;
    for group in groups {
        let (document, text, group_code) = one_group(core, out, group, kind).await;
        code = code.max(group_code);
        if let (false, Some(text)) = (out.json, text) {
            if printed > 0 {
                out.print("\n");
            }
            out.print(&text);
            printed += 1;
        }
        documents.push(document);
    }
    if out.json {
        match documents.as_slice() {
            [document] if single => out.print_json(document),
            all => out.print_json(all),
        }
    }
    Ok(code)
}

/// One group's status or check: its JSON document, its text, its exit code.
async fn one_group(
    core: &Core,
    out: &Out,
    group: String,
    kind: Kind,
) -> (Value, Option<String>, u8) {
    let answer = match kind {
        Kind::Status => core
            .manual::<StatusReport>(ManualCommand::Status {
                group: group.clone(),
            })
            .await
            .map(|r| (json!(r), render::status(&r, out.stdout), EXIT_OK)),
        Kind::Check => core
            .manual::<CheckReport>(ManualCommand::Check {
                group: group.clone(),
            })
            .await
            .map(|r| {
                let code = if r.ok { EXIT_OK } else { EXIT_PROBLEMS };
                (json!(r), render::check(&r, out.stdout), code)
            }),
    };
    match answer {
        Ok((document, text, code)) => (document, Some(text), code),
        Err(failure) => {
            out.error(&failure);
            let document = json!({"group": group, "error": failure.to_json()});
            (document, None, failure.exit_code())
        }
    }
}

/// The answer to `release`.
#[derive(Debug, serde::Deserialize, serde::Serialize)]
struct Released {
    group: String,
    released: bool,
    reason: String,
}

/// `release`: ends an operator's pin (the move stays where it is).
pub(crate) async fn release(core: &Core, out: &Out, group: String) -> Result<u8, Failure> {
    let answer: Released = core.manual(ManualCommand::Release { group }).await?;
    if out.json {
        out.print_json(&answer);
    } else {
        let line = format!("{}: {}\n", answer.group, answer.reason);
        out.print(&crate::out::visible(&line));
    }
    Ok(EXIT_OK)
}

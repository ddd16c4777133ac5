//! `switchover`: the dry run, the operator's confirmation, then the real run
//! pinned to the target the plan chose.

use std::io::{BufRead, IsTerminal, Write};

use serde::Serialize;
use serde_json::{json, Value};
use vip_failover::plan::Action;
use vip_failover::report::Report;
use vip_failover::trigger::ManualCommand;

use crate::backend::Core;
use crate::failure::{Failure, EXIT_OK};
use crate::out::Out;
use crate::render;

fn failover(group: &str, target: Option<String>, dry_run: bool) -> ManualCommand {
    ManualCommand::Failover {
        group: group.to_string(),
        target,
        dry_run,
    }
}

/// The switchover document of `--json`: the dry run, what the real run did
/// (null when it did not run), and the error that stopped it.
#[derive(Serialize)]
struct Switchover<'a> {
    plan: Option<&'a Report>,
    result: Option<Value>,
    error: Option<Value>,
}

/// What the operator asked for.
pub(crate) struct Switch {
    pub(crate) group: String,
    pub(crate) to: Option<String>,
    pub(crate) dry_run: bool,
    pub(crate) yes: bool,
}

/// Dry run, confirmation, then the real run pinned to the planned target.
pub(crate) async fn switchover(core: &Core, out: &Out, ask: Switch) -> Result<u8, Failure> {
    let plan: Report = match core
        .manual(failover(&ask.group, ask.to.clone(), true))
        .await
    {
        Ok(plan) => plan,
        Err(failure) => return refused(out, failure),
    };
    let show_plan = |note: &str| {
        if out.json {
            out.print_json(&Switchover {
                plan: Some(&plan),
                result: None,
                error: None,
            });
        } else {
            out.print(&render::plan(&plan, out.stdout));
        }
        out.note(note);
    };
    if plan.action == Action::NoChange {
        show_plan("nothing to do: nothing was changed");
        return Ok(EXIT_OK);
    }
    if ask.dry_run {
        show_plan("dry run: nothing was changed");
        return Ok(EXIT_OK);
    }
    // The target the plan chose runs, even if another member looks better by then.
    let target = plan.to.as_ref().map(|t| t.instance_id.clone());
    // People see the plan before anything is written; with --json the one
    // document waits for the result, so a person being asked reads it on stderr.
    match (out.json, ask.yes) {
        (false, _) => out.print(&render::plan(&plan, out.stdout)),
        (true, false) => eprint!("{}", render::plan(&plan, out.stderr)),
        (true, true) => {}
    }
    if !ask.yes {
        confirm()?;
    }
    let result = core
        .manual::<Report>(failover(&ask.group, target, false))
        .await;
    finish(out, &plan, result)
}

/// The dry run itself was refused: the plan it made (when there is one) and why.
fn refused(out: &Out, failure: Failure) -> Result<u8, Failure> {
    let plan = failure
        .report()
        .and_then(|r| serde_json::from_value::<Report>(r.clone()).ok());
    if out.json {
        let error = Some(failure.to_json());
        out.print_json(&Switchover {
            plan: plan.as_ref(),
            result: None,
            error,
        });
    } else if let Some(plan) = &plan {
        out.print(&render::plan(plan, out.stdout));
    }
    out.error(&failure);
    Ok(failure.exit_code())
}

/// Prints what the real run did, or why it stopped (with its report when there
/// is one), and notes a holder that changed since the plan.
fn finish(out: &Out, plan: &Report, result: Result<Report, Failure>) -> Result<u8, Failure> {
    let (report, failure) = match result {
        Ok(report) => (Some(report), None),
        Err(failure) => {
            let report = failure
                .report()
                .and_then(|r| serde_json::from_value::<Report>(r.clone()).ok());
            (report, Some(failure))
        }
    };
    let holder = |r: &Report| {
        r.from
            .as_ref()
            .map_or("no member".to_string(), |f| f.instance_id.clone())
    };
    if let Some(report) = report.as_ref().filter(|r| holder(r) != holder(plan)) {
        out.note(&format!(
            "note: the VIP moved since the plan was made; it was taken from {}",
            holder(report)
        ));
    }
    if out.json {
        let result = report.as_ref().map(|r| json!(r));
        let error = failure.as_ref().map(Failure::to_json);
        out.print_json(&Switchover {
            plan: Some(plan),
            result,
            error,
        });
    } else if let Some(report) = &report {
        out.print("\n");
        out.print(&render::outcome(report, out.stdout));
    }
    match failure {
        Some(failure) => {
            out.error(&failure);
            Ok(failure.exit_code())
        }
        None => Ok(EXIT_OK),
    }
}

/// `Proceed? [y/N]` on a terminal; refuses rather than hang or guess otherwise.
fn confirm() -> Result<(), Failure> {
    let stdin = std::io::stdin();
    if !stdin.is_terminal() {
        return Err(Failure::Usage(
            "not confirmed: stdin is not a terminal, so there is no one to ask; \
             re-run with --yes to switch over, or --dry-run to only see the plan; nothing was changed"
                .to_string(),
        ));
    }
    eprint!("\nProceed? [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    if let Err(e) = stdin.lock().read_line(&mut answer) {
        return Err(Failure::Usage(format!(
            "cannot read the answer ({e}); nothing was changed"
        )));
    }
    match answer.trim().to_ascii_lowercase().as_str() {
        "y" | "yes" => Ok(()),
        _ => Err(Failure::Usage(
            "switchover not confirmed; nothing was changed".to_string(),
        )),
    }
}

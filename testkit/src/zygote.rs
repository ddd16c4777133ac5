//! `moto_server`s forked from one warm Python process per test binary
//! (`moto_zygote.py`): a fresh server costs about 1.5 CPU-seconds of imports and
//! set-up before it answers, a fork about 0.25 s, and the suite starts one per
//! test. The zygote lives as long as the test process: when the process ends, its
//! end of the pipe closes and the zygote kills every server it forked.

use std::io::{BufRead, BufReader, Write};
use std::path::Path;
use std::process::{Child, ChildStdin, ChildStdout, Command, Stdio};
use std::sync::{Mutex, OnceLock};

const SCRIPT: &str = include_str!("moto_zygote.py");

struct Zygote {
    _process: Child,
    requests: ChildStdin,
    answers: BufReader<ChildStdout>,
}

static ZYGOTE: OnceLock<Mutex<Zygote>> = OnceLock::new();

/// Forks a server that listens on `port` (once it has started) and returns its
/// pid. `python` is the interpreter moto is installed for.
pub(crate) fn fork_server(python: &Path, port: u16) -> u32 {
    let zygote = ZYGOTE.get_or_init(|| Mutex::new(start(python)));
    // A test that panicked while holding the lock left the pipe in a known state.
    let mut zygote = zygote.lock().unwrap_or_else(|e| e.into_inner());
    writeln!(zygote.requests, "{port}").expect("ask the moto zygote for a server");
    let mut line = String::new();
    zygote
        .answers
        .read_line(&mut line)
        .expect("read the moto zygote's answer");
    line.trim()
        .parse()
        .unwrap_or_else(|_| panic!("the moto zygote answered {line:?}, not a pid"))
}

fn start(python: &Path) -> Zygote {
    let mut process = Command::new(python)
        .args(["-u", "-c", SCRIPT])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "start {} (run `make test`, which installs moto into .venv): {e}",
                python.display()
            )
        });
    let requests = process.stdin.take().expect("piped stdin");
    let answers = BufReader::new(process.stdout.take().expect("piped stdout"));
    Zygote {
        _process: process,
        requests,
        answers,
    }
}

/// Stops a forked server (it is the zygote's child, not ours: no wait).
pub(crate) fn kill(pid: u32) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) takes plain integers and touches no memory of ours.
        unsafe {
            libc::kill(pid, libc::SIGKILL);
        }
    }
}

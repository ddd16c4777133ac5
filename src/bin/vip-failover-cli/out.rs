//! Where output goes and how it looks: the report on stdout, notes and errors
//! on stderr, colour only on a terminal.

use std::io::{IsTerminal, Write};

use serde::Serialize;

use crate::failure::{Failure, EXIT_AWS};
use crate::render::{self, Palette};

/// Where output goes and how it looks.
pub(crate) struct Out {
    pub(crate) json: bool,
    pub(crate) stdout: Palette,
    pub(crate) stderr: Palette,
}

impl Out {
    pub(crate) fn detect(json: bool) -> Self {
        let no_color = std::env::var_os("NO_COLOR");
        Self {
            json,
            stdout: Palette::detect(std::io::stdout().is_terminal(), no_color.as_deref()),
            stderr: Palette::detect(std::io::stderr().is_terminal(), no_color.as_deref()),
        }
    }

    pub(crate) fn print(&self, text: &str) {
        print!("{text}");
        let _ = std::io::stdout().flush();
    }

    pub(crate) fn print_json<T: Serialize + ?Sized>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => println!("{text}"),
            Err(e) => self.error(&Failure::Usage(format!("cannot serialize the report: {e}"))),
        }
    }

    /// A line for people (notes, hints): stderr, so stdout stays the report.
    pub(crate) fn note(&self, text: &str) {
        eprintln!("{text}");
    }

    /// One readable line on stderr, whatever the output format.
    pub(crate) fn error(&self, failure: &Failure) {
        let label = self.stderr.paint(render::Style::Bad, "error:");
        eprintln!("{label} {}", failure.to_string().replace('\n', " "));
        if failure.exit_code() == EXIT_AWS {
            eprintln!(
                "hint: check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID...), the region \
                 (--region, AWS_REGION) and AWS_ENDPOINT_URL, and that they allow the call"
            );
        }
    }
}

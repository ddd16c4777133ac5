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

    /// Writes to stdout. A reader that went away (`status --json | head -1`)
    /// ends the CLI quietly: nobody is left to read an error.
    pub(crate) fn print(&self, text: &str) {
        let mut stdout = std::io::stdout().lock();
        if let Err(e) = stdout
            .write_all(text.as_bytes())
            .and_then(|()| stdout.flush())
        {
            if e.kind() == std::io::ErrorKind::BrokenPipe {
                std::process::exit(0);
            }
        }
    }

    pub(crate) fn print_json<T: Serialize + ?Sized>(&self, value: &T) {
        match serde_json::to_string_pretty(value) {
            Ok(text) => self.print(&format!("{text}\n")),
            Err(e) => self.error(&Failure::Usage(format!("cannot serialize the report: {e}"))),
        }
    }

    /// A line for people (notes, hints): stderr, so stdout stays the report.
    pub(crate) fn note(&self, text: &str) {
        eprintln!("{}", visible(text));
    }

    /// One readable line on stderr, whatever the output format.
    pub(crate) fn error(&self, failure: &Failure) {
        let label = self.stderr.paint(render::Style::Bad, "error:");
        eprintln!(
            "{label} {}",
            visible(&failure.to_string().replace('\n', " "))
        );
        if failure.exit_code() == EXIT_AWS {
            eprintln!(
                "hint: check the AWS credentials (AWS_PROFILE, AWS_ACCESS_KEY_ID...), the region \
                 (--region, AWS_REGION) and AWS_ENDPOINT_URL, and that they allow the call"
            );
        }
    }
}

/// Text that came from tags or AWS, made safe for a terminal: control
/// characters (an escape sequence in a tag value could rewrite the screen) are
/// shown escaped instead of acted on.
pub(crate) fn visible(text: &str) -> String {
    text.chars()
        .flat_map(|c| {
            let escaped: Vec<char> = if c.is_control() && c != '\n' && c != '\t' {
                c.escape_default().collect()
            } else {
                vec![c]
            };
            escaped
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::visible;

    #[test]
    fn given_control_characters_from_a_tag_then_they_are_shown_not_acted_on() {
        assert_eq!(visible("web\u{1b}[2Jevil\r"), "web\\u{1b}[2Jevil\\r");
        assert_eq!(visible("line\nnext\tcol é"), "line\nnext\tcol é");
    }
}

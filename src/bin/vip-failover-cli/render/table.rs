//! Aligned, optionally coloured tables: what every rendering is made of.

use std::ffi::OsStr;

pub const PASS: &str = "✓";
pub const FAIL: &str = "✗";

/// What a piece of text means; the palette decides whether that becomes colour.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Style {
    Plain,
    Good,
    Bad,
    Warn,
    Strong,
    Faint,
}

impl Style {
    fn ansi(self) -> Option<&'static str> {
        match self {
            Self::Plain => None,
            Self::Good => Some("32"),
            Self::Bad => Some("1;31"),
            Self::Warn => Some("33"),
            Self::Strong => Some("1"),
            Self::Faint => Some("2"),
        }
    }
}

/// Colour on or off for one output stream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Palette {
    pub(super) colour: bool,
}

impl Palette {
    #[cfg(test)]
    pub const PLAIN: Self = Self { colour: false };

    /// Colour only on a terminal, and never when `NO_COLOR` is set to a non-empty
    /// value (<https://no-color.org>).
    pub fn detect(is_terminal: bool, no_color: Option<&OsStr>) -> Self {
        Self {
            colour: is_terminal && no_color.is_none_or(OsStr::is_empty),
        }
    }

    pub fn paint(self, style: Style, text: &str) -> String {
        match (self.colour, style.ansi()) {
            (true, Some(code)) => format!("\x1b[{code}m{text}\x1b[0m"),
            _ => text.to_string(),
        }
    }
}

/// One table cell: its text (what alignment counts) and its style.
#[derive(Debug, Clone)]
pub struct Cell {
    pub(super) text: String,
    pub(super) style: Style,
}

impl Cell {
    pub fn new(text: impl Into<String>, style: Style) -> Self {
        Self {
            text: text.into(),
            style,
        }
    }

    /// A bare ✓ or ✗.
    pub(super) fn mark(ok: bool) -> Self {
        if ok {
            Self::new(PASS, Style::Good)
        } else {
            Self::new(FAIL, Style::Bad)
        }
    }

    /// ✓ or ✗ followed by `text`, in the same style.
    pub(super) fn verdict(ok: bool, text: &str) -> Self {
        let mark = Self::mark(ok);
        Self::new(format!("{} {text}", mark.text), mark.style)
    }
}

impl From<&str> for Cell {
    fn from(text: &str) -> Self {
        Self::new(text, Style::Plain)
    }
}

impl From<String> for Cell {
    fn from(text: String) -> Self {
        Self::new(text, Style::Plain)
    }
}

/// Rows of cells, padded to the widest text of each column before colouring, so
/// escape codes never shift a column.
#[derive(Debug, Default)]
pub struct Table {
    rows: Vec<Vec<Cell>>,
}

impl Table {
    pub fn with_header(header: &[&str]) -> Self {
        let mut table = Self::default();
        table.push(header.iter().map(|h| Cell::new(*h, Style::Faint)).collect());
        table
    }

    pub fn push(&mut self, row: Vec<Cell>) {
        self.rows.push(row);
    }

    pub fn render(&self, palette: Palette, indent: &str) -> String {
        let columns = self.rows.iter().map(Vec::len).max().unwrap_or(0);
        let widths: Vec<usize> = (0..columns)
            .map(|c| {
                self.rows
                    .iter()
                    .filter_map(|r| r.get(c))
                    .map(|cell| cell.text.chars().count())
                    .max()
                    .unwrap_or(0)
            })
            .collect();
        let mut out = String::new();
        for row in &self.rows {
            let mut line = indent.to_string();
            for (c, cell) in row.iter().enumerate() {
                let last = c + 1 == row.len();
                let pad = if last {
                    0
                } else {
                    widths[c] - cell.text.chars().count() + 2
                };
                line.push_str(&palette.paint(cell.style, &cell.text));
                line.push_str(&" ".repeat(pad));
            }
            out.push_str(line.trim_end());
            out.push('\n');
        }
        out
    }
}

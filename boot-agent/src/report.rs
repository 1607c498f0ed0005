//! Where the agent's console lines go, and its clock.

use core::fmt::Write;

/// A sink for complete console lines (no trailing newline).
pub trait Console {
    /// Prints one line.
    fn line(&mut self, text: &str);
}

/// Milliseconds since some fixed point (U-Boot's `get_timer(0)`).
pub trait Clock {
    /// The current time in milliseconds.
    fn now_ms(&self) -> u32;
}

/// One formatted line, prefixed `atomboot: `. Text that does not fit is cut, never an error.
pub type Line = heapless::String<320>;

/// Formats and prints one line.
pub fn say(console: &mut dyn Console, args: core::fmt::Arguments<'_>) {
    let mut line = Line::new();
    let _ = line.push_str("atomboot: ");
    let _ = line.write_fmt(args);
    console.line(&line);
}

/// A console that prints nothing (the second call derives the decision again without repeating it).
pub struct Quiet;

impl Console for Quiet {
    fn line(&mut self, _text: &str) {}
}

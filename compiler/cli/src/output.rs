//! Writing to the terminal without panicking. `println!` panics when the reader of a pipe has
//! gone (`curve disasm big.cvmb | head`); here a closed standard output ends the process quietly
//! with the status a shell reports for a process killed by SIGPIPE, as `cat` and `grep` end, and
//! a closed standard error is ignored (there is nowhere left to report to).

use std::io::Write;

/// The exit status after the reader of standard output went away (128 + SIGPIPE).
pub const BROKEN_PIPE_EXIT: i32 = 141;

/// Writes to standard output; see the module doc for a closed pipe. Any other write error (a
/// full disk behind a redirect) is reported and exits 2, like other IO errors.
pub fn stdout(args: std::fmt::Arguments<'_>) {
    let mut out = std::io::stdout().lock();
    if let Err(error) = out.write_fmt(args).and_then(|()| out.flush()) {
        if error.kind() == std::io::ErrorKind::BrokenPipe {
            std::process::exit(BROKEN_PIPE_EXIT);
        }
        stderr(format_args!(
            "error: cannot write standard output: {error}\n"
        ));
        std::process::exit(2);
    }
}

/// Writes to standard error, ignoring failures.
pub fn stderr(args: std::fmt::Arguments<'_>) {
    let _ = std::io::stderr().lock().write_fmt(args);
}

/// `println!` to standard output through [`stdout`].
macro_rules! outln {
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!("{}\n", format_args!($($arg)*)))
    };
}

/// `print!` to standard output through [`stdout`].
macro_rules! out {
    ($($arg:tt)*) => {
        $crate::output::stdout(format_args!($($arg)*))
    };
}

/// `eprintln!` through [`stderr`].
macro_rules! errln {
    ($($arg:tt)*) => {
        $crate::output::stderr(format_args!("{}\n", format_args!($($arg)*)))
    };
}

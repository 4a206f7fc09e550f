//! Parse errors that say where and what: every bad input names the file, the line and the
//! problem, so a user can fix the history instead of reading a backtrace.

use std::fmt;

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ParseError {
    pub file: String,
    /// 1-based line; 0 when the problem is the file as a whole.
    pub line: u32,
    pub problem: String,
}

impl ParseError {
    pub fn new(file: &str, line: u32, problem: impl Into<String>) -> ParseError {
        ParseError {
            file: file.to_string(),
            line,
            problem: problem.into(),
        }
    }
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.line == 0 {
            write!(f, "{}: {}", self.file, self.problem)
        } else {
            write!(f, "{}:{}: {}", self.file, self.line, self.problem)
        }
    }
}

impl std::error::Error for ParseError {}

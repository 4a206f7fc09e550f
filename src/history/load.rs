//! Reading a history file: format detection and dispatch to the right parser.

use super::error::ParseError;
use super::jepsen::{parse_jepsen_edn, parse_jepsen_log};
use super::jsonl::parse_jsonl;
use super::model::{Format, History};
use super::record::ZKSIM_FORMAT;

/// Parses a format name as the CLI spells it (`auto` = None).
pub fn parse_format_name(name: &str) -> Result<Option<Format>, String> {
    match name {
        "auto" => Ok(None),
        "zksim" => Ok(Some(Format::Zksim)),
        "zk-jsonl" => Ok(Some(Format::ZkJsonl)),
        "jepsen-log" => Ok(Some(Format::JepsenLog)),
        "jepsen-edn" => Ok(Some(Format::JepsenEdn)),
        other => Err(format!(
            "unknown format {other:?} (expected auto, zksim, zk-jsonl, jepsen-log or jepsen-edn)"
        )),
    }
}

/// Guesses the format from the first non-blank line.
pub fn detect_format(file: &str, text: &str) -> Result<Format, ParseError> {
    let Some((index, first)) = text.lines().enumerate().find(|(_, l)| !l.trim().is_empty()) else {
        return Err(ParseError::new(file, 0, "empty history"));
    };
    let first = first.trim();
    if first.starts_with("{:") || first.starts_with("{ :") {
        return Ok(Format::JepsenEdn);
    }
    if super::jepsen::log_body(first).is_some() {
        return Ok(Format::JepsenLog);
    }
    if first.starts_with('{') {
        let is_zksim = first.contains(&format!("\"{ZKSIM_FORMAT}\""));
        return Ok(if is_zksim {
            Format::Zksim
        } else {
            Format::ZkJsonl
        });
    }
    Err(ParseError::new(file, index as u32 + 1, "cannot tell the format: expected a JSON object, an EDN map or a Jepsen log line (use --format)"))
}

/// Parses history text in the given (or detected) format.
pub fn parse_history(
    file: &str,
    text: &str,
    format: Option<Format>,
) -> Result<History, ParseError> {
    let format = match format {
        Some(format) => format,
        None => detect_format(file, text)?,
    };
    match format {
        Format::Zksim | Format::ZkJsonl => parse_jsonl(file, text, format),
        Format::JepsenLog => parse_jepsen_log(file, text),
        Format::JepsenEdn => parse_jepsen_edn(file, text),
    }
}

/// Reads and parses a history file.
pub fn load_history(path: &str, format: Option<Format>) -> Result<History, ParseError> {
    let bytes =
        std::fs::read(path).map_err(|e| ParseError::new(path, 0, format!("cannot read: {e}")))?;
    let text = String::from_utf8(bytes).map_err(|e| {
        let valid = &e.as_bytes()[..e.utf8_error().valid_up_to()];
        let line = valid.iter().filter(|&&b| b == b'\n').count() as u32 + 1;
        ParseError::new(path, line, "not valid UTF-8")
    })?;
    parse_history(path, &text, format)
}

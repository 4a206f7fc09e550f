//! A small EDN reader: the subset Jepsen histories use (maps, vectors, lists, sets,
//! keywords, symbols, strings, integers, floats, nil, booleans, comments).
//!
//! Why hand-written: one op map per line is all we need, and pulling in an EDN crate for
//! that is not worth a dependency. Errors report the 1-based column.

use std::fmt::Write as _;

#[derive(Clone, Debug, PartialEq)]
pub enum Edn {
    Nil,
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    /// Without the leading colon.
    Keyword(String),
    Symbol(String),
    Vector(Vec<Edn>),
    List(Vec<Edn>),
    Set(Vec<Edn>),
    /// In source order.
    Map(Vec<(Edn, Edn)>),
}

impl Edn {
    /// Looks up a keyword key in a map.
    pub fn get(&self, keyword: &str) -> Option<&Edn> {
        match self {
            Edn::Map(entries) => entries
                .iter()
                .find(|(k, _)| matches!(k, Edn::Keyword(name) if name == keyword))
                .map(|(_, v)| v),
            _ => None,
        }
    }

    pub fn as_keyword(&self) -> Option<&str> {
        match self {
            Edn::Keyword(name) => Some(name),
            _ => None,
        }
    }

    pub fn as_int(&self) -> Option<i64> {
        match self {
            Edn::Int(v) => Some(*v),
            _ => None,
        }
    }

    /// Scalar as register value text: integers and strings as themselves, nil as None.
    pub fn as_value_text(&self) -> Option<String> {
        match self {
            Edn::Nil => None,
            Edn::Str(s) => Some(s.clone()),
            Edn::Int(v) => Some(v.to_string()),
            other => Some(other.to_string()),
        }
    }
}

impl std::fmt::Display for Edn {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Edn::Nil => f.write_str("nil"),
            Edn::Bool(b) => write!(f, "{b}"),
            Edn::Int(v) => write!(f, "{v}"),
            Edn::Float(v) => write!(f, "{v:?}"),
            Edn::Str(s) => write_edn_string(f, s),
            Edn::Keyword(k) => write!(f, ":{k}"),
            Edn::Symbol(s) => f.write_str(s),
            Edn::Vector(items) => write_seq(f, "[", "]", items),
            Edn::List(items) => write_seq(f, "(", ")", items),
            Edn::Set(items) => write_seq(f, "#{", "}", items),
            Edn::Map(entries) => {
                f.write_str("{")?;
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        f.write_str(", ")?;
                    }
                    write!(f, "{k} {v}")?;
                }
                f.write_str("}")
            }
        }
    }
}

fn write_seq(
    f: &mut std::fmt::Formatter<'_>,
    open: &str,
    close: &str,
    items: &[Edn],
) -> std::fmt::Result {
    f.write_str(open)?;
    for (i, item) in items.iter().enumerate() {
        if i > 0 {
            f.write_str(" ")?;
        }
        write!(f, "{item}")?;
    }
    f.write_str(close)
}

fn write_edn_string(f: &mut std::fmt::Formatter<'_>, s: &str) -> std::fmt::Result {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            c => out.push(c),
        }
    }
    out.push('"');
    f.write_str(&out)
}

/// Parses exactly one EDN value from `text` (surrounding whitespace and comments allowed).
/// The error is `(1-based column, problem)`.
pub fn parse_edn(text: &str) -> Result<Edn, (usize, String)> {
    let mut reader = Reader {
        chars: text.char_indices().collect(),
        pos: 0,
    };
    let value = reader.value()?;
    reader.skip_space();
    if reader.pos < reader.chars.len() {
        return Err((
            reader.column(),
            "unexpected text after the value".to_string(),
        ));
    }
    Ok(value)
}

/// Parses one EDN value at the start of `text` and returns it with the text after it (a
/// Jepsen log line's value is followed by an optional message). Errors as [`parse_edn`].
pub fn parse_edn_prefix(text: &str) -> Result<(Edn, &str), (usize, String)> {
    let mut reader = Reader {
        chars: text.char_indices().collect(),
        pos: 0,
    };
    let value = reader.value()?;
    let end = reader.chars.get(reader.pos).map_or(text.len(), |&(at, _)| at);
    Ok((value, &text[end..]))
}

struct Reader {
    chars: Vec<(usize, char)>,
    pos: usize,
}

impl Reader {
    fn column(&self) -> usize {
        self.pos + 1
    }

    fn peek(&self) -> Option<char> {
        self.chars.get(self.pos).map(|&(_, c)| c)
    }

    fn fail<T>(&self, problem: impl Into<String>) -> Result<T, (usize, String)> {
        Err((self.column(), problem.into()))
    }

    fn skip_space(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() || c == ',' {
                self.pos += 1;
            } else if c == ';' {
                while let Some(c) = self.peek() {
                    if c == '\n' {
                        break;
                    }
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn value(&mut self) -> Result<Edn, (usize, String)> {
        self.skip_space();
        match self.peek() {
            None => self.fail("expected a value, found the end of the line"),
            Some('{') => self.map(),
            Some('[') => self.seq(']').map(Edn::Vector),
            Some('(') => self.seq(')').map(Edn::List),
            Some('#') => self.set(),
            Some('"') => self.string(),
            Some(':') => {
                self.pos += 1;
                let token = self.token();
                if token.is_empty() {
                    return self.fail("empty keyword");
                }
                Ok(Edn::Keyword(token))
            }
            Some(c) if matches!(c, '}' | ']' | ')') => self.fail(format!("unexpected {c:?}")),
            Some(_) => self.atom(),
        }
    }

    fn token(&mut self) -> String {
        let mut token = String::new();
        while let Some(c) = self.peek() {
            if c.is_whitespace() || matches!(c, ',' | '{' | '}' | '[' | ']' | '(' | ')' | '"' | ';')
            {
                break;
            }
            token.push(c);
            self.pos += 1;
        }
        token
    }

    fn atom(&mut self) -> Result<Edn, (usize, String)> {
        let start = self.column();
        let token = self.token();
        match token.as_str() {
            "nil" => return Ok(Edn::Nil),
            "true" => return Ok(Edn::Bool(true)),
            "false" => return Ok(Edn::Bool(false)),
            _ => {}
        }
        let first = token.chars().next().unwrap_or(' ');
        let numeric = first.is_ascii_digit()
            || ((first == '-' || first == '+')
                && token.len() > 1
                && token.as_bytes()[1].is_ascii_digit());
        if !numeric {
            return Ok(Edn::Symbol(token));
        }
        let digits = token.trim_end_matches('N').trim_end_matches('M');
        if let Ok(v) = digits.parse::<i64>() {
            return Ok(Edn::Int(v));
        }
        digits
            .parse::<f64>()
            .map(Edn::Float)
            .map_err(|_| (start, format!("bad number {token:?}")))
    }

    fn string(&mut self) -> Result<Edn, (usize, String)> {
        self.pos += 1;
        let mut out = String::new();
        loop {
            match self.peek() {
                None => return self.fail("unterminated string"),
                Some('"') => {
                    self.pos += 1;
                    return Ok(Edn::Str(out));
                }
                Some('\\') => {
                    self.pos += 1;
                    let escaped = match self.peek() {
                        Some('n') => '\n',
                        Some('t') => '\t',
                        Some('r') => '\r',
                        Some('"') => '"',
                        Some('\\') => '\\',
                        other => return self.fail(format!("unsupported string escape {other:?}")),
                    };
                    out.push(escaped);
                    self.pos += 1;
                }
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn seq(&mut self, close: char) -> Result<Vec<Edn>, (usize, String)> {
        self.pos += 1;
        let mut items = Vec::new();
        loop {
            self.skip_space();
            match self.peek() {
                None => return self.fail(format!("missing {close:?}")),
                Some(c) if c == close => {
                    self.pos += 1;
                    return Ok(items);
                }
                Some(_) => items.push(self.value()?),
            }
        }
    }

    fn set(&mut self) -> Result<Edn, (usize, String)> {
        self.pos += 1;
        if self.peek() != Some('{') {
            return self.fail("only #{...} sets are supported after '#'");
        }
        self.seq('}').map(Edn::Set)
    }

    fn map(&mut self) -> Result<Edn, (usize, String)> {
        let items = self.seq('}')?;
        if items.len() % 2 != 0 {
            return self.fail("a map needs an even number of forms");
        }
        let mut entries = Vec::with_capacity(items.len() / 2);
        let mut iter = items.into_iter();
        while let (Some(k), Some(v)) = (iter.next(), iter.next()) {
            entries.push((k, v));
        }
        Ok(Edn::Map(entries))
    }
}

/// Renders a map from keyword/value pairs (helper for the exporter).
pub fn keyword_map(entries: Vec<(&str, Edn)>) -> String {
    let mut out = String::from("{");
    for (i, (k, v)) in entries.into_iter().enumerate() {
        if i > 0 {
            out.push_str(", ");
        }
        let _ = write!(out, ":{k} {v}");
    }
    out.push('}');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_jepsen_op_maps() {
        let v =
            parse_edn("{:process 0, :type :invoke, :f :cas, :value [3 nil], :time 12}").unwrap();
        assert_eq!(v.get("process"), Some(&Edn::Int(0)));
        assert_eq!(v.get("type").and_then(Edn::as_keyword), Some("invoke"));
        assert_eq!(
            v.get("value"),
            Some(&Edn::Vector(vec![Edn::Int(3), Edn::Nil]))
        );
    }

    #[test]
    fn errors_carry_a_column() {
        let (column, problem) = parse_edn("{:a 1 :b}").unwrap_err();
        assert!(column > 1 && problem.contains("even"), "{column} {problem}");
        assert!(parse_edn("[1 2").unwrap_err().1.contains("missing"));
    }

    #[test]
    fn a_prefix_value_leaves_the_rest() {
        let (v, rest) = parse_edn_prefix("[3 0]  indeterminate: timed out").unwrap();
        assert_eq!(v, Edn::Vector(vec![Edn::Int(3), Edn::Int(0)]));
        assert_eq!(rest, "  indeterminate: timed out");
        assert_eq!(parse_edn_prefix("nil").unwrap(), (Edn::Nil, ""));
        assert!(parse_edn_prefix("[1 2").is_err());
    }

    #[test]
    fn display_round_trips() {
        let text = "{:f :write, :value \"a\\\"b\", :xs [1 -2 nil true], :s #{:k}}";
        let v = parse_edn(text).unwrap();
        assert_eq!(parse_edn(&v.to_string()).unwrap(), v);
    }
}

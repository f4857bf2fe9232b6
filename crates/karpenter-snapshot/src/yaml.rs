//! A bounded YAML reader for files users hand to `karpenter plan`: YAML documents to `serde_json::Value`s, with
//! the size and the nesting depth bounded before the parser runs, and errors that name the line.
//!
//! The parser underneath (`serde_norway`, a port of libyaml) checks every pending simple key at every token,
//! so its time grows with the square of the flow nesting depth: 100 KB of `[[[...` takes over a second. The
//! reader therefore refuses, in one linear pass before parsing, any input whose flow collections (`[...]`,
//! `{...}`) nest deeper than [`Limits::max_depth`], and any input larger than [`Limits::max_bytes`]. The pass
//! over-estimates depth where it cannot be sure (an opening bracket inside a quoted string counts, a closing one
//! does not), so it never lets a deeper input through; a valid document that it refuses for that reason is one
//! with more unbalanced brackets inside strings than the limit. Block nesting is bounded by the depth check on
//! the parsed values (and by the parser's own recursion limit of 128).
//!
//! Upstream Karpenter reads such files with `sigs.k8s.io/yaml` (go-yaml), which has no such limits; the values
//! read are the same for every document within them.

use serde::Deserialize;
use serde_json::Value;

/// How much the reader accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// Largest input, in bytes.
    pub max_bytes: usize,
    /// Deepest nesting of collections, flow (`[`, `{`) or block (indentation), counted from 1 for a top-level
    /// collection.
    pub max_depth: usize,
}

impl Default for Limits {
    /// 8 MiB and 64 levels: far beyond any Kubernetes manifest (the deepest, an EC2NodeClass or a pod with
    /// affinity terms, nest about 10 levels), far below where parsing slows.
    fn default() -> Self {
        Limits { max_bytes: 8 << 20, max_depth: 64 }
    }
}

/// Why a YAML input was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum YamlError {
    /// The input is larger than [`Limits::max_bytes`].
    #[error("the YAML input is {size} bytes, more than the {limit} accepted")]
    TooLarge {
        /// Its size.
        size: usize,
        /// The limit.
        limit: usize,
    },
    /// Collections nest deeper than [`Limits::max_depth`].
    #[error("line {line}: collections nest deeper than {limit} levels")]
    TooDeep {
        /// The 1-based line where the limit was passed.
        line: usize,
        /// The limit.
        limit: usize,
    },
    /// The parser refused the input.
    #[error("{}{message}", line.map(|l| format!("line {l}: ")).unwrap_or_default())]
    Syntax {
        /// The 1-based line of the error, when the parser knows it.
        line: Option<usize>,
        /// The parser's message.
        message: String,
    },
}

/// Reads every document of a YAML stream with the default [`Limits`]. Empty documents (a lone `---`, or only
/// comments) are skipped.
pub fn read_documents(text: &str) -> Result<Vec<Value>, YamlError> {
    read_documents_with(text, Limits::default())
}

/// Reads every document of a YAML stream within `limits`.
pub fn read_documents_with(text: &str, limits: Limits) -> Result<Vec<Value>, YamlError> {
    if text.len() > limits.max_bytes {
        return Err(YamlError::TooLarge { size: text.len(), limit: limits.max_bytes });
    }
    check_flow_depth(text, limits.max_depth)?;
    let mut documents = Vec::new();
    for document in serde_norway::Deserializer::from_str(text) {
        let value = Value::deserialize(document).map_err(|error| YamlError::Syntax {
            line: error.location().map(|l| l.line()),
            message: error.to_string(),
        })?;
        if value.is_null() {
            continue;
        }
        if depth(&value) > limits.max_depth {
            return Err(YamlError::TooDeep { line: 1, limit: limits.max_depth });
        }
        documents.push(value);
    }
    Ok(documents)
}

/// The nesting depth of a value: 0 for a scalar, one more than its deepest element for a collection. Iterative,
/// so that no input can exhaust the stack here.
fn depth(value: &Value) -> usize {
    let mut deepest = 0;
    let mut stack = vec![(value, 0usize)];
    while let Some((value, level)) = stack.pop() {
        let children: Box<dyn Iterator<Item = &Value>> = match value {
            Value::Array(items) => Box::new(items.iter()),
            Value::Object(map) => Box::new(map.values()),
            _ => continue,
        };
        deepest = deepest.max(level + 1);
        stack.extend(children.map(|child| (child, level + 1)));
    }
    deepest
}

/// Refuses input whose flow collections may nest deeper than `limit`, in one pass. Every `[` and `{` counts, even
/// inside a quoted scalar or a comment; a `]` or `}` counts only outside both. A quote opens a quoted scalar
/// unless it follows a letter or digit (as in `don't`), which errs towards seeing quotes where there are none,
/// the safe side. The content of a block scalar (`key: |` and the lines indented under it) is skipped, by
/// libyaml's own rule for where it ends: a block scalar cannot hold a flow collection, and a script in one is
/// full of brackets and quotes.
fn check_flow_depth(text: &str, limit: usize) -> Result<(), YamlError> {
    #[derive(PartialEq)]
    enum State {
        Plain,
        Double,
        Single,
        Comment,
    }
    let bytes = text.as_bytes();
    let mut state = State::Plain;
    let mut depth = 0usize;
    let mut line = 1;
    let mut line_start = 0;
    let mut i = 0;
    while i < bytes.len() {
        let c = bytes[i];
        let previous = if i == 0 { b'\n' } else { bytes[i - 1] };
        if state == State::Plain
            && depth == 0
            && (c == b'|' || c == b'>')
            && let Some(parent) = block_scalar_parent(&text[line_start..i], line_rest(text, i + 1))
        {
            let (next, lines) = skip_block_scalar(text, i, parent, line_rest(text, i + 1));
            line += lines;
            line_start = next;
            i = next;
            continue;
        }
        match c {
            b'\n' => {
                line += 1;
                line_start = i + 1;
            }
            b'[' | b'{' => {
                depth += 1;
                if depth > limit {
                    return Err(YamlError::TooDeep { line, limit });
                }
            }
            b']' | b'}' if state == State::Plain => depth = depth.saturating_sub(1),
            _ => {}
        }
        state = match state {
            State::Plain => match c {
                b'"' if !previous.is_ascii_alphanumeric() => State::Double,
                b'\'' if !previous.is_ascii_alphanumeric() => State::Single,
                b'#' if previous.is_ascii_whitespace() => State::Comment,
                _ => State::Plain,
            },
            State::Double => match c {
                // An escaped character cannot close the scalar (an escaped line break is counted below).
                b'\\' if bytes.get(i + 1) != Some(&b'\n') => {
                    i += 1;
                    State::Double
                }
                b'"' => State::Plain,
                _ => State::Double,
            },
            State::Single => match c {
                b'\'' if bytes.get(i + 1) == Some(&b'\'') => {
                    i += 1;
                    State::Single
                }
                b'\'' => State::Plain,
                _ => State::Single,
            },
            State::Comment if c == b'\n' => State::Plain,
            State::Comment => State::Comment,
        };
        i += 1;
    }
    Ok(())
}

/// The text from `from` to the end of its line.
fn line_rest(text: &str, from: usize) -> &str {
    let rest = &text[from.min(text.len())..];
    &rest[..rest.find('\n').unwrap_or(rest.len())]
}

/// When `|` or `>` after `prefix` (the line up to it) and followed by `rest` starts a block scalar, the column of
/// the block collection it belongs to (libyaml's current indent; -1 at the top level), else `None`. Only the plain
/// forms count: `key: |`, `- |`, `- key: >-`, `--- |`, with anchors or tags between the key and the indicator
/// and a header of indentation and chomping indicators and a comment.
fn block_scalar_parent(prefix: &str, rest: &str) -> Option<i64> {
    let header = rest.split(" #").next().unwrap_or(rest);
    let header = header.split("\t#").next().unwrap_or(header).trim_end_matches([' ', '\t']);
    let valid_header = header.len() <= 2
        && header.bytes().all(|c| matches!(c, b'+' | b'-' | b'1'..=b'9'))
        && header.bytes().filter(|c| c.is_ascii_digit()).count() <= 1
        && header.bytes().filter(|c| !c.is_ascii_digit()).count() <= 1;
    if !valid_header {
        return None;
    }
    let mut column = prefix.len() - prefix.trim_start_matches(' ').len();
    let mut remaining = &prefix[column..];
    if let Some(after) = remaining.strip_prefix("--- ") {
        return after.trim_matches(' ').is_empty().then_some(-1);
    }
    let mut parent = -1i64;
    while let Some(after) = remaining.strip_prefix("- ") {
        parent = column as i64;
        let spaces = after.len() - after.trim_start_matches(' ').len();
        column += 2 + spaces;
        remaining = &after[spaces..];
    }
    // What is left is empty (`- |`), or a key, `:`, and anchors or tags.
    let mut words = remaining.split(' ').filter(|w| !w.is_empty()).collect::<Vec<_>>();
    while words.last().is_some_and(|w| w.starts_with('&') || w.starts_with('!')) {
        words.pop();
    }
    match words.as_slice() {
        [] if remaining.trim().is_empty() => Some(parent),
        [] => None,
        [.., last] if last.ends_with(':') && !remaining.starts_with(['"', '\'', '[', '{', '?', '#']) => {
            Some(column as i64)
        }
        _ => None,
    }
}

/// Skips a block scalar whose header ends the line at `indicator` (its text after the indicator is `header`):
/// the following lines that are empty or indented at least as far as its first non-empty line, provided that is
/// deeper than `parent` (and than 0); libyaml ends the scalar at the first line indented less. Returns where
/// scanning goes on (the start of the first line after the scalar) and how many lines were passed.
fn skip_block_scalar(text: &str, indicator: usize, parent: i64, header: &str) -> (usize, usize) {
    let Some(newline) = text[indicator..].find('\n').map(|n| indicator + n) else { return (text.len(), 0) };
    let explicit = header.bytes().find(|c| c.is_ascii_digit()).map(|d| i64::from(d - b'0'));
    let mut position = newline + 1;
    let mut lines = 1;
    let mut content_indent = explicit.map(|d| parent.max(0) + d);
    while position < text.len() {
        let this = line_rest(text, position);
        let indent = (this.len() - this.trim_start_matches(' ').len()) as i64;
        let blank = this.trim_start_matches(' ').is_empty();
        if !blank {
            let wanted = *content_indent.get_or_insert(indent);
            if wanted <= parent || wanted < 1 || indent < wanted {
                break;
            }
        }
        position += this.len() + 1;
        lines += 1;
    }
    (position.min(text.len()), lines)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_every_document_of_a_stream() {
        let text = "a: 1\nb: [x, {y: z}]\n---\n# only a comment\n---\n- 2\n- 'it''s'\n";
        let documents = read_documents(text).unwrap();
        assert_eq!(
            documents,
            vec![serde_json::json!({"a": 1, "b": ["x", {"y": "z"}]}), serde_json::json!([2, "it's"])]
        );
    }

    #[test]
    fn errors_name_the_line() {
        let error = read_documents("a: 1\nb: [1, 2\nc: 3\n").unwrap_err();
        assert!(matches!(error, YamlError::Syntax { line: Some(_), .. }), "{error:?}");
        assert!(error.to_string().starts_with("line "), "{error}");
    }

    #[test]
    fn refuses_deep_flow_nesting_before_parsing() {
        // 100 KB of `[`: refused by the linear pre-pass at the 65th bracket, on line 1.
        let text = "[".repeat(100 << 10);
        assert_eq!(read_documents(&text), Err(YamlError::TooDeep { line: 1, limit: 64 }));
        // The same with quoted closing brackets in between, which must not lower the count.
        let text = "[\"]\", ".repeat(100 << 10);
        assert!(matches!(read_documents(&text), Err(YamlError::TooDeep { .. })));
        let text = "x: 1\n# ]]]]\n".to_string() + &"[".repeat(65);
        assert_eq!(read_documents(&text), Err(YamlError::TooDeep { line: 3, limit: 64 }));
    }

    #[test]
    fn accepts_nesting_up_to_the_limit() {
        let text = format!("{}{}", "[".repeat(64), "]".repeat(64));
        assert_eq!(read_documents(&text).unwrap().len(), 1);
        // Balanced brackets in a block scalar (a user-data script) do not add up.
        // A block scalar's content is skipped, brackets and quotes and all, up to the first line indented less.
        let script = "spec:\n  userData: |\n".to_string()
            + &"    echo \"[INFO] it's {up\" # ]\n\n".repeat(500)
            + "  role: x\n";
        assert_eq!(read_documents(&script).unwrap().len(), 1);
        let after = "a: |\n  text\nb: ".to_string() + &"[".repeat(65);
        assert_eq!(read_documents(&after), Err(YamlError::TooDeep { line: 3, limit: 64 }));
        // A line indented less than the scalar's first line is not content, however it is indented.
        let tricky = "- - |\n    text\n  ".to_string() + &"[ \"]\", ".repeat(65);
        assert!(matches!(read_documents(&tricky), Err(YamlError::TooDeep { line: 3, .. })));
    }

    #[test]
    fn refuses_deep_block_nesting_and_large_input() {
        let mut text = String::new();
        for level in 0..70 {
            text.push_str(&format!("{}k:\n", "  ".repeat(level)));
        }
        assert!(read_documents(&text).is_err());
        let limits = Limits { max_bytes: 10, max_depth: 64 };
        assert_eq!(
            read_documents_with("a: 123456789", limits),
            Err(YamlError::TooLarge { size: 12, limit: 10 })
        );
    }
}

//! The manifests `karpenter plan` reads: files, directories (their `.yaml`, `.yml` and `.json` files, by name)
//! and standard input (`-`), each a stream of YAML documents or JSON values, as `kubectl apply -f` takes them.
//!
//! Users' files are untrusted. A file is read only up to [`MAX_FILE_BYTES`]; each YAML document goes through
//! the bounded reader of `karpenter-snapshot` ([`karpenter_snapshot::yaml`]), which refuses flow nesting deeper
//! than its limit before the parser (whose scanner takes quadratic time on it) sees the text; every problem
//! names the file and the line. Documents are parsed one at a time, so a document that does not parse is
//! refused alone and the next ones are still read.

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use karpenter_snapshot::yaml::{self, YamlError};
use serde_json::Value;

/// The largest file (or standard input) read, in bytes.
pub(crate) const MAX_FILE_BYTES: u64 = 32 * 1024 * 1024;

/// Where an object or a problem is: a file (or `-`) and a 1-based line, when known.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub(crate) struct Source {
    pub(crate) file: String,
    pub(crate) line: Option<usize>,
}

impl fmt::Display for Source {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.line {
            Some(line) => write!(f, "{}:{line}", self.file),
            None => f.write_str(&self.file),
        }
    }
}

/// One object read, with where its document starts.
#[derive(Debug, Clone)]
pub(crate) struct Located {
    pub(crate) source: Source,
    pub(crate) value: Value,
}

/// A document or file that could not be read, and why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Problem {
    pub(crate) source: Source,
    pub(crate) message: String,
}

/// Everything read: objects in reading order and the problems met.
#[derive(Debug, Default)]
pub(crate) struct Input {
    pub(crate) objects: Vec<Located>,
    pub(crate) problems: Vec<Problem>,
}

/// How a text is parsed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Format {
    /// YAML documents separated by `---` lines (JSON is read as YAML too).
    Yaml,
    /// A stream of JSON values (a `.json` file).
    Json,
}

/// One document: its value and first line, or why it could not be read, with the line.
pub(crate) type Document = std::result::Result<(usize, Value), (usize, String)>;

/// Reads the paths: files, directories and `-`. A path that does not exist or a directory that cannot be listed
/// is an error (there is nothing to plan from); a file that is too large, not UTF-8 or does not parse is a
/// problem, and the rest is read.
pub(crate) fn read_paths(paths: &[PathBuf], recursive: bool) -> Result<Input> {
    let mut input = Input::default();
    for path in paths {
        if path.as_os_str() == "-" {
            let text = bounded(std::io::stdin().lock(), MAX_FILE_BYTES);
            read_text("-", text, Format::Yaml, &mut input);
            continue;
        }
        let metadata = std::fs::metadata(path).with_context(|| format!("-f {}", path.display()))?;
        let files = if metadata.is_dir() { files_in(path, recursive)? } else { vec![path.clone()] };
        for file in files {
            let name = file.display().to_string();
            let format =
                if file.extension().is_some_and(|e| e == "json") { Format::Json } else { Format::Yaml };
            let text = std::fs::File::open(&file)
                .map_err(|e| format!("cannot be read: {e}"))
                .and_then(|f| bounded(f, MAX_FILE_BYTES));
            read_text(&name, text, format, &mut input);
        }
    }
    Ok(input)
}

/// The manifest files of a directory, by name; with `recursive`, those of its subdirectories too.
fn files_in(dir: &Path, recursive: bool) -> Result<Vec<PathBuf>> {
    let mut entries: Vec<PathBuf> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|entry| entry.map(|e| e.path()))
        .collect::<std::io::Result<_>>()
        .with_context(|| format!("listing {}", dir.display()))?;
    entries.sort();
    let mut files = Vec::new();
    for entry in entries {
        if entry.is_dir() {
            if recursive {
                files.extend(files_in(&entry, true)?);
            }
        } else if entry.extension().is_some_and(|e| e == "yaml" || e == "yml" || e == "json") {
            files.push(entry);
        }
    }
    Ok(files)
}

/// Reads at most `limit` bytes as UTF-8; more is an error rather than a silently shortened file.
fn bounded(reader: impl Read, limit: u64) -> std::result::Result<String, String> {
    let mut bytes = Vec::new();
    reader.take(limit + 1).read_to_end(&mut bytes).map_err(|e| format!("cannot be read: {e}"))?;
    if bytes.len() as u64 > limit {
        return Err(format!("is larger than {} MiB, the most `karpenter plan` reads", limit / 1024 / 1024));
    }
    String::from_utf8(bytes).map_err(|e| format!("is not UTF-8 text ({e})"))
}

fn read_text(name: &str, text: std::result::Result<String, String>, format: Format, input: &mut Input) {
    let source = |line| Source { file: name.to_string(), line };
    let text = match text {
        Ok(text) => text,
        Err(message) => {
            input.problems.push(Problem { source: source(None), message });
            return;
        }
    };
    for document in read_documents(&text, format) {
        match document {
            Ok((line, value)) => input.objects.push(Located { source: source(Some(line)), value }),
            Err((line, message)) => input.problems.push(Problem { source: source(Some(line)), message }),
        }
    }
}

/// Every document of a text, in order: YAML documents separated by `---` lines, or a stream of JSON values.
/// Empty documents are left out. THE parsing function of `karpenter plan`, to be replaced by the bounded reader
/// of `karpenter-snapshot` (which also bounds block nesting and reports lines within documents).
pub(crate) fn read_documents(text: &str, format: Format) -> Vec<Document> {
    match format {
        Format::Json => json_documents(text),
        Format::Yaml => {
            let mut documents = Vec::new();
            for (first_line, chunk) in yaml_chunks(text) {
                match yaml::read_documents(chunk) {
                    Ok(values) => documents.extend(values.into_iter().map(|value| Ok((first_line, value)))),
                    Err(error) => documents.push(Err(located(&error, first_line))),
                }
            }
            documents
        }
    }
}

/// A refusal of the YAML reader as a line of the whole file and a message.
fn located(error: &YamlError, first_line: usize) -> (usize, String) {
    match error {
        YamlError::TooDeep { line, limit } => {
            (first_line + line - 1, format!("collections nest deeper than {limit} levels"))
        }
        YamlError::Syntax { line, message } => {
            (line.map_or(first_line, |l| first_line + l - 1), yaml_message(message, first_line))
        }
        YamlError::TooLarge { .. } => (first_line, error.to_string()),
    }
}

/// The parser's complaint with its lines (`at line N column M`, counted within the document) made lines of the
/// whole file.
fn yaml_message(text: &str, first_line: usize) -> String {
    let mut out = String::new();
    let mut rest = text;
    while let Some(at) = rest.find("at line ") {
        let (before, after) = rest.split_at(at + "at line ".len());
        out.push_str(before);
        let digits = after.find(|c: char| !c.is_ascii_digit()).unwrap_or(after.len());
        match after[..digits].parse::<usize>() {
            Ok(line) => out.push_str(&(first_line + line - 1).to_string()),
            Err(_) => out.push_str(&after[..digits]),
        }
        rest = &after[digits..];
    }
    out.push_str(rest);
    out
}

/// Splits a YAML stream at its `---` document markers, with the first line of each part. A marker line stays
/// with the document it opens, so that content after `--- ` is kept.
fn yaml_chunks(text: &str) -> Vec<(usize, &str)> {
    let mut chunks = Vec::new();
    let mut start = 0;
    let mut start_line = 1;
    let mut offset = 0;
    for (index, line) in text.split_inclusive('\n').enumerate() {
        let marker = line.starts_with("---")
            && line[3..].chars().next().is_none_or(|c| c == ' ' || c == '\t' || c == '\r' || c == '\n');
        if marker && offset > start {
            chunks.push((start_line, &text[start..offset]));
            start = offset;
            start_line = index + 1;
        }
        offset += line.len();
    }
    if start < text.len() {
        chunks.push((start_line, &text[start..]));
    }
    chunks
}

/// A JSON stream: each value with its first line; reading stops at the first error.
fn json_documents(text: &str) -> Vec<Document> {
    let line_of = |offset: usize| text[..offset.min(text.len())].matches('\n').count() + 1;
    let mut documents = Vec::new();
    let mut stream = serde_json::Deserializer::from_str(text).into_iter::<Value>();
    loop {
        // The value starts at the first non-blank byte after the previous one.
        let before = stream.byte_offset();
        let start = before + text[before..].len() - text[before..].trim_start().len();
        match stream.next() {
            None => break,
            Some(Ok(value)) => documents.push(Ok((line_of(start), value))),
            Some(Err(error)) => {
                let message = error.to_string();
                let message = match message.rfind(" at line ") {
                    Some(at) => message[..at].to_string(),
                    None => message,
                };
                documents.push(Err((error.line().max(1), message)));
                break;
            }
        }
    }
    documents
}

#[cfg(test)]
mod tests {
    use expect_test::{Expect, expect};

    use super::*;

    fn check(text: &str, format: Format, expected: Expect) {
        let shown: Vec<String> = read_documents(text, format)
            .into_iter()
            .map(|d| match d {
                Ok((line, value)) => format!("line {line}: {value}"),
                Err((line, message)) => format!("line {line}: error: {message}"),
            })
            .collect();
        expected.assert_eq(&shown.join("\n"));
    }

    #[test]
    fn yaml_documents_carry_their_first_line_and_a_bad_one_does_not_stop_the_rest() {
        check(
            "# leading comment\na: 1\n---\nb: [1,\n---\n--- {c: 3}\n...\n---\n# only a comment\n---\nd: |\n  ---x\n  [[[\n",
            Format::Yaml,
            expect![[r#"
                line 1: {"a":1}
                line 5: error: did not find expected node content at line 5 column 1, while parsing a flow node
                line 6: {"c":3}
                line 10: {"d":"---x\n[[[\n"}"#]],
        );
    }

    #[test]
    fn deep_flow_nesting_is_refused_before_parsing_with_its_line() {
        let deep = format!("a: 1\n---\nkind: Pod\nspec: {}{}\n", "[".repeat(100_000), "]".repeat(100_000));
        let started = std::time::Instant::now();
        check(
            &deep,
            Format::Yaml,
            expect![[r#"
                line 1: {"a":1}
                line 4: error: collections nest deeper than 64 levels"#]],
        );
        // The parser alone needs tens of seconds for this document; the scan refuses it at once.
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn brackets_in_block_scalars_do_not_count_and_unbalanced_ones_in_strings_do() {
        let brackets = "[".repeat(80);
        check(
            &format!("d: |\n  {brackets}\ne: [[1], {{f: [2]}}]\n---\na: \"{brackets}\"\n"),
            Format::Yaml,
            expect![[r#"
                line 1: {"d":"[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[[\n","e":[[1],{"f":[2]}]}
                line 5: error: collections nest deeper than 64 levels"#]],
        );
    }

    #[test]
    fn json_streams_carry_lines_and_stop_at_an_error() {
        check(
            "{\"a\": 1}\n\n  {\"b\":\n 2}\n{\"c\": }\n{\"d\": 4}",
            Format::Json,
            expect![[r#"
                line 1: {"a":1}
                line 3: {"b":2}
                line 5: error: expected value"#]],
        );
    }

    #[test]
    fn parser_lines_are_lines_of_the_file() {
        check(
            "a: 1\n---\nkind: Pod\nmetadata: {name: broken\n",
            Format::Yaml,
            expect![[r#"
                line 1: {"a":1}
                line 5: error: did not find expected ',' or '}' at line 5 column 1, while parsing a flow mapping at line 4 column 11"#]],
        );
    }

    #[test]
    fn oversized_and_non_utf8_input_is_refused() {
        assert_eq!(bounded(&b"abc"[..], 3), Ok("abc".to_string()));
        assert!(bounded(&b"abcd"[..], 3).unwrap_err().contains("larger than"));
        assert!(bounded(&[0xff, 0xfe][..], 3).unwrap_err().contains("not UTF-8"));
    }
}

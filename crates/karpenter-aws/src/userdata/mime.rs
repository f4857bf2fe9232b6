//! MIME multi-part archives as EC2 user data uses them (`aws/karpenter-provider-aws:
//! pkg/providers/amifamily/bootstrap/mime/mime.go` and the merge in `eksbootstrap.go`): a user's archive is
//! read part by part, Karpenter's part is appended, and the whole is written with the boundary `//` and
//! line feeds only.

/// The boundary of every archive Karpenter writes.
pub const BOUNDARY: &str = "//";

/// `Content-Type` of a shell script part.
pub const SHELL_SCRIPT: &str = "text/x-shellscript; charset=\"us-ascii\"";

/// `Content-Type` of a nodeadm NodeConfig part.
pub const NODE_CONFIG: &str = "application/node.eks.aws";

/// One part: its content type and its content.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Part {
    /// The part's `Content-Type` header.
    pub content_type: String,
    /// The body, as written between the headers and the next boundary line.
    pub content: String,
}

/// Why user data that looks like MIME could not be read.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MimeError {
    /// There is no `Content-Type` header, or it names no boundary.
    #[error("the MIME user data has no multipart Content-Type header with a boundary")]
    NoBoundary,
    /// The boundary never appears.
    #[error("the MIME user data has no part delimited by its boundary {0:?}")]
    NoParts(String),
}

/// Whether user data is a MIME document (starts with a MIME header).
pub fn is_mime(user_data: &str) -> bool {
    let start = user_data.trim_start();
    start.starts_with("MIME-Version:") || start.starts_with("Content-Type:")
}

/// Splits header lines from a body at the first empty line.
fn split_headers(text: &str) -> (Vec<(String, String)>, &str) {
    let mut headers = Vec::new();
    let mut rest = text;
    loop {
        let (line, after) = match rest.find('\n') {
            Some(at) => (&rest[..at], &rest[at + 1..]),
            None => (rest, ""),
        };
        let line = line.trim_end_matches('\r');
        if line.is_empty() {
            return (headers, after);
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_string(), value.trim().to_string()));
        }
        if after.is_empty() {
            return (headers, after);
        }
        rest = after;
    }
}

fn header<'a>(headers: &'a [(String, String)], name: &str) -> Option<&'a str> {
    headers.iter().find(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str())
}

/// The `boundary` parameter of a multipart content type.
fn boundary_of(content_type: &str) -> Option<String> {
    let mut pieces = content_type.split(';');
    let media = pieces.next()?.trim();
    if !media.to_ascii_lowercase().starts_with("multipart/") {
        return None;
    }
    pieces.find_map(|p| {
        let (name, value) = p.trim().split_once('=')?;
        name.trim().eq_ignore_ascii_case("boundary").then(|| value.trim().trim_matches('"').to_string())
    })
}

/// Reads the parts of a MIME multi-part document.
pub fn parse(user_data: &str) -> Result<Vec<Part>, MimeError> {
    let normalized = user_data.replace("\r\n", "\n");
    let (headers, body) = split_headers(normalized.trim_start());
    let boundary = header(&headers, "Content-Type").and_then(boundary_of).ok_or(MimeError::NoBoundary)?;
    let delimiter = format!("--{boundary}");
    let mut parts = Vec::new();
    let mut seen_delimiter = false;
    // Each section between delimiter lines is a part; the preamble before the first and anything after the
    // closing delimiter are dropped.
    let mut current: Option<String> = None;
    for line in body.split_inclusive('\n') {
        let bare = line.trim_end_matches('\n');
        if bare == delimiter || bare == format!("{delimiter}--") {
            seen_delimiter = true;
            if let Some(section) = current.take() {
                parts.push(section_to_part(&section));
            }
            if bare != delimiter {
                break;
            }
            current = Some(String::new());
            continue;
        }
        if let Some(section) = current.as_mut() {
            section.push_str(line);
        }
    }
    if let Some(section) = current.take() {
        parts.push(section_to_part(&section));
    }
    if !seen_delimiter {
        return Err(MimeError::NoParts(boundary));
    }
    Ok(parts)
}

fn section_to_part(section: &str) -> Part {
    let (headers, body) = split_headers(section);
    // The line break before a delimiter belongs to the delimiter, not to the content.
    let content = body.strip_suffix('\n').unwrap_or(body).to_string();
    Part { content_type: header(&headers, "Content-Type").unwrap_or("text/plain").to_string(), content }
}

/// Writes parts as a MIME multi-part document with the boundary [`BOUNDARY`].
pub fn serialize(parts: &[Part]) -> String {
    let mut out = String::new();
    out.push_str("MIME-Version: 1.0\n");
    out.push_str(&format!("Content-Type: multipart/mixed; boundary=\"{BOUNDARY}\"\n\n"));
    for part in parts {
        out.push_str(&format!("--{BOUNDARY}\nContent-Type: {}\n\n", part.content_type));
        out.push_str(&part.content);
        out.push('\n');
    }
    out.push_str(&format!("--{BOUNDARY}--\n"));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parse_reads_parts_and_serialize_writes_them_back() {
        let input = "MIME-Version: 1.0\r\nContent-Type: multipart/mixed; boundary=\"BOUNDARY\"\r\n\r\npreamble\r\n--BOUNDARY\r\nContent-Type: text/x-shellscript; charset=\"us-ascii\"\r\n\r\n#!/bin/bash\necho hi\r\n--BOUNDARY\r\nContent-Type: application/node.eks.aws\r\n\r\nkind: NodeConfig\n\r\n--BOUNDARY--\r\n";
        let parts = parse(input).unwrap();
        assert_eq!(
            parts,
            vec![
                Part { content_type: SHELL_SCRIPT.into(), content: "#!/bin/bash\necho hi".into() },
                Part { content_type: NODE_CONFIG.into(), content: "kind: NodeConfig\n".into() },
            ]
        );
        let written = serialize(&parts);
        assert_eq!(parse(&written).unwrap(), parts, "what is written reads back the same");
        assert!(
            written
                .starts_with("MIME-Version: 1.0\nContent-Type: multipart/mixed; boundary=\"//\"\n\n--//\n")
        );
        assert!(written.ends_with("\n--//--\n"));
        assert!(!written.contains('\r'));
    }

    #[test]
    fn bad_archives_are_named() {
        assert_eq!(parse("MIME-Version: 1.0\n\nhello"), Err(MimeError::NoBoundary));
        assert_eq!(
            parse("Content-Type: multipart/mixed; boundary=x\n\nno parts"),
            Err(MimeError::NoParts("x".into()))
        );
        assert!(is_mime("  MIME-Version: 1.0\n"));
        assert!(!is_mime("#!/bin/bash"));
    }
}

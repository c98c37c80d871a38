//! Just enough HTTP/1.1 for the Runtime API, the counting proxies and the webhook sink: read one
//! request or response (Content-Length, chunked, or until close), keep the exact bytes received
//! so that a proxy forwards them unchanged, and write simple responses.

use std::io;

use tokio::io::{AsyncBufReadExt, AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt, BufReader};

/// Heads larger than this are refused (a runaway peer, not HTTP).
const MAX_HEAD: usize = 64 * 1024;

/// One request or response.
#[derive(Debug, Clone)]
pub struct Message {
    /// `GET /path HTTP/1.1` or `HTTP/1.1 200 OK`.
    pub start_line: String,
    /// Names lower-cased, values trimmed, in order.
    pub headers: Vec<(String, String)>,
    /// The body, de-chunked.
    pub body: Vec<u8>,
    /// Every byte as received (head and body, chunked framing included).
    pub raw: Vec<u8>,
    /// How many of `raw`'s bytes are the head (start line, headers, blank line).
    pub head_len: usize,
}

impl Message {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }

    /// Request method and target.
    pub fn method_and_path(&self) -> (&str, &str) {
        let mut parts = self.start_line.split_whitespace();
        (parts.next().unwrap_or(""), parts.next().unwrap_or(""))
    }

    /// A response's status code (0 if unparsable).
    pub fn status(&self) -> u16 {
        self.start_line
            .split_whitespace()
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or(0)
    }

    /// Whether the body is framed (Content-Length or chunked) rather than ended by a close.
    pub fn framed(&self) -> bool {
        self.header("content-length").is_some()
            || self
                .header("transfer-encoding")
                .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"))
    }

    /// The raw bytes without any `Connection` header, so that the connection may stay open.
    pub fn without_connection_header(&self) -> Vec<u8> {
        let head = String::from_utf8_lossy(&self.raw[..self.head_len]);
        let mut out = Vec::with_capacity(self.raw.len());
        for line in head.split_inclusive('\n') {
            let is_connection = line
                .split_once(':')
                .is_some_and(|(name, _)| name.trim().eq_ignore_ascii_case("connection"));
            if !is_connection {
                out.extend_from_slice(line.as_bytes());
            }
        }
        out.extend_from_slice(&self.raw[self.head_len..]);
        out
    }

    /// Whether the connection ends after this message.
    pub fn closes(&self) -> bool {
        let version_10 = self.start_line.contains("HTTP/1.0");
        match self.header("connection").map(str::to_ascii_lowercase) {
            Some(v) if v.contains("close") => true,
            Some(v) if v.contains("keep-alive") => false,
            _ => version_10,
        }
    }
}

/// What is being read: a request, or the response to a request with this method.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind<'a> {
    Request,
    ResponseTo(&'a str),
}

fn bad(what: impl Into<String>) -> io::Error {
    io::Error::new(io::ErrorKind::InvalidData, what.into())
}

/// Reads one message; `Ok(None)` when the peer closed the connection before a new one began.
pub async fn read_message<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    kind: Kind<'_>,
) -> io::Result<Option<Message>> {
    let mut raw = Vec::with_capacity(1024);
    let mut start_line = String::new();
    let mut headers = Vec::new();
    loop {
        let before = raw.len();
        let n = reader.read_until(b'\n', &mut raw).await?;
        if n == 0 {
            if raw.is_empty() {
                return Ok(None);
            }
            return Err(bad("connection closed inside a message head"));
        }
        if raw.len() > MAX_HEAD {
            return Err(bad("message head too large"));
        }
        let line = String::from_utf8_lossy(&raw[before..]);
        let line = line.trim_end_matches(['\r', '\n']);
        if start_line.is_empty() {
            if line.is_empty() {
                continue; // tolerate stray CRLF between messages
            }
            start_line = line.to_owned();
            continue;
        }
        if line.is_empty() {
            break;
        }
        if let Some((name, value)) = line.split_once(':') {
            headers.push((name.trim().to_ascii_lowercase(), value.trim().to_owned()));
        }
    }
    let head_len = raw.len();
    let mut message = Message {
        start_line,
        headers,
        body: Vec::new(),
        raw,
        head_len,
    };
    let status = message.status();
    let no_body = match kind {
        Kind::Request => false,
        Kind::ResponseTo(method) => {
            method.eq_ignore_ascii_case("HEAD")
                || (100..200).contains(&status)
                || status == 204
                || status == 304
        }
    };
    if no_body {
        return Ok(Some(message));
    }
    let chunked = message
        .header("transfer-encoding")
        .is_some_and(|te| te.to_ascii_lowercase().contains("chunked"));
    if chunked {
        read_chunked(reader, &mut message).await?;
    } else if let Some(length) = message.header("content-length") {
        let length: usize = length
            .parse()
            .map_err(|_| bad(format!("bad content-length {length:?}")))?;
        let mut body = vec![0; length];
        reader.read_exact(&mut body).await?;
        message.raw.extend_from_slice(&body);
        message.body = body;
    } else if matches!(kind, Kind::ResponseTo(_)) {
        // No length: the body runs to the end of the connection.
        let mut body = Vec::new();
        reader.read_to_end(&mut body).await?;
        message.raw.extend_from_slice(&body);
        message.body = body;
    }
    Ok(Some(message))
}

async fn read_chunked<R: AsyncRead + Unpin>(
    reader: &mut BufReader<R>,
    message: &mut Message,
) -> io::Result<()> {
    loop {
        let before = message.raw.len();
        if reader.read_until(b'\n', &mut message.raw).await? == 0 {
            return Err(bad("connection closed inside a chunked body"));
        }
        let line = String::from_utf8_lossy(&message.raw[before..]).into_owned();
        let size_text = line.trim().split(';').next().unwrap_or("").trim();
        let size = usize::from_str_radix(size_text, 16)
            .map_err(|_| bad(format!("bad chunk size {size_text:?}")))?;
        if size == 0 {
            // Trailers, then the final empty line.
            loop {
                let before = message.raw.len();
                if reader.read_until(b'\n', &mut message.raw).await? == 0 {
                    return Ok(());
                }
                if message.raw[before..]
                    .iter()
                    .all(|b| *b == b'\r' || *b == b'\n')
                {
                    return Ok(());
                }
            }
        }
        let mut chunk = vec![0; size + 2]; // data and its CRLF
        reader.read_exact(&mut chunk).await?;
        message.raw.extend_from_slice(&chunk);
        message.body.extend_from_slice(&chunk[..size]);
    }
}

/// Writes a response with a Content-Length.
pub async fn write_response<W: AsyncWrite + Unpin>(
    writer: &mut W,
    status: u16,
    headers: &[(&str, &str)],
    body: &[u8],
) -> io::Result<()> {
    let reason = match status {
        200 => "OK",
        202 => "Accepted",
        400 => "Bad Request",
        404 => "Not Found",
        500 => "Internal Server Error",
        502 => "Bad Gateway",
        _ => "",
    };
    let mut out = format!("HTTP/1.1 {status} {reason}\r\n");
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    writer.write_all(&bytes).await?;
    writer.flush().await
}

/// Builds a request with a Content-Length (for the proxies' own reads and the harness's calls).
pub fn request_bytes(method: &str, path: &str, headers: &[(&str, &str)], body: &[u8]) -> Vec<u8> {
    let mut out = format!("{method} {path} HTTP/1.1\r\n");
    for (name, value) in headers {
        out.push_str(name);
        out.push_str(": ");
        out.push_str(value);
        out.push_str("\r\n");
    }
    out.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
    let mut bytes = out.into_bytes();
    bytes.extend_from_slice(body);
    bytes
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn parse(bytes: &[u8], kind: Kind<'_>) -> Message {
        let mut reader = BufReader::new(bytes);
        read_message(&mut reader, kind).await.unwrap().unwrap()
    }

    #[tokio::test]
    async fn reads_content_length_and_keeps_the_raw_bytes() {
        let bytes = b"POST /x HTTP/1.1\r\nHost: a\r\nX-Amz-Target: DynamoDB_20120810.GetItem\r\nContent-Length: 2\r\n\r\n{}";
        let m = parse(bytes, Kind::Request).await;
        assert_eq!(m.method_and_path(), ("POST", "/x"));
        assert_eq!(m.header("x-amz-target"), Some("DynamoDB_20120810.GetItem"));
        assert_eq!(m.body, b"{}");
        assert_eq!(m.raw, bytes);
        assert!(!m.closes());
    }

    #[tokio::test]
    async fn de_chunks_and_reads_to_close() {
        let bytes = b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\nConnection: close\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n";
        let m = parse(bytes, Kind::ResponseTo("POST")).await;
        assert_eq!(m.status(), 200);
        assert_eq!(m.body, b"abcde");
        assert_eq!(m.raw, bytes);
        assert!(m.closes() && m.framed());
        let kept = m.without_connection_header();
        assert_eq!(
            kept,
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;x=y\r\nde\r\n0\r\n\r\n"
        );
        let bytes = b"HTTP/1.0 200 OK\r\nServer: x\r\n\r\nto the end";
        let m = parse(bytes, Kind::ResponseTo("GET")).await;
        assert_eq!(m.body, b"to the end");
        assert!(m.closes());
        let m = parse(b"HTTP/1.1 204 No Content\r\n\r\n", Kind::ResponseTo("GET")).await;
        assert!(m.body.is_empty());
    }
}

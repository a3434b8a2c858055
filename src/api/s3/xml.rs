//! Writing S3's XML responses.
//!
//! Owns escaping: every text that reaches a response, keys and prefixes
//! included, passes through [`Xml::elem`]. It must never emit unescaped
//! client text.

use time::OffsetDateTime;

use crate::api::error::xml_escape;
use crate::api::error::ApiError;

/// The namespace S3 puts on every root element.
const NS: &str = "http://s3.amazonaws.com/doc/2006-03-01/";

/// A tiny streaming XML writer for S3's response documents.
pub struct Xml {
    out: String,
}

impl Xml {
    /// Starts a document with `root` in S3's namespace.
    pub fn new(root: &str) -> Self {
        let mut out = String::with_capacity(512);
        out.push_str("<?xml version=\"1.0\" encoding=\"UTF-8\"?>\n<");
        out.push_str(root);
        out.push_str(" xmlns=\"");
        out.push_str(NS);
        out.push_str("\">");
        Xml { out }
    }

    /// `<name>text</name>`, escaped.
    pub fn elem(&mut self, name: &str, text: &str) -> &mut Self {
        self.open(name);
        self.out.push_str(&xml_escape(text));
        self.close(name)
    }

    pub fn open(&mut self, name: &str) -> &mut Self {
        self.out.push('<');
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    pub fn close(&mut self, name: &str) -> &mut Self {
        self.out.push_str("</");
        self.out.push_str(name);
        self.out.push('>');
        self
    }

    /// Closes `root` and returns the document.
    pub fn finish(mut self, root: &str) -> String {
        self.close(root);
        self.out
    }
}

/// One step of reading a request's XML body.
pub enum XmlEvent<'a> {
    /// Text directly inside the element `element`.
    Text { element: &'a str, text: &'a str },
    /// The element `element` closed.
    End { element: &'a str },
}

/// S3's answer to a request body that is not the XML it expects.
pub fn malformed(why: &str) -> ApiError {
    ApiError::MalformedXml(format!(
        "The XML you provided was not well-formed or did not validate against our published \
         schema: {why}"
    ))
}

/// Reads a (size-limited) XML request body, handing element text and
/// element ends to `f`; namespaces are ignored, as S3's own parser does.
pub fn read(
    xml: &[u8],
    mut f: impl FnMut(XmlEvent<'_>) -> Result<(), ApiError>,
) -> Result<(), ApiError> {
    use quick_xml::events::Event;
    let mut reader = quick_xml::Reader::from_reader(xml);
    let mut buf = Vec::new();
    let mut path: Vec<String> = Vec::new();
    loop {
        match reader.read_event_into(&mut buf) {
            Err(e) => return Err(malformed(&e.to_string())),
            // A body cut short (an element left open) is not the document
            // it began: refused, so a truncated list never reads as a
            // shorter one.
            Ok(Event::Eof) if !path.is_empty() => {
                return Err(malformed(&format!(
                    "<{}> is never closed",
                    path[path.len() - 1]
                )))
            }
            Ok(Event::Eof) => return Ok(()),
            Ok(Event::Start(e)) => {
                path.push(String::from_utf8_lossy(e.local_name().as_ref()).into_owned())
            }
            Ok(Event::End(_)) => {
                let element = path.pop().unwrap_or_default();
                f(XmlEvent::End { element: &element })?;
            }
            Ok(Event::Text(t)) => {
                let text = t.unescape().map_err(|e| malformed(&e.to_string()))?;
                let element = path.last().map(String::as_str).unwrap_or("");
                f(XmlEvent::Text {
                    element,
                    text: &text,
                })?;
            }
            Ok(_) => {}
        }
        buf.clear();
    }
}

/// S3's timestamp format in XML: `2009-10-12T17:50:30.000Z`.
pub fn timestamp(unix: i64) -> String {
    let fmt =
        time::macros::format_description!("[year]-[month]-[day]T[hour]:[minute]:[second].000Z");
    OffsetDateTime::from_unix_timestamp(unix)
        .ok()
        .and_then(|t| t.format(&fmt).ok())
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_document_cut_short_is_malformed() {
        for cut in [
            "<Delete><Object><Key>a</Key>",
            "<Tagging><TagSet><Tag>",
            "<A>",
        ] {
            let r = read(cut.as_bytes(), |_| Ok(()));
            assert!(matches!(r, Err(ApiError::MalformedXml(_))), "{cut}: {r:?}");
        }
        read(b"<A><B>x</B></A>", |_| Ok(())).unwrap();
    }

    #[test]
    fn text_is_escaped_and_times_are_s3_shaped() {
        let mut x = Xml::new("R");
        x.elem("Key", "a<b>&\"c'");
        let doc = x.finish("R");
        assert!(
            doc.ends_with("<Key>a&lt;b&gt;&amp;&quot;c&apos;</Key></R>"),
            "{doc}"
        );
        assert_eq!(timestamp(0), "1970-01-01T00:00:00.000Z");
    }
}

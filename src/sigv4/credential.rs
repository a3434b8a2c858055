//! The credential of a SigV4 request: `<key id>/<yyyymmdd>/<region>/<service>/aws4_request`,
//! as the `X-Amz-Credential` parameter and the `Credential=` part of the `Authorization`
//! header both carry it.
//!
//! Owns splitting it into its five parts and checking their shape. It must never judge them
//! (known key, right region, matching date): the callers do, each in S3's order for its scheme.

/// The five parts of a credential, borrowed from the request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Credential<'a> {
    pub access_key_id: &'a str,
    /// `yyyymmdd`, eight digits.
    pub date: &'a str,
    pub region: &'a str,
    pub service: &'a str,
    /// Expected to be `aws4_request`; left for the caller to check, since S3 reports it at
    /// different points for query and header authentication.
    pub terminator: &'a str,
}

impl<'a> Credential<'a> {
    /// Splits `value` into exactly five `/`-separated parts, none empty, the date eight
    /// digits; `None` otherwise.
    pub fn parse(value: &'a str) -> Option<Self> {
        let mut parts = value.split('/');
        let c = Credential {
            access_key_id: parts.next()?,
            date: parts.next()?,
            region: parts.next()?,
            service: parts.next()?,
            terminator: parts.next()?,
        };
        let well_formed = parts.next().is_none()
            && !c.access_key_id.is_empty()
            && c.date.len() == 8
            && c.date.bytes().all(|b| b.is_ascii_digit())
            && !c.region.is_empty()
            && !c.service.is_empty();
        well_formed.then_some(c)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn five_parts_with_an_eight_digit_date() {
        let c = Credential::parse("AKID/20130524/us-east-1/s3/aws4_request").unwrap();
        assert_eq!(
            (c.access_key_id, c.date, c.region, c.service, c.terminator),
            ("AKID", "20130524", "us-east-1", "s3", "aws4_request")
        );
        for bad in [
            "AKID/20130524/us-east-1/s3",
            "AKID/20130524/us-east-1/s3/aws4_request/x",
            "/20130524/us-east-1/s3/aws4_request",
            "AKID/2013052/us-east-1/s3/aws4_request",
            "AKID/2013052x/us-east-1/s3/aws4_request",
            "AKID/20130524//s3/aws4_request",
        ] {
            assert!(Credential::parse(bad).is_none(), "{bad}");
        }
    }

    use proptest::prelude::*;

    fn render(c: &Credential<'_>) -> String {
        [c.access_key_id, c.date, c.region, c.service, c.terminator].join("/")
    }

    /// A credential-ish text: five-ish `/`-separated parts, some shaped
    /// right, some not.
    fn credential_text() -> impl Strategy<Value = String> {
        prop_oneof![
            any::<String>(),
            "[A-Z0-9]{0,20}/[0-9]{6,9}/[a-z0-9-]{0,12}/[a-z0-9]{0,3}/[a-z0-9_]{0,12}",
            "([^/]{0,6}/){0,7}[^/]{0,6}",
        ]
    }

    proptest! {
        #![proptest_config(crate::testing::config(10000))]

        /// parse → render is the identity on accepted input, and what is
        /// accepted is well shaped.
        #[test]
        fn prop_credential_parse_render(s in credential_text()) {
            if let Some(c) = Credential::parse(&s) {
                prop_assert_eq!(render(&c), s.as_str());
                prop_assert!(!c.access_key_id.is_empty() && !c.region.is_empty());
                prop_assert!(!c.service.is_empty());
                prop_assert!(c.date.len() == 8 && c.date.bytes().all(|b| b.is_ascii_digit()));
            }
        }

        /// render → parse gives back the parts of any well-formed credential.
        #[test]
        fn prop_credential_render_parse(
            key in "[^/]{1,24}",
            date in "[0-9]{8}",
            region in "[^/]{1,16}",
            service in "[^/]{1,8}",
            terminator in "[^/]{0,16}",
        ) {
            let c = Credential {
                access_key_id: &key,
                date: &date,
                region: &region,
                service: &service,
                terminator: &terminator,
            };
            let text = render(&c);
            prop_assert_eq!(Credential::parse(&text), Some(c));
        }
    }
}

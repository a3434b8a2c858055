//! `public_url`: its normal form.

use crate::config::PublicUrl;

#[test]
fn public_url_drops_default_port_and_slash() {
    let u = PublicUrl::parse("http://files.example:80/").unwrap();
    assert_eq!(u.base, "http://files.example");
    assert_eq!(u.host, "files.example");
    let u = PublicUrl::parse("https://10.0.0.5:8443").unwrap();
    assert_eq!(u.host, "10.0.0.5:8443");
    assert!(PublicUrl::parse("http://h:x").is_err());
}

//! The key pair's file: generated once, private, reused, refused when
//! others can read it.

use crate::config::credentials::load_or_create_credentials;
use crate::config::CREDENTIALS_FILE;

#[cfg(unix)]
#[test]
fn credentials_are_created_private_and_refused_when_others_can_read_them() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let first = load_or_create_credentials(dir.path()).unwrap();
    let path = dir.path().join(CREDENTIALS_FILE);
    let mode = std::fs::metadata(&path).unwrap().permissions().mode();
    assert_eq!(mode & 0o777, 0o600);
    // Read back as it was written.
    let again = load_or_create_credentials(dir.path()).unwrap();
    assert_eq!(again.access_key_id, first.access_key_id);
    for bad in [0o644, 0o604, 0o640] {
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(bad)).unwrap();
        let e = load_or_create_credentials(dir.path())
            .unwrap_err()
            .to_string();
        assert!(e.contains("chmod 600"), "{e}");
        assert!(!e.contains(&first.secret_access_key), "{e}");
    }
}

#[test]
fn generated_credentials_are_kept_private_and_reused() {
    let dir = tempfile::tempdir().unwrap();
    let a = load_or_create_credentials(dir.path()).unwrap();
    let b = load_or_create_credentials(dir.path()).unwrap();
    assert_eq!(a.access_key_id, b.access_key_id);
    assert_eq!(a.secret_access_key, b.secret_access_key);
    assert_eq!(a.access_key_id.len(), 20);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(dir.path().join(CREDENTIALS_FILE))
        .unwrap()
        .permissions()
        .mode();
    assert_eq!(mode & 0o777, 0o600);
}

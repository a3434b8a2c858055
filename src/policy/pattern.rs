//! IAM's wildcards: `*` matches any run of characters (none included),
//! `?` exactly one. Used for actions (case-insensitively), resources and
//! `StringLike` conditions (case-sensitively).
//!
//! Must never backtrack exponentially, nor allocate per request: a match
//! is the two-pointer walk that returns only to the last `*` (at most
//! pattern × text steps, usually one pass), over bytes, `?` taking one
//! UTF-8 character.

/// Whether `text` matches `pattern` as a whole.
pub fn matches(pattern: &str, text: &str) -> bool {
    walk_bytes(pattern.as_bytes(), text.as_bytes(), |a, b| a == b)
}

/// Whether `pattern` matches `text` ignoring ASCII case (actions).
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    walk_bytes(pattern.as_bytes(), text.as_bytes(), |a, b| {
        a.eq_ignore_ascii_case(&b)
    })
}

/// The length of the UTF-8 character that starts with `b`.
fn char_len(b: u8) -> usize {
    match b {
        0xF0..=0xFF => 4,
        0xE0..=0xEF => 3,
        0xC0..=0xDF => 2,
        _ => 1,
    }
}

fn walk_bytes(p: &[u8], t: &[u8], eq: impl Fn(u8, u8) -> bool) -> bool {
    let (mut pi, mut ti) = (0, 0);
    // The last `*` seen and the text position it was tried at.
    let mut star: Option<(usize, usize)> = None;
    while ti < t.len() {
        if pi < p.len() && p[pi] == b'*' {
            star = Some((pi, ti));
            pi += 1;
        } else if pi < p.len() && p[pi] == b'?' {
            pi += 1;
            ti += char_len(t[ti]);
        } else if pi < p.len() && eq(p[pi], t[ti]) {
            pi += 1;
            ti += 1;
        } else if let Some((sp, st)) = star {
            // The `*` takes one more character; try again after it.
            let next = st + char_len(t[st]);
            star = Some((sp, next));
            pi = sp + 1;
            ti = next;
        } else {
            return false;
        }
    }
    // `?` may have stepped past the end of a truncated character.
    if ti > t.len() {
        return false;
    }
    p[pi..].iter().all(|c| *c == b'*')
}

/// Whether some text that starts with `prefix` matches `pattern`: the walk
/// over `prefix` leaves a position alive.
pub fn can_match_with_prefix(pattern: &str, prefix: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    walk(&p, prefix).iter().any(|alive| *alive)
}

/// The pattern positions alive after reading `text`: `alive[i]` means the
/// first `i` pattern characters can match all of it.
fn walk(p: &[char], text: &str) -> Vec<bool> {
    let mut alive = vec![false; p.len() + 1];
    alive[0] = true;
    close_stars(p, &mut alive);
    for c in text.chars() {
        let mut next = vec![false; p.len() + 1];
        for i in 0..p.len() {
            if !alive[i] {
                continue;
            }
            match p[i] {
                '*' => next[i] = true,
                '?' => next[i + 1] = true,
                pc if pc == c => next[i + 1] = true,
                _ => {}
            }
        }
        close_stars(p, &mut next);
        if !next.iter().any(|a| *a) {
            return next;
        }
        alive = next;
    }
    alive
}

/// A `*` may match nothing: a live position before one makes the next live.
fn close_stars(p: &[char], alive: &mut [bool]) {
    for i in 0..p.len() {
        if alive[i] && p[i] == '*' {
            alive[i + 1] = true;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stars_and_question_marks() {
        assert!(matches("*", ""));
        assert!(matches("*", "anything/at/all"));
        assert!(matches("a*c", "ac"));
        assert!(matches("a*c", "abbbc"));
        assert!(!matches("a*c", "abbbd"));
        assert!(matches("a?c", "abc"));
        assert!(!matches("a?c", "ac"));
        assert!(matches("arn:aws:s3:::b/*", "arn:aws:s3:::b/k/e/y"));
        assert!(!matches("arn:aws:s3:::b/*", "arn:aws:s3:::b"));
        assert!(matches("arn:aws:s3:::b*", "arn:aws:s3:::b/x"));
        assert!(!matches("abc", "ABC"));
        assert!(matches_ignore_case("s3:get*", "s3:GetObject"));
        assert!(matches("*a*a*a*a*a*b", &("a".repeat(40) + "b")));
        assert!(!matches("*a*a*a*a*a*b", &"a".repeat(400)));
        assert!(matches("caf?", "café"));
        assert!(matches("*é", "café"));
        assert!(!matches("caf??", "café"));
        assert!(matches("a*b*c", "axxbyyc"));
        assert!(!matches("a*b*c", "axxbyy"));
        assert!(matches("**", "x"));
    }

    #[test]
    fn prefixes_a_pattern_could_still_match() {
        assert!(can_match_with_prefix("arn:aws:s3:::b/*", "arn:aws:s3:::b/"));
        assert!(can_match_with_prefix("arn:aws:s3:::b*", "arn:aws:s3:::b/"));
        assert!(can_match_with_prefix("arn:aws:s3:::*", "arn:aws:s3:::b/"));
        assert!(!can_match_with_prefix(
            "arn:aws:s3:::c/*",
            "arn:aws:s3:::b/"
        ));
        assert!(!can_match_with_prefix("arn:aws:s3:::b", "arn:aws:s3:::b/"));
    }
}

//! IAM's wildcards: `*` matches any run of characters (none included),
//! `?` exactly one. Used for actions (case-insensitively), resources and
//! `StringLike` conditions (case-sensitively).
//!
//! Must never backtrack exponentially: a match walks the text once, with the
//! set of pattern positions still alive (at most the pattern's length).

/// Whether `text` matches `pattern` as a whole.
pub fn matches(pattern: &str, text: &str) -> bool {
    let p: Vec<char> = pattern.chars().collect();
    let alive = walk(&p, text);
    alive.last().copied().unwrap_or(false)
}

/// Whether `pattern` matches `text` ignoring ASCII case (actions).
pub fn matches_ignore_case(pattern: &str, text: &str) -> bool {
    matches(&pattern.to_ascii_lowercase(), &text.to_ascii_lowercase())
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

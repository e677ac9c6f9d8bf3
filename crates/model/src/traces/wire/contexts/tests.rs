use super::*;

/// A context's key is its message and its schema URL, told apart: the same
/// bytes split otherwise are another key.
#[test]
fn keys_are_the_message_and_the_url_apart() {
    let mut known = Known::<String>::default();
    let made = |text: &str| {
        let text = text.to_owned();
        move || text
    };
    let first = known.get((b"ab", b"c"), made("ab|c"));
    assert_eq!(*known.get((b"ab", b"c"), made("again")), "ab|c");
    assert!(Arc::ptr_eq(
        &first,
        &known.get((b"ab", b"c"), made("again"))
    ));
    assert_eq!(*known.get((b"a", b"bc"), made("a|bc")), "a|bc");
    assert_eq!(*known.get((b"abc", b""), made("abc|")), "abc|");
    assert_eq!(*known.get((b"", b"abc"), made("|abc")), "|abc");
    assert_eq!(known.len(), 4);
}

/// Past `MAX_KNOWN` the cache starts afresh, and still finds what it holds.
#[test]
fn the_cache_holds_at_most_max_known() {
    let mut known = Known::<usize>::default();
    for i in 0..3 * MAX_KNOWN + 7 {
        let message = i.to_le_bytes();
        assert_eq!(*known.get((&message, b""), || i), i);
        assert!(known.len() <= MAX_KNOWN);
        assert_eq!(*known.get((&message, b""), || usize::MAX), i);
    }
    assert_eq!(known.len(), 7);
}

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

/// A context made from more than `MAX_KNOWN_BYTES` is made afresh each
/// time; the bytes held stay within the bound, whatever the sizes met.
#[test]
fn the_cache_holds_at_most_max_known_bytes() {
    let mut known = Known::<usize>::default();
    let huge = vec![7u8; MAX_KNOWN_BYTES + 1];
    let first = known.get((&huge, b""), || 1);
    assert!(!Arc::ptr_eq(&first, &known.get((&huge, b""), || 2)));
    assert_eq!(known.len(), 0);
    let large = vec![9u8; MAX_KNOWN_BYTES / 3];
    for i in 0..10u8 {
        let mut message = large.clone();
        message[0] = i;
        assert_eq!(
            *known.get((&message, b"u"), || usize::from(i)),
            usize::from(i)
        );
        assert!(known.bytes() <= MAX_KNOWN_BYTES);
        assert!(known.len() <= 3);
    }
    // The last one is held, and found again.
    let mut message = large.clone();
    message[0] = 9;
    assert_eq!(*known.get((&message, b"u"), || usize::MAX), 9);
}

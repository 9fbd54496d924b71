//! Escaping for each output language, and text widths for the layout.
//! Names come from scenario files and labs, so every one is escaped where
//! it is written, whatever the validation let through.

/// Text and attribute values in XML (SVG).
pub fn xml(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&apos;"),
            // Not allowed in XML 1.0 at all: shown as the replacement character.
            c if (c as u32) < 0x20 && !matches!(c, '\t' | '\n' | '\r') => out.push('\u{FFFD}'),
            c => out.push(c),
        }
    }
    out
}

/// A double-quoted DOT string (ID or label), quotes included. A backslash
/// is doubled so that Graphviz never reads it as an escape (`\N`, `\l`).
pub fn dot(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            '\n' => out.push_str("\\n"),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

/// A Mermaid node id: `prefix` and the name, with every character but
/// ASCII letters and digits spelled out so that distinct names stay
/// distinct (`-` is `_h`, `_` is `__`, anything else `_xHEX_`), and no id
/// is a keyword (`end`) thanks to the prefix.
pub fn mermaid_id(prefix: &str, name: &str) -> String {
    let mut out = String::from(prefix);
    out.push('_');
    for c in name.chars() {
        match c {
            c if c.is_ascii_alphanumeric() => out.push(c),
            '-' => out.push_str("_h"),
            '_' => out.push_str("__"),
            c => out.push_str(&format!("_x{:x}_", c as u32)),
        }
    }
    out
}

/// The text of a double-quoted Mermaid label (quotes not included):
/// characters that Mermaid would read as markup become its entity codes.
pub fn mermaid_label(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '#' => out.push_str("#35;"),
            '"' => out.push_str("#quot;"),
            '<' => out.push_str("#lt;"),
            '>' => out.push_str("#gt;"),
            '&' => out.push_str("#amp;"),
            '`' => out.push_str("#96;"),
            '\n' | '\r' => out.push(' '),
            c => out.push(c),
        }
    }
    out
}

/// About how wide `s` is drawn at `size` px in a sans-serif font; the
/// layout needs no more (boxes are a little generous).
pub fn width(s: &str, size: i32, bold: bool) -> i32 {
    (s.chars().count() as i32 * size * per_mille(bold) + 999) / 1000
}

/// How many characters of `size` px text fit in `px` (the inverse of
/// [`width`]), at least a few.
pub fn fits(px: i32, size: i32, bold: bool) -> usize {
    (px * 1000 / (size * per_mille(bold)).max(1)).max(4) as usize
}

/// A character's width in thousandths of the font size.
fn per_mille(bold: bool) -> i32 {
    if bold {
        640
    } else {
        600
    }
}

/// `s`, cut to `max` characters with an ellipsis when longer.
pub fn clip(s: &str, max: usize) -> String {
    if s.chars().count() <= max {
        return s.to_string();
    }
    let mut out: String = s.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn xml_escapes_markup_and_quotes() {
        assert_eq!(
            xml(r#"a<b>&"c"'d'"#),
            "a&lt;b&gt;&amp;&quot;c&quot;&apos;d&apos;"
        );
        assert_eq!(xml("bell\u{7}"), "bell\u{FFFD}");
        assert_eq!(xml("gw-mgmt"), "gw-mgmt");
    }

    #[test]
    fn dot_strings_are_quoted_with_backslashes_doubled() {
        assert_eq!(dot("gw-mgmt"), "\"gw-mgmt\"");
        assert_eq!(dot(r#"a"b\N"#), r#""a\"b\\N""#);
        assert_eq!(dot("a\nb"), r#""a\nb""#);
    }

    #[test]
    fn mermaid_ids_are_plain_and_distinct() {
        assert_eq!(mermaid_id("g", "gw-mgmt"), "g_gw_hmgmt");
        assert_eq!(mermaid_id("h", "end"), "h_end");
        let names = ["a-b", "a_b", "a__b", "a_hb", "a--b", "a.b", "a b"];
        let ids: std::collections::BTreeSet<String> =
            names.iter().map(|n| mermaid_id("h", n)).collect();
        assert_eq!(ids.len(), names.len(), "{ids:?}");
        for id in &ids {
            assert!(
                id.chars().all(|c| c.is_ascii_alphanumeric() || c == '_'),
                "{id}"
            );
        }
    }

    #[test]
    fn mermaid_labels_use_entity_codes() {
        assert_eq!(
            mermaid_label(r#"say "hi" <b> #1 & `x`"#),
            "say #quot;hi#quot; #lt;b#gt; #35;1 #amp; #96;x#96;"
        );
        // The entity of `#` is not spelled again.
        assert_eq!(mermaid_label("#quot;"), "#35;quot;");
    }

    #[test]
    fn clip_keeps_short_text_and_marks_the_cut() {
        assert_eq!(clip("agent-1", 10), "agent-1");
        assert_eq!(clip("a-very-long-host-name", 8), "a-very-…");
        assert_eq!(width("abc", 10, false), 18);
    }
}

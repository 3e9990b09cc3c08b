//! Words from identifiers and questions, for lexical matching: snake_case and camelCase split,
//! lower-cased, plurals folded to a simple stem, stop words dropped.

/// Splits an identifier or a sentence into lower-case word stems.
pub fn words(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for raw in text.split(|c: char| !c.is_alphanumeric()) {
        for part in split_camel(raw) {
            let w = part.to_lowercase();
            if w.is_empty() || STOP.contains(&w.as_str()) {
                continue;
            }
            out.push(stem(&w));
        }
    }
    out
}

/// The words of an identifier, not stemmed: `invoice_line` -> "invoice line".
pub fn spaced(ident: &str) -> String {
    ident
        .split(|c: char| !c.is_alphanumeric())
        .flat_map(split_camel)
        .map(|w| w.to_lowercase())
        .filter(|w| !w.is_empty())
        .collect::<Vec<_>>()
        .join(" ")
}

/// `customerId` -> ["customer", "Id"], `HTTPServer` -> ["HTTP", "Server"].
fn split_camel(s: &str) -> Vec<&str> {
    let b = s.as_bytes();
    let mut parts = Vec::new();
    let mut start = 0;
    for i in 1..b.len() {
        let (p, c) = (b[i - 1], b[i]);
        let next_lower = b.get(i + 1).is_some_and(|n| n.is_ascii_lowercase());
        let boundary = (p.is_ascii_lowercase() && c.is_ascii_uppercase())
            || (p.is_ascii_uppercase() && c.is_ascii_uppercase() && next_lower)
            || (p.is_ascii_alphabetic() && c.is_ascii_digit())
            || (p.is_ascii_digit() && c.is_ascii_alphabetic());
        if boundary && s.is_char_boundary(i) {
            parts.push(&s[start..i]);
            start = i;
        }
    }
    parts.push(&s[start..]);
    parts
}

/// Folds common English plural and verb endings: "countries" -> "country", "boxes" -> "box",
/// "orders" -> "order", "ordered" -> "order".
pub fn stem(w: &str) -> String {
    if w.len() <= 3 || !w.is_ascii() {
        return w.to_string();
    }
    if let Some(s) = w.strip_suffix("ies") {
        return format!("{s}y");
    }
    for suffix in ["sses", "shes", "ches", "xes", "zes"] {
        if w.ends_with(suffix) {
            return w[..w.len() - 2].to_string();
        }
    }
    if w.ends_with("ss") || w.ends_with("us") || w.ends_with("is") {
        return w.to_string();
    }
    if let Some(s) = w.strip_suffix('s') {
        return s.to_string();
    }
    if w.len() > 5 {
        if let Some(s) = w.strip_suffix("ed") {
            return s.to_string();
        }
    }
    w.to_string()
}

const STOP: &[&str] = &[
    "a", "an", "the", "of", "in", "on", "for", "to", "by", "with", "and", "or", "is", "are", "was",
    "were", "be", "what", "which", "who", "whom", "whose", "how", "many", "much", "show", "list",
    "give", "find", "me", "all", "each", "every", "that", "this", "these", "those", "there",
    "their", "them", "it", "its", "do", "does", "did", "from", "at", "as", "than", "number",
    "name", "names", "get", "return", "display", "tell", "please", "has", "have", "had", "not",
];

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn splits_and_stems() {
        assert_eq!(words("invoice_line"), vec!["invoice", "line"]);
        assert_eq!(words("customerId"), vec!["customer", "id"]);
        assert_eq!(
            words("Which countries have the most orders?"),
            vec!["country", "most", "order"]
        );
        assert_eq!(words("HTTPServer2"), vec!["http", "server", "2"]);
        assert_eq!(stem("boxes"), "box");
        assert_eq!(stem("address"), "address");
        assert_eq!(spaced("MediaTypeId"), "media type id");
    }
}

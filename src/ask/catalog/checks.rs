//! The values a CHECK constraint allows a text column (`CHECK (status IN ('pending',
//! 'shipped'))`), read from PostgreSQL's own rendering of the constraint: such a column is as
//! closed as an enum, and its values are schema, not data, so the prompt may show them with
//! `catalog.sample_values` off ("How many orders were cancelled?" needs `'cancelled'`).

/// The values of `def` (as `pg_get_constraintdef` prints a one-column CHECK) when it says only
/// that `column` is one of a list of string constants: `CHECK ((status = ANY
/// (ARRAY['pending'::text, 'shipped'::text])))`, or for a varchar column `CHECK
/// (((status)::text = ANY ((ARRAY['a'::character varying])::text[])))`. Anything else (another
/// operator, a second condition, a value that is not a constant) gives `None`.
pub fn allowed_values(def: &str, column: &str) -> Option<Vec<String>> {
    let body = def.trim().strip_prefix("CHECK")?.trim();
    let (left, right) = body.split_once(" = ANY ")?;
    if left_column(left)? != column {
        return None;
    }
    let open = right.find("ARRAY[")? + "ARRAY[".len();
    let (values, used) = constants(&right[open..])?;
    // After the list: only closing parentheses and a cast of the whole array to a text array
    // (not `IS NOT TRUE`, `NOT VALID` or another condition).
    let rest: String = right[open + used..].chars().filter(|&c| c != ')').collect();
    let tail_ok = rest.is_empty()
        || rest
            .strip_prefix("::")
            .and_then(|t| t.strip_suffix("[]"))
            .is_some_and(text_type);
    (tail_ok && !values.is_empty()).then_some(values)
}

/// Whether a type, as PostgreSQL prints it, is a text type (`text`, `character varying(20)`,
/// `bpchar`, `citext`): only such a column's CHECK list reads like labels (a number's or a
/// date's would make the grammar treat it as an enum).
pub fn text_type(data_type: &str) -> bool {
    let t = data_type.trim();
    ["text", "character", "varchar", "bpchar", "citext"]
        .iter()
        .any(|n| t == *n || t.starts_with(&format!("{n} ")) || t.starts_with(&format!("{n}(")))
}

/// The column a comparison's left side names: `((status`, `(((status)::text`, `(("Status"`.
fn left_column(left: &str) -> Option<String> {
    let s = left.trim_start_matches(['(', ' ']);
    let s = s.split("::").next()?.trim_end_matches([')', ' ']);
    if let Some(q) = s.strip_prefix('"') {
        let inner = q.strip_suffix('"')?;
        return Some(inner.replace("\"\"", "\""));
    }
    let plain = s
        .chars()
        .all(|c| c.is_alphanumeric() || c == '_' || c == '$');
    (plain && !s.is_empty()).then(|| s.to_string())
}

/// The string constants of an array's elements up to its closing `]` (`'a'::text, 'b'::text]`),
/// and the bytes read including the `]`.
fn constants(s: &str) -> Option<(Vec<String>, usize)> {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    loop {
        if bytes.get(i) != Some(&b'\'') {
            return None;
        }
        i += 1;
        let mut value = String::new();
        let mut start = i;
        loop {
            let at = s.get(i..)?.find('\'')? + i;
            value.push_str(s.get(start..at)?);
            if bytes.get(at + 1) == Some(&b'\'') {
                value.push('\'');
                i = at + 2;
                start = i;
            } else {
                i = at + 1;
                break;
            }
        }
        out.push(value);
        // An element's cast: to a text type only (`::text`, `::character varying`).
        if s.get(i..)?.starts_with("::") {
            let end = s.get(i..)?.find([',', ']'])? + i;
            if !text_type(s.get(i + 2..end)?) {
                return None;
            }
            i = end;
        }
        match bytes.get(i) {
            Some(b',') => {
                i += 1;
                while bytes.get(i) == Some(&b' ') {
                    i += 1;
                }
            }
            Some(b']') => return Some((out, i + 1)),
            _ => return None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::allowed_values;

    fn v(list: &[&str]) -> Option<Vec<String>> {
        Some(list.iter().map(|s| s.to_string()).collect())
    }

    #[test]
    fn an_in_list_of_constants_gives_its_values() {
        assert_eq!(
            allowed_values(
                "CHECK ((status = ANY (ARRAY['pending'::text, 'shipped'::text, 'cancelled'::text])))",
                "status"
            ),
            v(&["pending", "shipped", "cancelled"])
        );
        // A varchar column: PostgreSQL casts the column and the array.
        assert_eq!(
            allowed_values(
                "CHECK (((segment)::text = ANY ((ARRAY['enterprise'::character varying, 'small_business'::character varying])::text[])))",
                "segment"
            ),
            v(&["enterprise", "small_business"])
        );
        // A quoted column name and a quote inside a value.
        assert_eq!(
            allowed_values(
                "CHECK ((\"Kind\" = ANY (ARRAY['it''s'::text, 'b'::text])))",
                "Kind"
            ),
            v(&["it's", "b"])
        );
    }

    #[test]
    fn anything_but_a_plain_list_gives_nothing() {
        // Another column, another operator, a second condition, a non-constant.
        let no = [
            ("CHECK ((status = ANY (ARRAY['a'::text])))", "kind"),
            ("CHECK ((status <> ALL (ARRAY['a'::text])))", "status"),
            ("CHECK ((price > (0)::numeric))", "price"),
            (
                "CHECK (((status = ANY (ARRAY['a'::text])) AND (length(status) > 0)))",
                "status",
            ),
            ("CHECK ((status = ANY (ARRAY[lower('A'::text)])))", "status"),
            ("CHECK ((lower(status) = ANY (ARRAY['a'::text])))", "status"),
            // A boolean test of the list (the values it forbids), a list of dates.
            (
                "CHECK (((c = ANY (ARRAY['x'::text, 'y'::text])) IS NOT TRUE))",
                "c",
            ),
            ("CHECK (((c = ANY (ARRAY['x'::text])) IS FALSE))", "c"),
            ("CHECK ((d = ANY (ARRAY['2020-01-01'::date])))", "d"),
            (
                "CHECK ((status = ANY (ARRAY['a'::text]))) NOT VALID",
                "status",
            ),
        ];
        for (def, col) in no {
            assert_eq!(allowed_values(def, col), None, "{def}");
        }
    }
}

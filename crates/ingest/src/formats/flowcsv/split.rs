//! One CSV record (RFC 4180 quoting) split into cells, borrowing where no unquoting is needed.
//!
//! A line-oriented reader cannot see a quoted cell that spans lines; such a cell is reported as
//! unterminated rather than guessed at.

use std::borrow::Cow;

use crate::line::ParseError;

/// Most cells accepted in one record.
pub(super) const MAX_CELLS: usize = 4096;

/// Splits `line` on commas, honouring `"quoted, cells"` with `""` for a literal quote.
pub(super) fn split(line: &str) -> Result<Vec<Cow<'_, str>>, ParseError> {
    if !line.contains('"') {
        let cells: Vec<_> = line.split(',').map(Cow::Borrowed).collect();
        return check_len(cells);
    }
    let mut cells = Vec::new();
    let mut rest = line;
    loop {
        if cells.len() > MAX_CELLS {
            return check_len(cells);
        }
        let (cell, after) = match rest.strip_prefix('"') {
            Some(quoted) => {
                let (cell, after) = unquote(quoted)?;
                (Cow::Owned(cell), after)
            }
            None => match rest.find(',') {
                Some(i) => (Cow::Borrowed(&rest[..i]), &rest[i..]),
                None => (Cow::Borrowed(rest), ""),
            },
        };
        cells.push(cell);
        if after.is_empty() {
            return check_len(cells);
        }
        rest = after.strip_prefix(',').ok_or_else(|| {
            ParseError::new(format!(
                "text after the closing quote of cell {}",
                cells.len()
            ))
        })?;
    }
}

/// The body of a quoted cell (after its opening quote) and the text after its closing quote.
fn unquote(mut s: &str) -> Result<(String, &str), ParseError> {
    let mut value = String::new();
    loop {
        let i = s
            .find('"')
            .ok_or_else(|| ParseError::new("unterminated quoted cell"))?;
        value.push_str(&s[..i]);
        let after = &s[i + 1..];
        match after.strip_prefix('"') {
            Some(more) => {
                value.push('"');
                s = more;
            }
            None => return Ok((value, after)),
        }
    }
}

fn check_len(cells: Vec<Cow<'_, str>>) -> Result<Vec<Cow<'_, str>>, ParseError> {
    if cells.len() > MAX_CELLS {
        return Err(ParseError::new(format!(
            "more than {MAX_CELLS} cells in one row"
        )));
    }
    Ok(cells)
}

/// Renders cells as one CSV record, quoting where needed (for tests and round trips).
#[cfg(test)]
pub(super) fn join(cells: &[String]) -> String {
    cells
        .iter()
        .map(|c| {
            if c.contains([',', '"']) {
                format!("\"{}\"", c.replace('"', "\"\""))
            } else {
                c.clone()
            }
        })
        .collect::<Vec<_>>()
        .join(",")
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn cells(line: &str) -> Vec<String> {
        split(line)
            .unwrap()
            .into_iter()
            .map(Cow::into_owned)
            .collect()
    }

    #[test]
    fn plain_and_quoted() {
        assert_eq!(cells("a,b,,c"), ["a", "b", "", "c"]);
        assert_eq!(cells("a,"), ["a", ""]);
        assert_eq!(cells(r#""a,b","say ""hi""",c"#), ["a,b", "say \"hi\"", "c"]);
        assert_eq!(cells(r#"x,"""#), ["x", ""]);
        assert_eq!(cells(r#""a","#), ["a", ""]);
        assert_eq!(cells(r#"ab"c,d"#), ["ab\"c", "d"]);
        assert!(split(r#""abc"#).is_err());
        assert!(split(r#""a"b,c"#).is_err());
        assert!(split(&",".repeat(MAX_CELLS + 1)).is_err());
    }

    proptest! {
        #[test]
        fn round_trips(input in proptest::collection::vec("[^\\r\\n]{0,12}", 1..12)) {
            prop_assert_eq!(cells(&join(&input)), input);
        }

        #[test]
        fn never_panics(line in "\\PC*") {
            let _ = split(&line);
        }
    }
}

//! Finds where a field path such as `opcua[0].tags[2].deadband` sits in a block-style YAML
//! text, so that validation errors found after parsing still point at a line and column.

/// One step of a field path.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Seg {
    Key(String),
    Index(usize),
}

/// Renders a path as `a[0].b`.
pub fn render(path: &[Seg]) -> String {
    let mut s = String::new();
    for seg in path {
        match seg {
            Seg::Key(k) => {
                if !s.is_empty() {
                    s.push('.');
                }
                s.push_str(k);
            }
            Seg::Index(i) => s.push_str(&format!("[{i}]")),
        }
    }
    s
}

struct Line<'a> {
    raw_indent: usize,
    /// Indent of the content once leading `- ` item markers are skipped.
    eff_indent: usize,
    content: &'a str,
    is_item: bool,
}

fn scan(text: &str) -> Vec<Option<Line<'_>>> {
    text.lines()
        .map(|l| {
            let raw_indent = l.len() - l.trim_start_matches(' ').len();
            let mut content = &l[raw_indent..];
            if content.is_empty() || content.starts_with('#') {
                return None;
            }
            let is_item = content == "-" || content.starts_with("- ");
            let mut eff_indent = raw_indent;
            while content.starts_with("- ") {
                let rest = content[2..].trim_start_matches(' ');
                eff_indent += content.len() - rest.len();
                content = rest;
            }
            Some(Line {
                raw_indent,
                eff_indent,
                content,
                is_item,
            })
        })
        .collect()
}

/// 1-based (line, column) of the deepest part of `path` that can be found.
pub fn locate(text: &str, path: &[Seg]) -> Option<(usize, usize)> {
    let lines = scan(text);
    let mut start = 0;
    let mut end = lines.len();
    let mut found = None;
    // Key lines own the lines after them; an item line owns itself too.
    for seg in path {
        match seg {
            Seg::Key(k) => {
                let child_indent = lines[start..end].iter().flatten().next()?.eff_indent;
                let at = (start..end).find(|&i| {
                    lines[i].as_ref().is_some_and(|l| {
                        l.eff_indent == child_indent
                            && l.content
                                .strip_prefix(k.as_str())
                                .is_some_and(|r| r.starts_with(':'))
                    })
                })?;
                let line = lines[at].as_ref()?;
                found = Some((at + 1, line.eff_indent + 1));
                let ind = line.eff_indent;
                let stop = (at + 1..end)
                    .find(|&i| {
                        lines[i].as_ref().is_some_and(|l| {
                            l.raw_indent < ind || (l.raw_indent == ind && !l.is_item)
                        })
                    })
                    .unwrap_or(end);
                start = at + 1;
                end = stop;
            }
            Seg::Index(n) => {
                let item_indent = lines[start..end]
                    .iter()
                    .flatten()
                    .find(|l| l.is_item)?
                    .raw_indent;
                let at = (start..end)
                    .filter(|&i| {
                        lines[i]
                            .as_ref()
                            .is_some_and(|l| l.is_item && l.raw_indent == item_indent)
                    })
                    .nth(*n)?;
                let line = lines[at].as_ref()?;
                found = Some((at + 1, line.raw_indent + 1));
                let stop = (at + 1..end)
                    .find(|&i| {
                        lines[i]
                            .as_ref()
                            .is_some_and(|l| l.raw_indent <= item_indent)
                    })
                    .unwrap_or(end);
                // The item's first key sits on the item line itself.
                start = at;
                end = stop;
            }
        }
    }
    found
}

#[cfg(test)]
mod tests {
    use super::*;

    const DOC: &str = "\
device:
  id: a
opcua:
  - name: plc
    tags:
      - node: ns=2;s=A
        deadband: 1
      # a comment
      - node: ns=2;s=B
        deadband: -1
mqtt:
- name: broker
  subscriptions:
  - topic: a/#
    codec: json
";

    fn k(s: &str) -> Seg {
        Seg::Key(s.into())
    }

    #[test]
    fn finds_nested_list_fields() {
        let p = [
            k("opcua"),
            Seg::Index(0),
            k("tags"),
            Seg::Index(1),
            k("deadband"),
        ];
        assert_eq!(locate(DOC, &p), Some((10, 9)));
        assert_eq!(render(&p), "opcua[0].tags[1].deadband");
        let p = [
            k("opcua"),
            Seg::Index(0),
            k("tags"),
            Seg::Index(0),
            k("node"),
        ];
        assert_eq!(locate(DOC, &p), Some((6, 9)));
    }

    #[test]
    fn finds_items_at_the_parent_indent() {
        let p = [
            k("mqtt"),
            Seg::Index(0),
            k("subscriptions"),
            Seg::Index(0),
            k("codec"),
        ];
        assert_eq!(locate(DOC, &p), Some((15, 5)));
        assert_eq!(locate(DOC, &[k("device"), k("id")]), Some((2, 3)));
    }

    #[test]
    fn missing_parts_fall_back_to_none_or_the_parent() {
        assert_eq!(locate(DOC, &[k("cameras")]), None);
        assert_eq!(locate(DOC, &[k("opcua"), Seg::Index(5)]), None);
    }
}

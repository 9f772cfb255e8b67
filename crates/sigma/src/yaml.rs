//! A small YAML tree that keeps what rule matching needs and generic YAML loaders lose: the
//! scalar text exactly as written (`0x40810000` stays a string, not the integer 1082195968),
//! whether it was quoted, and the line of every node for error messages.
//!
//! Built from `yaml-rust2`'s event parser; anchors and aliases are resolved by copying.

use std::collections::HashMap;

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A YAML node with its 1-based line.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar {
        text: String,
        quoted: bool,
        line: usize,
    },
    Seq(Vec<Node>, usize),
    Map(Vec<(String, Node)>, usize),
}

impl Node {
    pub fn line(&self) -> usize {
        match self {
            Node::Scalar { line, .. } | Node::Seq(_, line) | Node::Map(_, line) => *line,
        }
    }

    /// The value under `key` in a mapping.
    pub fn get(&self, key: &str) -> Option<&Node> {
        match self {
            Node::Map(entries, _) => entries.iter().find(|(k, _)| k == key).map(|(_, v)| v),
            _ => None,
        }
    }

    /// Scalar text (quoted or not); `None` for collections and nulls.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Node::Scalar { text, quoted, .. } if *quoted || !is_null(text) => Some(text),
            _ => None,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { text, quoted: false, .. } if is_null(text))
    }

    /// A scalar or a list of scalars, as strings.
    pub fn as_str_list(&self) -> Option<Vec<String>> {
        match self {
            Node::Seq(items, _) => items
                .iter()
                .map(|i| i.as_str().map(str::to_owned))
                .collect(),
            other => other.as_str().map(|s| vec![s.to_owned()]),
        }
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Node::Scalar { .. } if self.is_null() => "null",
            Node::Scalar { .. } => "scalar",
            Node::Seq(..) => "list",
            Node::Map(..) => "mapping",
        }
    }
}

fn is_null(text: &str) -> bool {
    matches!(text, "" | "~" | "null" | "Null" | "NULL")
}

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub line: usize,
    pub column: usize,
    pub message: String,
}

impl std::fmt::Display for YamlError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "YAML error at line {}, column {}: {}",
            self.line, self.column, self.message
        )
    }
}

impl std::error::Error for YamlError {}

/// Largest nesting accepted in a rule file.
const MAX_DEPTH: usize = 64;
/// Most nodes one stream may build, aliases counted as the copies they become.
const MAX_NODES: usize = 1 << 20;
/// Most scalar text one stream may build, alias copies included.
const MAX_TEXT_BYTES: usize = 64 << 20;

/// Parses every document of a YAML stream.
pub fn load(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut builder = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut builder, true).map_err(|e| YamlError {
        line: e.marker().line(),
        column: e.marker().col() + 1,
        message: e.info().to_owned(),
    })?;
    if let Some(err) = builder.error {
        return Err(err);
    }
    Ok(builder.docs)
}

enum Frame {
    Seq(Vec<Node>, usize, usize),
    Map(Vec<(String, Node)>, Option<String>, usize, usize),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    /// Anchored nodes, with their size (nodes, text bytes) for the budget.
    anchors: HashMap<usize, (Node, Size)>,
    /// Nodes and text built so far. Aliases are resolved by copying, so a few lines that
    /// alias aliases ("billion laughs") would otherwise build an exponential tree.
    built: Size,
    error: Option<YamlError>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Size {
    nodes: usize,
    text: usize,
}

impl Size {
    fn of(node: &Node) -> Size {
        match node {
            Node::Scalar { text, .. } => Size {
                nodes: 1,
                text: text.len(),
            },
            Node::Seq(items, _) => items
                .iter()
                .fold(Size { nodes: 1, text: 0 }, |s, i| s.plus(Size::of(i))),
            Node::Map(entries, _) => {
                entries
                    .iter()
                    .fold(Size { nodes: 1, text: 0 }, |s, (k, v)| {
                        s.plus(Size {
                            nodes: 0,
                            text: k.len(),
                        })
                        .plus(Size::of(v))
                    })
            }
        }
    }

    fn plus(self, other: Size) -> Size {
        Size {
            nodes: self.nodes.saturating_add(other.nodes),
            text: self.text.saturating_add(other.text),
        }
    }
}

impl Builder {
    fn fail(&mut self, mark: Marker, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                line: mark.line(),
                column: mark.col() + 1,
                message: message.into(),
            });
        }
    }

    /// Counts `size` against the budget; false (with the error set) once it is spent.
    fn spend(&mut self, size: Size, mark: Marker, what: &str) -> bool {
        self.built = self.built.plus(size);
        if self.built.nodes > MAX_NODES || self.built.text > MAX_TEXT_BYTES {
            self.fail(
                mark,
                format!(
                    "{what} makes the document larger than {MAX_NODES} nodes or \
                     {MAX_TEXT_BYTES} bytes of text"
                ),
            );
            return false;
        }
        true
    }

    fn push_value(&mut self, node: Node, anchor: usize, mark: Marker) {
        if anchor > 0 {
            let size = Size::of(&node);
            self.anchors.insert(anchor, (node.clone(), size));
        }
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, ..)) => items.push(node),
            Some(Frame::Map(entries, key, ..)) => match key.take() {
                Some(k) => entries.push((k, node)),
                None => match node {
                    Node::Scalar { text, .. } => *key = Some(text),
                    _ => self.fail(mark, "mapping keys must be scalars"),
                },
            },
        }
    }
}

impl MarkedEventReceiver for Builder {
    fn on_event(&mut self, ev: Event, mark: Marker) {
        if self.error.is_some() {
            return;
        }
        let line = mark.line();
        match ev {
            Event::Scalar(text, style, anchor, _tag) => {
                let size = Size {
                    nodes: 1,
                    text: text.len(),
                };
                if !self.spend(size, mark, "this value") {
                    return;
                }
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push_value(Node::Scalar { text, quoted, line }, anchor, mark);
            }
            Event::SequenceStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(mark, "nesting too deep");
                }
                if !self.spend(Size { nodes: 1, text: 0 }, mark, "this list") {
                    return;
                }
                self.stack.push(Frame::Seq(Vec::new(), anchor, line));
            }
            Event::MappingStart(anchor, _) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(mark, "nesting too deep");
                }
                if !self.spend(Size { nodes: 1, text: 0 }, mark, "this mapping") {
                    return;
                }
                self.stack.push(Frame::Map(Vec::new(), None, anchor, line));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, anchor, line)) = self.stack.pop() {
                    self.push_value(Node::Seq(items, line), anchor, mark);
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, anchor, line)) = self.stack.pop() {
                    self.push_value(Node::Map(entries, line), anchor, mark);
                }
            }
            Event::Alias(id) => match self.anchors.get(&id).map(|(_, size)| *size) {
                // Checked before copying: the copy itself is what could exhaust memory.
                Some(size) if !self.spend(size, mark, "this alias") => {}
                Some(_) => {
                    if let Some((node, _)) = self.anchors.get(&id).cloned() {
                        self.push_value(node, 0, mark);
                    }
                }
                None => self.fail(mark, "alias to an unknown anchor"),
            },
            Event::Nothing
            | Event::StreamStart
            | Event::StreamEnd
            | Event::DocumentStart
            | Event::DocumentEnd => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_scalar_text_and_lines() {
        let docs = load("a: 0x40810000\nb: '007'\nc:\n  - x\n  - null\n---\nd: 1\n").unwrap();
        assert_eq!(docs.len(), 2);
        let a = docs[0].get("a").unwrap();
        assert_eq!(a.as_str(), Some("0x40810000"));
        assert_eq!(a.line(), 1);
        assert_eq!(docs[0].get("c").unwrap().line(), 4);
        assert!(matches!(
            docs[0].get("b"),
            Some(Node::Scalar { quoted: true, .. })
        ));
        let Some(Node::Seq(items, _)) = docs[0].get("c") else {
            panic!()
        };
        assert!(items[1].is_null());
    }

    #[test]
    fn anchors_resolve() {
        let docs = load("x: &v [1, 2]\ny: *v\n").unwrap();
        let Some(Node::Seq(items, _)) = docs[0].get("y") else {
            panic!("alias not resolved")
        };
        assert_eq!(items.len(), 2);
    }

    #[test]
    fn errors_have_positions() {
        let err = load("a: [1, 2\nb: 3\n").unwrap_err();
        assert!(err.line >= 1, "{err}");
        assert!(load(&"[".repeat(200)).is_err());
    }

    /// Aliases were copied without limit: ten lines that alias the line before ten times
    /// each would build 10^9 nodes.
    #[test]
    fn alias_bombs_are_refused_before_they_are_built() {
        let mut bomb = String::from("a0: &a0 [x, x, x, x, x, x, x, x, x, x]\n");
        for i in 1..10 {
            let refs = vec![format!("*a{}", i - 1); 10].join(", ");
            bomb.push_str(&format!("a{i}: &a{i} [{refs}]\n"));
        }
        let err = load(&bomb).unwrap_err();
        assert!(err.message.contains("alias"), "{err}");
        assert_eq!(err.line, 6, "{err}");
        let text = format!(
            "s: &s '{}'\nl: [{}]\n",
            "y".repeat(1 << 20),
            vec!["*s"; 100].join(",")
        );
        assert!(load(&text).unwrap_err().message.contains("alias"));
        // Ordinary reuse stays fine.
        assert!(load("a: &a {k: v}\nb: *a\nc: [*a, *a]\n").is_ok());
    }
}

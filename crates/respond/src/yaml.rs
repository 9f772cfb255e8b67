//! A small YAML tree with the line and column of every node, for playbook errors that point at
//! the key (`playbooks/ssh.yml:7:5: actions[0].ttl: …`). Built from `yaml-rust2`'s event parser.
//! Playbooks are small hand-written files: anchors and aliases are refused rather than expanded
//! (no "billion laughs"), and nesting and size are bounded.

use yaml_rust2::parser::{Event, MarkedEventReceiver, Parser};
use yaml_rust2::scanner::{Marker, TScalarStyle};

/// A 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Pos {
    pub line: usize,
    pub col: usize,
}

impl std::fmt::Display for Pos {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.line, self.col)
    }
}

impl From<Marker> for Pos {
    fn from(m: Marker) -> Pos {
        Pos {
            line: m.line(),
            col: m.col() + 1,
        }
    }
}

/// A YAML node and where it starts.
#[derive(Debug, Clone, PartialEq)]
pub enum Node {
    Scalar {
        text: String,
        quoted: bool,
        pos: Pos,
    },
    Seq(Vec<Node>, Pos),
    /// Entries keep the position of their key.
    Map(Vec<(String, Pos, Node)>, Pos),
}

impl Node {
    pub fn pos(&self) -> Pos {
        match self {
            Node::Scalar { pos, .. } | Node::Seq(_, pos) | Node::Map(_, pos) => *pos,
        }
    }

    pub fn is_null(&self) -> bool {
        matches!(self, Node::Scalar { text, quoted: false, .. } if matches!(text.as_str(), "" | "~" | "null" | "Null" | "NULL"))
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

/// A YAML syntax error with its position.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YamlError {
    pub pos: Pos,
    pub message: String,
}

const MAX_DEPTH: usize = 32;
const MAX_NODES: usize = 100_000;

/// Parses every document of a YAML stream (`---` separated).
pub fn load(text: &str) -> Result<Vec<Node>, YamlError> {
    let mut b = Builder::default();
    let mut parser = Parser::new_from_str(text);
    parser.load(&mut b, true).map_err(|e| YamlError {
        pos: (*e.marker()).into(),
        message: e.info().to_owned(),
    })?;
    match b.error {
        Some(e) => Err(e),
        None => Ok(b.docs),
    }
}

enum Frame {
    Seq(Vec<Node>, Pos),
    Map(Vec<(String, Pos, Node)>, Option<(String, Pos)>, Pos),
}

#[derive(Default)]
struct Builder {
    docs: Vec<Node>,
    stack: Vec<Frame>,
    nodes: usize,
    error: Option<YamlError>,
}

impl Builder {
    fn fail(&mut self, pos: Pos, message: impl Into<String>) {
        if self.error.is_none() {
            self.error = Some(YamlError {
                pos,
                message: message.into(),
            });
        }
    }

    fn push(&mut self, node: Node) {
        let pos = node.pos();
        match self.stack.last_mut() {
            None => self.docs.push(node),
            Some(Frame::Seq(items, _)) => items.push(node),
            Some(Frame::Map(entries, key, _)) => match key.take() {
                Some((k, kp)) => entries.push((k, kp, node)),
                None => match node {
                    Node::Scalar { text, pos, .. } => *key = Some((text, pos)),
                    _ => self.fail(pos, "mapping keys must be plain values"),
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
        let pos = Pos::from(mark);
        self.nodes += 1;
        if self.nodes > MAX_NODES {
            return self.fail(pos, format!("more than {MAX_NODES} YAML nodes"));
        }
        match ev {
            Event::Scalar(text, style, anchor, _) => {
                if anchor > 0 {
                    return self.fail(pos, "anchors (&) are not supported in playbooks");
                }
                let quoted = !matches!(style, TScalarStyle::Plain);
                self.push(Node::Scalar { text, quoted, pos });
            }
            Event::SequenceStart(anchor, _) | Event::MappingStart(anchor, _) if anchor > 0 => {
                self.fail(pos, "anchors (&) are not supported in playbooks")
            }
            Event::SequenceStart(..) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(pos, "nesting too deep");
                }
                self.stack.push(Frame::Seq(Vec::new(), pos));
            }
            Event::MappingStart(..) => {
                if self.stack.len() >= MAX_DEPTH {
                    return self.fail(pos, "nesting too deep");
                }
                self.stack.push(Frame::Map(Vec::new(), None, pos));
            }
            Event::SequenceEnd => {
                if let Some(Frame::Seq(items, p)) = self.stack.pop() {
                    self.push(Node::Seq(items, p));
                }
            }
            Event::MappingEnd => {
                if let Some(Frame::Map(entries, _, p)) = self.stack.pop() {
                    let mut seen: Vec<&str> = Vec::new();
                    for (k, kp, _) in &entries {
                        if seen.contains(&k.as_str()) {
                            let (k, kp) = (k.clone(), *kp);
                            return self.fail(kp, format!("{k}: key given twice"));
                        }
                        seen.push(k);
                    }
                    // A block mapping's start event comes after its first key; point at the key.
                    let p = match entries.first() {
                        Some((_, kp, _)) if (kp.line, kp.col) < (p.line, p.col) => *kp,
                        _ => p,
                    };
                    self.push(Node::Map(entries, p));
                }
            }
            Event::Alias(_) => self.fail(pos, "aliases (*) are not supported in playbooks"),
            _ => {}
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn positions_are_one_based_and_documents_split() {
        let docs = load("a: 1\nb:\n  - x\n---\nc: 2\n").unwrap();
        assert_eq!(docs.len(), 2);
        let Node::Map(e, _) = &docs[0] else { panic!() };
        assert_eq!(e[1].1, Pos { line: 2, col: 1 });
        let Node::Seq(items, _) = &e[1].2 else {
            panic!()
        };
        assert_eq!(items[0].pos(), Pos { line: 3, col: 5 });
    }

    #[test]
    fn aliases_and_duplicate_keys_are_refused() {
        assert!(load("a: &x 1\nb: *x\n").is_err());
        let e = load("a: 1\na: 2\n").unwrap_err();
        assert_eq!(e.pos, Pos { line: 2, col: 1 });
    }
}

//! keepalived.conf's structure: tokens into statements, each with the `{ }` block that follows
//! it, if any. A brace out of place is recorded and the rest is kept.

use super::Diagnostics;
use super::lexer::{Located, Token};

/// How deep blocks may nest before the rest is refused.
pub(super) const MAX_BLOCK_DEPTH: usize = 32;

/// A statement: its words, and the block that follows it, if any.
#[derive(Debug, Clone, Default)]
pub(super) struct Node {
    pub words: Vec<String>,
    pub block: Option<Vec<Node>>,
    /// The index of the file it was read from, and its first line there.
    pub file: usize,
    pub line: usize,
}

impl Node {
    /// The statement's keyword (its first word).
    pub fn keyword(&self) -> Option<&str> {
        self.words.first().map(String::as_str)
    }
}

/// The top-level statements of a token stream.
pub(super) fn build(tokens: &[Located], diagnostics: &mut Diagnostics) -> Vec<Node> {
    let mut builder = TreeBuilder {
        tokens,
        position: 0,
        diagnostics,
    };
    builder.block(0, None)
}

struct TreeBuilder<'a> {
    tokens: &'a [Located],
    position: usize,
    diagnostics: &'a mut Diagnostics,
}

impl TreeBuilder<'_> {
    /// The next token that is not an end of line, without taking it.
    fn next_significant(&self) -> Option<&Token> {
        self.tokens
            .get(self.position..)
            .and_then(|rest| rest.iter().find(|t| t.token != Token::EndOfLine))
            .map(|t| &t.token)
    }

    /// Reads statements up to the `}` that closes the block (taken) or the end of input.
    fn block(&mut self, depth: usize, opened: Option<(usize, usize)>) -> Vec<Node> {
        let mut nodes = Vec::new();
        let mut current = Node::default();
        loop {
            let Some(located) = self.tokens.get(self.position).cloned() else {
                if let Some((file, line)) = opened {
                    self.diagnostics
                        .error(file, line, "this block is never closed".into());
                }
                push_node(&mut nodes, current);
                return nodes;
            };
            self.position += 1;
            match located.token {
                Token::Word(word) => {
                    if current.words.is_empty() {
                        current.file = located.file;
                        current.line = located.line;
                    }
                    current.words.push(word);
                }
                Token::EndOfLine => {
                    // A keyword whose block opens on the next line.
                    if current.words.is_empty() || self.next_significant() != Some(&Token::Open) {
                        push_node(&mut nodes, std::mem::take(&mut current));
                    }
                }
                Token::Open => {
                    if !self.open(&mut current, &located, depth) {
                        return nodes;
                    }
                    push_node(&mut nodes, std::mem::take(&mut current));
                }
                Token::Close => {
                    push_node(&mut nodes, std::mem::take(&mut current));
                    if opened.is_some() {
                        return nodes;
                    }
                    self.diagnostics.error(
                        located.file,
                        located.line,
                        "a '}' closes no block".into(),
                    );
                }
            }
        }
    }

    /// Reads the block that `{` opens into `current`; false when blocks nest too deep, and
    /// the rest of the input is refused.
    fn open(&mut self, current: &mut Node, brace: &Located, depth: usize) -> bool {
        if current.words.is_empty() {
            current.file = brace.file;
            current.line = brace.line;
            self.diagnostics.error(
                brace.file,
                brace.line,
                "a block opens without a keyword".into(),
            );
        }
        if depth >= MAX_BLOCK_DEPTH {
            self.diagnostics.error(
                brace.file,
                brace.line,
                format!("blocks nest deeper than {MAX_BLOCK_DEPTH}"),
            );
            self.position = self.tokens.len();
            return false;
        }
        current.block = Some(self.block(depth + 1, Some((brace.file, brace.line))));
        true
    }
}

fn push_node(nodes: &mut Vec<Node>, node: Node) {
    if !node.words.is_empty() || node.block.is_some() {
        nodes.push(node);
    }
}

#[cfg(test)]
mod tests {
    use super::super::parse_single;
    use crate::model::keepalived::VirtualAddress;
    use std::net::IpAddr;

    #[test]
    fn a_block_may_open_on_the_next_line_or_close_on_the_same_one() {
        let config = parse_single(
            "k.conf",
            "vrrp_instance VI_1\n{\n interface eth0\n virtual_ipaddress { 192.0.2.1/24 dev eth1 }\n priority 150 }\n",
        );
        assert_eq!(config.errors, Vec::new());
        let instance = config.instances.first().cloned().unwrap_or_default();
        assert_eq!(instance.interface.as_deref(), Some("eth0"));
        assert_eq!(instance.priority, Some(150));
        assert_eq!(
            instance.virtual_addresses,
            vec![VirtualAddress {
                address: IpAddr::from([192, 0, 2, 1]),
                prefix_len: Some(24),
                device: Some("eth1".into()),
            }]
        );
    }

    #[test]
    fn unbalanced_braces_are_errors_and_the_rest_is_kept() {
        let config = parse_single(
            "k.conf",
            "}\nvrrp_instance A {\n interface eth0\n}\nvrrp_instance B {\n interface eth1\n",
        );
        let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["A", "B"]);
        assert_eq!(config.errors.len(), 2, "{:?}", config.errors);
        assert_eq!(config.errors.first().map(|e| e.line), Some(1));
        assert_eq!(config.errors.get(1).map(|e| e.line), Some(5));
    }

    #[test]
    fn deeply_nested_garbage_does_not_overflow() {
        let text = "a {\n".repeat(10_000);
        let config = parse_single("k.conf", &text);
        assert!(!config.errors.is_empty());
    }
}

//! keepalived.conf, parsed without keepalived: words, `#` and `!` comments, double-quoted
//! strings, `{ }` blocks (opened on the keyword's line or the next one), and `include` globs.
//!
//! Includes need the filesystem, so the parser asks a caller-given resolver for the files a
//! pattern names; the parser itself stays pure. A syntax error is recorded and parsing goes on:
//! what could be read is still used. Keywords the exporter does not need are skipped.

use std::net::IpAddr;

use crate::model::keepalived::{
    ConfigError, KeepalivedConfig, RealServer, SyncGroup, TrackedInterface, VirtualAddress,
    VirtualServer, VirtualServerTarget, VrrpInstance, VrrpState,
};

/// How deep includes may nest (keepalived's own limit is of the same order).
const MAX_INCLUDE_DEPTH: usize = 8;
/// How deep blocks may nest before the rest is refused.
const MAX_BLOCK_DEPTH: usize = 32;

/// What a resolver answers for one include pattern: each matching file's name and its text,
/// or why it could not be read.
pub type Included = Vec<(String, Result<String, String>)>;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Token {
    Word(String),
    Open,
    Close,
    EndOfLine,
}

#[derive(Debug, Clone)]
struct Located {
    token: Token,
    file: usize,
    line: usize,
}

/// A statement: its words, and the block that follows it, if any.
#[derive(Debug, Clone, Default)]
struct Node {
    words: Vec<String>,
    block: Option<Vec<Node>>,
    file: usize,
    line: usize,
}

struct Lexer<'r> {
    files: Vec<String>,
    tokens: Vec<Located>,
    errors: Vec<ConfigError>,
    resolve: &'r mut dyn FnMut(&str, &str) -> Included,
}

impl Lexer<'_> {
    fn error(&mut self, file: usize, line: usize, message: String) {
        let file = self.files.get(file).cloned().unwrap_or_default();
        self.errors.push(ConfigError {
            file,
            line,
            message,
        });
    }

    fn lex_file(&mut self, name: String, text: &str, depth: usize) {
        let file = self.files.len();
        self.files.push(name.clone());
        for (index, raw) in text.lines().enumerate() {
            let line = index + 1;
            let words = match split_line(raw) {
                Ok(words) => words,
                Err(message) => {
                    self.error(file, line, message);
                    continue;
                }
            };
            if words.first().map(String::as_str) == Some("include") {
                match words.get(1) {
                    Some(pattern) if depth < MAX_INCLUDE_DEPTH => {
                        let found = (self.resolve)(&name, pattern);
                        if found.is_empty() {
                            self.error(file, line, format!("include {pattern:?} matches no file"));
                        }
                        for (included, text) in found {
                            match text {
                                Ok(text) => self.lex_file(included, &text, depth + 1),
                                Err(reason) => self.errors.push(ConfigError {
                                    file: included,
                                    line: 0,
                                    message: format!("cannot read included file: {reason}"),
                                }),
                            }
                        }
                    }
                    Some(pattern) => self.error(
                        file,
                        line,
                        format!("include {pattern:?} nests deeper than {MAX_INCLUDE_DEPTH} files"),
                    ),
                    None => self.error(file, line, "include without a file name".into()),
                }
                continue;
            }
            for word in words {
                let token = match word.as_str() {
                    "{" => Token::Open,
                    "}" => Token::Close,
                    _ => Token::Word(word),
                };
                self.tokens.push(Located { token, file, line });
            }
            self.tokens.push(Located {
                token: Token::EndOfLine,
                file,
                line,
            });
        }
    }
}

/// Splits one line into words: braces are words of their own, a double-quoted string is one
/// word (without its quotes), `#` or `!` outside quotes starts a comment.
fn split_line(line: &str) -> Result<Vec<String>, String> {
    let mut words = Vec::new();
    let mut current = String::new();
    let mut chars = line.chars();
    let flush = |current: &mut String, words: &mut Vec<String>| {
        if !current.is_empty() {
            words.push(std::mem::take(current));
        }
    };
    while let Some(c) = chars.next() {
        match c {
            '#' | '!' => break,
            '"' => {
                flush(&mut current, &mut words);
                let mut quoted = String::new();
                let mut closed = false;
                for q in chars.by_ref() {
                    if q == '"' {
                        closed = true;
                        break;
                    }
                    quoted.push(q);
                }
                if !closed {
                    return Err("a quoted string is not closed".into());
                }
                words.push(quoted);
            }
            '{' | '}' => {
                flush(&mut current, &mut words);
                words.push(c.to_string());
            }
            c if c.is_whitespace() => flush(&mut current, &mut words),
            c => current.push(c),
        }
    }
    flush(&mut current, &mut words);
    Ok(words)
}

struct TreeBuilder<'a> {
    tokens: &'a [Located],
    position: usize,
    files: &'a [String],
    errors: Vec<ConfigError>,
}

impl TreeBuilder<'_> {
    fn error(&mut self, file: usize, line: usize, message: String) {
        self.errors.push(ConfigError {
            file: self.files.get(file).cloned().unwrap_or_default(),
            line,
            message,
        });
    }

    fn peek(&self) -> Option<&Located> {
        self.tokens.get(self.position)
    }

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
            let Some(located) = self.peek().cloned() else {
                if let Some((file, line)) = opened {
                    self.error(file, line, "this block is never closed".into());
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
                    if current.words.is_empty() {
                        current.file = located.file;
                        current.line = located.line;
                        self.error(
                            located.file,
                            located.line,
                            "a block opens without a keyword".into(),
                        );
                    }
                    if depth >= MAX_BLOCK_DEPTH {
                        self.error(
                            located.file,
                            located.line,
                            format!("blocks nest deeper than {MAX_BLOCK_DEPTH}"),
                        );
                        self.position = self.tokens.len();
                        return nodes;
                    }
                    let children = self.block(depth + 1, Some((located.file, located.line)));
                    current.block = Some(children);
                    push_node(&mut nodes, std::mem::take(&mut current));
                }
                Token::Close => {
                    push_node(&mut nodes, std::mem::take(&mut current));
                    if opened.is_some() {
                        return nodes;
                    }
                    self.error(located.file, located.line, "a '}' closes no block".into());
                }
            }
        }
    }
}

fn push_node(nodes: &mut Vec<Node>, node: Node) {
    if !node.words.is_empty() || node.block.is_some() {
        nodes.push(node);
    }
}

/// Parses a configuration. `resolve(including_file, pattern)` lists the files an `include`
/// names, with their text; the names it returns are used in error messages.
pub fn parse_config(
    name: &str,
    text: &str,
    resolve: &mut dyn FnMut(&str, &str) -> Included,
) -> KeepalivedConfig {
    let mut lexer = Lexer {
        files: Vec::new(),
        tokens: Vec::new(),
        errors: Vec::new(),
        resolve,
    };
    lexer.lex_file(name.to_string(), text, 0);
    let Lexer {
        files,
        tokens,
        errors,
        ..
    } = lexer;
    let mut builder = TreeBuilder {
        tokens: &tokens,
        position: 0,
        files: &files,
        errors,
    };
    let tree = builder.block(0, None);
    let mut reader = Reader {
        files: &files,
        errors: builder.errors,
    };
    let mut config = KeepalivedConfig::default();
    for node in &tree {
        match node.words.first().map(String::as_str) {
            Some("vrrp_instance") => {
                if let Some(instance) = reader.instance(node) {
                    config.instances.push(instance);
                }
            }
            Some("vrrp_sync_group") => {
                if let Some(group) = reader.sync_group(node) {
                    config.sync_groups.push(group);
                }
            }
            Some("virtual_server") => {
                if let Some(server) = reader.virtual_server(node) {
                    config.virtual_servers.push(server);
                }
            }
            _ => {}
        }
    }
    config.files = files.clone();
    config.errors = reader.errors;
    config
}

/// Parses a configuration that includes nothing (tests, and files read alone).
pub fn parse_single(name: &str, text: &str) -> KeepalivedConfig {
    parse_config(name, text, &mut |_, _| Vec::new())
}

struct Reader<'a> {
    files: &'a [String],
    errors: Vec<ConfigError>,
}

impl Reader<'_> {
    fn error(&mut self, node: &Node, message: String) {
        self.errors.push(ConfigError {
            file: self.files.get(node.file).cloned().unwrap_or_default(),
            line: node.line,
            message,
        });
    }

    /// The `index`th word of a statement, or an error naming what is missing.
    fn word<'n>(&mut self, node: &'n Node, index: usize, what: &str) -> Option<&'n str> {
        let word = node.words.get(index).map(String::as_str);
        if word.is_none() {
            let keyword = node.words.first().cloned().unwrap_or_default();
            self.error(node, format!("{keyword} needs {what}"));
        }
        word
    }

    fn number<T: std::str::FromStr>(
        &mut self,
        node: &Node,
        what: &str,
        valid: impl Fn(&T) -> bool,
    ) -> Option<T> {
        let text = self.word(node, 1, what)?;
        match text.parse::<T>() {
            Ok(value) if valid(&value) => Some(value),
            _ => {
                let keyword = node.words.first().cloned().unwrap_or_default();
                self.error(node, format!("{keyword} {text:?} is not {what}"));
                None
            }
        }
    }

    fn block<'n>(&mut self, node: &'n Node) -> &'n [Node] {
        match &node.block {
            Some(children) => children,
            None => {
                let keyword = node.words.first().cloned().unwrap_or_default();
                self.error(node, format!("{keyword} needs a {{ }} block"));
                &[]
            }
        }
    }

    fn instance(&mut self, node: &Node) -> Option<VrrpInstance> {
        let name = self.word(node, 1, "a name")?.to_string();
        let mut instance = VrrpInstance {
            name,
            ..VrrpInstance::default()
        };
        for child in self.block(node) {
            match child.words.first().map(String::as_str) {
                Some("interface") => {
                    instance.interface = self.word(child, 1, "an interface").map(String::from);
                }
                // A bad value is reported and leaves an earlier good one in place.
                Some("virtual_router_id") => {
                    let vrid = self.number(child, "a router id from 1 to 255", |v: &u8| *v >= 1);
                    instance.virtual_router_id = vrid.or(instance.virtual_router_id);
                }
                Some("priority") => {
                    let priority = self.number(child, "a priority from 1 to 255", |v: &u8| *v >= 1);
                    instance.priority = priority.or(instance.priority);
                }
                Some("state") => {
                    if let Some(text) = self.word(child, 1, "MASTER or BACKUP") {
                        match VrrpState::from_name(text) {
                            Some(s @ (VrrpState::Master | VrrpState::Backup)) => {
                                instance.initial_state = Some(s);
                            }
                            _ => {
                                self.error(child, format!("state {text:?} is not MASTER or BACKUP"))
                            }
                        }
                    }
                }
                Some("nopreempt") => instance.nopreempt = true,
                Some("virtual_ipaddress" | "virtual_ipaddress_excluded") => {
                    for entry in self.block(child) {
                        if let Some(vip) = self.virtual_address(entry) {
                            instance.virtual_addresses.push(vip);
                        }
                    }
                }
                Some("track_interface") => {
                    for entry in self.block(child) {
                        let Some(name) = entry.words.first() else {
                            continue;
                        };
                        let weight = match keyword_value(entry, "weight") {
                            Some(w) => match w.parse::<i32>() {
                                Ok(w) => Some(w),
                                Err(_) => {
                                    self.error(entry, format!("weight {w:?} is not a number"));
                                    None
                                }
                            },
                            None => None,
                        };
                        instance.track_interfaces.push(TrackedInterface {
                            name: name.clone(),
                            weight,
                        });
                    }
                }
                Some("track_script") => {
                    for entry in self.block(child) {
                        if let Some(name) = entry.words.first() {
                            instance.track_scripts.push(name.clone());
                        }
                    }
                }
                _ => {}
            }
        }
        Some(instance)
    }

    fn virtual_address(&mut self, entry: &Node) -> Option<VirtualAddress> {
        let text = entry.words.first()?;
        let (address, prefix) = match text.split_once('/') {
            Some((a, p)) => (a, Some(p)),
            None => (text.as_str(), None),
        };
        let Ok(address) = address.parse::<IpAddr>() else {
            self.error(entry, format!("{text:?} is not an IP address"));
            return None;
        };
        let max = if address.is_ipv4() { 32 } else { 128 };
        let prefix_len = match prefix.map(str::parse::<u8>) {
            None => None,
            Some(Ok(p)) if p <= max => Some(p),
            Some(_) => {
                self.error(entry, format!("{text:?} has a bad prefix length"));
                return None;
            }
        };
        Some(VirtualAddress {
            address,
            prefix_len,
            device: keyword_value(entry, "dev").map(String::from),
        })
    }

    fn sync_group(&mut self, node: &Node) -> Option<SyncGroup> {
        let name = self.word(node, 1, "a name")?.to_string();
        let mut group = SyncGroup {
            name,
            instances: Vec::new(),
        };
        for child in self.block(node) {
            if child.words.first().map(String::as_str) == Some("group") {
                for entry in self.block(child) {
                    group.instances.extend(entry.words.iter().cloned());
                }
            }
        }
        Some(group)
    }

    fn virtual_server(&mut self, node: &Node) -> Option<VirtualServer> {
        let first = self.word(node, 1, "an address and port, fwmark N or group NAME")?;
        let target = match first {
            "fwmark" => {
                let text = self.word(node, 2, "a mark")?;
                match text.parse::<u32>() {
                    Ok(mark) => VirtualServerTarget::Fwmark { mark },
                    Err(_) => {
                        self.error(node, format!("fwmark {text:?} is not a number"));
                        return None;
                    }
                }
            }
            "group" => VirtualServerTarget::Group {
                name: self.word(node, 2, "a group name")?.to_string(),
            },
            address => {
                let Ok(address) = address.parse::<IpAddr>() else {
                    self.error(
                        node,
                        format!("virtual_server {address:?} is not an IP address"),
                    );
                    return None;
                };
                let text = self.word(node, 2, "a port")?;
                let Ok(port) = text.parse::<u16>() else {
                    self.error(node, format!("port {text:?} is not a port number"));
                    return None;
                };
                VirtualServerTarget::Address { address, port }
            }
        };
        let mut server = VirtualServer {
            target,
            protocol: None,
            lb_algo: None,
            lb_kind: None,
            persistence_timeout: None,
            real_servers: Vec::new(),
        };
        for child in self.block(node) {
            match child.words.first().map(String::as_str) {
                Some("protocol") => {
                    server.protocol = self.word(child, 1, "a protocol").map(str::to_uppercase);
                }
                Some("lb_algo" | "lvs_sched") => {
                    server.lb_algo = self.word(child, 1, "a scheduler").map(String::from);
                }
                Some("lb_kind" | "lvs_method") => {
                    server.lb_kind = self.word(child, 1, "NAT, DR or TUN").map(str::to_uppercase);
                }
                Some("persistence_timeout") => {
                    server.persistence_timeout =
                        self.number(child, "a number of seconds", |_: &u32| true);
                }
                Some("real_server") => {
                    if let Some(real) = self.real_server(child) {
                        server.real_servers.push(real);
                    }
                }
                _ => {}
            }
        }
        Some(server)
    }

    fn real_server(&mut self, node: &Node) -> Option<RealServer> {
        let text = self.word(node, 1, "an address")?;
        let Ok(address) = text.parse::<IpAddr>() else {
            self.error(node, format!("real_server {text:?} is not an IP address"));
            return None;
        };
        let port = match node.words.get(2) {
            None => None,
            Some(p) => match p.parse::<u16>() {
                Ok(port) => Some(port),
                Err(_) => {
                    self.error(node, format!("port {p:?} is not a port number"));
                    None
                }
            },
        };
        let mut real = RealServer {
            address,
            port,
            weight: None,
            checkers: Vec::new(),
        };
        for child in node.block.as_deref().unwrap_or(&[]) {
            match child.words.first().map(String::as_str) {
                Some("weight") => {
                    real.weight = self.number(child, "a weight", |_: &i32| true);
                }
                Some(keyword)
                    if child.block.is_some()
                        && (keyword.ends_with("_CHECK") || keyword.ends_with("_GET")) =>
                {
                    real.checkers.push(keyword.to_string());
                }
                _ => {}
            }
        }
        Some(real)
    }
}

/// The word after `keyword` in a statement (`dev eth0`, `weight -20`).
fn keyword_value<'n>(node: &'n Node, keyword: &str) -> Option<&'n str> {
    let position = node.words.iter().position(|w| w == keyword)?;
    node.words.get(position + 1).map(String::as_str)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn words_comments_quotes_and_braces() {
        assert_eq!(
            split_line(r#"  notify "/usr/bin/x a b" # comment"#),
            Ok(vec!["notify".to_string(), "/usr/bin/x a b".to_string()])
        );
        assert_eq!(
            split_line("virtual_ipaddress {10.0.0.1}! note"),
            Ok(vec![
                "virtual_ipaddress".to_string(),
                "{".to_string(),
                "10.0.0.1".to_string(),
                "}".to_string()
            ])
        );
        assert!(split_line(r#"notify "open"#).is_err());
    }

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
    fn bad_values_are_reported_with_their_line() {
        let config = parse_single(
            "k.conf",
            "vrrp_instance A {\n priority high\n virtual_router_id 0\n state LEADER\n virtual_ipaddress {\n  10.0.0.300\n  10.0.0.1\n }\n}\n",
        );
        let lines: Vec<usize> = config.errors.iter().map(|e| e.line).collect();
        assert_eq!(lines, vec![2, 3, 4, 6]);
        let instance = config.instances.first().cloned().unwrap_or_default();
        assert_eq!(instance.priority, None);
        assert_eq!(instance.virtual_addresses.len(), 1);
    }

    #[test]
    fn includes_are_resolved_by_the_caller_and_nest() {
        let mut asked = Vec::new();
        let config = parse_config(
            "main.conf",
            "include conf.d/*.conf\ninclude missing/*.conf\n",
            &mut |from, pattern| {
                asked.push((from.to_string(), pattern.to_string()));
                match pattern {
                    "conf.d/*.conf" => vec![
                        (
                            "conf.d/a.conf".into(),
                            Ok("vrrp_instance A {\n}\ninclude b.inc\n".into()),
                        ),
                        ("conf.d/bad.conf".into(), Err("permission denied".into())),
                    ],
                    "b.inc" => vec![("conf.d/b.inc".into(), Ok("vrrp_instance B {\n}\n".into()))],
                    _ => Vec::new(),
                }
            },
        );
        let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["A", "B"]);
        assert_eq!(asked.get(1).map(|a| a.0.as_str()), Some("conf.d/a.conf"));
        assert_eq!(
            config.files,
            vec!["main.conf", "conf.d/a.conf", "conf.d/b.inc"]
        );
        assert_eq!(config.errors.len(), 2, "{:?}", config.errors);
    }

    #[test]
    fn an_include_loop_stops_at_the_depth_limit() {
        let config = parse_config("main.conf", "include main.conf\n", &mut |_, _| {
            vec![("main.conf".into(), Ok("include main.conf\n".into()))]
        });
        assert_eq!(config.errors.len(), 1);
        assert!(config.files.len() <= MAX_INCLUDE_DEPTH + 1);
    }

    #[test]
    fn deeply_nested_garbage_does_not_overflow() {
        let text = "a {\n".repeat(10_000);
        let config = parse_single("k.conf", &text);
        assert!(!config.errors.is_empty());
    }

    // Configurations in the shape of operators' guides. Each passes `keepalived --config-test`
    // (2.2.7) apart from naming interfaces the test host lacks; broken.conf is broken on purpose.
    type RealSummary = (IpAddr, Option<u16>, Option<i32>, Vec<String>);

    const NAT: &str = include_str!("../../tests/fixtures/keepalived-conf/nat-director.conf");
    const DR: &str = include_str!("../../tests/fixtures/keepalived-conf/dr-director.conf");
    const BROKEN: &str = include_str!("../../tests/fixtures/keepalived-conf/broken.conf");

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or(IpAddr::from([0, 0, 0, 0]))
    }

    #[test]
    fn nat_director_with_a_sync_group_and_tcp_checks() {
        let config = parse_single("nat-director.conf", NAT);
        assert_eq!(config.errors, Vec::new());
        assert_eq!(
            config.sync_groups,
            vec![SyncGroup {
                name: "VG1".into(),
                instances: vec!["VI_PUBLIC".into(), "VI_GATEWAY".into()],
            }]
        );
        let public = config.instances.first().cloned().unwrap_or_default();
        assert_eq!(public.name, "VI_PUBLIC");
        assert_eq!(public.interface.as_deref(), Some("eth0"));
        assert_eq!(public.virtual_router_id, Some(51));
        assert_eq!(public.priority, Some(150));
        assert_eq!(public.initial_state, Some(VrrpState::Master));
        assert_eq!(public.track_scripts, vec!["chk_haproxy".to_string()]);
        assert_eq!(
            public.track_interfaces,
            vec![TrackedInterface {
                name: "eth1".into(),
                weight: None
            }]
        );
        assert_eq!(
            public.virtual_addresses,
            vec![
                VirtualAddress {
                    address: ip("192.168.1.100"),
                    prefix_len: Some(24),
                    device: Some("eth0".into()),
                },
                VirtualAddress {
                    address: ip("192.168.1.101"),
                    prefix_len: Some(24),
                    device: None,
                },
            ]
        );
        assert_eq!(config.instances.len(), 2);
        let server = config.virtual_servers.first().cloned();
        let server = server.as_ref();
        assert_eq!(
            server.map(|s| &s.target),
            Some(&VirtualServerTarget::Address {
                address: ip("192.168.1.100"),
                port: 80
            })
        );
        assert_eq!(server.and_then(|s| s.lb_kind.as_deref()), Some("NAT"));
        assert_eq!(server.and_then(|s| s.lb_algo.as_deref()), Some("wlc"));
        assert_eq!(server.and_then(|s| s.protocol.as_deref()), Some("TCP"));
        assert_eq!(server.and_then(|s| s.persistence_timeout), Some(50));
        let reals: Vec<RealSummary> = server
            .map(|s| s.real_servers.clone())
            .unwrap_or_default()
            .into_iter()
            .map(|r| (r.address, r.port, r.weight, r.checkers))
            .collect();
        assert_eq!(
            reals,
            vec![
                (
                    ip("10.10.10.2"),
                    Some(80),
                    Some(1),
                    vec!["TCP_CHECK".into()]
                ),
                (
                    ip("10.10.10.3"),
                    Some(80),
                    Some(2),
                    vec!["TCP_CHECK".into()]
                ),
            ]
        );
    }

    #[test]
    fn dr_director_with_http_checks_ipv6_and_a_firewall_mark() {
        let config = parse_single("dr-director.conf", DR);
        assert_eq!(config.errors, Vec::new());
        let instance = config.instances.first().cloned().unwrap_or_default();
        assert!(instance.nopreempt);
        assert_eq!(instance.initial_state, Some(VrrpState::Backup));
        assert_eq!(
            instance
                .virtual_addresses
                .iter()
                .map(|v| v.address)
                .collect::<Vec<_>>(),
            vec![ip("203.0.113.10"), ip("2001:db8::10")]
        );
        assert_eq!(config.virtual_servers.len(), 2);
        let http = config.virtual_servers.first();
        assert_eq!(http.and_then(|s| s.lb_kind.as_deref()), Some("DR"));
        assert_eq!(
            http.map(|s| s
                .real_servers
                .iter()
                .map(|r| r.checkers.clone())
                .collect::<Vec<_>>()),
            Some(vec![vec!["HTTP_GET".to_string()], vec!["HTTP_GET".into()]])
        );
        let fwm = config.virtual_servers.get(1);
        assert_eq!(
            fwm.map(|s| &s.target),
            Some(&VirtualServerTarget::Fwmark { mark: 7 })
        );
        assert_eq!(fwm.and_then(|s| s.persistence_timeout), Some(300));
        assert_eq!(
            fwm.and_then(|s| s.real_servers.first())
                .map(|r| (r.port, r.checkers.clone())),
            Some((None, vec!["MISC_CHECK".to_string()]))
        );
    }

    #[test]
    fn includes_from_a_conf_d_directory() {
        let main = include_str!("../../tests/fixtures/keepalived-conf/with-includes.conf");
        let config = parse_config("with-includes.conf", main, &mut |_, pattern| {
            assert_eq!(pattern, "conf.d/*.conf");
            vec![
                (
                    "conf.d/10-vrrp.conf".into(),
                    Ok(
                        include_str!("../../tests/fixtures/keepalived-conf/conf.d/10-vrrp.conf")
                            .into(),
                    ),
                ),
                (
                    "conf.d/20-lvs.conf".into(),
                    Ok(
                        include_str!("../../tests/fixtures/keepalived-conf/conf.d/20-lvs.conf")
                            .into(),
                    ),
                ),
            ]
        });
        assert_eq!(config.errors, Vec::new());
        assert_eq!(
            config.instances.first().map(|i| i.name.as_str()),
            Some("VI_INC")
        );
        assert_eq!(
            config
                .virtual_servers
                .first()
                .and_then(|s| s.real_servers.first())
                .map(|r| r.checkers.clone()),
            Some(vec!["SSL_GET".to_string()])
        );
    }

    #[test]
    fn a_broken_configuration_reports_its_errors_and_keeps_the_rest() {
        let config = parse_single("broken.conf", BROKEN);
        let messages: Vec<String> = config.errors.iter().map(|e| e.to_string()).collect();
        assert_eq!(messages.len(), 2, "{messages:?}");
        assert!(
            messages
                .iter()
                .any(|m| m.starts_with("broken.conf:12: virtual_router_id"))
        );
        assert!(messages.iter().any(|m| m.contains("never closed")));
        let names: Vec<&str> = config.instances.iter().map(|i| i.name.as_str()).collect();
        assert_eq!(names, vec!["VI_OK", "VI_BAD"]);
        assert_eq!(
            config.instances.get(1).and_then(|i| i.virtual_router_id),
            None
        );
        assert_eq!(
            config.virtual_servers.first().map(|s| s.real_servers.len()),
            Some(1)
        );
    }
}

//! keepalived.conf's words: one line into words and tokens. Knows nothing of files, includes
//! or what the words mean.

/// A word, or a brace, or the end of a line (a keyword's block may open on the next line).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Token {
    Word(String),
    Open,
    Close,
    EndOfLine,
}

/// A token and where it was read: the index of its file, and its 1-based line.
#[derive(Debug, Clone)]
pub(super) struct Located {
    pub token: Token,
    pub file: usize,
    pub line: usize,
}

/// Splits one line into words: braces are words of their own, a double-quoted string is one
/// word (without its quotes), `#` or `!` outside quotes starts a comment.
pub(super) fn split_line(line: &str) -> Result<Vec<String>, String> {
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

/// Appends a line's words as tokens, then its end of line.
pub(super) fn push_line(tokens: &mut Vec<Located>, words: Vec<String>, file: usize, line: usize) {
    for word in words {
        let token = match word.as_str() {
            "{" => Token::Open,
            "}" => Token::Close,
            _ => Token::Word(word),
        };
        tokens.push(Located { token, file, line });
    }
    tokens.push(Located {
        token: Token::EndOfLine,
        file,
        line,
    });
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
    fn braces_become_tokens_and_every_line_ends() {
        let mut tokens = Vec::new();
        push_line(&mut tokens, vec!["a".into(), "{".into(), "}".into()], 0, 7);
        let kinds: Vec<Token> = tokens.iter().map(|t| t.token.clone()).collect();
        assert_eq!(
            kinds,
            vec![
                Token::Word("a".into()),
                Token::Open,
                Token::Close,
                Token::EndOfLine
            ]
        );
        assert!(tokens.iter().all(|t| t.line == 7 && t.file == 0));
    }
}

//! /etc/passwd and /etc/group: the account names they list (the first field of each line),
//! so that the keepalived collector can tell whether a user keepalived looks up exists.

/// The names an /etc/passwd or /etc/group lists; comments, blank lines and NIS `+`/`-` lines
/// are left out.
pub fn account_names(text: &str) -> Vec<&str> {
    text.lines()
        .filter_map(|line| line.split(':').next())
        .map(str::trim)
        .filter(|name| !name.is_empty() && !name.starts_with('#') && !name.starts_with(['+', '-']))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_the_first_field() {
        let passwd = "root:x:0:0:root:/root:/bin/bash\n# comment\n\nnobody:x:65534:65534::/:/usr/sbin/nologin\n\
                      keepalived_script:x:999:999::/nonexistent:/usr/sbin/nologin\n+@netgroup\n";
        assert_eq!(
            account_names(passwd),
            vec!["root", "nobody", "keepalived_script"]
        );
        assert!(account_names("").is_empty());
    }
}

//! The statements of keepalived.conf that decide keepalived's default script user
//! (`enable_script_security` and `script_user` in global_defs) and those that use it: notify
//! FIFOs and their scripts in global_defs, `vrrp_script` blocks, the notify scripts of VRRP
//! instances and sync groups, and `MISC_CHECK` scripts, each only when it names no user of its
//! own. They are listed in the order keepalived reads them, since keepalived settles the
//! default user at the first use (see `ignored_default_user_uses` in the model).

use super::tree::Node;
use crate::model::keepalived::{DefaultUserUse, ScriptUserStatement};

/// global_defs keywords that make a FIFO or run a script as the default user when the line
/// has no user word after the path.
const GLOBAL_USES: [&str; 6] = [
    "notify_fifo",
    "notify_fifo_script",
    "vrrp_notify_fifo",
    "vrrp_notify_fifo_script",
    "lvs_notify_fifo",
    "lvs_notify_fifo_script",
];

/// Notify script keywords of a `vrrp_instance` (those of a `vrrp_sync_group` are a subset).
const NOTIFY_KEYWORDS: [&str; 7] = [
    "notify_master",
    "notify_backup",
    "notify_fault",
    "notify_stop",
    "notify_deleted",
    "notify_master_rx_lower_pri",
    "notify",
];

/// The statements about the default script user, in the order keepalived reads them;
/// `files` names the files by index.
pub(super) fn script_user_statements(
    statements: &[Node],
    files: &[String],
) -> Vec<ScriptUserStatement> {
    let mut found = Vec::new();
    let place = |node: &Node| {
        let file = files.get(node.file).map_or("", String::as_str);
        format!("{file}:{}", node.line)
    };
    let use_of = |keyword: &str, subject: String, node: &Node| {
        ScriptUserStatement::UsesDefault(DefaultUserUse {
            keyword: keyword.to_string(),
            subject,
            place: place(node),
        })
    };
    for node in statements {
        let children = node.block.as_deref().unwrap_or_default();
        match node.keyword() {
            Some("global_defs") => {
                for child in children {
                    match child.keyword() {
                        Some("enable_script_security") => {
                            found.push(ScriptUserStatement::EnableScriptSecurity);
                        }
                        Some("script_user") => {
                            if let Some(user) = child.words.get(1) {
                                found.push(ScriptUserStatement::ScriptUser {
                                    user: user.clone(),
                                    group: child.words.get(2).cloned(),
                                });
                            }
                        }
                        Some(keyword) if GLOBAL_USES.contains(&keyword) => {
                            // `KEYWORD PATH [USER [GROUP]]`: a user word sets its own.
                            if let (Some(path), None) = (child.words.get(1), child.words.get(2)) {
                                found.push(use_of(keyword, path.clone(), child));
                            }
                        }
                        _ => {}
                    }
                }
            }
            // keepalived gives a vrrp_script the default user when its block closes.
            Some("vrrp_script") => {
                let has_user = children.iter().any(|c| c.keyword() == Some("user"));
                if let (Some(name), false) = (node.words.get(1), has_user) {
                    found.push(use_of("vrrp_script", name.clone(), node));
                }
            }
            Some(kind @ ("vrrp_instance" | "vrrp_sync_group")) => {
                let name = node.words.get(1).cloned().unwrap_or_default();
                for child in children {
                    match child.keyword() {
                        // `KEYWORD SCRIPT [USER [GROUP]]`, the script quoted when it has words.
                        Some(keyword)
                            if NOTIFY_KEYWORDS.contains(&keyword) && child.words.len() == 2 =>
                        {
                            found.push(use_of(keyword, format!("{kind} {name}"), child));
                        }
                        _ => {}
                    }
                }
            }
            Some("virtual_server") => misc_checks(children, &mut found, &use_of),
            _ => {}
        }
    }
    found
}

/// `MISC_CHECK` blocks in a virtual server's real servers that set no `user`.
fn misc_checks(
    servers: &[Node],
    found: &mut Vec<ScriptUserStatement>,
    use_of: &dyn Fn(&str, String, &Node) -> ScriptUserStatement,
) {
    for real in servers
        .iter()
        .filter(|n| n.keyword() == Some("real_server"))
    {
        for check in real.block.as_deref().unwrap_or_default() {
            if check.keyword() != Some("MISC_CHECK") {
                continue;
            }
            let inner = check.block.as_deref().unwrap_or_default();
            if inner.iter().any(|c| c.keyword() == Some("user")) {
                continue;
            }
            let script = inner
                .iter()
                .find(|c| c.keyword() == Some("misc_path"))
                .and_then(|c| c.words.get(1).cloned());
            if let Some(script) = script {
                found.push(use_of("MISC_CHECK", script, check));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use crate::model::keepalived::{DefaultUserUse, ScriptUserStatement};
    use crate::parse::keepalived::parse_single;

    fn uses(statements: &[ScriptUserStatement]) -> Vec<(String, String)> {
        statements
            .iter()
            .filter_map(|s| match s {
                ScriptUserStatement::UsesDefault(DefaultUserUse {
                    keyword, subject, ..
                }) => Some((keyword.clone(), subject.clone())),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn statements_are_listed_in_order_and_own_users_left_out() {
        let text = "global_defs {\n notify_fifo /run/a.fifo\n enable_script_security\n\
                    script_user nobody nogroup\n vrrp_notify_fifo /run/b.fifo root\n\
                    lvs_notify_fifo_script \"/bin/reader arg\"\n}\n\
                    vrrp_script chk {\n script /bin/true\n}\n\
                    vrrp_script own {\n script /bin/true\n user nobody\n}\n\
                    vrrp_instance VI_1 {\n notify_master /bin/true\n notify_backup \"/bin/x y\" nobody\n}\n\
                    vrrp_sync_group G {\n group {\n VI_1\n }\n notify /bin/n\n}\n\
                    virtual_server 10.0.0.1 80 {\n real_server 10.0.0.2 80 {\n\
                    MISC_CHECK {\n misc_path /bin/check\n }\n }\n\
                    real_server 10.0.0.3 80 {\n MISC_CHECK {\n misc_path /bin/check\n user nobody\n }\n }\n}\n";
        let config = parse_single("k.conf", text);
        assert_eq!(config.errors, Vec::new());
        let first = config.script_users.first();
        assert!(
            matches!(first, Some(ScriptUserStatement::UsesDefault(u)) if u.place == "k.conf:2")
        );
        assert_eq!(
            config.script_users.get(1),
            Some(&ScriptUserStatement::EnableScriptSecurity)
        );
        assert_eq!(
            config.script_users.get(2),
            Some(&ScriptUserStatement::ScriptUser {
                user: "nobody".into(),
                group: Some("nogroup".into())
            })
        );
        let pairs = |list: &[(&str, &str)]| -> Vec<(String, String)> {
            list.iter()
                .map(|(k, s)| ((*k).to_string(), (*s).to_string()))
                .collect()
        };
        assert_eq!(
            uses(&config.script_users),
            pairs(&[
                ("notify_fifo", "/run/a.fifo"),
                ("lvs_notify_fifo_script", "/bin/reader arg"),
                ("vrrp_script", "chk"),
                ("notify_master", "vrrp_instance VI_1"),
                ("notify", "vrrp_sync_group G"),
                ("MISC_CHECK", "/bin/check"),
            ])
        );
    }
}

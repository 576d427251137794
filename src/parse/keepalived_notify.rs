//! Lines of keepalived's notify FIFO (`notify_fifo`): one per state change, such as
//! `INSTANCE "VI_1" MASTER 150` (type, quoted name, new state, priority) or
//! `GROUP "VG1" BACKUP`. Checker lines (`VS`, `RS`) and anything unknown are not transitions.

use crate::model::keepalived::VrrpState;

/// A VRRP instance's state change, as one FIFO line tells it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InstanceTransition {
    pub instance: String,
    pub state: VrrpState,
    pub priority: Option<u8>,
}

/// What one FIFO line says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum NotifyLine {
    Instance(InstanceTransition),
    /// A sync group's, checker's or other line: not counted.
    Other,
    /// A line that looks like an instance line but cannot be read.
    Malformed(String),
}

/// Reads one line of the FIFO (without its newline).
pub fn parse_notify_line(line: &str) -> NotifyLine {
    let line = line.trim();
    let Some(rest) = line.strip_prefix("INSTANCE ") else {
        return NotifyLine::Other;
    };
    let rest = rest.trim_start();
    let (name, after) = match rest.strip_prefix('"') {
        Some(quoted) => match quoted.split_once('"') {
            Some((name, after)) => (name, after),
            None => return NotifyLine::Malformed(format!("unclosed name in {line:?}")),
        },
        None => match rest.split_once(char::is_whitespace) {
            Some((name, after)) => (name, after),
            None => (rest, ""),
        },
    };
    let mut words = after.split_whitespace();
    let Some(state) = words.next().and_then(VrrpState::from_name) else {
        return NotifyLine::Malformed(format!("no known state in {line:?}"));
    };
    if name.is_empty() {
        return NotifyLine::Malformed(format!("no instance name in {line:?}"));
    }
    NotifyLine::Instance(InstanceTransition {
        instance: name.to_string(),
        state,
        priority: words.next().and_then(|p| p.parse().ok()),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn instance_lines_as_keepalived_writes_them() {
        assert_eq!(
            parse_notify_line("INSTANCE \"VI_1\" MASTER 150\n"),
            NotifyLine::Instance(InstanceTransition {
                instance: "VI_1".into(),
                state: VrrpState::Master,
                priority: Some(150),
            })
        );
        assert_eq!(
            parse_notify_line("INSTANCE \"web vip\" BACKUP 100"),
            NotifyLine::Instance(InstanceTransition {
                instance: "web vip".into(),
                state: VrrpState::Backup,
                priority: Some(100),
            })
        );
        assert_eq!(
            parse_notify_line("INSTANCE VI_2 FAULT"),
            NotifyLine::Instance(InstanceTransition {
                instance: "VI_2".into(),
                state: VrrpState::Fault,
                priority: None,
            })
        );
        assert!(matches!(
            parse_notify_line("INSTANCE \"VI_1\" STOP 0"),
            NotifyLine::Instance(InstanceTransition {
                state: VrrpState::Stop,
                ..
            })
        ));
    }

    #[test]
    fn other_lines_are_not_transitions() {
        assert_eq!(parse_notify_line("GROUP \"VG1\" MASTER"), NotifyLine::Other);
        assert_eq!(
            parse_notify_line("RS [10.0.0.2]:tcp:80 [10.0.0.1]:tcp:80 UP"),
            NotifyLine::Other
        );
        assert_eq!(parse_notify_line(""), NotifyLine::Other);
        assert!(matches!(
            parse_notify_line("INSTANCE \"VI_1 MASTER"),
            NotifyLine::Malformed(_)
        ));
        assert!(matches!(
            parse_notify_line("INSTANCE \"VI_1\" LEADER 1"),
            NotifyLine::Malformed(_)
        ));
    }
}

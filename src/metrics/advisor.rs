//! The advisor's findings as metrics, so that misconfiguration can be alerted on: one series
//! per open finding, counts per severity, the rules evaluated and skipped, and the host's roles.

use std::fmt;

use prometheus_client::encoding::DescriptorEncoder;

use super::{NO_LABELS, gauges};
use crate::advisor::{AdviceOptions, Role, Severity, advise};
use crate::model::snapshot::Snapshot;

pub(super) fn encode(
    snapshot: &Snapshot,
    options: &AdviceOptions,
    encoder: &mut DescriptorEncoder,
) -> fmt::Result {
    let advice = advise(snapshot, options);
    gauges(
        encoder,
        "ipvs_host_role",
        "The host's roles as the advisor sees them (1 on each role it has).",
        None,
        Role::ALL.iter().map(|role| {
            (
                [("role", role.id())],
                i64::from(advice.roles.contains(role)),
            )
        }),
    )?;
    gauges(
        encoder,
        "ipvs_advisor_finding",
        "An open advisor finding (doctor --explain RULE tells what it means and how to fix it).",
        None,
        advice.findings.iter().map(|f| {
            (
                [
                    ("rule", f.rule),
                    ("severity", f.severity.as_str()),
                    ("subject", f.subject.as_str()),
                ],
                1,
            )
        }),
    )?;
    gauges(
        encoder,
        "ipvs_advisor_findings",
        "Open advisor findings by severity.",
        None,
        Severity::ALL.iter().map(|severity| {
            let n = advice
                .findings
                .iter()
                .filter(|f| f.severity == *severity)
                .count();
            ([("severity", severity.as_str())], n as u64)
        }),
    )?;
    gauges(
        encoder,
        "ipvs_advisor_rules_evaluated",
        "Advisor rules that applied to the host and had their data.",
        None,
        std::iter::once((NO_LABELS, advice.rules_evaluated as u64)),
    )?;
    gauges(
        encoder,
        "ipvs_advisor_rule_skipped",
        "An advisor rule that applies to the host but could not be evaluated, its data missing (doctor says why).",
        None,
        advice.skipped.iter().map(|s| ([("rule", s.rule)], 1)),
    )
}

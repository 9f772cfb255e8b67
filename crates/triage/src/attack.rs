//! MITRE ATT&CK tactics from Sigma-style tags (`attack.execution`, `attack.t1059.001`).
//!
//! Tactics give incidents their kill-chain order and measure breadth (how many distinct stages
//! of an attack one entity shows). Only tactic tags are read: mapping a technique to its
//! tactics needs the ATT&CK matrix, which is not shipped.

/// Enterprise ATT&CK tactics in kill-chain order (the order of the ATT&CK matrix).
pub const TACTICS: &[(&str, &str)] = &[
    ("reconnaissance", "Reconnaissance"),
    ("resource_development", "Resource Development"),
    ("initial_access", "Initial Access"),
    ("execution", "Execution"),
    ("persistence", "Persistence"),
    ("privilege_escalation", "Privilege Escalation"),
    ("defense_evasion", "Defense Evasion"),
    ("credential_access", "Credential Access"),
    ("discovery", "Discovery"),
    ("lateral_movement", "Lateral Movement"),
    ("collection", "Collection"),
    ("command_and_control", "Command and Control"),
    ("exfiltration", "Exfiltration"),
    ("impact", "Impact"),
];

/// Index of a tactic in [`TACTICS`] (its kill-chain stage).
pub type Tactic = u8;

/// The tactic a tag names, if any (`attack.lateral-movement` and `attack.lateral_movement`
/// both work).
pub fn tactic_of_tag(tag: &str) -> Option<Tactic> {
    let t = tag.trim().to_ascii_lowercase();
    let name = t.strip_prefix("attack.")?.replace('-', "_");
    TACTICS
        .iter()
        .position(|(k, _)| *k == name)
        .map(|i| i as Tactic)
}

/// Technique ids (`T1059.001`) named by tags.
pub fn techniques_of_tags(tags: &[String]) -> Vec<String> {
    tags.iter()
        .filter_map(|t| {
            let l = t.trim().to_ascii_lowercase();
            let id = l.strip_prefix("attack.")?;
            (id.starts_with('t') && id[1..].chars().next().is_some_and(|c| c.is_ascii_digit()))
                .then(|| id.to_ascii_uppercase())
        })
        .collect()
}

/// Distinct tactics named by tags, in kill-chain order.
pub fn tactics_of_tags(tags: &[String]) -> Vec<Tactic> {
    let mut v: Vec<Tactic> = tags.iter().filter_map(|t| tactic_of_tag(t)).collect();
    v.sort_unstable();
    v.dedup();
    v
}

/// Human name of a tactic.
pub fn tactic_name(t: Tactic) -> &'static str {
    TACTICS.get(t as usize).map_or("Unknown", |(_, n)| n)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags_map_to_tactics_in_kill_chain_order() {
        let tags: Vec<String> = [
            "attack.lateral-movement",
            "attack.t1021.002",
            "attack.execution",
            "car.2013-05-009",
            "attack.execution",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let t = tactics_of_tags(&tags);
        assert_eq!(
            t.iter().map(|&t| tactic_name(t)).collect::<Vec<_>>(),
            ["Execution", "Lateral Movement"]
        );
        assert_eq!(techniques_of_tags(&tags), ["T1021.002"]);
        assert_eq!(tactic_of_tag("execution"), None);
    }
}

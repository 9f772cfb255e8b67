//! Account management by shadow-utils and friends: `useradd`, `userdel`, `usermod`,
//! `groupadd`, `groupdel`, `gpasswd`, `passwd`, `chpasswd`, `chage`. All become `iam` events
//! whose `user.target.name` is the account acted on; `user.name` is set only when the message
//! names the actor (`password for 'bob' changed by 'root'`).

use super::{AuthEvent, Outcome, non_empty};

pub(super) fn is_account_tool(service: &str) -> bool {
    matches!(
        service,
        "useradd"
            | "userdel"
            | "usermod"
            | "adduser"
            | "deluser"
            | "groupadd"
            | "groupdel"
            | "groupmod"
            | "addgroup"
            | "delgroup"
            | "gpasswd"
            | "passwd"
            | "chpasswd"
            | "chage"
            | "newusers"
            | "chsh"
            | "chfn"
    )
}

const USER_CREATED: &[&str] = &["user", "creation"];
const USER_DELETED: &[&str] = &["user", "deletion"];
const USER_CHANGED: &[&str] = &["user", "change"];
const GROUP_CREATED: &[&str] = &["group", "creation"];
const GROUP_DELETED: &[&str] = &["group", "deletion"];
const GROUP_CHANGED: &[&str] = &["group", "change"];

fn iam(types: &'static [&'static str], action: &'static str) -> AuthEvent<'static> {
    AuthEvent::new("iam", types, action).outcome(Outcome::Success)
}

pub(super) fn classify(msg: &str) -> Option<AuthEvent<'_>> {
    if let Some(kv) = msg.strip_prefix("new user: ") {
        return Some(new_user(kv));
    }
    if let Some(kv) = msg.strip_prefix("new group: ").or_else(|| {
        msg.strip_prefix("group added to ")
            .and_then(|r| Some(r.split_once(": ")?.1))
    }) {
        let f = Fields::parse(kv);
        let mut e = iam(GROUP_CREATED, "group_created");
        e.group = f.name;
        e.group_id = f.gid;
        return Some(e);
    }
    if let Some(rest) = msg.strip_prefix("add ") {
        return membership(rest, " to ", GROUP_CHANGED, "user_added_to_group");
    }
    if let Some(rest) = msg.strip_prefix("delete user ") {
        let mut e = iam(USER_DELETED, "user_deleted");
        e.target_user = quoted(rest).map(|(u, _)| u);
        return Some(e);
    }
    if let Some(rest) = msg.strip_prefix("delete ") {
        return membership(rest, " from ", GROUP_CHANGED, "user_removed_from_group");
    }
    if let Some(rest) = msg
        .strip_prefix("removed group ")
        .or_else(|| msg.strip_prefix("removed shadow group "))
        .or_else(|| msg.strip_prefix("group "))
    {
        let (group, tail) = quoted(rest)?;
        if !(msg.starts_with("removed") || tail.starts_with(" removed")) {
            return None;
        }
        let mut e = iam(GROUP_DELETED, "group_deleted");
        e.group = non_empty(group);
        return Some(e);
    }
    user_change(msg)
}

/// `name=bob, UID=1001, GID=1001, home=/home/bob, shell=/bin/bash, from=/dev/pts/0`.
fn new_user(kv: &str) -> AuthEvent<'_> {
    let f = Fields::parse(kv);
    let mut e = iam(USER_CREATED, "user_created");
    e.target_user = f.name;
    e.target_user_id = f.uid;
    e.group_id = f.gid;
    e
}

/// `'bob' to [shadow ]group 'sudo'` after `add`, `'bob' from [shadow ]group 'sudo'` after `delete`.
fn membership<'a>(
    rest: &'a str,
    sep: &str,
    types: &'static [&'static str],
    action: &'static str,
) -> Option<AuthEvent<'a>> {
    let (user, tail) = quoted(rest)?;
    let tail = tail.strip_prefix(sep)?;
    let tail = tail.strip_prefix("shadow ").unwrap_or(tail);
    let (group, _) = quoted(tail.strip_prefix("group ")?)?;
    let mut e = iam(types, action);
    e.target_user = non_empty(user);
    e.group = non_empty(group);
    Some(e)
}

/// usermod / passwd / chage / gpasswd changes to one account.
fn user_change(msg: &str) -> Option<AuthEvent<'_>> {
    if let Some(rest) = msg.strip_prefix("password for ") {
        // passwd: `password for 'bob' changed by 'root'`
        let (target, tail) = quoted(rest)?;
        let mut e = iam(USER_CHANGED, "password_changed");
        e.target_user = non_empty(target);
        e.user = tail
            .strip_prefix(" changed by ")
            .and_then(quoted)
            .and_then(|(u, _)| non_empty(u));
        return Some(e);
    }
    if let Some(user) = msg.strip_prefix("password changed for ") {
        let mut e = iam(USER_CHANGED, "password_changed");
        e.target_user = non_empty(user.trim());
        return Some(e);
    }
    if let Some(user) = msg.strip_prefix("changed password expiry for ") {
        let mut e = iam(USER_CHANGED, "password_expiry_changed");
        e.target_user = non_empty(user.trim());
        return Some(e);
    }
    if let Some(rest) = msg.strip_prefix("user ") {
        return gpasswd(rest);
    }
    for (verb, action) in [
        ("change user ", "user_changed"),
        ("lock user ", "user_locked"),
        ("unlock user ", "user_unlocked"),
    ] {
        let Some(rest) = msg.strip_prefix(verb) else {
            continue;
        };
        let rest = rest.strip_prefix("name ").unwrap_or(rest);
        let (user, tail) = quoted(rest)?;
        let action = match (action, tail.trim()) {
            ("user_changed", "password") => "password_changed",
            (a, _) => a,
        };
        let mut e = iam(USER_CHANGED, action);
        e.target_user = non_empty(user);
        return Some(e);
    }
    if let Some(rest) = msg.strip_prefix("failed adding user ") {
        let mut e = iam(USER_CREATED, "user_created").outcome(Outcome::Failure);
        e.target_user = quoted(rest).and_then(|(u, _)| non_empty(u));
        return Some(e);
    }
    None
}

/// gpasswd: `bob added by root to group sudo`, `bob removed by root from group sudo`.
fn gpasswd(rest: &str) -> Option<AuthEvent<'_>> {
    let (target, rest) = rest.split_once(' ')?;
    let (action, rest) = if let Some(r) = rest.strip_prefix("added by ") {
        ("user_added_to_group", r.split_once(" to group ")?)
    } else if let Some(r) = rest.strip_prefix("removed by ") {
        ("user_removed_from_group", r.split_once(" from group ")?)
    } else {
        return None;
    };
    let (actor, group) = rest;
    let mut e = iam(GROUP_CHANGED, action).user(actor);
    e.target_user = non_empty(target);
    e.group = non_empty(group.trim());
    Some(e)
}

/// `'text' rest` → (`text`, ` rest`).
fn quoted(s: &str) -> Option<(&str, &str)> {
    let rest = s.strip_prefix('\'')?;
    let end = rest.find('\'')?;
    Some((&rest[..end], &rest[end + 1..]))
}

/// The `key=value, key=value` list of useradd/groupadd.
#[derive(Default)]
struct Fields<'a> {
    name: Option<&'a str>,
    uid: Option<&'a str>,
    gid: Option<&'a str>,
}

impl<'a> Fields<'a> {
    fn parse(kv: &'a str) -> Self {
        let mut f = Fields::default();
        for (key, value) in kv.split(", ").filter_map(|p| p.split_once('=')) {
            let value = non_empty(value.trim());
            match key.trim() {
                "name" => f.name = value,
                "UID" => f.uid = value,
                "GID" => f.gid = value,
                _ => {}
            }
        }
        f
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn typed(msg: &str) -> AuthEvent<'_> {
        classify(msg).unwrap_or_else(|| panic!("untyped: {msg}"))
    }

    #[test]
    fn users_and_groups() {
        let e = typed(
            "new user: name=bob, UID=1001, GID=1002, home=/home/bob, shell=/bin/bash, from=/dev/pts/0",
        );
        assert_eq!(
            (
                e.category,
                e.types,
                e.action,
                e.target_user,
                e.target_user_id,
                e.group_id
            ),
            (
                "iam",
                USER_CREATED,
                "user_created",
                Some("bob"),
                Some("1001"),
                Some("1002")
            )
        );
        let e = typed("new group: name=devs, GID=1002");
        assert_eq!(
            (e.action, e.group, e.group_id),
            ("group_created", Some("devs"), Some("1002"))
        );
        let e = typed("group added to /etc/group: name=devs, GID=1002");
        assert_eq!((e.action, e.group), ("group_created", Some("devs")));
        let e = typed("add 'bob' to shadow group 'sudo'");
        assert_eq!(
            (e.action, e.target_user, e.group),
            ("user_added_to_group", Some("bob"), Some("sudo"))
        );
        let e = typed("delete user 'bob'");
        assert_eq!((e.action, e.target_user), ("user_deleted", Some("bob")));
        let e = typed("delete 'bob' from group 'sudo'");
        assert_eq!(
            (e.action, e.group),
            ("user_removed_from_group", Some("sudo"))
        );
        let e = typed("removed group 'bob' owned by 'bob'");
        assert_eq!((e.action, e.group), ("group_deleted", Some("bob")));
        let e = typed("group 'devs' removed from /etc/group");
        assert_eq!((e.action, e.group), ("group_deleted", Some("devs")));
        assert!(classify("group 'devs' is busy").is_none());
    }

    #[test]
    fn changes() {
        let e = typed("change user 'bob' password");
        assert_eq!((e.action, e.target_user), ("password_changed", Some("bob")));
        let e = typed("change user 'bob' shell from '/bin/sh' to '/bin/bash'");
        assert_eq!(e.action, "user_changed");
        let e = typed("change user name 'bob' to 'rob'");
        assert_eq!((e.action, e.target_user), ("user_changed", Some("bob")));
        let e = typed("lock user 'bob' password");
        assert_eq!(e.action, "user_locked");
        let e = typed("password for 'bob' changed by 'root'");
        assert_eq!(
            (e.action, e.target_user, e.user),
            ("password_changed", Some("bob"), Some("root"))
        );
        let e = typed("password changed for bob");
        assert_eq!((e.action, e.target_user), ("password_changed", Some("bob")));
        let e = typed("changed password expiry for bob");
        assert_eq!(e.action, "password_expiry_changed");
        let e = typed("user bob added by root to group sudo");
        assert_eq!(
            (e.action, e.user, e.target_user, e.group),
            (
                "user_added_to_group",
                Some("root"),
                Some("bob"),
                Some("sudo")
            )
        );
        let e = typed("failed adding user 'bob', data deleted");
        assert_eq!(
            (e.action, e.outcome),
            ("user_created", Some(Outcome::Failure))
        );
        assert!(classify("something else").is_none());
    }
}

//! ECR lifecycle policies: the rule format with ECR's validation, and which images a
//! policy expires. Pure logic: the images and the current time come in as parameters.
//!
//! Rules (ECR User Guide, "Lifecycle policy properties" and "How lifecycle policies work"):
//! rules apply in ascending `rulePriority`; an image is expired by at most one rule; an image
//! whose tags a higher-priority rule selects cannot be expired by a lower-priority rule, but
//! lower rules still count it; a `tagPrefixList`/`tagPatternList` with several entries
//! selects only images that match all of them (each entry matching any of the image's tags);
//! `imageCountMoreThan N` keeps the newest N selected images; `sinceImagePushed N days`
//! expires selected images pushed more than N days ago; `sinceImagePulled N days` those
//! last pulled (or, never pulled, pushed) more than N days ago; older images expire first.

use serde_json::{Map, Value};

/// ECR's prefix for every lifecycle policy validation message.
pub const VALIDATION_FAILURE: &str = "Lifecycle policy validation failure: ";

/// `LifecyclePolicyText` length bounds (botocore).
pub const TEXT_MIN: usize = 100;
pub const TEXT_MAX: usize = 30720;

const SECONDS_PER_DAY: i64 = 86_400;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LifecyclePolicy {
    /// In ascending priority.
    pub rules: Vec<Rule>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Rule {
    pub priority: u32,
    pub tag_status: TagStatus,
    pub tags: TagFilter,
    pub count: Count,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TagStatus {
    Tagged,
    Untagged,
    Any,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TagFilter {
    None,
    Prefixes(Vec<String>),
    /// `*` matches any run of characters.
    Patterns(Vec<String>),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Count {
    ImageCountMoreThan(u64),
    SinceImagePushedDays(u64),
    SinceImagePulledDays(u64),
}

/// An image as the evaluator sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Image {
    pub digest: String,
    pub tags: Vec<String>,
    /// Unix seconds.
    pub pushed_at: i64,
    /// When it was last pulled (Unix seconds), if ever.
    pub last_pulled_at: Option<i64>,
}

/// One image the policy expires, and the rule that does it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Expiry {
    pub digest: String,
    pub rule_priority: u32,
}

fn fail(detail: impl std::fmt::Display) -> String {
    format!("{VALIDATION_FAILURE}{detail}")
}

fn only_keys(object: &Map<String, Value>, allowed: &[&str], what: &str) -> Result<(), String> {
    match object.keys().find(|k| !allowed.contains(&k.as_str())) {
        Some(k) => Err(fail(format!(
            "{what}: extraneous key [{k}] is not permitted"
        ))),
        None => Ok(()),
    }
}

fn positive_int(value: Option<&Value>, what: &str) -> Result<u64, String> {
    match value {
        None => Err(fail(format!(
            "object has missing required properties ([\"{what}\"])"
        ))),
        Some(v) => v.as_u64().filter(|n| *n >= 1).ok_or_else(|| {
            fail(format!(
                "{what}: {v} is not an integer greater than or equal to 1"
            ))
        }),
    }
}

fn string_list(value: &Value, what: &str) -> Result<Vec<String>, String> {
    let items = value
        .as_array()
        .filter(|a| !a.is_empty())
        .ok_or_else(|| fail(format!("{what} must be a non-empty array of strings")))?;
    items
        .iter()
        .map(|i| {
            i.as_str()
                .filter(|s| !s.is_empty())
                .map(str::to_owned)
                .ok_or_else(|| fail(format!("{what} must contain non-empty strings")))
        })
        .collect()
}

/// Parses and validates a lifecycle policy as ECR does; the error is ECR's
/// `InvalidParameterException` message.
pub fn parse(text: &str) -> Result<LifecyclePolicy, String> {
    let length = text.chars().count();
    if !(TEXT_MIN..=TEXT_MAX).contains(&length) {
        return Err(fail(format!(
            "the policy text must be between {TEXT_MIN} and {TEXT_MAX} characters, not {length}"
        )));
    }
    let doc: Value =
        serde_json::from_str(text).map_err(|e| fail(format!("the policy is not JSON: {e}")))?;
    let doc = doc
        .as_object()
        .ok_or_else(|| fail("the policy must be a JSON object"))?;
    only_keys(doc, &["rules"], "policy")?;
    let rules = doc
        .get("rules")
        .and_then(Value::as_array)
        .filter(|r| !r.is_empty())
        .ok_or_else(|| fail("rules must be a non-empty array"))?;
    let mut parsed: Vec<Rule> = Vec::with_capacity(rules.len());
    for rule in rules {
        parsed.push(parse_rule(rule)?);
    }
    parsed.sort_by_key(|r| r.priority);
    for pair in parsed.windows(2) {
        if pair[0].priority == pair[1].priority {
            return Err(fail(format!(
                "rulePriority {} is used by more than one rule; each rule needs a unique rulePriority",
                pair[0].priority
            )));
        }
    }
    if parsed
        .iter()
        .filter(|r| r.tag_status == TagStatus::Untagged)
        .count()
        > 1
    {
        return Err(fail("only one rule may select untagged images"));
    }
    if let Some(any) = parsed.iter().position(|r| r.tag_status == TagStatus::Any)
        && any + 1 != parsed.len()
    {
        return Err(fail(
            "a rule with tagStatus any must have the highest rulePriority",
        ));
    }
    Ok(LifecyclePolicy { rules: parsed })
}

fn parse_rule(rule: &Value) -> Result<Rule, String> {
    let rule = rule
        .as_object()
        .ok_or_else(|| fail("each rule must be a JSON object"))?;
    only_keys(
        rule,
        &["rulePriority", "description", "selection", "action"],
        "rule",
    )?;
    let priority = positive_int(rule.get("rulePriority"), "rulePriority")?;
    let priority = u32::try_from(priority).map_err(|_| fail("rulePriority is too large"))?;
    if let Some(d) = rule.get("description")
        && !d.is_string()
    {
        return Err(fail("description must be a string"));
    }
    let action = rule
        .get("action")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            fail(format!(
                "rule {priority}: object has missing required properties ([\"action\"])"
            ))
        })?;
    only_keys(action, &["type"], "action")?;
    if action.get("type").and_then(Value::as_str) != Some("expire") {
        return Err(fail(format!(
            "rule {priority}: action type must be \"expire\""
        )));
    }
    let selection = rule
        .get("selection")
        .and_then(Value::as_object)
        .ok_or_else(|| {
            fail(format!(
                "rule {priority}: object has missing required properties ([\"selection\"])"
            ))
        })?;
    only_keys(
        selection,
        &[
            "tagStatus",
            "tagPrefixList",
            "tagPatternList",
            "countType",
            "countUnit",
            "countNumber",
        ],
        "selection",
    )?;
    let tag_status = match selection.get("tagStatus").and_then(Value::as_str) {
        Some("tagged") => TagStatus::Tagged,
        Some("untagged") => TagStatus::Untagged,
        Some("any") => TagStatus::Any,
        Some(other) => {
            return Err(fail(format!(
                "rule {priority}: tagStatus \"{other}\" is not one of tagged, untagged, any"
            )));
        }
        None => {
            return Err(fail(format!(
                "rule {priority}: object has missing required properties ([\"tagStatus\"])"
            )));
        }
    };
    let prefixes = selection.get("tagPrefixList");
    let patterns = selection.get("tagPatternList");
    let tags = match (tag_status, prefixes, patterns) {
        (TagStatus::Tagged, Some(_), Some(_)) => {
            return Err(fail(format!(
                "rule {priority}: tagPrefixList and tagPatternList cannot both be set"
            )));
        }
        (TagStatus::Tagged, Some(p), None) => TagFilter::Prefixes(string_list(p, "tagPrefixList")?),
        (TagStatus::Tagged, None, Some(p)) => {
            let list = string_list(p, "tagPatternList")?;
            if let Some(p) = list.iter().find(|p| p.matches('*').count() > 4) {
                return Err(fail(format!(
                    "rule {priority}: tag pattern \"{p}\" has more than 4 wildcards"
                )));
            }
            TagFilter::Patterns(list)
        }
        (TagStatus::Tagged, None, None) => {
            return Err(fail(format!(
                "rule {priority}: tagPrefixList or tagPatternList is required when tagStatus is tagged"
            )));
        }
        (_, None, None) => TagFilter::None,
        (_, _, _) => {
            return Err(fail(format!(
                "rule {priority}: tagPrefixList and tagPatternList are only allowed when tagStatus is tagged"
            )));
        }
    };
    let number = positive_int(selection.get("countNumber"), "countNumber")?;
    let unit = selection.get("countUnit");
    let count = match selection.get("countType").and_then(Value::as_str) {
        Some("imageCountMoreThan") => {
            if unit.is_some() {
                return Err(fail(format!(
                    "rule {priority}: countUnit is not allowed with countType imageCountMoreThan"
                )));
            }
            Count::ImageCountMoreThan(number)
        }
        Some(kind @ ("sinceImagePushed" | "sinceImagePulled")) => {
            if unit.and_then(Value::as_str) != Some("days") {
                return Err(fail(format!(
                    "rule {priority}: countUnit must be \"days\" with countType {kind}"
                )));
            }
            if kind == "sinceImagePushed" {
                Count::SinceImagePushedDays(number)
            } else {
                Count::SinceImagePulledDays(number)
            }
        }
        Some(other) => {
            return Err(fail(format!(
                "rule {priority}: countType \"{other}\" is not one of imageCountMoreThan, sinceImagePushed, sinceImagePulled"
            )));
        }
        None => {
            return Err(fail(format!(
                "rule {priority}: object has missing required properties ([\"countType\"])"
            )));
        }
    };
    Ok(Rule {
        priority,
        tag_status,
        tags,
        count,
    })
}

impl Rule {
    /// Whether the rule's tag selection picks `image`.
    pub fn selects(&self, image: &Image) -> bool {
        match self.tag_status {
            TagStatus::Any => true,
            TagStatus::Untagged => image.tags.is_empty(),
            TagStatus::Tagged => match &self.tags {
                TagFilter::None => !image.tags.is_empty(),
                TagFilter::Prefixes(prefixes) => prefixes
                    .iter()
                    .all(|p| image.tags.iter().any(|t| t.starts_with(p.as_str()))),
                TagFilter::Patterns(patterns) => patterns.iter().all(|p| {
                    image
                        .tags
                        .iter()
                        .any(|t| berth_types::wildcard_matches(p, t))
                }),
            },
        }
    }
}

/// The images `policy` expires at time `now` (unix seconds), oldest first.
fn days_in_seconds(days: u64) -> i64 {
    i64::try_from(days)
        .unwrap_or(i64::MAX)
        .saturating_mul(SECONDS_PER_DAY)
}

pub fn evaluate(policy: &LifecyclePolicy, images: &[Image], now: i64) -> Vec<Expiry> {
    // Newest first; the digest breaks ties so the answer does not depend on input order.
    let mut order: Vec<&Image> = images.iter().collect();
    order.sort_by(|a, b| b.pushed_at.cmp(&a.pushed_at).then(a.digest.cmp(&b.digest)));
    // Per image (in `order`): selected by an earlier rule, expired by some rule.
    let mut claimed = vec![false; order.len()];
    let mut expired: Vec<Option<u32>> = vec![None; order.len()];
    for rule in &policy.rules {
        let selected: Vec<usize> = (0..order.len())
            .filter(|&i| rule.selects(order[i]))
            .collect();
        for (rank, &i) in selected.iter().enumerate() {
            let due = match rule.count {
                Count::ImageCountMoreThan(n) => u64::try_from(rank).unwrap_or(u64::MAX) >= n,
                Count::SinceImagePushedDays(days) => {
                    order[i].pushed_at < now.saturating_sub(days_in_seconds(days))
                }
                // An image never pulled counts from its push, as in ECR.
                Count::SinceImagePulledDays(days) => {
                    order[i].last_pulled_at.unwrap_or(order[i].pushed_at)
                        < now.saturating_sub(days_in_seconds(days))
                }
            };
            if due && !claimed[i] && expired[i].is_none() {
                expired[i] = Some(rule.priority);
            }
        }
        for &i in &selected {
            claimed[i] = true;
        }
    }
    let mut out: Vec<(i64, Expiry)> = order
        .iter()
        .zip(expired)
        .filter_map(|(image, rule)| {
            rule.map(|rule_priority| {
                (
                    image.pushed_at,
                    Expiry {
                        digest: image.digest.clone(),
                        rule_priority,
                    },
                )
            })
        })
        .collect();
    out.sort_by(|a, b| a.0.cmp(&b.0).then(a.1.digest.cmp(&b.1.digest)));
    out.into_iter().map(|(_, e)| e).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAY: i64 = SECONDS_PER_DAY;
    const NOW: i64 = 1_800_000_000;

    fn policy(rules: &str) -> LifecyclePolicy {
        let text = format!(r#"{{"rules":[{rules}]}}{}"#, " ".repeat(100));
        parse(&text).unwrap_or_else(|e| panic!("{e}"))
    }

    fn rule(priority: u32, selection: &str) -> String {
        format!(
            r#"{{"rulePriority":{priority},"description":"r{priority}","selection":{selection},"action":{{"type":"expire"}}}}"#
        )
    }

    fn image(digest: &str, tags: &[&str], days_ago: i64) -> Image {
        Image {
            last_pulled_at: None,
            digest: digest.into(),
            tags: tags.iter().map(|t| (*t).to_owned()).collect(),
            pushed_at: NOW - days_ago * DAY,
        }
    }

    fn expired(p: &LifecyclePolicy, images: &[Image]) -> Vec<(String, u32)> {
        evaluate(p, images, NOW)
            .into_iter()
            .map(|e| (e.digest, e.rule_priority))
            .collect()
    }

    #[test]
    fn image_count_keeps_the_newest() {
        let p = policy(&rule(
            1,
            r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2}"#,
        ));
        let images = [
            image("a", &["1"], 4),
            image("b", &[], 1),
            image("c", &["3"], 3),
            image("d", &["4"], 2),
        ];
        assert_eq!(expired(&p, &images), vec![("a".into(), 1), ("c".into(), 1)]);
    }

    #[test]
    fn since_image_pulled_counts_from_the_last_pull_or_the_push() {
        let p = policy(&rule(
            1,
            r#"{"tagStatus":"any","countType":"sinceImagePulled","countUnit":"days","countNumber":7}"#,
        ));
        let pulled = |digest: &str, pushed_days_ago: i64, pulled_days_ago: i64| Image {
            last_pulled_at: Some(NOW - pulled_days_ago * DAY),
            ..image(digest, &["t"], pushed_days_ago)
        };
        let images = [
            pulled("old-but-pulled", 90, 1),
            pulled("old-pull", 90, 30),
            image("never-pulled-old", &[], 10),
            image("never-pulled-new", &[], 2),
        ];
        assert_eq!(
            expired(&p, &images),
            vec![("old-pull".into(), 1), ("never-pulled-old".into(), 1)]
        );
    }

    #[test]
    fn since_image_pushed_uses_the_given_time() {
        let p = policy(&rule(
            1,
            r#"{"tagStatus":"untagged","countType":"sinceImagePushed","countUnit":"days","countNumber":14}"#,
        ));
        let images = [
            image("old", &[], 15),
            image("young", &[], 13),
            image("tagged-old", &["v1"], 30),
        ];
        assert_eq!(expired(&p, &images), vec![("old".into(), 1)]);
        // A day later the young one is still within 14 days; 2 days later it is not.
        assert!(evaluate(&p, &images[1..2], NOW + DAY).is_empty());
        assert_eq!(evaluate(&p, &images[1..2], NOW + 2 * DAY).len(), 1);
    }

    #[test]
    fn rule_priority_order_and_claiming() {
        // Rule 1 selects prod* and keeps 1; rule 2 (any) keeps 2 of everything: the prod
        // images count toward rule 2's two but only rule 1 may expire them.
        let p = policy(&format!(
            "{},{}",
            rule(
                2,
                r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":2}"#
            ),
            rule(
                1,
                r#"{"tagStatus":"tagged","tagPrefixList":["prod"],"countType":"imageCountMoreThan","countNumber":1}"#
            )
        ));
        assert_eq!(
            p.rules.iter().map(|r| r.priority).collect::<Vec<_>>(),
            [1, 2]
        );
        let images = [
            image("prod-new", &["prod-2"], 1),
            image("dev-new", &["dev-2"], 2),
            image("prod-old", &["prod-1"], 3),
            image("dev-old", &["dev-1"], 4),
            image("untagged", &[], 5),
        ];
        assert_eq!(
            expired(&p, &images),
            vec![
                ("untagged".into(), 2),
                ("dev-old".into(), 2),
                ("prod-old".into(), 1),
            ]
        );
    }

    #[test]
    fn tag_lists_need_every_entry_to_match() {
        let prefixes = policy(&rule(
            1,
            r#"{"tagStatus":"tagged","tagPrefixList":["prod","v"],"countType":"imageCountMoreThan","countNumber":1}"#,
        ));
        let patterns = policy(&rule(
            1,
            r#"{"tagStatus":"tagged","tagPatternList":["*-rc*","v1.*"],"countType":"imageCountMoreThan","countNumber":1}"#,
        ));
        let images = [
            image("both", &["prod-1", "v1.2-rc1"], 1),
            image("both-old", &["prod-0", "v1.0-rc9"], 2),
            image("prod-only", &["prod-9"], 3),
            image("rc-only", &["x-rc1"], 4),
        ];
        assert_eq!(expired(&prefixes, &images), vec![("both-old".into(), 1)]);
        assert_eq!(expired(&patterns, &images), vec![("both-old".into(), 1)]);
    }

    #[test]
    fn tagged_untagged_any() {
        let untagged = rule(
            1,
            r#"{"tagStatus":"untagged","countType":"imageCountMoreThan","countNumber":1}"#,
        );
        let images = [
            image("t", &["x"], 1),
            image("u1", &[], 2),
            image("u2", &[], 3),
        ];
        assert_eq!(expired(&policy(&untagged), &images), vec![("u2".into(), 1)]);
        let any = rule(
            1,
            r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":1}"#,
        );
        assert_eq!(
            expired(&policy(&any), &images),
            vec![("u2".into(), 1), ("u1".into(), 1)]
        );
    }

    #[test]
    fn validation_failures_say_what_to_fix() {
        let bad = |rules: &str| {
            let text = format!(r#"{{"rules":[{rules}]}}{}"#, " ".repeat(100));
            let e = parse(&text).unwrap_err();
            assert!(e.starts_with(VALIDATION_FAILURE), "{e}");
            e
        };
        let count = r#""countType":"imageCountMoreThan","countNumber":1"#;
        assert!(
            bad(&rule(1, &format!(r#"{{"tagStatus":"tagged",{count}}}"#)))
                .contains("tagPrefixList or tagPatternList")
        );
        assert!(
            bad(&rule(
                1,
                &format!(r#"{{"tagStatus":"untagged","tagPrefixList":["a"],{count}}}"#)
            ))
            .contains("only allowed")
        );
        assert!(bad(&rule(1, &format!(r#"{{"tagStatus":"tagged","tagPrefixList":["a"],"tagPatternList":["b"],{count}}}"#))).contains("both"));
        assert!(
            bad(&rule(
                1,
                &format!(r#"{{"tagStatus":"tagged","tagPatternList":["*a*b*c*d*"],{count}}}"#)
            ))
            .contains("4 wildcards")
        );
        assert!(
            bad(&rule(1, &format!(r#"{{"tagStatus":"Tagged",{count}}}"#))).contains("tagStatus")
        );
        assert!(
            bad(&rule(
                1,
                r#"{"tagStatus":"any","countType":"sinceImagePushed","countNumber":1}"#
            ))
            .contains("countUnit")
        );
        assert!(bad(&rule(1, r#"{"tagStatus":"any","countType":"imageCountMoreThan","countUnit":"days","countNumber":1}"#)).contains("countUnit"));
        assert!(
            bad(&rule(
                1,
                r#"{"tagStatus":"any","countType":"imageCountMoreThan","countNumber":0}"#
            ))
            .contains("countNumber")
        );
        assert!(
            bad(&rule(0, &format!(r#"{{"tagStatus":"any",{count}}}"#))).contains("rulePriority")
        );
        let any = rule(1, &format!(r#"{{"tagStatus":"any",{count}}}"#));
        let untagged = |n| rule(n, &format!(r#"{{"tagStatus":"untagged",{count}}}"#));
        assert!(bad(&format!("{any},{}", untagged(2))).contains("highest rulePriority"));
        assert!(bad(&format!("{},{}", untagged(1), untagged(2))).contains("only one rule"));
        assert!(
            bad(&format!(
                "{},{}",
                untagged(1),
                rule(1, &format!(r#"{{"tagStatus":"any",{count}}}"#))
            ))
            .contains("unique")
        );
        assert!(
            bad(r#"{"rulePriority":1,"selection":{},"action":{"type":"expire"},"extra":1}"#)
                .contains("extraneous key [extra]")
        );
        assert!(
            bad(&rule(1, &format!(r#"{{"tagStatus":"any",{count}}}"#)).replace("expire", "delete"))
                .contains("expire")
        );
        assert!(parse("{}").unwrap_err().contains("between 100 and 30720"));
        assert!(
            parse(&format!("[{}]", " ".repeat(100)))
                .unwrap_err()
                .contains("JSON object")
        );
        assert!(
            parse(&format!("{{{}", " ".repeat(100)))
                .unwrap_err()
                .contains("not JSON")
        );
    }
}

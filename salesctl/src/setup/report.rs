//! What setup did (or, in a dry run, would do), and how it failed. Nothing here ever holds a
//! secret value: steps name resources and ids, the secret section names keys only.

use std::fmt;

use serde::Serialize;

/// Where a step happened.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Provider {
    Stripe,
    Cal,
    Calendly,
    SecretsManager,
}

impl Provider {
    pub fn name(self) -> &'static str {
        match self {
            Provider::Stripe => "Stripe",
            Provider::Cal => "Cal.com",
            Provider::Calendly => "Calendly",
            Provider::SecretsManager => "Secrets Manager",
        }
    }
}

impl fmt::Display for Provider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// What happened to one resource.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// It was missing and was created.
    Created,
    /// It exists as configured: nothing was sent.
    Reused,
    /// It existed and was changed in place.
    Updated,
    /// It could not be changed in place: a new one took its place.
    Replaced,
    /// An old or half-made resource was deleted.
    Deleted,
    /// The provider was not set up (no credentials given).
    Skipped,
}

impl Outcome {
    fn verb(self, dry_run: bool) -> &'static str {
        match (self, dry_run) {
            (Outcome::Created, false) => "created",
            (Outcome::Created, true) => "would create",
            (Outcome::Reused, _) => "reused",
            (Outcome::Updated, false) => "updated",
            (Outcome::Updated, true) => "would update",
            (Outcome::Replaced, false) => "replaced",
            (Outcome::Replaced, true) => "would replace",
            (Outcome::Deleted, false) => "deleted",
            (Outcome::Deleted, true) => "would delete",
            (Outcome::Skipped, _) => "skipped",
        }
    }

    /// Whether the step sends a write to the provider.
    pub fn changes(self) -> bool {
        matches!(
            self,
            Outcome::Created | Outcome::Updated | Outcome::Replaced | Outcome::Deleted
        )
    }
}

/// One resource's outcome.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Step {
    pub provider: Provider,
    /// `product`, `price standard`, `webhook endpoint`, …
    pub resource: String,
    pub outcome: Outcome,
    /// Ids, URLs and the reason for a change; never a secret.
    pub detail: String,
}

impl Step {
    pub fn new(
        provider: Provider,
        resource: impl Into<String>,
        outcome: Outcome,
        detail: impl Into<String>,
    ) -> Step {
        Step {
            provider,
            resource: resource.into(),
            outcome,
            detail: detail.into(),
        }
    }
}

/// Everything one run did, or would do.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Report {
    pub dry_run: bool,
    pub steps: Vec<Step>,
    /// The Secrets Manager secret (id or ARN).
    pub secret_id: String,
    /// The keys of the secret that were (or would be) set: names only, never values.
    pub secret_keys_set: Vec<String>,
    /// Whether a new version of the secret was written.
    pub secret_written: bool,
    pub warnings: Vec<String>,
}

impl Report {
    pub fn new(secret_id: &str, dry_run: bool) -> Report {
        Report {
            dry_run,
            steps: Vec::new(),
            secret_id: secret_id.to_owned(),
            secret_keys_set: Vec::new(),
            secret_written: false,
            warnings: Vec::new(),
        }
    }

    /// Whether the run changed (or would change) anything anywhere.
    pub fn changed_anything(&self) -> bool {
        self.steps.iter().any(|s| s.outcome.changes()) || !self.secret_keys_set.is_empty()
    }
}

impl fmt::Display for Report {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        if self.dry_run {
            writeln!(f, "dry run: nothing was changed")?;
        }
        for step in &self.steps {
            writeln!(
                f,
                "{:<16} {:<20} {:<13} {}",
                step.provider.name(),
                step.resource,
                step.outcome.verb(self.dry_run),
                step.detail
            )?;
        }
        let keys = self.secret_keys_set.join(", ");
        match (self.dry_run, self.secret_keys_set.is_empty()) {
            (_, true) => writeln!(
                f,
                "{:<16} {:<20} {:<13} {} (no key to change)",
                "Secrets Manager", "secret", "unchanged", self.secret_id
            )?,
            (true, false) => writeln!(
                f,
                "{:<16} {:<20} {:<13} {}: {keys} (values not shown; other keys kept)",
                "Secrets Manager", "secret", "would set", self.secret_id
            )?,
            (false, false) => writeln!(
                f,
                "{:<16} {:<20} {:<13} {}: {keys} (values not shown; other keys kept)",
                "Secrets Manager", "secret", "set", self.secret_id
            )?,
        }
        for warning in &self.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        if !self.dry_run && !self.changed_anything() {
            writeln!(f, "everything was already set up: nothing changed")?;
        }
        if !self.dry_run && self.secret_written {
            writeln!(
                f,
                "the functions read the secret at cold start: new instances pick it up (or update \
                 a function's configuration to start them now)"
            )?;
        }
        Ok(())
    }
}

/// Why setup stopped, and what to do about it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SetupError {
    pub provider: Provider,
    /// What was being done: `listing webhooks`, `creating the founding price`, …
    pub action: String,
    /// What the provider said.
    pub problem: String,
    /// What to do about it.
    pub fix: String,
}

impl SetupError {
    pub fn new(
        provider: Provider,
        action: impl Into<String>,
        problem: impl Into<String>,
        fix: impl Into<String>,
    ) -> SetupError {
        SetupError {
            provider,
            action: action.into(),
            problem: problem.into(),
            fix: fix.into(),
        }
    }
}

impl fmt::Display for SetupError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{}: {} failed: {}\nwhat to do: {}",
            self.provider, self.action, self.problem, self.fix
        )
    }
}

impl std::error::Error for SetupError {}

/// A failed run: the error, and what had been done (and undone) before it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Failure {
    pub error: SetupError,
    pub report: Report,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "{}", self.error)?;
        if !self.report.steps.is_empty() {
            writeln!(f, "done before it stopped:")?;
            for step in &self.report.steps {
                writeln!(
                    f,
                    "  {:<16} {:<20} {:<13} {}",
                    step.provider.name(),
                    step.resource,
                    step.outcome.verb(false),
                    step.detail
                )?;
            }
        }
        for warning in &self.report.warnings {
            writeln!(f, "warning: {warning}")?;
        }
        write!(
            f,
            "the secret {} was not changed; setup is safe to run again once this is fixed",
            self.report.secret_id
        )
    }
}

impl std::error::Error for Failure {}

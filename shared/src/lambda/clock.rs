//! Where handlers get the time from (tests fix it).

use std::sync::Arc;

use time::OffsetDateTime;

/// Where handlers get the time from (tests fix it).
#[derive(Clone)]
pub struct Clock(Arc<dyn Fn() -> OffsetDateTime + Send + Sync>);

impl Clock {
    pub fn system() -> Self {
        Clock(Arc::new(OffsetDateTime::now_utc))
    }
    pub fn fixed(at: OffsetDateTime) -> Self {
        Clock(Arc::new(move || at))
    }
    pub fn now(&self) -> OffsetDateTime {
        (self.0)()
    }
}

impl std::fmt::Debug for Clock {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Clock")
    }
}

impl Default for Clock {
    fn default() -> Self {
        Clock::system()
    }
}

//! The processes the harness starts: each one is stopped by its PID when its handle is dropped,
//! a panic hook stops whatever is still running (the release profile aborts on panic, so no
//! destructor would run), and each child is set to receive SIGKILL if the harness dies.

use std::os::unix::process::CommandExt;
use std::process::{Child, Command};
use std::sync::Mutex;
use std::time::{Duration, Instant};

static RUNNING: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn running() -> std::sync::MutexGuard<'static, Vec<u32>> {
    RUNNING.lock().unwrap_or_else(|e| e.into_inner())
}

/// Stops every process still registered (panic hook; also the end of `main`).
pub fn stop_all() {
    let pids: Vec<u32> = running().drain(..).collect();
    for pid in pids {
        kill(pid, libc::SIGKILL);
    }
}

pub fn install_panic_hook() {
    let default = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        stop_all();
        default(info);
    }));
}

fn kill(pid: u32, signal: libc::c_int) {
    if let Ok(pid) = libc::pid_t::try_from(pid) {
        // SAFETY: kill(2) with a PID this harness started and has not reaped yet.
        unsafe {
            libc::kill(pid, signal);
        }
    }
}

/// A started process.
pub struct Proc {
    pub name: String,
    child: Child,
    stopped: bool,
}

impl Proc {
    pub fn spawn(name: &str, command: &mut Command) -> Result<Proc, String> {
        // SAFETY: prctl(2) only, between fork and exec. The child gets SIGKILL when the thread
        // that started it ends (a tokio worker lives as long as the harness), so nothing
        // outlives a harness that was killed.
        unsafe {
            command.pre_exec(|| {
                libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGKILL);
                Ok(())
            });
        }
        let child = command
            .spawn()
            .map_err(|e| format!("could not start {name}: {e}"))?;
        running().push(child.id());
        Ok(Proc {
            name: name.to_owned(),
            child,
            stopped: false,
        })
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// `Err` with the exit status if the process has ended.
    pub fn alive(&mut self) -> Result<(), String> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(format!("{} exited: {status}", self.name)),
            Err(e) => Err(format!("{}: {e}", self.name)),
        }
    }

    /// A field of /proc/<pid>/status, in kB (VmHWM: peak resident set).
    pub fn status_kb(&self, field: &str) -> Option<u64> {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).ok()?;
        status.lines().find_map(|line| {
            let rest = line.strip_prefix(field)?.strip_prefix(':')?;
            rest.split_whitespace().next()?.parse().ok()
        })
    }

    /// SIGTERM, then SIGKILL if it is still there after `grace`; reaps it.
    pub fn stop(&mut self, grace: Duration) {
        if self.stopped {
            return;
        }
        self.stopped = true;
        let pid = self.pid();
        if self.child.try_wait().ok().flatten().is_none() {
            kill(pid, libc::SIGTERM);
            let deadline = Instant::now() + grace;
            while Instant::now() < deadline {
                if self.child.try_wait().ok().flatten().is_some() {
                    break;
                }
                std::thread::sleep(Duration::from_millis(10));
            }
            if self.child.try_wait().ok().flatten().is_none() {
                let _ = self.child.kill();
            }
        }
        let _ = self.child.wait();
        running().retain(|p| *p != pid);
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        self.stop(Duration::from_millis(500));
    }
}

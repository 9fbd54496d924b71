//! A page in headless Chromium, driven over the DevTools protocol
//! (`headless_chrome`), with what the page said while it ran: console
//! errors, uncaught exceptions, the browser's own error log, and every URL
//! it asked for.

use base64::Engine;
use headless_chrome::browser::tab::element::Element;
use headless_chrome::protocol::cdp::types::Event;
use headless_chrome::protocol::cdp::{Log, Network, Page, Runtime};
use headless_chrome::{Browser, LaunchOptions, Tab};
use serde::Deserialize;
use std::path::Path;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// The console message that marks the end of a check (see [`Loaded::settle`]).
const SETTLED: &str = "seglab-test: settled";

/// What the DevTools protocol said about the page while it ran: its errors
/// (console, uncaught exceptions, the browser's own log) and every URL it
/// asked for.
#[derive(Default)]
struct Seen {
    errors: Vec<String>,
    requests: Vec<String>,
    settled: usize,
}

fn remote_text(o: &Runtime::RemoteObject) -> String {
    match (&o.value, &o.description) {
        (Some(serde_json::Value::String(s)), _) => s.clone(),
        (Some(v), _) => v.to_string(),
        (None, Some(d)) => d.clone(),
        (None, None) => format!("{:?}", o.Type),
    }
}

fn on_event(seen: &Mutex<Seen>, event: &Event) {
    use Runtime::ConsoleAPICalledEventTypeOption as Console;
    let mut seen = seen.lock().unwrap();
    match event {
        Event::RuntimeConsoleAPICalled(e) => {
            let args: Vec<String> = e.params.args.iter().map(remote_text).collect();
            let text = args.join(" ");
            if text == SETTLED {
                seen.settled += 1;
            } else if matches!(e.params.Type, Console::Error | Console::Assert) {
                let kind = format!("{:?}", e.params.Type).to_lowercase();
                seen.errors.push(format!("console.{kind}: {text}"));
            }
        }
        Event::RuntimeExceptionThrown(e) => {
            let d = &e.params.exception_details;
            let what = d.exception.as_ref().map(remote_text).unwrap_or_default();
            seen.errors.push(format!(
                "uncaught exception at {}:{}: {} {what}",
                d.line_number + 1,
                d.column_number + 1,
                d.text
            ));
        }
        Event::LogEntryAdded(e) if e.params.entry.level == Log::LogEntryLevel::Error => {
            let entry = &e.params.entry;
            seen.errors.push(format!(
                "log ({:?}): {} {}",
                entry.source,
                entry.text,
                entry.url.as_deref().unwrap_or_default()
            ));
        }
        Event::NetworkRequestWillBeSent(e) => seen.requests.push(e.params.request.url.clone()),
        _ => {}
    }
}

/// The `file://` URL of `path` as the browser spells it (absolute path,
/// the characters a URL path cannot hold as they are percent-encoded).
fn file_url(path: &Path) -> String {
    let path = std::path::absolute(path).expect("an absolute path");
    let mut url = String::from("file://");
    for b in path.to_str().expect("a UTF-8 path").bytes() {
        match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'/' | b'-' | b'_' | b'.' | b'~' => {
                url.push(b as char)
            }
            _ => url.push_str(&format!("%{b:02X}")),
        }
    }
    url
}

/// A page open in headless Chromium, watched from before it began loading.
pub struct Loaded {
    // Dropping the browser ends its process.
    _browser: Browser,
    pub tab: Arc<Tab>,
    seen: Arc<Mutex<Seen>>,
    url: String,
}

impl Loaded {
    pub fn open(chromium: &Path, file: &Path) -> Loaded {
        let browser = Browser::new(LaunchOptions {
            path: Some(chromium.to_path_buf()),
            headless: true,
            // Chromium refuses its sandbox as root (tests run as root).
            sandbox: false,
            window_size: Some((1400, 1000)),
            ..LaunchOptions::default()
        })
        .unwrap_or_else(|e| panic!("{} does not start: {e:#}", chromium.display()));
        let tab = browser.new_tab().expect("a tab");
        let seen = Arc::new(Mutex::new(Seen::default()));
        let sink = Arc::clone(&seen);
        tab.add_event_listener(Arc::new(move |e: &Event| on_event(&sink, e)))
            .expect("listener");
        // Every domain whose events we judge is on before the page loads.
        tab.enable_runtime().expect("Runtime.enable");
        tab.enable_log().expect("Log.enable");
        tab.call_method(Network::Enable {
            max_total_buffer_size: None,
            max_resource_buffer_size: None,
            max_post_data_size: None,
            report_direct_socket_traffic: None,
            enable_durable_messages: None,
        })
        .expect("Network.enable");
        let url = file_url(file);
        tab.navigate_to(&url)
            .and_then(|t| t.wait_until_navigated())
            .unwrap_or_else(|e| panic!("{url} does not load: {e:#}"));
        Loaded {
            _browser: browser,
            tab,
            seen,
            url,
        }
    }

    /// Runs `js` (an expression whose value is a JSON string) in the page.
    pub fn json<T: for<'de> Deserialize<'de>>(&self, js: &str) -> T {
        let v = self
            .tab
            .evaluate(js, false)
            .unwrap_or_else(|e| panic!("evaluate {js}: {e:#}"));
        let text = v
            .value
            .as_ref()
            .and_then(|v| v.as_str())
            .unwrap_or_else(|| panic!("{js} gave no string: {v:?}"));
        serde_json::from_str(text).unwrap_or_else(|e| panic!("{js} gave {text}: {e}"))
    }

    /// The one element `selector` matches (a CSS selector).
    pub fn element(&self, selector: &str) -> Element<'_> {
        self.tab
            .find_element(selector)
            .unwrap_or_else(|e| panic!("no {selector} in the page: {e:#}"))
    }

    /// Waits until the page's timers of 0 ms have run and the protocol has
    /// delivered every event sent before now: events arrive in order, so
    /// once a marker logged now is seen, so is everything before it.
    fn settle(&self) {
        let before = self.seen.lock().unwrap().settled;
        self.tab
            .evaluate(
                &format!(
                    "new Promise(r => setTimeout(() => {{ console.log('{SETTLED}'); r(); }}, 50))"
                ),
                true,
            )
            .expect("settle");
        let t0 = Instant::now();
        while self.seen.lock().unwrap().settled == before {
            assert!(
                t0.elapsed() < Duration::from_secs(10),
                "the marker logged by the test never came back over the DevTools protocol"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// A PNG of the whole page, beyond the window too.
    pub fn screenshot(&self) -> Vec<u8> {
        let (width, height): (f64, f64) = self.json(
            // From the top: a page scrolled (to click) is captured shifted.
            "window.scrollTo(0, 0), JSON.stringify([document.documentElement.scrollWidth, document.documentElement.scrollHeight])",
        );
        let clip = Page::Viewport {
            x: 0.0,
            y: 0.0,
            width,
            height,
            scale: 1.0,
        };
        // Tab::capture_screenshot leaves out what lies beyond the window.
        let shot = self
            .tab
            .call_method(Page::CaptureScreenshot {
                format: Some(Page::CaptureScreenshotFormatOption::Png),
                quality: None,
                clip: Some(clip),
                from_surface: Some(true),
                capture_beyond_viewport: Some(true),
                optimize_for_speed: None,
            })
            .expect("a screenshot");
        base64::engine::general_purpose::STANDARD
            .decode(shot.data)
            .expect("a screenshot in base64")
    }

    pub fn errors(&self) -> Vec<String> {
        self.settle();
        self.seen.lock().unwrap().errors.clone()
    }

    /// The URLs the page asked for besides itself (inline `data:` is no fetch).
    pub fn fetched(&self) -> Vec<String> {
        self.settle();
        let seen = self.seen.lock().unwrap();
        seen.requests
            .iter()
            .filter(|u| **u != self.url && !u.starts_with("data:"))
            .cloned()
            .collect()
    }
}

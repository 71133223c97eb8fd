//! What an Autobahn|Testsuite client testee asks the fuzzing server, in
//! order: the number of cases (`/getCaseCount`), every case
//! (`/runCase?case=N&agent=A`), then the report update
//! (`/updateReports?agent=A`). Shared by `examples/autobahn_client.rs` and
//! wsmachine-tokio's `examples/autobahn_tokio_client.rs`, which differ only in
//! how they run one connection.

/// The fuzzing server named on the command line (default
/// `ws://127.0.0.1:9001`) and the agent name the reports use.
pub(crate) struct Suite {
    base: String,
    agent: &'static str,
}

impl Suite {
    pub(crate) fn from_args(agent: &'static str) -> Self {
        let base = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:9001".to_owned());
        Self { base: base.trim_end_matches('/').to_owned(), agent }
    }

    /// Where the number of cases is asked.
    pub(crate) fn case_count_url(&self) -> String {
        format!("{}/getCaseCount", self.base)
    }

    /// The number of cases, from the first message of the connection to
    /// [`case_count_url`](Self::case_count_url).
    pub(crate) fn case_count(&self, answer: Option<&[u8]>) -> Result<usize, Box<dyn std::error::Error>> {
        let count = answer.and_then(|a| std::str::from_utf8(a).ok()?.trim().parse().ok());
        let count = count.ok_or("getCaseCount did not answer a number")?;
        eprintln!("{}: {count} cases", self.agent);
        Ok(count)
    }

    /// Every case, then the report update: the connections to run, in order.
    pub(crate) fn runs(&self, count: usize) -> impl Iterator<Item = String> + '_ {
        let cases = (1..=count).map(|case| format!("{}/runCase?case={case}&agent={}", self.base, self.agent));
        cases.chain(std::iter::once(format!("{}/updateReports?agent={}", self.base, self.agent)))
    }
}

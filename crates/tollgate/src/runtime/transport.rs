//! How an attempt reaches the server: reqwest's client, or the runtime's own HTTP/1 transport
//! on the crates reqwest itself is built on (hyper-util's pooled client, rustls through
//! hyper-rustls, the platform's certificate verifier).
//!
//! Why a transport of its own: reqwest's `execute` runs every request through layers the
//! runtime does not use (its redirect layer parses the URL again from text on every request,
//! its retry layer, proxy matching, a second URL per answer). On the benchmark's loopback call,
//! sending with this transport instead took about 26,000 instructions off a call through the
//! client (101,000 to 75,000, under callgrind; the same call with reqwest alone takes 84,500).
//! The runtime already decides redirects, retries and timeouts itself.
//!
//! The own transport is used when nothing asks for reqwest's: the client was not given an HTTP
//! client builder of the caller's ([`ClientBuilder::http_client`](super::ClientBuilder::http_client),
//! [`Runtime::with_http`](super::Runtime::with_http): proxies, extra roots, client certificates
//! are set there), no proxy is configured in the environment (`HTTP_PROXY`, `HTTPS_PROXY`,
//! `ALL_PROXY`, in either case), and a TLS feature is on. Otherwise reqwest sends, as before.
//!
//! What the own transport keeps of reqwest's behaviour, as the runtime configures it: HTTP/1.1
//! (ALPN `http/1.1`), TLS 1.2 and 1.3 with the process's rustls crypto provider (else the
//! feature's) and the platform's verifier, `TCP_NODELAY`, connections kept 90 s when idle, the
//! connect timeout, the total timeout of an attempt up to the answer's last byte, the read
//! timeout between two pieces of the answer, the `User-Agent` and an `Accept: */*` where the
//! request has none, no redirect followed, and the answer's `url()`.

use std::error::Error as StdError;
use std::fmt;
use std::time::Duration;

#[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
pub(crate) use own::Own;

/// An error from below the runtime, boxed.
pub(crate) type BoxError = Box<dyn StdError + Send + Sync>;

/// Why an attempt got no answer.
#[derive(Debug)]
pub(crate) struct SendFailure {
    /// The connection could not be opened: the server never saw the request.
    pub(crate) connect: bool,
    /// A timeout ran out.
    pub(crate) timeout: bool,
    /// What failed below.
    pub(crate) source: BoxError,
}

impl fmt::Display for SendFailure {
    /// The error and its causes, as one line.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", self.source)?;
        let mut cause = self.source.source();
        while let Some(c) = cause {
            write!(f, ": {c}")?;
            cause = c.source();
        }
        Ok(())
    }
}

impl From<reqwest::Error> for SendFailure {
    fn from(error: reqwest::Error) -> Self {
        SendFailure {
            connect: error.is_connect(),
            timeout: error.is_timeout(),
            source: Box::new(error.without_url()),
        }
    }
}

/// The timeouts an attempt runs under.
#[derive(Clone, Copy, Debug)]
#[cfg_attr(
    not(any(feature = "rustls-aws-lc", feature = "rustls-ring")),
    allow(dead_code)
)]
pub(crate) struct Timeouts {
    /// From sending to the answer's last byte.
    pub(crate) total: Duration,
    /// To open a connection.
    pub(crate) connect: Duration,
    /// Between two pieces of the answer.
    pub(crate) read: Option<Duration>,
}

/// What sends an attempt.
pub(crate) enum Transport {
    /// reqwest's client (the caller's builder, a proxy, or no TLS feature).
    Reqwest(reqwest::Client),
    /// The runtime's own HTTP/1 transport.
    #[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
    Own(Box<Own>),
}

/// The own transport's TLS settings, made before reqwest's client so that the two share them
/// (the platform's root certificates are read once per client, not twice).
#[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
pub(crate) struct OwnTls(rustls::ClientConfig);

/// The own transport's TLS settings: none exist without a TLS feature.
#[cfg(not(any(feature = "rustls-aws-lc", feature = "rustls-ring")))]
pub(crate) enum OwnTls {}

impl OwnTls {
    /// The settings for a client that may use the own transport (`allowed`: no HTTP client
    /// builder of the caller's, no proxy in the environment); `None` where reqwest sends.
    pub(crate) fn prepare(allowed: bool) -> Result<Option<OwnTls>, crate::Error> {
        #[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
        if allowed {
            return Ok(Some(OwnTls(own::tls_config()?)));
        }
        let _ = allowed;
        Ok(None)
    }

    /// reqwest's client with the same TLS settings (it builds the requests, and sends any
    /// that a caller of `Runtime::http()` sends with it).
    pub(crate) fn share_with(&self, http: reqwest::ClientBuilder) -> reqwest::ClientBuilder {
        #[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
        return http.tls_backend_preconfigured(self.0.clone());
        #[cfg(not(any(feature = "rustls-aws-lc", feature = "rustls-ring")))]
        {
            let _ = http;
            match *self {}
        }
    }
}

impl Transport {
    /// The own transport, with `tls`.
    pub(crate) fn own(
        tls: OwnTls,
        timeouts: Timeouts,
        user_agent: &str,
    ) -> Result<Transport, crate::Error> {
        #[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
        return Ok(Transport::Own(Box::new(Own::new(
            tls.0, timeouts, user_agent,
        )?)));
        #[cfg(not(any(feature = "rustls-aws-lc", feature = "rustls-ring")))]
        {
            let _ = (timeouts, user_agent);
            match tls {}
        }
    }

    /// Whether this is the runtime's own transport.
    pub(crate) fn is_own(&self) -> bool {
        !matches!(self, Transport::Reqwest(_))
    }

    /// Sends one attempt.
    pub(crate) async fn send(
        &self,
        request: reqwest::Request,
    ) -> Result<reqwest::Response, SendFailure> {
        match self {
            Transport::Reqwest(http) => Ok(http.execute(request).await?),
            #[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
            Transport::Own(own) => own.send(request).await,
        }
    }
}

/// Whether the environment configures a proxy reqwest would use: then reqwest sends.
pub(crate) fn proxy_configured(var: impl Fn(&str) -> Option<String>) -> bool {
    super::PROXY_VARIABLES
        .iter()
        .any(|name| var(name).is_some_and(|v| !v.trim().is_empty()))
}

#[cfg(any(feature = "rustls-aws-lc", feature = "rustls-ring"))]
mod own {
    use std::error::Error as StdError;
    use std::fmt;
    use std::pin::Pin;
    use std::task::{Context, Poll};
    use std::time::Duration;

    use bytes::Bytes;
    use http_body::{Body, Frame, SizeHint};
    use reqwest::header::{ACCEPT, HeaderValue, USER_AGENT};
    use tokio::time::{Instant, Sleep};

    use super::{BoxError, SendFailure, Timeouts};

    /// A timeout of the own transport ran out.
    #[derive(Debug)]
    struct TimedOut(&'static str);

    impl fmt::Display for TimedOut {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl StdError for TimedOut {}

    type Connector =
        hyper_rustls::HttpsConnector<hyper_util::client::legacy::connect::HttpConnector>;

    /// The runtime's own HTTP/1 transport.
    pub(crate) struct Own {
        client: hyper_util::client::legacy::Client<Connector, reqwest::Body>,
        timeouts: Timeouts,
        user_agent: HeaderValue,
    }

    impl Own {
        pub(super) fn new(
            tls: rustls::ClientConfig,
            timeouts: Timeouts,
            user_agent: &str,
        ) -> Result<Own, crate::Error> {
            use hyper_util::client::legacy::{Client, connect::HttpConnector};
            use hyper_util::rt::{TokioExecutor, TokioTimer};
            let user_agent = HeaderValue::from_str(user_agent).map_err(|_| {
                crate::Error::InvalidSetting(format!(
                    "the user agent `{user_agent}` is not a valid header value"
                ))
            })?;
            let mut http = HttpConnector::new();
            http.enforce_http(false);
            http.set_nodelay(true);
            http.set_connect_timeout(Some(timeouts.connect));
            let connector = hyper_rustls::HttpsConnectorBuilder::new()
                .with_tls_config(tls)
                .https_or_http()
                .enable_http1()
                .wrap_connector(http);
            let client = Client::builder(TokioExecutor::new())
                .pool_idle_timeout(Duration::from_secs(90))
                .pool_timer(TokioTimer::new())
                .timer(TokioTimer::new())
                .build(connector);
            Ok(Own {
                client,
                timeouts,
                user_agent,
            })
        }

        pub(super) async fn send(
            &self,
            request: reqwest::Request,
        ) -> Result<reqwest::Response, SendFailure> {
            use reqwest::ResponseBuilderExt;
            let total = request.timeout().copied().unwrap_or(self.timeouts.total);
            let mut timer = Box::pin(tokio::time::sleep(total));
            let url = request.url().clone();
            let mut request = http::Request::try_from(request)?;
            let headers = request.headers_mut();
            if !headers.contains_key(USER_AGENT) {
                headers.insert(USER_AGENT, self.user_agent.clone());
            }
            if !headers.contains_key(ACCEPT) {
                headers.insert(ACCEPT, HeaderValue::from_static("*/*"));
            }
            let mut read = self
                .timeouts
                .read
                .map(|d| (d, Box::pin(tokio::time::sleep(d))));
            let mut sent = std::pin::pin!(self.client.request(request));
            // The timer is armed before the request is handed to its connection: on a
            // multi-thread runtime whose driver sleeps with no timer, arming one wakes it, and
            // a wake made before the hand-over is the one the hand-over needs anyway (counted
            // with `strace` over 5,000 calls one at a time: 1.3 wakes per call more than raw
            // reqwest when armed after, 0.3 when armed before).
            let head = std::future::poll_fn(|cx| {
                if timer.as_mut().poll(cx).is_ready() {
                    return Poll::Ready(Err("no answer within the timeout"));
                }
                if let Poll::Ready(result) = sent.as_mut().poll(cx) {
                    return Poll::Ready(Ok(result));
                }
                if let Some((_, sleep)) = &mut read
                    && sleep.as_mut().poll(cx).is_ready()
                {
                    return Poll::Ready(Err("no answer within the read timeout"));
                }
                Poll::Pending
            })
            .await;
            let answer = match head {
                Err(what) => return Err(timed_out(what)),
                Ok(result) => result,
            };
            let answer = match answer {
                Err(error) => {
                    let timeout = chain_timed_out(&error);
                    return Err(SendFailure {
                        connect: error.is_connect(),
                        timeout,
                        source: Box::new(error),
                    });
                }
                Ok(answer) => answer,
            };
            let (parts, body) = answer.into_parts();
            // The read timeout counts again from the head's arrival, as from each piece after.
            if let Some((every, sleep)) = &mut read {
                sleep.as_mut().reset(Instant::now() + *every);
            }
            let body = reqwest::Body::wrap(Timed {
                inner: body,
                total: timer,
                read,
            });
            let mut answer =
                http::Response::builder()
                    .url(url)
                    .body(body)
                    .map_err(|e| SendFailure {
                        connect: false,
                        timeout: false,
                        source: Box::new(e),
                    })?;
            *answer.status_mut() = parts.status;
            *answer.version_mut() = parts.version;
            *answer.headers_mut() = parts.headers;
            answer.extensions_mut().extend(parts.extensions);
            Ok(reqwest::Response::from(answer))
        }
    }

    /// rustls as reqwest configures it for the runtime: the process's crypto provider (else the
    /// feature's), TLS 1.2 and 1.3, the platform's verifier (ALPN `http/1.1` comes from the
    /// connector).
    pub(super) fn tls_config() -> Result<rustls::ClientConfig, crate::Error> {
        use std::sync::Arc;
        let invalid = |what: &str, e: &dyn fmt::Display| {
            crate::Error::InvalidSetting(format!("TLS could not be set up ({what}): {e}"))
        };
        let provider = match rustls::crypto::CryptoProvider::get_default() {
            Some(provider) => Arc::clone(provider),
            None => default_provider(),
        };
        let verifier = rustls_platform_verifier::Verifier::new(Arc::clone(&provider))
            .map_err(|e| invalid("the platform's certificate verifier", &e))?;
        // ALPN (`http/1.1`) is set by hyper-rustls's `enable_http1`.
        let config = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()
            .map_err(|e| invalid("the protocol versions", &e))?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(verifier))
            .with_no_client_auth();
        Ok(config)
    }

    #[cfg(feature = "rustls-aws-lc")]
    fn default_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
        std::sync::Arc::new(rustls::crypto::aws_lc_rs::default_provider())
    }

    #[cfg(all(feature = "rustls-ring", not(feature = "rustls-aws-lc")))]
    fn default_provider() -> std::sync::Arc<rustls::crypto::CryptoProvider> {
        std::sync::Arc::new(rustls::crypto::ring::default_provider())
    }

    fn timed_out(what: &'static str) -> SendFailure {
        SendFailure {
            connect: false,
            timeout: true,
            source: Box::new(TimedOut(what)),
        }
    }

    /// Whether a timeout is among an error's causes (a connect timeout: an I/O `TimedOut`).
    fn chain_timed_out(error: &(dyn StdError + 'static)) -> bool {
        let mut cause: Option<&(dyn StdError + 'static)> = Some(error);
        while let Some(c) = cause {
            if c.is::<TimedOut>()
                || c.downcast_ref::<std::io::Error>()
                    .is_some_and(|io| io.kind() == std::io::ErrorKind::TimedOut)
            {
                return true;
            }
            cause = c.source();
        }
        false
    }

    /// An answer's body under the attempt's timeouts: the total one (to the last byte) and the
    /// read one (between two pieces). A timeout ends the body with an I/O `TimedOut` error, which
    /// reqwest reports as a timeout.
    struct Timed<B> {
        inner: B,
        total: Pin<Box<Sleep>>,
        read: Option<(Duration, Pin<Box<Sleep>>)>,
    }

    impl<B> Body for Timed<B>
    where
        B: Body<Data = Bytes> + Unpin,
        B::Error: Into<BoxError>,
    {
        type Data = Bytes;
        type Error = BoxError;

        fn poll_frame(
            mut self: Pin<&mut Self>,
            cx: &mut Context<'_>,
        ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
            let this = &mut *self;
            if let Poll::Ready(frame) = Pin::new(&mut this.inner).poll_frame(cx) {
                if let (Some(Ok(_)), Some((every, sleep))) = (&frame, &mut this.read) {
                    sleep.as_mut().reset(Instant::now() + *every);
                }
                return Poll::Ready(frame.map(|f| f.map_err(Into::into)));
            }
            let expired = |what: &'static str| {
                let error = std::io::Error::new(std::io::ErrorKind::TimedOut, TimedOut(what));
                Poll::Ready(Some(Err(Box::new(error) as BoxError)))
            };
            if this.total.as_mut().poll(cx).is_ready() {
                return expired("the answer did not arrive in full within the timeout");
            }
            if let Some((_, sleep)) = &mut this.read
                && sleep.as_mut().poll(cx).is_ready()
            {
                return expired("no part of the answer arrived within the read timeout");
            }
            Poll::Pending
        }

        fn is_end_stream(&self) -> bool {
            self.inner.is_end_stream()
        }

        fn size_hint(&self) -> SizeHint {
            self.inner.size_hint()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_proxy_variable_in_either_case_sends_through_reqwest() {
        let only = |set: String, value: &'static str| {
            move |name: &str| (name == set).then(|| value.to_owned())
        };
        assert!(!proxy_configured(|_| None));
        // reqwest's three, each in upper and lower case.
        for scheme in ["HTTP", "HTTPS", "ALL"] {
            for name in [
                format!("{scheme}_PROXY"),
                format!("{scheme}_proxy").to_lowercase(),
            ] {
                assert!(
                    proxy_configured(only(name.clone(), "http://proxy:3128")),
                    "{name}"
                );
            }
        }
        // An empty value configures no proxy; NO_PROXY alone neither.
        assert!(!proxy_configured(only("HTTPS_PROXY".into(), " ")));
        assert!(!proxy_configured(only("NO_PROXY".into(), "example.com")));
    }

    #[test]
    fn a_failure_reads_as_its_chain_of_causes() {
        let io = std::io::Error::new(std::io::ErrorKind::TimedOut, TimedOutForTest);
        let failure = SendFailure {
            connect: false,
            timeout: true,
            source: Box::new(io),
        };
        assert_eq!(failure.to_string(), "slow: the cause");
    }

    #[derive(Debug)]
    struct TimedOutForTest;

    impl fmt::Display for TimedOutForTest {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("slow")
        }
    }

    impl StdError for TimedOutForTest {
        fn source(&self) -> Option<&(dyn StdError + 'static)> {
            Some(&Cause)
        }
    }

    #[derive(Debug)]
    struct Cause;

    impl fmt::Display for Cause {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("the cause")
        }
    }

    impl StdError for Cause {}
}

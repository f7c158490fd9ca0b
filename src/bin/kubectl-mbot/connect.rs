//! Reaching the cluster as kubectl would (kubeconfig, context, namespace),
//! and turning API errors into messages that say what to do.

use crate::cli::Global;
use anyhow::{Context, anyhow};
use kube::config::{KubeConfigOptions, Kubeconfig};
use kube::{Api, Client, Config};
use meetingbot_operator::api::MeetingBot;

/// A client and the namespace that commands act in.
pub struct Target {
    pub client: Client,
    pub namespace: String,
}

impl Target {
    pub fn bots(&self) -> Api<MeetingBot> {
        Api::namespaced(self.client.clone(), &self.namespace)
    }

    /// Reads one MeetingBot; a missing one is an error that says how to find it.
    pub async fn bot(&self, name: &str) -> anyhow::Result<MeetingBot> {
        let found = self
            .bots()
            .get_opt(name)
            .await
            .map_err(|e| api_error(e, &format!("reading MeetingBot {name}")))?;
        found.ok_or_else(|| {
            anyhow!(
                "MeetingBot {name:?} not found in namespace {ns:?}: see which exist with \
                 `kubectl mbot list -n {ns}` (or `-A` for every namespace)",
                ns = self.namespace
            )
        })
    }
}

pub async fn connect(global: &Global) -> anyhow::Result<Target> {
    meetingbot_operator::lemonslice::install_crypto_provider();
    let options = KubeConfigOptions {
        context: global.context.clone(),
        cluster: global.cluster.clone(),
        user: global.user.clone(),
    };
    let config = match &global.kubeconfig {
        Some(path) => {
            let kubeconfig = Kubeconfig::read_from(path).with_context(|| {
                format!(
                    "cannot read the kubeconfig {}: check the path given to --kubeconfig",
                    path.display()
                )
            })?;
            from_kubeconfig(kubeconfig, &options).await?
        }
        None => match Kubeconfig::read() {
            Ok(kubeconfig) => from_kubeconfig(kubeconfig, &options).await?,
            // Inside a pod, as kubectl does, use the service account.
            Err(_) if std::env::var_os("KUBERNETES_SERVICE_HOST").is_some() => {
                Config::incluster().context("cannot use the pod's service account")?
            }
            Err(error) => {
                return Err(anyhow!(
                    "no usable kubeconfig ({error}): set KUBECONFIG or pass --kubeconfig FILE"
                ));
            }
        },
    };
    let mut config = config;
    identity_and_timeout(&mut config, global);
    let namespace = global
        .namespace
        .clone()
        .unwrap_or_else(|| config.default_namespace.clone());
    let timeout = global.request_timeout.filter(|t| !t.is_zero());
    let client = match timeout {
        // kubectl's --request-timeout bounds each request as a whole, not each read.
        Some(timeout) => kube::client::ClientBuilder::try_from(config)
            .context("cannot build a Kubernetes client")?
            .with_layer(&tower::timeout::TimeoutLayer::new(timeout))
            .build(),
        None => Client::try_from(config).context("cannot build a Kubernetes client")?,
    };
    Ok(Target { client, namespace })
}

/// `--as`, `--as-group` (impersonation: the API server checks the caller may
/// impersonate, then answers as that identity) and `--request-timeout`.
pub fn identity_and_timeout(config: &mut Config, global: &Global) {
    if let Some(user) = &global.as_user {
        config.auth_info.impersonate = Some(user.clone());
        config.auth_info.impersonate_groups =
            (!global.as_group.is_empty()).then(|| global.as_group.clone());
    }
    if let Some(timeout) = global.request_timeout {
        // Zero: as long as it takes. connect() bounds each request up to its
        // answer's headers (connecting included); these bound a stalled body.
        let timeout = (!timeout.is_zero()).then_some(timeout);
        config.read_timeout = timeout;
        config.write_timeout = timeout;
    }
}

async fn from_kubeconfig(
    kubeconfig: Kubeconfig,
    options: &KubeConfigOptions,
) -> anyhow::Result<Config> {
    // kube would go on as an anonymous user; kubectl refuses an unknown one.
    if let Some(user) = &options.user
        && !kubeconfig.auth_infos.iter().any(|a| &a.name == user)
    {
        return Err(anyhow!(
            "the kubeconfig has no user {user:?}: see which exist with \
             `kubectl config view -o jsonpath='{{.users[*].name}}'`"
        ));
    }
    Config::from_custom_kubeconfig(kubeconfig, options)
        .await
        .map_err(|error| match &options.context {
            Some(context) => anyhow!(
                "cannot use context {context:?} of the kubeconfig ({error}): \
                 list the contexts with `kubectl config get-contexts`"
            ),
            None if options.cluster.is_some() || options.user.is_some() => anyhow!(
                "cannot use the kubeconfig's --cluster/--user ({error}): \
                 see which exist with `kubectl config view`"
            ),
            None => anyhow!(
                "the kubeconfig is not usable ({error}): check it with `kubectl config view`, \
                 or pick a context with --context"
            ),
        })
}

/// An API error, with what was being done and what to try.
pub fn api_error(error: kube::Error, doing: &str) -> anyhow::Error {
    match &error {
        kube::Error::Api(response)
            if response.code == 404
                && (response
                    .message
                    .contains("could not find the requested resource")
                    || response.message.contains("page not found")) =>
        {
            anyhow!(
                "{doing}: {}: is the MeetingBot CRD installed? \
             (`kubectl get crd meetingbots.liveai.lemonslice.com`)",
                response.message
            )
        }
        kube::Error::Api(response) if response.code == 403 => anyhow!(
            "{doing}: Forbidden: {}: check the RBAC of that identity with \
             `kubectl auth can-i --list`",
            response.message
        ),
        kube::Error::Api(response) if response.code == 401 => anyhow!(
            "{doing}: Unauthorized ({}): check your credentials (`kubectl config view`)",
            response.message
        ),
        kube::Error::Api(response) => anyhow!("{doing}: {} ({})", response.message, response.code),
        _ if error.to_string().contains("timed out") => anyhow!(
            "{doing}: no answer within --request-timeout ({error}): the API server is slow or \
             unreachable; allow longer, or 0 to wait as long as it takes"
        ),
        _ => anyhow!(
            "{doing}: cannot reach the cluster ({error}): check --kubeconfig and --context, \
             and that the API server is up"
        ),
    }
}

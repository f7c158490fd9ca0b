//! The local control plane is real: kube-controller-manager runs (namespaces
//! are finalized) and RBAC is enforced.

use crate::scene::Scene;
use crate::support::{client, config, delete_namespace, namespace};
use k8s_openapi::api::core::v1::{ConfigMap, ServiceAccount};
use kube::api::PostParams;
use kube::{Api, Client};
use std::time::Duration;

#[tokio::test]
async fn a_namespace_is_deleted_with_its_contents() {
    let client = client().await;
    let ns = namespace(&client, "cluster").await;
    let config_maps: Api<ConfigMap> = Api::namespaced(client.clone(), &ns);
    let mut config_map = ConfigMap::default();
    config_map.metadata.name = Some("greeting".into());
    config_map.data = Some([("hello".to_owned(), "world".to_owned())].into());
    config_maps
        .create(&PostParams::default(), &config_map)
        .await
        .unwrap();
    let read = config_maps.get("greeting").await.unwrap();
    assert_eq!(read.data.unwrap()["hello"], "world");

    // Only kube-controller-manager's namespace controller finishes this.
    delete_namespace(&client, &ns, Duration::from_secs(60)).await;
}

#[tokio::test]
async fn a_service_account_without_roles_is_forbidden() {
    let scene = Scene::builder("rbac").bare().start().await;
    let ns = &scene.ns;
    let accounts: Api<ServiceAccount> = Api::namespaced(scene.client.clone(), ns);
    let mut account = ServiceAccount::default();
    account.metadata.name = Some("nobody".into());
    accounts
        .create(&PostParams::default(), &account)
        .await
        .unwrap();

    let mut config = config().await;
    config.auth_info.impersonate = Some(format!("system:serviceaccount:{ns}:nobody"));
    let nobody = Client::try_from(config).unwrap();
    let error = Api::<ConfigMap>::namespaced(nobody, ns)
        .list(&Default::default())
        .await
        .expect_err("RBAC refuses");
    match error {
        kube::Error::Api(status) => assert_eq!(status.code, 403, "{status:?}"),
        other => panic!("expected 403, got {other}"),
    }
}
